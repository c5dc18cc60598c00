"""Benchmark: exact worst-case collisions on large synthetic layouts.

Prints, for 1,000, 10,000 and 65,530 (vm.max_map_count) VMAs, and for a layout holding one
16 TiB VMA (2**23 page tables: the segment engine never expands it), both granularities and both
reaper orders: items per walker, the answer, wall time and peak RSS of a fresh process per
case (so each figure includes the witness replay but not other cases' memory).

    python benchmarks/collisions.py [--out results/benchmarks/collisions.txt] [--seed 1]
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

SIZES = (1000, 10000, 65530, 0)  # 0: the 16 TiB VMA layout below
HUGE = """1000-2000 rw-p 00000000 00:00 0
100000000000-200000000000 rw-p 00000000 00:00 0
200000001000-200000002000 rw-p 00000000 00:00 0
7ffff7000000-7ffff7001000 rw-p 00000000 00:00 0
"""


def one_case(vmas: int, order: str, granularity: str, seed: int) -> dict:
    """Run in a child process: generate, solve, replay; report time and peak memory."""
    from reapcheck.collisions import worst_case
    from reapcheck.model.synthetic import SyntheticSpec, generate
    from reapcheck.model.walks import WalkConfig

    if vmas == 0:  # the terabyte case: one 16 TiB VMA (2**23 page tables) among small ones
        from reapcheck.model.smaps import parse_text
        layout = parse_text(HUGE, "huge")
    else:
        layout = generate(SyntheticSpec(vmas=vmas, seed=seed))
    start = time.perf_counter()
    analysis = worst_case(layout, WalkConfig(order, granularity), "sparse")
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"vmas": vmas, "order": order, "granularity": granularity,
            "exit_items": len(analysis.model.items[0]),
            "reaper_items": len(analysis.model.items[1]),
            "max_collisions": analysis.result.max_collisions,
            "seconds": round(seconds, 3), "peak_mib": round(peak_kib / 1024, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the table to this file")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--case", nargs=3, metavar=("VMAS", "ORDER", "GRAN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(one_case(int(args.case[0]), args.case[1], args.case[2], args.seed)))
        return 0
    lines = [f"sparse engine, synthetic realistic layouts (seed {args.seed}); "
             f"{platform.machine()}, Python {platform.python_version()}, "
             f"{len(__import__('os').sched_getaffinity(0))} cores",
             "time = solve + witness replay; peak = max RSS of the whole process",
             "",
             f"{'VMAs':>6} {'gran':<4} {'order':<8} {'exit items':>10} {'reaper items':>12} "
             f"{'max':>7} {'time s':>7} {'peak MiB':>8}"]
    print("\n".join(lines), flush=True)
    worst = (0.0, 0.0)
    for vmas in SIZES:
        for gran in ("vma", "ptl"):
            for order in ("forward", "reverse"):
                out = subprocess.run([sys.executable, __file__, "--seed", str(args.seed),
                                      "--case", str(vmas), order, gran],
                                     check=True, capture_output=True, text=True).stdout
                r = json.loads(out)
                worst = (max(worst[0], r["seconds"]), max(worst[1], r["peak_mib"]))
                line = (f"{vmas or '16TiB':>6} {gran:<4} {order:<8} {r['exit_items']:>10} "
                        f"{r['reaper_items']:>12} {r['max_collisions']:>7} "
                        f"{r['seconds']:>7.2f} {r['peak_mib']:>8.1f}")
                print(line, flush=True)
                lines.append(line)
    summary = f"\nslowest case {worst[0]:.2f} s, largest peak {worst[1]:.1f} MiB (target: 5 s, 1024 MiB)"
    print(summary)
    lines.append(summary)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
