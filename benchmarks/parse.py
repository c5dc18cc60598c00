"""Benchmark: parsing 65,530-VMA smaps and maps files against just reading their lines.

Writes a synthetic layout of 65,530 VMAs (vm.max_map_count) twice: as a realistic smaps
(each VMA with the counter lines the kernel prints, the keys taken from the bundled
sleep.smaps capture, values from the VMA's size) and as a maps file. For each file:

- read: `open(path).read().split("\\n")`, the floor (issue 10, section 5);
- parse: `reapcheck.model.smaps.load(path)`, best of 5, and its ratio to the floor;
- answer: parse + `worst_case` (solve and witness check) for both orders and
  granularities, in a fresh process each, with that process's peak RSS (VmHWM);
- process: the whole `reapcheck collisions FILE ...` command (text output).
Times are CPU seconds (user + system) of the process doing the work, so that other
load on a shared machine disturbs them less than wall time.

Two layouts: `mixed` (the synthetic default mixture of sizes) and `one-page` (every VMA
one 4 KiB page, like the issue's 65,021-VMA capture). Then the same on two real smaps
files, captured live on this machine's kernel by benchmarks/real_smaps.py (a child maps
as many anonymous VMAs as vm.max_map_count allows, one page each or of mixed sizes; its
/proc/PID/smaps is read and the child killed); skipped, with the reason, when not root.

    python benchmarks/parse.py [--out results/benchmarks/parse.txt] [--seed 1]
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

import real_smaps  # benchmarks/real_smaps.py, beside this file

VMAS = 65530
REPEATS = 3  # fresh processes per answer and per command; the least CPU time is shown
CONFIGS = [(order, gran) for gran in ("vma", "ptl") for order in ("forward", "reverse")]


def counter_keys() -> list[str]:
    """The field keys of the first VMA of bundled/sleep.smaps, in the kernel's order."""
    from importlib.resources import files

    keys = []
    for line in (files("reapcheck") / "layouts" / "sleep.smaps").read_text().splitlines()[1:]:
        if "-" in line.split(":")[0]:
            break
        keys.append(line.split(":")[0])
    return keys


def smaps_text(layout, keys: list[str]) -> str:
    """A realistic smaps of `layout`: header (a library name on every third VMA) and the
    kernel's counter lines; hugetlb VMAs report 2 MiB pages, as the kernel does."""
    out = []
    for i, vma in enumerate(layout.vmas):
        header = f"{vma.start:08x}-{vma.end:08x} {vma.perms} 00000000 00:00 0"
        out.append(f"{header:<72} /usr/lib/x86_64-linux-gnu/libexample.so.{i}" if i % 3 == 0
                   else header)
        size_kb = (vma.end - vma.start) // 1024
        page_kb = 2048 if "ht" in vma.flags else 4
        for key in keys:
            if key == "VmFlags":
                out.append("VmFlags: " + " ".join(sorted(vma.flags)) + " ")
            elif key == "THPeligible":
                out.append(f"{'THPeligible:':<16}{0:>8}")
            else:
                value = {"Size": size_kb, "KernelPageSize": page_kb, "MMUPageSize": page_kb,
                         "Rss": min(size_kb, 4), "Pss": min(size_kb, 4)}.get(key, 0)
                out.append(f"{key + ':':<16}{value:>8} kB")
    return "\n".join(out) + "\n"


def maps_text(layout) -> str:
    return "".join(line + "\n" for line in smaps_text(layout, []).splitlines())


def write_files(directory: str, seed: int) -> list[tuple[str, str]]:
    from reapcheck.model.synthetic import SyntheticSpec, generate, parse_range

    keys = counter_keys()
    files = []
    for name, spec in (("mixed", SyntheticSpec(vmas=VMAS, seed=seed)),
                       ("one-page", SyntheticSpec(vmas=VMAS, seed=seed,
                                                  sizes=parse_range("4k")))):
        layout = generate(spec)
        for kind, text in (("smaps", smaps_text(layout, keys)), ("maps", maps_text(layout))):
            path = os.path.join(directory, f"{name}.{kind}")
            with open(path, "w") as f:
                f.write(text)
            files.append((f"{name}.{kind}", path))
    return files


def cpu() -> float:
    """CPU seconds (user + system) of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_mib() -> float:
    """This process's peak RSS (VmHWM: its own address space, not inherited at exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def best_of(fn, times: int = 5) -> float:
    results = []
    for _ in range(times):
        start = cpu()
        fn()
        results.append(cpu() - start)
    return min(results)


def read_case(path: str) -> dict:
    """Child process: the floor, the parse, the file's size."""
    from reapcheck.model.smaps import load

    with open(path) as f:
        lines = f.read().count("\n")
    floor = best_of(lambda: open(path).read().split("\n"))
    parse = best_of(lambda: load(path))
    return {"lines": lines, "bytes": os.path.getsize(path), "read": floor, "parse": parse,
            "peak_mib": peak_mib()}


def answer_case(path: str, order: str, granularity: str) -> dict:
    """Child process: parse + solve + witness check, once, in a fresh process."""
    from reapcheck.collisions import worst_case
    from reapcheck.model.pmd import auto_pmd_shift
    from reapcheck.model.smaps import load
    from reapcheck.model.walks import WalkConfig

    start = cpu()
    layout = load(path)
    parsed = cpu()
    config = WalkConfig(order, granularity, auto_pmd_shift(layout))
    analysis = worst_case(layout, config)
    done = cpu()
    return {"parse": parsed - start, "answer": done - start,
            "max": analysis.result.max_collisions, "engine": analysis.result.engine,
            "peak_mib": peak_mib()}


PYCACHE: str | None = None  # set by main(): in the run's temporary directory


def child_env() -> dict:
    """The measured processes' environment: with bytecode cached, as an installed package
    has it. A machine that sets PYTHONDONTWRITEBYTECODE (this VM does) would otherwise
    compile every imported module in every process; the cache goes to a directory of
    its own (PYTHONPYCACHEPREFIX, removed with the run's files), never into the tree."""
    env = dict(os.environ)
    if env.pop("PYTHONDONTWRITEBYTECODE", None) and "PYTHONPYCACHEPREFIX" not in env:
        env["PYTHONPYCACHEPREFIX"] = PYCACHE or os.path.join(tempfile.gettempdir(),
                                                             "reapcheck-bench-pycache")
    return env


def child(*args: str):
    """Run one case in a fresh process (its memory and time its own); its JSON answer."""
    out = subprocess.run([sys.executable, __file__, "--case", *args], check=True,
                         capture_output=True, text=True, env=child_env())
    return json.loads(out.stdout)


def process_seconds(path: str, order: str, granularity: str) -> float:
    """CPU seconds of the whole command, start-up included."""
    process = subprocess.Popen([sys.executable, "-m", "reapcheck", "collisions", path,
                                "--order", order, "--granularity", granularity],
                               stdout=subprocess.DEVNULL, env=child_env())
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"reapcheck collisions {path}: exit status {status}")
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the table to this file")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--machine", default="2-core x86-64 VM, Linux 6.18",
                        help="how to label the machine in the record")
    parser.add_argument("--case", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        if args.case[0] == "write":
            print(json.dumps(write_files(args.case[1], args.seed)))
            return 0
        fn = read_case if len(args.case) == 1 else answer_case
        print(json.dumps(fn(*args.case)))
        return 0
    lines = [f"machine: {args.machine}; {platform.machine()}, Python "
             f"{platform.python_version()}, {len(os.sched_getaffinity(0))} cores; load average "
             f"{os.getloadavg()[0]:.1f} at the start (other work shares the machine)",
             f"{VMAS} synthetic VMAs (seed {args.seed}); times in CPU seconds; every "
             "process with its bytecode cached (as installed)",
             "read = open().read().split('\\n') (best of 5); parse = smaps.load (best of 5);",
             "answer = load + worst_case in a fresh process (best of 3) = parse (its load, the",
             "first in the process) + solve (engine and witness check);",
             "process = the whole `reapcheck collisions FILE --order O --granularity G` "
             "(best of 3)",
             ""]
    print("\n".join(lines), flush=True)
    global PYCACHE
    with tempfile.TemporaryDirectory() as tmp:
        PYCACHE = os.path.join(tmp, "pycache")
        files = child("write", tmp, "--seed", str(args.seed))
        live = {}  # name -> what real_smaps.capture() says about it
        reason = real_smaps.skip_reason()
        for shape in ("one-page", "mixed") if reason is None else ():
            name = f"real-{shape}.smaps"
            live[name] = real_smaps.capture(shape, os.path.join(tmp, name), args.seed)
            files.append((name, os.path.join(tmp, name)))
        if reason is not None:
            lines += [f"real smaps (benchmarks/real_smaps.py): skipped: {reason}", ""]
        for name, path in files:
            r = child(path)
            if name in live:
                c = live[name]
                lines.append(f"{name}: a live capture, made by this run (not a file in the "
                             f"repository): a child process on Linux {c['kernel']} "
                             f"(vm.max_map_count {c['max_map_count']:,}) mapped "
                             f"{c['split']:,} anonymous {c['shape']} VMAs beside its own; "
                             f"its smaps has {c['vmas']:,} VMAs")
                print(lines[-1], flush=True)
            block = [f"{name}: {r['lines']:,} lines, {r['bytes'] / 1e6:.1f} MB; read "
                     f"{r['read']:.3f}, parse {r['parse']:.3f} ({r['parse'] / r['read']:.1f}x "
                     f"read), peak {r['peak_mib']:.0f} MiB",
                     f"  {'order':<8} {'gran':<4} {'max':>8} {'answer':>7} {'x read':>7} "
                     f"{'parse':>6} {'solve':>6} {'process':>8} {'peak MiB':>8}"]
            for order, gran in CONFIGS:  # best of 3 fresh processes: a shared machine
                runs = [child(path, order, gran) for _ in range(REPEATS)]
                a = dict(min(runs, key=lambda run: run["answer"]),
                         peak_mib=max(run["peak_mib"] for run in runs))
                seconds = min(process_seconds(path, order, gran) for _ in range(REPEATS))
                block.append(f"  {order:<8} {gran:<4} {a['max']:>8} {a['answer']:>7.3f} "
                             f"{a['answer'] / r['read']:>6.1f}x {a['parse']:>6.3f} "
                             f"{a['answer'] - a['parse']:>6.3f} {seconds:>8.2f} "
                             f"{a['peak_mib']:>8.0f}")
            print("\n".join(block) + "\n", flush=True)
            lines += block + [""]
    lines.append(f"load average {os.getloadavg()[0]:.1f} at the end")
    print(lines[-1])
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
