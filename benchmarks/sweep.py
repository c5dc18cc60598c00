"""Benchmark: `reapcheck sweep` on Dask, 1,000 generated layouts, with 1 and with 2 workers.

The layouts (`reapcheck generate V --seed i`, V drawn uniformly from 100 to 5,000 VMAs
with seed 1) are written as smaps files first (not timed). Each configuration then runs
in a fresh child process: start a LocalCluster of W single-threaded worker processes,
run the sweep (sweep_run.run: submit, as_completed, one fsync()ed append per task) with
`--checks collisions` (both orders x both granularities per layout: 4 worst cases, each
witness checked), and close. Printed per W: the cluster's start-up, the sweep's wall
time, the speed-up over W = 1, the tasks' own compute time (Dask's task stream: the
'compute' intervals on the workers), and Dask's overhead per task, (W x wall - compute)
/ tasks: the worker time not spent inside the task function (scheduling, transfer of
the result, the client's writes, idle workers at the end). The same task function run
serially in this process on every 10th layout gives the per-task time without Dask.
Peak memory: max RSS of the client process and of each worker (getrusage).

    python benchmarks/sweep.py [--layouts 1000] [--out results/benchmarks/sweep.txt]
        [--machine "2-core x86-64 VM (shared)"] [--sample 10]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time

MIN_VMAS, MAX_VMAS = 100, 5000


def make_layouts(folder: str, count: int, seed: int = 1) -> list[tuple[str, int]]:
    from reapcheck.model.smaps import format_smaps
    from reapcheck.model.synthetic import SyntheticSpec, generate

    rng = random.Random(seed)
    out = []
    for i in range(count):
        vmas = rng.randint(MIN_VMAS, MAX_VMAS)
        path = os.path.join(folder, f"g{i:04d}-{vmas}.smaps")
        with open(path, "w") as f:
            f.write(format_smaps(generate(SyntheticSpec(vmas=vmas, seed=i))))
        out.append((path, vmas))
    return out


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_run(workers: int, folder: str) -> dict:
    """In a fresh process: cluster start, sweep, close; timings and peak memory."""
    import logging

    from distributed import Client, LocalCluster, get_task_stream

    from reapcheck.sweep import expand_paths, tasks
    from reapcheck.sweep_run import run

    todo = tasks(expand_paths([folder]), ("collisions",))
    out = os.path.join(folder, f"sweep-{workers}.jsonl.out")
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster)
    client.wait_for_workers(workers)
    cpu0 = sum(client.run(_cpu_s).values())
    t1 = time.perf_counter()
    with get_task_stream(client) as stream:
        lines = run(todo, out, {}, client=client, quiet=True)
    t2 = time.perf_counter()
    cpu = sum(client.run(_cpu_s).values()) - cpu0
    compute = sum(ss["stop"] - ss["start"] for task in stream.data
                  for ss in task["startstops"] if ss["action"] == "compute")
    worker_rss = sorted(client.run(_maxrss_mib).values())
    client.close()
    cluster.close()
    t3 = time.perf_counter()
    return {"workers": workers, "tasks": len(todo), "lines": len(lines),
            "startup_s": round(t1 - t0, 2), "wall_s": round(t2 - t1, 2),
            "close_s": round(t3 - t2, 2), "compute_s": round(compute, 2),
            "worker_cpu_s": round(cpu, 2),
            "client_peak_mib": round(_maxrss_mib(), 1),
            "worker_peak_mib": [round(x, 1) for x in worker_rss],
            "load_start": round(load, 2), "load_end": round(os.getloadavg()[0], 2),
            "results": sorted((x["layout"], x["order"], x["granularity"], x["max_collisions"])
                              for x in lines)}


def serial_sample(paths: list[str]) -> dict:
    """The same task function, in this process, one layout after another (no Dask)."""
    from reapcheck.sweep import run_task

    times = []
    for path in paths:
        t = time.perf_counter()
        run_task(path, "collisions")
        times.append(time.perf_counter() - t)
    return {"tasks": len(paths), "seconds": round(sum(times), 2),
            "per_task_s": round(statistics.mean(times), 4), "peak_mib": round(_maxrss_mib(), 1),
            "load_end": round(os.getloadavg()[0], 2)}


def child(*argv) -> dict:
    out = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True)
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"benchmark case {argv} failed")
    return json.loads(out.stdout.splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layouts", type=int, default=1000)
    p.add_argument("--sample", type=int, default=10, help="serial run on every Nth layout")
    p.add_argument("--out")
    p.add_argument("--machine", default="")
    p.add_argument("--run", help=argparse.SUPPRESS)
    p.add_argument("--serial", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.run:
        workers, folder = args.run.split(",", 1)
        print(json.dumps(one_run(int(workers), folder)))
        return 0
    if args.serial:
        print(json.dumps(serial_sample(json.loads(args.serial))))
        return 0
    uname = os.uname()
    head = [f"# benchmarks/sweep.py on {args.machine or uname.nodename}: {platform.machine()}, "
            f"Linux {uname.release}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.2f} at the start (the machine is shared with "
            "other engineers' jobs while this ran: wall times include their load)"]
    with tempfile.TemporaryDirectory(prefix="reapcheck-sweep-bench-") as folder:
        t = time.perf_counter()
        made = make_layouts(folder, args.layouts)
        made_s = time.perf_counter() - t
        sizes = [v for _, v in made]
        head.append(f"# {len(made):,} layouts from `reapcheck generate V --seed i` (V uniform "
                    f"{MIN_VMAS:,}..{MAX_VMAS:,}, drawn with seed 1: median "
                    f"{statistics.median(sizes):,.0f}, total {sum(sizes):,} VMAs), written in "
                    f"{made_s:.0f} s (not timed below); checks: collisions (4 worst cases per "
                    "layout, each witness checked), one task per layout")
        print("\n".join(head), flush=True)
        runs = []
        for workers in (1, 2):
            r = child("--run", f"{workers},{folder}")
            runs.append(r)
            print(f"{workers} worker(s): wall {r['wall_s']} s, load {r['load_start']} -> "
                  f"{r['load_end']}", flush=True)
        sample = [path for path, _ in made[::args.sample]]
        serial = child("--serial", json.dumps(sample))
    same = runs[0]["results"] == runs[1]["results"]
    base = runs[0]["wall_s"]
    lines = head + ["", "workers  tasks  start-up s  sweep wall s  speed-up  compute s  "
                        "overhead/task ms  worker CPU s  client MiB  worker peak MiB  load (start, end)"]
    for r in runs:
        overhead = (r["workers"] * r["wall_s"] - r["compute_s"]) / r["tasks"] * 1000
        lines.append(f"{r['workers']:>7}  {r['tasks']:>5,}  {r['startup_s']:>10.2f}  "
                     f"{r['wall_s']:>12.1f}  {base / r['wall_s']:>7.2f}x  {r['compute_s']:>9.1f}  "
                     f"{overhead:>16.1f}  {r['worker_cpu_s']:>12.1f}  {r['client_peak_mib']:>10.1f}  "
                     f"{', '.join(f'{x:.0f}' for x in r['worker_peak_mib']):>15}  "
                     f"{r['load_start']:>6.2f}, {r['load_end']:.2f}")
    per_task_dask = runs[0]["compute_s"] / runs[0]["tasks"]
    lines += ["",
              f"without Dask: the same task function serially in one process on one layout "
              f"in {args.sample} ({serial['tasks']} tasks): {serial['per_task_s'] * 1000:.0f} "
              f"ms per task (peak {serial['peak_mib']:.0f} MiB); in the 1-worker sweep a task "
              f"computed for {per_task_dask * 1000:.0f} ms on average over all "
              f"{runs[0]['tasks']:,}",
              "overhead/task = (workers x sweep wall - compute) / tasks: worker time outside "
              "the task function (scheduling, result transfer, the client's fsync()ed "
              "appends, workers idle at the end); compute is the wall time of the tasks on "
              "the workers (Dask's task stream), worker CPU s their processes' CPU time over "
              "the sweep: compute well above worker CPU means the workers waited for a CPU "
              "(the other jobs on this shared machine)",
              f"1 and 2 workers gave identical results: {'yes' if same else 'NO'} "
              f"({len(runs[0]['results']):,} worst cases)"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
