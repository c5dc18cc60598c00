"""A private tracefs instance for one run, and the checks that the kernel has what we need.

Everything is configured inside `instances/reapcheck-PID` (Documentation/trace/ftrace.rst,
"Instances"): its own ring buffer, event switches, pid filter and triggers. Removing the
directory removes all of it, so the global tracing state is never written, and is left
exactly as it was found (`fingerprint()` lets callers check that).
"""
from __future__ import annotations

import ctypes
import os
import signal
from contextlib import contextmanager
from pathlib import Path

TRACEFS_MOUNTS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
EVENTS = ("lock/contention_begin", "lock/contention_end",
          "mmap_lock/mmap_lock_start_locking", "mmap_lock/mmap_lock_acquire_returned",
          "mmap_lock/mmap_lock_released")
BUFFER_KB = 65536  # per CPU; a 60,000-VMA run records a few thousand events
# Global files whose content `fingerprint()` compares before and after an experiment.
GLOBAL_STATE = ("tracing_on", "buffer_size_kb", "current_tracer", "set_event",
                "set_event_pid", "trace_clock", "events/lock/contention_begin/trigger",
                "events/lock/contention_begin/enable", "events/lock/contention_end/enable",
                "events/mmap_lock/enable")


class KernelSupportError(Exception):
    """The kernel (or our privileges) lacks something the experiment needs: exit 2."""


def find_tracefs() -> tuple[Path, bool]:
    """(tracefs root, whether we mounted it). Mounts it at /sys/kernel/tracing if needed.

    Raises KernelSupportError when tracefs is neither mounted nor mountable.
    """
    for root in TRACEFS_MOUNTS:
        if (root / "events").is_dir():
            return root, False
    root = TRACEFS_MOUNTS[0]
    libc = ctypes.CDLL(None, use_errno=True)
    if root.is_dir() and libc.mount(b"nodev", bytes(root), b"tracefs", 0, None) == 0:
        return root, True
    raise KernelSupportError(f"tracefs is not mounted and cannot be mounted at {root} "
                             f"({os.strerror(ctypes.get_errno())}); use --no-trace")


def unmount(root: Path) -> None:
    ctypes.CDLL(None, use_errno=True).umount2(bytes(root), 0)


def check_events(root: Path) -> None:
    """Raise KernelSupportError naming the first event this kernel does not have."""
    for event in EVENTS:
        if not (root / "events" / event / "enable").exists():
            raise KernelSupportError(f"this kernel has no tracepoint {event.replace('/', ':')} "
                                     f"({root}/events/{event}); use --no-trace")


def fingerprint(root: Path) -> dict[str, str]:
    """The global tracing state this module promises not to change."""
    state = {}
    for name in GLOBAL_STATE:
        try:
            state[name] = (root / name).read_text()
        except OSError:
            state[name] = "<unreadable>"
    state["instances"] = " ".join(sorted(p.name for p in (root / "instances").iterdir()))
    return state


@contextmanager
def signals_deferred():
    """SIGINT and SIGTERM wait (blocked, then delivered) until the block is done."""
    blocked = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class Instance:
    """`with Instance(root) as trace: trace.create(); ...`: the instance is removed on exit
    whatever happens, also when an interrupt comes in the middle of create()."""

    def __init__(self, root: Path, buffer_kb: int = BUFFER_KB):
        self.path = root / "instances" / f"reapcheck-{os.getpid()}"
        self.buffer_kb = buffer_kb

    def __enter__(self) -> "Instance":
        return self  # nothing made yet: an interrupt from here on reaches __exit__

    def create(self) -> None:
        """Make the instance (a stale one of ours, left by SIGKILL, is replaced)."""
        with signals_deferred():
            if self.path.exists():
                self.path.rmdir()
            self.path.mkdir()
        self._write("buffer_size_kb", str(self.buffer_kb))

    def __exit__(self, *exc) -> None:
        with signals_deferred():  # a removal begun is finished
            if self.path.exists():
                try:
                    self._write("tracing_on", "0")
                finally:
                    self.path.rmdir()

    def _write(self, name: str, text: str) -> None:
        with open(self.path / name, "w") as f:
            f.write(text)

    def start(self, pids: list[int]) -> None:
        """Record EVENTS of these threads only; a kernel stack after each contention_begin."""
        self._write("set_event_pid", " ".join(map(str, pids)))
        # A filtered trigger runs only for recorded events of these threads (an unfiltered
        # one would fire for every thread on the machine).
        cond = " || ".join(f"common_pid == {pid}" for pid in pids)
        self._write("events/lock/contention_begin/trigger", f"stacktrace if {cond}")
        for event in EVENTS:
            self._write(f"events/{event}/enable", "1")
        self._write("tracing_on", "1")

    def stop(self) -> None:
        self._write("tracing_on", "0")

    def read(self) -> str:
        return (self.path / "trace").read_text(errors="replace")
