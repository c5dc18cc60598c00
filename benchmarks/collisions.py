"""Benchmark: exact worst-case collisions on large synthetic layouts.

Part 1 (engine): for 1,000, 10,000 and 65,530 (vm.max_map_count) VMAs, and for a layout
holding one 16 TiB VMA (2**23 page tables: the segment engine never expands it), both
granularities and both reaper orders: items per walker, the answer, wall time and peak
RSS of a fresh process per case (solve plus witness check, not other cases' memory).

Part 2 (issue 10, end to end): the whole `reapcheck collisions FILE --order O
--granularity G --json` process, output to a file that is parsed back afterwards, on a
65,530-VMA synthetic smaps, on the whole-address-space VMA
`400000-ffffffffff601000 rw-p` (2**43 page tables) and on 16 TiB and 64 TiB VMAs: wall
time and peak RSS of that process (os.wait4), and which witness form it printed.
Target: under 2 s and 1 GiB each.

    python benchmarks/collisions.py [--out results/benchmarks/collisions.txt] [--seed 1]
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
import tempfile
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


WHOLE = "400000-ffffffffff601000 rw-p 00000000 00:00 0\n"  # issue 10: the whole address space
TIB = 1 << 40
END_TO_END = (("65530 VMAs", None), ("whole space", WHOLE),
              ("16 TiB VMA", f"100000000000-{0x100000000000 + 16 * TIB:x} rw-p 00000000 00:00 0\n"),
              ("64 TiB VMA", f"100000000000-{0x100000000000 + 64 * TIB:x} rw-p 00000000 00:00 0\n"))


SUMMARY = ("import json, sys; d = json.load(open(sys.argv[1])); print(json.dumps({"
           "'form': d['witness_form'], 'entries': len(d['witness']), 'steps': d['witness_steps'], "
           "'max_collisions': d['max_collisions']}))")


def end_to_end(path: str, order: str, granularity: str, tmp: str) -> dict:
    """Run the reapcheck command in a fresh process: wall time, peak RSS (os.wait4),
    and its JSON parsed back in another process (this one stays small: a forked child
    starts with its parent's peak RSS)."""
    out_path = os.path.join(tmp, "out.json")
    with open(out_path, "w") as out:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "reapcheck", "collisions", path,
                                  "--order", order, "--granularity", granularity, "--json"],
                                 stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{path} {order}/{granularity}: exit status {status}: "
                         f"{child.stderr.read().decode()}")
    summary = json.loads(subprocess.run([sys.executable, "-c", SUMMARY, out_path], check=True,
                                        capture_output=True, text=True).stdout)
    return dict(summary, seconds=seconds, cpu=usage.ru_utime + usage.ru_stime,
                peak_mib=usage.ru_maxrss / 1024, bytes=os.path.getsize(out_path))


def end_to_end_table(seed: int) -> list[str]:
    lines = ["", "end to end: the whole `reapcheck collisions FILE ... --json` process "
             "(start-up, parse, solve, check, print)",
             "", f"{'layout':<12} {'gran':<4} {'order':<8} {'max':>14} {'witness':>24} "
             f"{'entries':>8} {'MB':>6} {'time s':>7} {'CPU s':>6} {'peak MiB':>8}"]
    print("\n".join(lines), flush=True)
    worst = (0.0, 0.0, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in END_TO_END:
            path = os.path.join(tmp, name.replace(" ", "_") + (".maps" if text else ".smaps"))
            if text:
                with open(path, "w") as f:
                    f.write(text)
            else:
                subprocess.run([sys.executable, "-m", "reapcheck", "generate", "65530",
                                "--seed", str(seed), "-o", path], check=True)
            for gran in ("vma", "ptl"):
                for order in ("forward", "reverse"):
                    r = end_to_end(path, order, gran, tmp)
                    worst = (max(worst[0], r["seconds"]), max(worst[1], r["peak_mib"]),
                             max(worst[2], r["cpu"]))
                    line = (f"{name:<12} {gran:<4} {order:<8} {r['max_collisions']:>14} "
                            f"{r['form'] + ' ' + format(r['steps'], ','):>24} {r['entries']:>8} "
                            f"{r['bytes'] / 1e6:>6.1f} {r['seconds']:>7.2f} {r['cpu']:>6.2f} "
                            f"{r['peak_mib']:>8.1f}")
                    print(line, flush=True)
                    lines.append(line)
    summary = (f"\nend to end: slowest {worst[0]:.2f} s wall ({worst[2]:.2f} s CPU), largest "
               f"peak {worst[1]:.1f} MiB (target: 2 s, 1024 MiB); load average when done "
               f"{os.getloadavg()[0]:.2f}")
    print(summary)
    return lines + [summary]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the table to this file")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--machine", default="2-core x86-64 VM, Linux 6.18",
                        help="how to label the machine in the record")
    parser.add_argument("--case", nargs=3, metavar=("VMAS", "ORDER", "GRAN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(one_case(int(args.case[0]), args.case[1], args.case[2], args.seed)))
        return 0
    lines = [f"machine: {args.machine}; {platform.machine()}, Python "
             f"{platform.python_version()}, {len(os.sched_getaffinity(0))} cores",
             f"sparse engine, synthetic realistic layouts (seed {args.seed})",
             "time = solve + witness check; peak = max RSS of the whole process",
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
    lines += end_to_end_table(args.seed)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
