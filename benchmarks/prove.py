"""Benchmark: Z3 time of the proofs behind `prove()` (src/reapcheck/prove.py).

Prints, for K = 2..10 (the collision BMC up to --bmc-max-k, default 8: it unrolls 4K steps
of every layout), the solver seconds of each bounded check (Z3 queries only) and the wall
seconds (building the encoding included); then the time of each unbounded (inductive)
proof, which does not depend on K. Timings vary by machine.

    python benchmarks/prove.py [--max-k 10] [--bmc-max-k 8] [--timeout S]
"""
from __future__ import annotations

import argparse
import resource
import time

from reapcheck.engines.symbolic import z3_collisions as zc
from reapcheck.engines.symbolic import z3_maple as zm

ITERATORS = (  # (label, walk, assume no VMA contains ULONG_MAX)
    ("forward", "forward", False),
    ("rev_find", "rev_find", False),
    ("rev_prev<top", "rev_prev", True),
    ("rev_prev", "rev_prev", False),
)


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def cell(status: str, solver: float, wall: float) -> str:
    return f"{status[:4]:>4} {solver:6.2f}/{wall:6.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-k", type=int, default=10)
    parser.add_argument("--bmc-max-k", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per query")
    args = parser.parse_args()

    print("bounded iterator proofs: every layout of up to K VMAs (64-bit), the walk "
          "unrolled for K + 1 calls")
    print("cells: status solver-seconds/wall-seconds (viol: the skip was found)")
    print(f"{'K':>3} " + " ".join(f"{label:>19}" for label, _, _ in ITERATORS), flush=True)
    for k in range(2, args.max_k + 1):
        cells = []
        for _, walk, below_top in ITERATORS:
            result, wall = timed(zm.bounded_check, walk, k, below_top, args.timeout)
            cells.append(cell(result.status, result.seconds, wall))
        print(f"{k:>3} " + " ".join(f"{c:>19}" for c in cells), flush=True)

    print("\nbounded collision checks: every schedule (4K steps) of every layout of up to "
          "K VMAs")
    print(f"{'K':>3} {'reverse <= 1':>19} {'forward <= n':>19}", flush=True)
    for k in range(2, args.bmc_max_k + 1):
        cells = []
        for order in ("reverse", "forward"):
            result, wall = timed(zc.bounded_upper, order, k, args.timeout)
            cells.append(cell(result.status, result.seconds, wall))
        print(f"{k:>3} " + " ".join(f"{c:>19}" for c in cells), flush=True)

    print("\nunbounded proofs (any number of VMAs, inductive invariants)")
    proofs = [(f"{walk} visits all" + (" (below top)" if below_top else ""),
               zm.inductive_check, (walk, below_top, args.timeout))
              for _, walk, below_top in ITERATORS[:3]]
    proofs += [("reverse: at most one collision", zc.reverse_at_most_one, (args.timeout,)),
               ("forward: at most n collisions", zc.forward_at_most_reapable, (args.timeout,)),
               ("forward: n collisions reached", zc.forward_reaches_reapable, (args.timeout,))]
    for label, fn, fn_args in proofs:
        result, wall = timed(fn, *fn_args)
        print(f"  {label:<34} {cell(result.status, result.seconds, wall)}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (max RSS of this process): {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
