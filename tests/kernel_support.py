"""Why this machine cannot run the kernel experiments, or None: the skip reason shared by
the tests that race exit_mmap and process_mrelease() on the running kernel."""
from __future__ import annotations

import os


def kernel_missing() -> str | None:
    """None with root, two CPUs, process_mrelease() and tracefs with every event the
    experiment traces; else the reason (tracefs is unmounted again if mounted here)."""
    from reapcheck.experiment.race import has_process_mrelease
    from reapcheck.experiment.tracefs import EVENTS, KernelSupportError, find_tracefs, unmount

    if os.geteuid() != 0:
        return "needs root"
    if len(os.sched_getaffinity(0)) < 2:
        return "needs two CPUs"
    if not has_process_mrelease():
        return "kernel without process_mrelease()"
    try:
        root, mounted = find_tracefs()
    except KernelSupportError as err:
        return str(err)
    try:
        missing = [e for e in EVENTS if not (root / "events" / e).is_dir()]
    finally:
        if mounted:
            unmount(root)
    return f"kernel without tracepoints {missing}" if missing else None
