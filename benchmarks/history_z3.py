"""Benchmark: Z3 against the explicit engine on every kernel version of the protocol.

tests/test_history_z3.py runs three versions (Spacer takes 4 to 82 s of CPU per version,
too much for the suite); this runs every version in its CASES the same way: the one-VMA
layout, both engines, and checks the same things (every verdict equal, the violated
property the one the version's bug breaks, both shortest traces as long as counted by
hand, termination proved). Prints per version the verdicts, CPU seconds (this process
and its Spacer children) and peak memory; any difference is MISMATCH and exit status 1.

    python benchmarks/history_z3.py [--kernels 4.13,4.14,...] [--timeout 300] [--out FILE]
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_history_z3 import CASES, agreement  # noqa: E402  (the test's cases and check)


def cpu_s() -> float:
    """CPU seconds of this process and its waited-for children (Spacer forks per query)."""
    return sum(r.ru_utime + r.ru_stime for r in
               (resource.getrusage(resource.RUSAGE_SELF),
                resource.getrusage(resource.RUSAGE_CHILDREN)))


def peak_mib() -> float:
    return max(resource.getrusage(who).ru_maxrss
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024


def check(kernel: str, options: dict, bug, timeout_s: float):
    """("agrees" or "MISMATCH", what differs, the explicit Verification)."""
    explicit, symbolic = agreement(kernel, options, timeout_s)
    wrong = []
    if not (symbolic.complete and explicit.complete):
        wrong.append("incomplete")
    if symbolic.statuses != explicit.statuses:
        wrong.append(f"verdicts z3 {symbolic.statuses} explicit {explicit.statuses}")
    if symbolic.termination["status"] != "holds":
        wrong.append(f"termination {symbolic.termination['status']}")
    violated = {n for n, s in explicit.statuses.items() if s == "violated"}
    if violated != ({bug[0]} if bug else set()):
        wrong.append(f"violated {sorted(violated)}")
    for name in violated & set(symbolic.traces):
        lengths = (len(symbolic.traces[name]), len(explicit.traces[name]), bug[1])
        if len(set(lengths)) != 1:
            wrong.append(f"{name} trace lengths z3/explicit/by hand {lengths}")
    return ("MISMATCH" if wrong else "agrees"), wrong, explicit


def main() -> int:
    known = {c[0]: c for c in CASES}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", default=",".join(known),
                        help=f"comma-separated, of: {','.join(known)}")
    parser.add_argument("--timeout", type=float, default=300.0, help="Z3 seconds per property")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args()
    names = args.kernels.split(",")
    for name in names:
        if name not in known:
            parser.error(f"unknown kernel {name!r}; known: {', '.join(known)}")
    lines = [f"# python {platform.python_version()}, {platform.machine()}, "
             f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs, load average "
             f"{os.getloadavg()[0]:.1f} at the start, timeout {args.timeout:g} s per property; "
             "layout: one one-page private VMA (tests/test_history_z3.py ONE)"]

    def say(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    say(f"{'kernel':8} {'options':22} {'verdict':9} {'violated (steps)':34} {'cpu s':>7} "
        f"{'wall s':>7} {'peak MiB':>9}")
    failed = False
    for name in names:
        kernel, options, bug = known[name]
        cpu, wall = cpu_s(), time.perf_counter()
        verdict, wrong, explicit = check(kernel, options, bug, args.timeout)
        cpu, wall = cpu_s() - cpu, time.perf_counter() - wall
        violated = ", ".join(f"{n} ({len(t)})" for n, t in explicit.traces.items()) or "-"
        opts = ",".join(f"{k}={v}" for k, v in options.items()) or "-"
        say(f"{kernel:8} {opts:22} {verdict:9} {violated:34} {cpu:7.1f} {wall:7.1f} "
            f"{peak_mib():9.0f}")
        for line in wrong:
            say(f"         {line}")
        failed |= bool(wrong)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
