"""Benchmark: the protocol's explicit engine (issue 13 section 2).

1. Cost per state, on the full state graph (no reduction): the generic engine
   (engines/explicit/explicit.py, the model's rules called on tuples) against the compiled one
   (engines/explicit/compiled.py), and SPIN's pan on the export of the same model with every
   variable kept and no partial-order reduction (`-DNOREDUCE`, spin -o2: its states are
   ours + 1), CPU seconds of the search alone.
2. State counts with and without the reduction (`--reduction por|none`), each run in a
   fresh process: states, transitions, CPU seconds, states per second, peak RSS. A run
   without the reduction that would not fit is stopped at --cap states (shown as >N).
3. The targets: `reapcheck verify bundled/java.smaps --walk rev_find --mrelease` (every
   property holds, under 60 s and 2 GiB) and a generated 2,000-VMA layout (`reapcheck
   generate 2000 --seed 1`) with process_mrelease (under 5 minutes), as whole processes.

    python benchmarks/explicit.py [--out results/benchmarks/explicit.txt] [--machine LABEL]
                                  [--cap 5000000] [--no-spin]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEARCH = """
import json, sys, time
from reapcheck.bundled import load_bundled
from reapcheck.model.smaps import load
from reapcheck.model.protocol import Protocol, ProtocolConfig
from reapcheck.properties.protocol import PROPERTIES
from reapcheck.engines.explicit import compiled, explicit
name, mrelease, engine, cap = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4]
layout = load_bundled(name) if name.startswith("bundled/") else load(name)
model = Protocol(layout, ProtocolConfig("rev_find", mrelease=mrelease))
started = time.process_time()
if engine == "generic":
    result = explicit.check(model, PROPERTIES)
else:
    result = compiled.check(model, PROPERTIES, engine, int(cap) if cap != "-" else None)
cpu = time.process_time() - started
print(json.dumps({"states": result.states, "transitions": result.transitions, "cpu": cpu,
                  "complete": result.complete, "vmas": len(layout),
                  "statuses": sorted({v.status for v in result.verdicts.values()})}))
"""


def measured(argv, cwd=None) -> dict:
    """Run argv to its end: wall and CPU seconds, peak RSS (MiB), output."""
    with tempfile.TemporaryFile("w+") as out:
        started = time.monotonic()
        process = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        out.seek(0)
        return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                "rss_mib": usage.ru_maxrss / 1024, "text": out.read(),
                "rc": os.waitstatus_to_exitcode(status)}


def search(name: str, mrelease: bool, engine: str, cap: int | None = None) -> dict:
    run = measured([sys.executable, "-c", SEARCH, name, "1" if mrelease else "0", engine,
                    str(cap) if cap else "-"])
    if run["rc"] != 0:
        raise RuntimeError(run["text"][-800:])
    return {**json.loads(run["text"].strip().splitlines()[-1]), "rss_mib": run["rss_mib"]}


def spin_search(name: str, mrelease: bool, work: Path) -> dict | None:
    """pan on the export with every variable and no reduction: states, CPU of pan."""
    from reapcheck.bundled import load_bundled
    from reapcheck.model.protocol import ProtocolConfig
    from reapcheck.promela import export_protocol
    from reapcheck.spin import compile_export, missing_tools

    if missing_tools():
        return None
    export = export_protocol(load_bundled(name), ProtocolConfig("rev_find", mrelease=mrelease))
    built = compile_export(export, work, "protocol.pml", noreduce=True, keep_write_only=True)
    run = measured(["./pan", *export.pan_args(("-c0",))], built.directory)
    states = [int(line.split()[0]) for line in run["text"].splitlines()
              if line.strip().endswith("states, stored")]
    return {"states": states[0] if states else None, "cpu": run["cpu"],
            "rss_mib": run["rss_mib"]}


def rate(states, seconds) -> str:
    return f"{states / seconds:>10,.0f}" if seconds else "-"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="also write the text here")
    ap.add_argument("--machine", default=platform.node(), help="machine label")
    ap.add_argument("--cap", type=int, default=5_000_000,
                    help="states at most for a run without the reduction")
    ap.add_argument("--no-spin", action="store_true")
    args = ap.parse_args(argv)
    lines = [f"# benchmarks/explicit.py on {args.machine}: {platform.machine()}, "
             f"Linux {platform.release()}, Python {platform.python_version()}, "
             f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; "
             "seconds are CPU seconds of the search (the machine is shared)", ""]

    def say(line=""):
        print(line, flush=True)
        lines.append(line)

    for line in lines:
        print(line)
    say("1. Cost per state, full state graph (no reduction), walk rev_find")
    say(f"{'layout':<28} {'engine':<22} {'states':>11} {'CPU s':>8} {'states/s':>10} "
        f"{'peak MiB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, mrelease, generic in (("bundled/sleep.smaps", False, True),
                                        ("bundled/java.smaps", False, False),
                                        ("bundled/sleep.smaps", True, False)):
            label = name.removeprefix("bundled/") + (" +mrelease" if mrelease else "")
            runs = [("generic (before)", search(name, mrelease, "generic"))] if generic else []
            runs.append(("compiled (after)", search(name, mrelease, "none")))
            for engine, r in runs:
                say(f"{label:<28} {engine:<22} {r['states']:>11,} {r['cpu']:>8.2f} "
                    f"{rate(r['states'], r['cpu'])} {r['rss_mib']:>8.0f}")
            spin = None if args.no_spin else spin_search(name, mrelease,
                                                         Path(tmp) / label.replace(" ", ""))
            if spin and spin["states"]:
                ours = runs[-1][1]
                say(f"{label:<28} {'SPIN pan -DNOREDUCE':<22} {spin['states']:>11,} "
                    f"{spin['cpu']:>8.2f} {rate(spin['states'], spin['cpu'])} "
                    f"{spin['rss_mib']:>8.0f}   (ours {ours['states'] / ours['cpu'] / (spin['states'] / spin['cpu']):.2f}x SPIN's states/s)")
            elif not args.no_spin:
                say(f"{label:<28} SPIN: not installed")
        say()
        say("2. State counts with and without the reduction (rev_find)")
        say(f"{'layout':<28} {'VMAs':>5} {'none: states':>13} {'por: states':>12} "
            f"{'ratio':>7} {'por CPU s':>9} {'por states/s':>12} {'por MiB':>8}")
        generated = Path(tmp) / "generated-2000.smaps"
        subprocess.run(["reapcheck", "generate", "2000", "--seed", "1", "-o", str(generated)],
                       check=True)
        for name in ("bundled/tiny.maps", "bundled/sleep.smaps", "bundled/python-threads.smaps",
                     "bundled/java.smaps"):
            for mrelease in (False, True):
                label = name.removeprefix("bundled/") + (" +mrelease" if mrelease else "")
                full = search(name, mrelease, "none", args.cap)
                red = search(name, mrelease, "por")
                assert red["statuses"] == ["holds"], (name, red)
                none = f"{full['states']:,}" if full["complete"] else f">{full['states']:,}"
                ratio = (f"{full['states'] / red['states']:.1f}x" if full["complete"]
                         else f">{full['states'] / red['states']:.0f}x")
                say(f"{label:<28} {red['vmas']:>5} {none:>13} {red['states']:>12,} {ratio:>7} "
                    f"{red['cpu']:>9.2f} {rate(red['states'], red['cpu']):>12} "
                    f"{red['rss_mib']:>8.0f}")
        say()
        say("3. Targets (whole processes: wall and CPU seconds, peak RSS)")
        for label, argv, limit_s in (
                ("verify bundled/java.smaps --walk rev_find --mrelease",
                 ["reapcheck", "verify", "bundled/java.smaps", "--walk", "rev_find",
                  "--mrelease", "--json", "--quiet"], 60),
                ("verify generated-2000.smaps --mrelease (generate 2000 --seed 1)",
                 ["reapcheck", "verify", str(generated), "--mrelease", "--json", "--quiet"],
                 300)):
            run = measured(argv)
            data = json.loads(run["text"][run["text"].index("{"):])
            statuses = sorted({p["status"] for p in data["properties"].values()})
            ok = (statuses == ["holds"] and run["wall"] < limit_s and run["rss_mib"] < 2048)
            say(f"{label}: exit {run['rc']}, {data['states']:,} states "
                f"({data['reduction']}), properties {', '.join(statuses)}; "
                f"{run['wall']:.1f} s wall, {run['cpu']:.1f} s CPU, peak {run['rss_mib']:.0f} MiB"
                f" -> target ({limit_s} s, 2 GiB) {'met' if ok else 'MISSED'}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
