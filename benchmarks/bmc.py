"""Benchmark: Z3 bounded model checking of the worst-case collisions, time vs layout size.

For synthetic layouts of growing size, both granularities and both reaper orders, runs
`engines.symbolic.bmc.max_weight` (the same walk product the explorer reads, evaluated by Z3Ops)
with each strategy, and prints the product's items (exit_mmap + reaper), the depth
2 * items, the answer and the wall time, next to the graph engine's answer and time.
Every BMC answer is checked against the graph engine. A strategy that times out at some
size is not run on larger ones of the same granularity and order.

Granularity vma uses realistic synthetic layouts; ptl uses small VMAs (4 KiB - 256 KiB,
mostly adjacent) so that many share one page table, the case where ptl collisions stay
high in both orders.

    python benchmarks/bmc.py [--sizes 2,4,6,8,12,16] [--strategies linear,optimize]
                             [--timeout 60] [--seed 1] [--out FILE]
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time

import z3

from reapcheck.engines.symbolic import bmc
from reapcheck.engines.explicit import graph
from reapcheck.engines.explicit.schedule import replay
from reapcheck.model.synthetic import SyntheticSpec, generate, parse_range
from reapcheck.model.walk_product import WalkProduct
from reapcheck.model.walks import WalkConfig
from reapcheck.properties.collisions import is_collision

SMALL_VMAS = parse_range("4k-256k")
ADJACENT = ((70, 0, 0), (30, 4 << 10, 64 << 10))


def layout_for(vmas: int, granularity: str, seed: int):
    if granularity == "vma":
        return generate(SyntheticSpec(vmas=vmas, seed=seed))
    return generate(SyntheticSpec(vmas=vmas, seed=seed, sizes=SMALL_VMAS, gaps=ADJACENT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,4,6,8,10,12,16,20", help="VMA counts")
    parser.add_argument("--strategies", default="linear,binary,optimize",
                        help=f"any of {','.join(bmc.STRATEGIES)}")
    parser.add_argument("--granularities", default="vma,ptl")
    parser.add_argument("--orders", default="forward,reverse")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per BMC run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    strategies = args.strategies.split(",")
    for s in strategies:
        if s not in bmc.STRATEGIES:
            parser.error(f"unknown strategy {s!r}; known: {', '.join(bmc.STRATEGIES)}")

    lines = [f"Z3 BMC max_weight(is_collision), synthetic layouts (seed {args.seed}); "
             f"z3 {z3.get_version_string()}, {platform.machine()}, Python "
             f"{platform.python_version()}, {len(os.sched_getaffinity(0))} cores",
             "time = build + all solver calls (exactness/completeness proof + optimization) "
             "+ witness check; graph = explicit explorer for reference",
             f"timeout {args.timeout:g} s per run; '-' = not run after a timeout at a smaller size",
             "",
             f"{'VMAs':>4} {'gran':<4} {'order':<8} {'items':>5} {'depth':>5} {'max':>4} "
             f"{'graph s':>8} " + " ".join(f"{s + ' s':>11}" for s in strategies) + "  bits"]
    print("\n".join(lines), flush=True)
    for gran in args.granularities.split(","):
        for order in args.orders.split(","):
            gave_up = set()
            for vmas in sizes:
                layout = layout_for(vmas, gran, args.seed)
                model = WalkProduct.build(layout, WalkConfig(order, gran))
                items = sum(map(len, model.items))
                start = time.perf_counter()
                expected = graph.explore(model).max_collisions
                graph_s = time.perf_counter() - start
                cells, widths = [], set()
                for strategy in strategies:
                    if strategy in gave_up:
                        cells.append("-")
                        continue
                    start = time.perf_counter()
                    result = bmc.max_weight(model, is_collision, strategy=strategy,
                                            timeout_ms=int(args.timeout * 1000))
                    seconds = time.perf_counter() - start
                    if result.status != "holds":
                        gave_up.add(strategy)
                        cells.append(f">{args.timeout:g} ({result.reason_unknown[:8]})")
                        continue
                    if result.max_weight != expected or \
                            replay(model, result.witness).collisions != expected:
                        raise SystemExit(f"BMC {result.max_weight} != graph {expected} "
                                         f"({vmas} VMAs, {gran}, {order}, {strategy})")
                    widths.add(result.width)
                    cells.append(f"{seconds:.2f}")
                line = (f"{vmas:>4} {gran:<4} {order:<8} {items:>5} {2 * items:>5} {expected:>4} "
                        f"{graph_s:>8.3f} " + " ".join(f"{c:>11}" for c in cells) +
                        "  " + ",".join(str(w) for w in sorted(widths, key=str)))
                print(line, flush=True)
                lines.append(line)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines.append(f"peak memory (max RSS of this process): {peak:.0f} MiB")
    print(lines[-1], flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
