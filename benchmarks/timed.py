"""Benchmark: the timed model (issue 12) on 65,530 VMAs, 200 delays, both reaper orders.

In a fresh child process: generate the synthetic layout (`reapcheck generate 65530 --seed
1`, every page resident: it has no Rss; not timed), then `timed_orders()` with the
default cost file: build the items of both orders, sweep 200 delays each. Prints wall
and CPU time of that call, the peak RSS of the process (the layout included), and the
load average (the development VM is shared: wall time then exceeds CPU time). Target:
under 5 s and 1 GiB.

    python benchmarks/timed.py [--out results/benchmarks/timed.txt] [--seed 1]
        [--machine "2-core x86-64 VM, Linux 6.18"]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time


def one_case(vmas: int, seed: int, exit_order: str) -> dict:
    from reapcheck.model.synthetic import SyntheticSpec, generate
    from reapcheck.model.walks import WalkConfig
    from reapcheck.timed import timed_orders
    from reapcheck.timed_costs import default_costs

    layout = generate(SyntheticSpec(vmas=vmas, seed=seed))
    costs = default_costs()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu = time.perf_counter(), time.process_time()
    results = timed_orders(layout, WalkConfig("reverse", "ptl", 21, exit_order), costs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"vmas": vmas, "exit_order": exit_order,
            "items": {r.config.order: [r.exit_items, r.reaper_items] for r in results},
            "mean_contentions": {r.config.order: r.summary()["mean_contentions"]
                                 for r in results},
            "delays": len(results[0].points),
            "seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
            "peak_mib": round(peak / 1024, 1), "layout_mib": round(before / 1024, 1),
            "load": round(os.getloadavg()[0], 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--vmas", type=int, default=65530)
    p.add_argument("--machine", default="")
    p.add_argument("--case", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.case:
        vmas, seed, exit_order = args.case.split(",")
        print(json.dumps(one_case(int(vmas), int(seed), exit_order)))
        return 0
    lines = [f"machine: {args.machine + '; ' if args.machine else ''}{platform.machine()}, "
             f"Linux {platform.release()}, Python {platform.python_version()}, "
             f"{os.cpu_count()} cores",
             f"timed model, synthetic layout ({args.vmas:,} VMAs, seed {args.seed}, every page "
             "resident), default costs, 200 delays x both reaper orders",
             "time = timed_orders(): items of both orders + both sweeps; peak = max RSS of "
             "the process (layout included)", ""]
    lines.append(f"{'exit':>8} {'fwd items':>16} {'rev items':>16} {'mean fwd':>10} "
                 f"{'mean rev':>9} {'wall s':>7} {'cpu s':>6} {'peak MiB':>9} {'load':>5}")
    ok = True
    for exit_order in ("forward", "reverse"):
        out = subprocess.run([sys.executable, __file__, "--case",
                              f"{args.vmas},{args.seed},{exit_order}"],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        f, v = r["items"]["forward"], r["items"]["reverse"]
        lines.append(f"{exit_order:>8} {f[0]:>8,}/{f[1]:<7,} {v[0]:>8,}/{v[1]:<7,} "
                     f"{r['mean_contentions']['forward']:>10,.0f} "
                     f"{r['mean_contentions']['reverse']:>9,.1f} {r['seconds']:>7.2f} "
                     f"{r['cpu_seconds']:>6.2f} {r['peak_mib']:>9.1f} {r['load']:>5.2f}")
        ok &= r["cpu_seconds"] < 5 and r["peak_mib"] < 1024
        print(lines[-1], flush=True)
    lines.append("")
    lines.append(f"target under 5 s CPU and 1 GiB: {'met' if ok else 'MISSED'}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
