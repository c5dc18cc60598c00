"""Text rendering of an experiment record (run.py's JSON object): a table per walkers mode."""
from __future__ import annotations

from tabulate import tabulate

from .trace_parse import ACTORS, LOCK_CLASSES

OUTSIDE_MODEL = {
    "lruvec": "the lruvec lock while both free folios: outside the collision model",
    "zone": "the zone lock of the page allocator: outside the collision model",
    "mmap_lock": "exit_mmap's mmap_write_lock() waiting for the reaper's read lock: not a "
                 "collision, but what the protocol model's write_lock_wait step stands for",
    "pmd": "PMD locks (huge pages): not in the collision model",
    "other": "other locks: not in the collision model",
}


def _mm(cell: dict) -> str:
    if cell["median"] is None:
        return "-"
    return f"{cell['median']:g} / {cell['max']:g}"


def render(record: dict) -> str:
    env = record["environment"]
    rec = record["recreation"]
    out = [f"reapcheck experiment: {record['layout']} on Linux {env['kernel']} "
           f"({env['machine']}, {env['cpus']} CPUs, {env['page_size']}-byte pages)",
           f"victim: {rec['recreated']} of {rec['vmas']} VMAs recreated, "
           f"{rec['resident_bytes'] >> 10} KiB resident"]
    if rec["left_out"]:
        reasons: dict[str, int] = {}
        for lo in rec["left_out"]:
            reasons[lo["reason"]] = reasons.get(lo["reason"], 0) + 1
        out.append("left out: " + "; ".join(f"{n} x {r}" for r, n in reasons.items()))
    for walkers in record["walkers"]:
        out += [""] + _walkers_section(record, walkers)
    out += ["", _verdict_line(record)]
    if record["suspects"]:
        out += ["suspect:"] + [f"  - {s}" for s in record["suspects"]]
    return "\n".join(out)


def _walkers_section(record: dict, walkers: str) -> list[str]:
    summary = record["summary"][walkers]
    runs = [r for r in record["runs"] if r["walkers"] == walkers]
    model = runs[-1]["model"] if runs else {"ptl": None, "vma": None}
    what = ("exit_mmap ascending vs one process_mrelease() descending (v6.18)"
            if walkers == "opposite" else
            "exit_mmap ascending vs two process_mrelease() descending together")
    out = [f"walkers {walkers}: {what}",
           f"  runs: {summary['raced']} raced of {summary['runs']} "
           "(a release that finds the mm gone returns ESRCH: no race)",
           f"  exit_mmap (kill to exit) ms, median / max: {_mm(summary['exit_ms'])}; "
           f"process_mrelease() ms: {_mm(summary['release_ms'])}"]
    if "contentions" not in summary:
        return out + ["  (no trace: --no-trace, or no run raced)"]
    rows = []
    for lock in LOCK_CLASSES:
        for actor in ACTORS:
            cell = summary["contentions"][lock][actor]
            if cell["count"]["max"]:
                rows.append([lock, actor, _mm(cell["count"]), _mm(cell["wait_us"])])
    table = tabulate(rows or [["(none)", "", "", ""]],
                     headers=["lock", "actor", "contentions med / max", "wait µs med / max"])
    out += ["  " + line for line in table.splitlines()]
    pte = [sum(r["contentions"]["pte"][a]["count"] for a in ACTORS)
           for r in runs if "contentions" in r and r["raced"]]
    out.append(f"  model worst case on the read-back layout: ptl {model['ptl']}, "
               f"vma {model['vma']}; observed PTE-lock contentions per run: "
               f"{', '.join(map(str, pte)) or '-'}")
    wait = summary.get("exit_mmap_write_lock_wait_us")
    if wait and wait["median"] is not None:
        out.append(f"  exit_mmap's mmap_write_lock() wait µs, median / max: {_mm(wait)} "
                   "(the protocol model's write_lock_wait step)")
    out += [f"  {lock}: {OUTSIDE_MODEL[lock]}" for lock in LOCK_CLASSES if lock != "pte"
            and any(summary["contentions"][lock][a]["count"]["max"] for a in ACTORS)]
    bad = [r["run"] for r in runs if r["verdict"] == "violation"]
    if bad:
        out.append(f"  FIDELITY VIOLATION in runs {bad}: more PTE-lock contentions than the "
                   "model's worst case")
    return out


def _verdict_line(record: dict) -> str:
    return {
        "conforms": "verdict: conforms: in every traced run the PTE-lock contentions stay "
                    "within the model's worst case",
        "violation": "verdict: FIDELITY VIOLATION: the kernel contended on PTE locks more "
                     "often than the model's worst case allows; the model or its reading "
                     "of the kernel is wrong",
        "no_race": "verdict: no race: in a walkers mode every run had a "
                   "process_mrelease() come after exit_mm() (ESRCH); nothing to compare there",
        "untraced": "verdict: untraced (--no-trace): timings only, no conformance check",
        "incomplete": "verdict: incomplete: the trace buffer lost events in a run, so its "
                      "counts are lower bounds (no violation among them)",
    }[record["verdict"]]
