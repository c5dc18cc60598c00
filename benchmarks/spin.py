"""Benchmark: SPIN on reapcheck's Promela exports against reapcheck's own engines (issue 14;
the speed ratios issue 10 asks for).

Protocol, bundled sleep.smaps (42 VMAs) and java.smaps (203 VMAs), walk rev_find, the
kernel's configuration:
- reapcheck: the explicit engine (`verify`) in a fresh process: its search seconds and
  states per second, the process's wall and CPU seconds and peak RSS;
- SPIN: the export's own commands (`spin -a`, `gcc -O2 -DSAFETY`, `./pan -c0`), each
  timed, pan's states, states per second and peak RSS, and whether all seven verdicts
  equal reapcheck's.
Collisions, synthetic layouts of N = 64 and 128 VMAs (seed 1): `mixed` (the default
mixture of sizes) at granularity vma, `one-page` (4 KiB VMAs without gaps: 512 share
one page table) at vma and ptl, both orders, and `mixed` at ptl for N = 64 (SPIN given
--spin-limit seconds):
- reapcheck: the whole `reapcheck collisions FILE --order O --granularity G --json`
  process, best of 3 (wall seconds, as a user waits), with its peak RSS;
- SPIN: the export with B = W (reapcheck's worst case), `spin -a`, `gcc -O2 -DSAFETY`
  (with -DMEMLIM=8192: pan stops, incomplete, rather than use more than 8 GiB),
  `./pan` (claim within_bound: the full search proving B) and `./pan -N reaches_bound`
  (a schedule reaching B); "SPIN total" is their sum, "x" its ratio to reapcheck's
  process, "x search" the ratio of the two pan runs alone (no compilation) to it.

    python benchmarks/spin.py [--out results/benchmarks/spin.txt] [--machine LABEL]
                              [--spin-limit 150]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROTOCOL_LAYOUTS = ("bundled/sleep.smaps", "bundled/java.smaps")
SIZES = (64, 128)
HASH_BITS = 24  # pan -w24: 16 M slots, enough for every model here without long chains
REPEATS = 3
MEMLIM_MB = 8192  # pan stops (incomplete) rather than take more of a shared machine


def measured(argv, cwd=None, limit: float | None = None) -> dict:
    """Run argv; wall and CPU seconds, peak RSS (MiB, from wait4), output, and whether
    `limit` seconds ran out (the process is then killed)."""
    with tempfile.TemporaryFile("w+") as out:
        started = time.monotonic()
        process = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   text=True)
        expired = threading.Event()

        def kill():
            expired.set()
            process.kill()

        timer = threading.Timer(limit, kill) if limit else None
        if timer:
            timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        if timer:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        out.seek(0)
        text = out.read()
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mib": usage.ru_maxrss / 1024, "text": text, "rc": process.returncode,
            "expired": expired.is_set()}


def spin_steps(export, directory: Path, pan_runs, limit: float | None) -> dict:
    """Write the export, compile it as its header says, run each pan argument list."""
    from reapcheck.spin import ERROR

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.pml").write_text(export.text)
    steps = {"spin -a": measured(["spin", "-a", "model.pml"], directory),
             "gcc": measured(["gcc", "-O2", "-DSAFETY", f"-DMEMLIM={MEMLIM_MB}", "-o", "pan",
                              "pan.c"], directory)}
    for name, extra in pan_runs:
        run = measured(["./pan", f"-m{export.depth}", f"-w{HASH_BITS}", *extra], directory, limit)
        text = run["text"]
        run["states"] = _int(r"^\s*(\d+) states, stored", text)
        # pan's progress lines ("Depth= ... States= 4.5e+07 ..."): how far a killed run got
        progress = re.findall(r"States=\s*([\d.e+]+)", text)
        run["states_seen"] = int(float(progress[-1])) if progress else None
        run["errors"] = _int(r"errors: (\d+)", text)
        run["errors_text"] = sorted({m.group(1) for m in ERROR.finditer(text)})
        run["complete"] = (not run["expired"] and "max search depth too small" not in text
                           and "out of memory" not in text and "MEMLIM" not in text
                           and run["states"] is not None)
        steps[name] = run
    return steps


def _int(pattern: str, text: str):
    m = re.search(pattern, text, re.M)
    return int(m.group(1)) if m else None


def protocol_case(name: str, work: Path, limit: float | None) -> list[str]:
    from reapcheck.bundled import load_bundled
    from reapcheck.model.protocol import ProtocolConfig
    from reapcheck.promela import export_protocol
    from reapcheck.properties.protocol import PROPERTIES

    script = ("import json, sys; from reapcheck.bundled import load_bundled; "
              "from reapcheck.model.protocol import ProtocolConfig; "
              "from reapcheck.verify import verify; "
              f"r = verify(load_bundled({name!r}), ProtocolConfig('rev_find')); "
              "print(json.dumps({'states': r.states, 'seconds': r.seconds, "
              "'statuses': r.statuses}))")
    ours = measured([sys.executable, "-c", script])
    mine = json.loads(ours["text"].strip().splitlines()[-1])
    started = time.monotonic()
    export = export_protocol(load_bundled(name), ProtocolConfig("rev_find"))
    export_s = time.monotonic() - started
    steps = spin_steps(export, work / Path(name).stem, [("pan -c0", ("-c0",))], limit)
    pan = steps["pan -c0"]
    names = {text.removeprefix("assertion violated ") for text in pan["errors_text"]}
    statuses = {p.name: "violated" if p.name in names else
                ("holds" if pan["complete"] else "incomplete") for p in PROPERTIES}
    spin_total = export_s + sum(s["wall"] for s in steps.values())
    return [
        f"{name}, walk rev_find (kernel configuration): verdicts "
        f"{'agree' if statuses == mine['statuses'] else 'DIFFER'} "
        f"({', '.join(sorted(set(mine['statuses'].values())))})",
        f"  reapcheck explicit: {mine['states']:>9,} states, search {mine['seconds']:7.2f} s, "
        f"{mine['states'] / mine['seconds']:>10,.0f} states/s; process {ours['wall']:.2f} s "
        f"wall, {ours['cpu']:.2f} s CPU, peak {ours['rss_mib']:.0f} MiB",
        f"  SPIN pan -c0:       {pan['states']:>9,} states, search {pan['wall']:7.2f} s, "
        f"{pan['states'] / pan['wall']:>10,.0f} states/s; peak {pan['rss_mib']:.0f} MiB; "
        f"export {export_s:.2f} s, spin -a {steps['spin -a']['wall']:.2f} s, "
        f"gcc {steps['gcc']['wall']:.2f} s; total {spin_total:.2f} s",
        f"  SPIN / reapcheck: search time {pan['wall'] / mine['seconds']:.2f}, "
        f"end to end (export + spin + gcc + pan against the verify process) "
        f"{spin_total / ours['wall']:.2f}",
        ""]


def collision_rows(work: Path, limit: float | None) -> list[list]:
    from reapcheck.collisions import worst_case
    from reapcheck.model.smaps import format_smaps
    from reapcheck.model.synthetic import SyntheticSpec, generate, parse_range
    from reapcheck.model.walks import WalkConfig
    from reapcheck.promela import export_collisions

    cases = []
    for n in SIZES:
        mixed = generate(SyntheticSpec(vmas=n, seed=1))
        one_page = generate(SyntheticSpec(vmas=n, seed=1, sizes=parse_range("4k"),
                                          gaps=parse_range("0")))
        for label, layout, grans in (("mixed", mixed, ("vma",) + (("ptl",) if n == 64 else ())),
                                     ("one-page", one_page, ("vma", "ptl"))):
            path = work / f"{label}-{n}.smaps"
            path.write_text(format_smaps(layout))
            for gran in grans:
                for order in ("forward", "reverse"):
                    cases.append((n, label, path, gran, order))
    rows = []
    for n, label, path, gran, order in cases:
        from reapcheck.model.smaps import load

        layout = load(path)
        config = WalkConfig(order, gran)
        analysis = worst_case(layout, config)
        worst = analysis.result.max_collisions
        ours = min((measured(["reapcheck", "collisions", str(path), "--order", order,
                              "--granularity", gran, "--json", "--quiet"])
                    for _ in range(REPEATS)), key=lambda r: r["wall"])
        assert ours["rc"] == 0, ours["text"][-300:]
        assert json.loads(ours["text"])["max_collisions"] == worst
        started = time.monotonic()
        export = export_collisions(layout, config, worst)
        export_s = time.monotonic() - started
        steps = spin_steps(export, work / f"{label}-{n}-{gran}-{order}",
                           [("within", ()), ("reaches", ("-N", "reaches_bound"))], limit)
        within, reaches = steps["within"], steps["reaches"]
        proved = within["complete"] and within["errors"] == 0
        reached = (reaches["errors"] or 0) > 0
        total = export_s + sum(s["wall"] for s in steps.values())
        search = within["wall"] + reaches["wall"]
        finished = within["complete"] and not reaches["expired"]
        rows.append([n, label, gran, order, f"{len(analysis.model.items[0])}/"
                     f"{len(analysis.model.items[1])}", worst,
                     f"{ours['wall']:.2f}", f"{ours['rss_mib']:.0f}",
                     f"{within['states']:,}" if within["states"] else
                     (f">{within['states_seen']:,}" if within["states_seen"] else "-"),
                     f"{within['states'] / within['wall']:,.0f}" if within["states"] else "-",
                     f"{steps['gcc']['wall']:.1f}", f"{search:.2f}",
                     f"{total:.2f}" if finished else f">{total:.0f}",
                     f"{max(s['rss_mib'] for s in steps.values()):.0f}",
                     ("yes" if proved and reached else "NO") if finished else
                     ("out of time" if within["expired"] or reaches["expired"] else "incomplete"),
                     f"{total / ours['wall']:.0f}x" if finished else f">{total / ours['wall']:.0f}x",
                     f"{search / ours['wall']:.1f}x" if finished else "-"])
        print(" ".join(map(str, rows[-1])), file=sys.stderr, flush=True)
    return rows


def machine_lines(label: str) -> list[str]:
    spin = subprocess.run(["spin", "-V"], capture_output=True, text=True).stdout.strip()
    gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    return [f"machine: {label}; {platform.machine()}, {cpu}, {os.cpu_count()} CPUs, "
            f"Linux {os.uname().release}, Python {platform.python_version()}; "
            f"load average {os.getloadavg()[0]:.1f} at the start (the machine is shared)",
            f"{spin}; {gcc.splitlines()[0] if gcc else 'gcc ?'}"]


def main() -> int:
    from tabulate import tabulate

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="results/benchmarks/spin.txt")
    parser.add_argument("--machine", default="2-core x86-64 VM, shared",
                        help="how to label the machine in the record")
    parser.add_argument("--spin-limit", type=float, default=150,
                        help="seconds each pan run may take (default 150)")
    args = parser.parse_args()
    from reapcheck.spin import missing_tools

    if missing_tools():
        print(f"benchmarks/spin.py: {missing_tools()}", file=sys.stderr)
        return 2
    lines = machine_lines(args.machine) + [
        "Times are wall seconds (a user's wait); CPU seconds are close on an idle core.", ""]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="reapcheck-bench-spin-") as tmp:
        work = Path(tmp)
        lines += ["Protocol: reapcheck verify's explicit engine against SPIN on the export", ""]
        for name in PROTOCOL_LAYOUTS:
            lines += protocol_case(name, work, args.spin_limit)
            print("\n".join(lines[-5:]), file=sys.stderr, flush=True)
        rows = collision_rows(work, args.spin_limit)
    lines += ["Collisions: the whole `reapcheck collisions FILE --json` process (best of "
              f"{REPEATS}) against SPIN establishing the same W",
              "(items: exit_mmap/reaper; SPIN states: claim within_bound's full search, "
              "'>' where pan was stopped; SPIN total = export + spin -a + gcc + both pan "
              "runs; x = SPIN total / reapcheck, x search = the pan runs alone / reapcheck)",
              "",
              tabulate(rows, headers=["N", "layout", "gran", "order", "items", "W",
                                      "reapcheck s", "MiB", "SPIN states", "states/s",
                                      "gcc s", "pan s", "SPIN total s", "SPIN MiB",
                                      "SPIN agrees", "x", "x search"],
                       disable_numparse=True, colalign=("right",) * 17), "",
              f"benchmark took {time.monotonic() - started:.0f} s; load average "
              f"{os.getloadavg()[0]:.1f} at the end"]
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
