"""Wall time and peak memory of `reapcheck experiment` on the default layout (10 runs per
walkers mode, both modes, as a kernel developer would run it). Needs root, tracefs and
process_mrelease(); prints one line per walkers case (default: both).

    python benchmarks/experiment.py [--runs N] [--layout L] [--walkers both,opposite,same]
                                    [--record FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time


def measure(argv: list[str]) -> tuple[float, float, float, dict]:
    """(wall seconds, CPU seconds and peak RSS (MiB) of the command and its children,
    its JSON)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    peak = after.ru_maxrss / 1024
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return wall, cpu, peak, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--layout", default=None, help="default: the command's own default")
    parser.add_argument("--walkers", default="both", help="comma-separated cases")
    parser.add_argument("--record", help="also write the lines to FILE")
    args = parser.parse_args()
    lines = [f"# reapcheck experiment benchmark: {platform.node()}, Linux {platform.release()}, "
             f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}"]
    with tempfile.TemporaryDirectory() as tmp:
        for walkers in args.walkers.split(","):
            argv = ["reapcheck", "experiment", "--runs", str(args.runs), "--walkers", walkers,
                    "--json", "--out", os.path.join(tmp, f"{walkers}.json")]
            if args.layout:
                argv.insert(2, args.layout)
            load = os.getloadavg()[0]
            wall, cpu, peak, record = measure(argv)
            raced = sum(r["raced"] for r in record["runs"])
            lines.append(f"{record['layout']} walkers={walkers} runs={args.runs}: "
                         f"{wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {peak:.0f} MiB, "
                         f"load average before {load:.2f}, "
                         f"{raced} raced of {len(record['runs'])} attempts, "
                         f"verdict {record['verdict']}")
            print(lines[-1], flush=True)
    if args.record:
        with open(args.record, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
