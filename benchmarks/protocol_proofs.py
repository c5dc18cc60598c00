"""Benchmark: the protocol claims for every layout (issue 13 section 1), one process each.

1. Each of the 56 claims `protocol_<property>_<walk>[_mrelease][_stuck_writer]` proved
   alone, as `reapcheck prove --claim NAME --json` runs it, in a fresh process: status,
   bound, the claim's own seconds (as prove reports them), the whole process's wall and
   CPU seconds and its peak RSS (the forked Spacer children included when they run).
   The target is every claim under 30 s.
2. Each seeded bug under its violating configuration (rev_find; blocking_read_lock with
   the stuck writer): the parametric proof, then the counterexample search on layouts
   of 1..3 VMAs, for every property, in one process: verdicts, wall, CPU, peak RSS.
3. The 56 claims together in one process (prove shares one proof per configuration).

    python benchmarks/protocol_proofs.py [--out results/benchmarks/protocol_proofs.txt]
                                         [--machine LABEL] [--timeout 120] [--no-mutants]
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

CLAIM = """
import json, sys
from reapcheck.prove import prove
out = prove(timeout_s=float(sys.argv[2]), only=tuple(sys.argv[1].split(",")))
print(json.dumps({name: {"status": c["status"], "bound": c["bound"], "seconds": c["seconds"],
                         "method": c["inductive"]["method"]}
                  for name, c in out["claims"].items()}))
"""

MUTANT = """
import json, sys
from reapcheck import prove
from reapcheck.model.protocol import ProtocolConfig
from reapcheck.properties.protocol import PROPERTIES
mutant = sys.argv[1]
config = ProtocolConfig("rev_find", mutant, stuck_writer=mutant == "blocking_read_lock")
out = prove._protocol_claims(config, [p.name for p in PROPERTIES], float(sys.argv[2]))
print(json.dumps({name: {"status": c["status"], "bound": c["bound"],
                         "steps": (c["counterexample"] or {}).get("steps")}
                  for name, c in out.items()}))
"""


def measured(argv) -> dict:
    """Run argv to its end: wall and CPU seconds, peak RSS (MiB), output."""
    with tempfile.TemporaryFile("w+") as out:
        started = time.monotonic()
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        out.seek(0)
        text = out.read()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(text[-800:])
        return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                "rss_mib": usage.ru_maxrss / 1024,
                "data": json.loads(text.strip().splitlines()[-1])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="also write the text here")
    ap.add_argument("--machine", default=platform.node(), help="machine label")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per query")
    ap.add_argument("--no-mutants", action="store_true")
    args = ap.parse_args(argv)

    from reapcheck.model.protocol import MUTANTS
    from reapcheck.prove import PROTOCOL_CLAIMS

    lines = [f"# benchmarks/protocol_proofs.py on {args.machine}: {platform.machine()}, "
             f"{platform.system()} {platform.release()}, python {platform.python_version()}, "
             f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; "
             f"timeout {args.timeout:g} s per query; each row a fresh process", ""]

    def say(line=""):
        lines.append(line)
        print(line, flush=True)

    for line in lines:
        print(line, flush=True)
    say("1. each claim alone (prove --claim NAME): claim seconds as prove reports them; "
        "the process's wall, CPU and peak RSS")
    say(f"{'claim':<62} {'status':<8} {'bound':<9} {'claim s':>7} {'wall s':>7} "
        f"{'cpu s':>6} {'MiB':>5}  method")
    worst = 0.0
    for name in PROTOCOL_CLAIMS:
        run = measured([sys.executable, "-c", CLAIM, name, str(args.timeout)])
        c = run["data"][name]
        worst = max(worst, run["wall"])
        say(f"{name:<62} {c['status']:<8} {str(c['bound']):<9} {c['seconds']:>7.1f} "
            f"{run['wall']:>7.1f} {run['cpu']:>6.1f} {run['rss_mib']:>5.0f}  {c['method']}")
    say(f"slowest claim process: {worst:.1f} s wall (target: every claim under 30 s)")

    if not args.no_mutants:
        say("")
        say("2. each seeded bug (rev_find; blocking_read_lock with the stuck writer): every "
            "property, parametric proof then the counterexample search on 1..3 VMAs")
        for mutant in MUTANTS:
            run = measured([sys.executable, "-c", MUTANT, mutant, str(args.timeout)])
            broken = ", ".join(f"{name} ({c['bound']} VMA, {c['steps']} steps)"
                               for name, c in run["data"].items() if c["status"] == "violated")
            others = sorted({c["status"] for c in run["data"].values()
                             if c["status"] != "violated"})
            say(f"{mutant:<26} {run['wall']:>6.1f} s wall {run['cpu']:>6.1f} s cpu "
                f"{run['rss_mib']:>5.0f} MiB; violated: {broken or 'none'}; "
                f"the rest: {', '.join(others) or '-'}")

    say("")
    run = measured([sys.executable, "-c", CLAIM, ",".join(PROTOCOL_CLAIMS), str(args.timeout)])
    statuses = sorted({(c["status"], str(c["bound"])) for c in run["data"].values()})
    say(f"3. all 56 claims in one process: {run['wall']:.1f} s wall, {run['cpu']:.1f} s cpu, "
        f"{run['rss_mib']:.0f} MiB; {statuses}")
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
