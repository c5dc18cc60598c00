"""Benchmark: `verify --engine z3` against the explicit engine, time and peak memory.

For each case (a layout and a protocol configuration) runs both engines and prints, per
property, the two verdicts and the Z3 engine's seconds (Spacer, plus BMC for a trace),
then each engine's total time and the process's peak resident memory so far. A verdict
that differs between the engines is printed as MISMATCH and makes the exit status 1.

    python benchmarks/protocol_z3.py [--cases one,tiny,sleep,...] [--timeout 300] [--out FILE]
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

from reapcheck.model.protocol import ProtocolConfig
from reapcheck.model.smaps import load, parse_text
from reapcheck.verify import verify

LAYOUTS = Path(__file__).resolve().parent.parent / "src" / "reapcheck" / "layouts"


def cases():
    one = parse_text("1000-2000 rw-p 00000000 00:00 0\n", "one-vma")
    tiny, sleep = load(LAYOUTS / "tiny.maps"), load(LAYOUTS / "sleep.smaps")
    top = load(LAYOUTS / "top.maps")
    return {
        "one": (one, ProtocolConfig("rev_find")),
        "one-no_write_lock": (one, ProtocolConfig("rev_find", "no_write_lock")),
        "one-mrelease": (one, ProtocolConfig("rev_find", mrelease=True)),
        "top-rev_prev": (top, ProtocolConfig("rev_prev")),
        "tiny": (tiny, ProtocolConfig("rev_find")),
        "tiny-forward": (tiny, ProtocolConfig("forward")),
        "tiny-oom_skip_after_unlock": (tiny, ProtocolConfig("rev_find", "oom_skip_after_unlock")),
        "sleep": (sleep, ProtocolConfig("rev_find")),
    }


def peak_mib() -> float:
    """Max RSS of this process or of its largest Spacer child (each query forks)."""
    return max(resource.getrusage(who).ru_maxrss
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024


def main() -> int:
    known = cases()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="one,one-no_write_lock,top-rev_prev,tiny,"
                        "tiny-forward,tiny-oom_skip_after_unlock",
                        help=f"comma-separated, of: {','.join(known)}")
    parser.add_argument("--timeout", type=float, default=300.0, help="Z3 seconds per property")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args()
    names = args.cases.split(",")
    for name in names:
        if name not in known:
            parser.error(f"unknown case {name!r}; known: {', '.join(known)}")
    lines = [f"# python {platform.python_version()}, {platform.machine()}, "
             f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs, load average "
             f"{os.getloadavg()[0]:.1f} at the start, timeout {args.timeout:g} s per property"]
    mismatch = False

    def say(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    say(f"{'case':28} {'property':30} {'explicit':9} {'z3':9} {'z3 s':>7}")
    for name in names:
        layout, config = known[name]
        start = time.perf_counter()
        explicit = verify(layout, config, "explicit")
        explicit_s = time.perf_counter() - start
        start = time.perf_counter()
        z3 = verify(layout, config, "z3", timeout_s=args.timeout)
        z3_s = time.perf_counter() - start
        for prop, status in z3.statuses.items():
            other = explicit.statuses[prop]
            flag = "" if other == status or status == "unknown" else "  MISMATCH"
            mismatch |= bool(flag)
            seconds = z3.notes[prop].get("seconds")
            say(f"{name:28} {prop:30} {other:9} {status:9} "
                f"{'' if seconds is None else f'{seconds:7.1f}'}{flag}")
        say(f"{name:28} {'total':30} {explicit_s:8.1f}s {z3_s:8.1f}s   "
            f"({explicit.states} states; peak so far {peak_mib():.0f} MiB)")
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 1 if mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
