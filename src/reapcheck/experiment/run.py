"""`reapcheck experiment`: recreate a layout, race the walkers, classify the contention, and
hold each run against the model's worst case for the layout that was really mapped.

Data first: `run_experiment()` returns the JSON object (schema `SCHEMA_VERSION`); render.py
prints it. The raw trace of every run is kept (`Experiment.traces`) so that `--from` can
classify a recorded experiment again, without root (trace_parse.py).
"""
from __future__ import annotations

import fcntl
import os
import platform
import signal
import statistics
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..collisions import worst_case
from ..model.layout import Layout
from ..model.pmd import shift_for_page_size
from ..model.walks import GRANULARITIES, WalkConfig
from . import race as race_mod
from .plan import PlanError, make_plan
from .trace_parse import ACTORS, LOCK_CLASSES, mmap_lock_waits, parse_trace, tally
from .tracefs import (Instance, KernelSupportError, check_events, find_tracefs, fingerprint,
                      signals_deferred, unmount)
from .victim import Victim

SCHEMA_VERSION = 1
LOCK_FILE = Path("/run/lock/reapcheck-experiment.lock")
VICTIM_OWN_VMAS = 200  # room for the victim interpreter's own mappings (about 60)
MAX_ATTEMPTS_PER_RUN = 3  # a run whose every release found no mm (ESRCH) is tried again
# What a PTE-lock fidelity violation puts in doubt (docs/model.md §3, docs/kernel.md §7).
SUSPECTS = (
    "docs/model.md §3: one lock acquisition per (VMA, page table) item. docs/kernel.md §7: "
    "zap_pte_range() drops and retakes the PTE lock on need_resched() or a full TLB "
    "batch, so one item can contend more than once.",
    "docs/kernel.md §7: with split PTE ptlocks one lock per page-table page; without "
    "CONFIG_SPLIT_PTE_PTLOCKS every page table shares mm->page_table_lock.",
    "The pair bound: with walkers `same` the model adds the worst cases of the three "
    "pairs (exit_mmap with each reaper, and the reapers with each other).",
)


@dataclass(frozen=True)
class Options:
    """One experiment: walkers modes, runs per mode, resident rule and memory cap (bytes)."""

    walkers: tuple[str, ...] = ("opposite", "same")
    runs: int = 5
    resident: str = "all"
    max_resident: int | None = None  # default: a quarter of MemAvailable
    trace: bool = True
    victim_threads: int = 0  # more threads in the victim: exit_mmap runs in the last to exit


@dataclass
class Experiment:
    data: dict
    traces: list[tuple[dict, str]] = field(default_factory=list)  # (run header, raw text)


def kernel_page_size() -> int:
    return os.sysconf("SC_PAGE_SIZE")


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise KernelSupportError("/proc/meminfo has no MemAvailable line")


@contextmanager
def exclusive_lock(path: Path | None = None):
    """One experiment at a time on a machine; raises KernelSupportError when one runs."""
    path = path or LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise KernelSupportError(f"another reapcheck experiment is running (pid {owner}, "
                                     f"lock {path})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM unwinds like Ctrl-C, so every `finally` (victim, tracefs) runs."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def preflight(options: Options) -> None:
    """Raise KernelSupportError naming the first missing piece."""
    if os.geteuid() != 0:
        raise KernelSupportError("the experiment needs root (process_mrelease() of a "
                                 "child is allowed, but tracefs is not)")
    if not hasattr(os, "pidfd_open"):
        raise KernelSupportError("this Python has no os.pidfd_open")
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError as err:
        raise KernelSupportError(f"pidfd_open() failed: {err.strerror}") from None
    if len(os.sched_getaffinity(0)) < 2:
        raise KernelSupportError("the race needs at least two CPUs (the walkers must run "
                                 "at the same time)")
    if not race_mod.has_process_mrelease():
        raise KernelSupportError("this kernel has no process_mrelease() (syscall 448, "
                                 "Linux 5.15 and later)")


def max_map_count() -> int:
    return int(Path("/proc/sys/vm/max_map_count").read_text())


def _size(nbytes: int) -> str:
    return f"{nbytes >> 20} MiB" if nbytes >= 1 << 20 else f"{nbytes >> 10} KiB"


def check_limits(plan, options: Options) -> None:
    """Refuse plans above the resident cap or past vm.max_map_count (PlanError)."""
    cap = options.max_resident if options.max_resident is not None else mem_available() // 4
    if plan.resident_bytes > cap:
        raise PlanError(f"{plan.layout.path}: the victim would need "
                        f"{_size(plan.resident_bytes)} resident, above the limit of "
                        f"{_size(cap)} (raise it with --max-resident)")
    limit = max_map_count()
    own = VICTIM_OWN_VMAS + 2 * options.victim_threads  # a stack and its guard per thread
    if len(plan.mappings) + own > limit:
        raise PlanError(f"{plan.layout.path}: {len(plan.mappings)} VMAs plus the victim's own "
                        f"({own}) exceed vm.max_map_count = {limit}")


def model_bound(layout: Layout, walkers: str, pmd_shift: int, cache: dict) -> dict:
    """The model's worst case for the walkers used, on the read-back layout.

    `opposite`: exit_mmap forward, the reaper reverse (docs/model.md §3). `same`: exit_mmap and
    two reapers, all three pairs added up: exit_mmap with each reaper (forward vs
    reverse) and the two reapers (both reverse, the first one's items taken as every
    VMA: more items can only raise the worst case, so the sum stays an upper bound).
    """
    pairs = [("forward", "reverse")] if walkers == "opposite" else \
        [("forward", "reverse"), ("forward", "reverse"), ("reverse", "reverse")]
    key = tuple((v.start, v.end, v.perms, v.flags) for v in layout.vmas)
    bound = {"pmd_shift": pmd_shift, "pairs": []}
    for granularity in GRANULARITIES:
        total = 0
        for exit_order, order in pairs:
            memo = (key, exit_order, order, granularity, pmd_shift)
            if memo not in cache:
                config = WalkConfig(order, granularity, pmd_shift, exit_order)
                cache[memo] = worst_case(layout, config, "sparse").result.max_collisions
            total += cache[memo]
            bound["pairs"].append({"granularity": granularity, "first": exit_order,
                                   "second": order, "max_collisions": cache[memo]})
        bound[granularity] = total
    return bound


def analyse_run(header: dict, text: str, path: str = "<trace>") -> dict:
    """Classify one run's trace: contentions per lock class and actor, mmap_lock waits."""
    actors = {int(pid): actor for pid, actor in header["actors"].items()}
    trace = parse_trace(text, path)
    table, foreign = tally(trace, actors)
    return {"contentions": table, "foreign_contentions": foreign,
            "unmatched": sum(1 for c in trace.contentions if c.end_ns is None
                             and int(c.pid) in actors),
            "lost_events": trace.lost_events,
            "mmap_lock_waits": mmap_lock_waits(trace, actors)}


def verdict_of(run: dict, bound: dict) -> str:
    """`conforms`, `violation` (PTE contentions above the model's ptl worst case),
    `incomplete` (the ring buffer lost events, so the counts are lower bounds: only a
    violation can still be told), `no_race` (every release came too late) or `untraced`."""
    if not run["raced"]:
        return "no_race"
    if "contentions" not in run:
        return "untraced"
    pte = sum(cell["count"] for cell in run["contentions"]["pte"].values())
    if pte > bound["ptl"]:
        return "violation"
    return "incomplete" if run["lost_events"] else "conforms"


def _one_run(plan, walkers: str, options: Options, root, cache: dict, pmd_shift: int,
             seen: dict):
    cpus = race_mod.Cpus.choose(os.sched_getaffinity(0))
    with Victim(plan, cpus.victim, options.victim_threads, seen) as victim:
        bound = model_bound(victim.layout, walkers, pmd_shift, cache)
        pidfd = os.pidfd_open(victim.pid)
        header: dict = {}
        with ExitStack() as stack:
            trace = stack.enter_context(Instance(root)) if options.trace else None
            if trace:
                trace.create()

            def before_kill(tids):
                header["actors"] = {**{str(t): "exit_mmap" for t in victim.tids},
                                    **{str(t): "reaper" for t in tids}}
                if trace:
                    trace.start([*victim.tids, *tids])
            try:
                result = race_mod.race(victim.pid, pidfd, walkers, cpus, before_kill,
                                       trace.stop if trace else (lambda: None))
            finally:
                os.close(pidfd)
            text = trace.read() if trace else None
        victim.proc.wait()
        readback = {"vmas": len(victim.layout), "recreated": len(victim.recreated),
                    "offset": victim.offset}
    run = {"walkers": walkers, "raced": result.raced, "exit_ms": round(result.exit_ms, 3),
           "releases": [r.to_json() for r in result.releases], "readback": readback,
           "model": {g: bound[g] for g in GRANULARITIES}, **header}
    if text is not None:
        run.update(analyse_run(header, text))
    run["verdict"] = verdict_of(run, bound)
    return run, bound, text


def _median_max(values) -> dict:
    values = list(values)
    if not values:
        return {"median": None, "max": None}
    return {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}


def summarize(runs: list[dict]) -> dict:
    """Median and maximum over the runs that raced, per lock class and actor, and timings."""
    raced = [r for r in runs if r["raced"]]
    out = {"runs": len(runs), "raced": len(raced),
           "exit_ms": _median_max(r["exit_ms"] for r in raced),
           "release_ms": _median_max(x["ms"] for r in raced for x in r["releases"]
                                     if x["error"] is None)}
    traced = [r for r in raced if "contentions" in r]
    if traced:
        out["contentions"] = {
            c: {a: {"count": _median_max(r["contentions"][c][a]["count"] for r in traced),
                    "wait_us": _median_max(r["contentions"][c][a]["wait_us"] for r in traced)}
                for a in ACTORS} for c in LOCK_CLASSES}
        writes = [w["wait_us"] for r in traced for w in r["mmap_lock_waits"]
                  if w["actor"] == "exit_mmap" and w["write"] and w["wait_us"] is not None]
        out["exit_mmap_write_lock_wait_us"] = _median_max(writes)
    return out


def environment() -> dict:
    return {"kernel": platform.release(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "page_size": kernel_page_size()}


def run_experiment(layout: Layout, options: Options, progress=None) -> Experiment:
    """Run every walkers mode `options.runs` times. Raises KernelSupportError, PlanError,
    VictimError; leaves no victim alive and tracefs as found, also on KeyboardInterrupt."""
    preflight(options)
    page_size = kernel_page_size()
    plan = make_plan(layout, page_size, options.resident)
    check_limits(plan, options)
    pmd_shift = shift_for_page_size(page_size)
    experiment = Experiment({})
    with ExitStack() as stack:
        stack.enter_context(sigterm_as_interrupt())
        stack.enter_context(exclusive_lock())
        root = None
        if options.trace:
            with signals_deferred():  # a mount made is a mount undone
                root, mounted = find_tracefs()
                if mounted:
                    stack.callback(unmount, root)
            check_events(root)
            before = fingerprint(root)
        cache: dict = {}  # model answers per layout and walk
        seen: dict = {}  # read-back layouts per smaps signature
        per_walkers = {}
        runs = []
        for walkers in options.walkers:
            done = 0
            for attempt in range(options.runs * MAX_ATTEMPTS_PER_RUN):
                if done == options.runs:
                    break
                run, bound, text = _one_run(plan, walkers, options, root, cache, pmd_shift,
                                            seen)
                run["run"] = len(runs) + 1
                runs.append(run)
                per_walkers[walkers] = bound
                if text is not None:
                    experiment.traces.append(({"run": run["run"], "walkers": walkers,
                                               "actors": run["actors"]}, text))
                done += run["raced"]
                if progress:
                    progress(len(runs), options.runs * len(options.walkers))
        if options.trace and fingerprint(root) != before:
            raise KernelSupportError(f"the global tracing state in {root} changed during the "
                                     "experiment (another tracer at work?)")
    recreation = {"vmas": len(layout), "recreated": len(plan.mappings),
                  "resident_bytes": plan.resident_bytes,
                  "left_out": [lo.to_json() for lo in plan.left_out]}
    experiment.data = build_record(layout.path, recreation, options, runs, per_walkers,
                                   environment())
    return experiment


def build_record(layout_name: str, recreation: dict, options: Options, runs: list[dict],
                 bounds: dict, env: dict) -> dict:
    """The experiment's JSON object (see README, `reapcheck experiment`); `bounds` holds
    model_bound()'s answer per walkers mode."""
    walkers = list(options.walkers)
    model = bounds[walkers[0]] if len(walkers) == 1 else {w: bounds[w] for w in walkers}
    summary = {w: summarize([r for r in runs if r["walkers"] == w]) for w in walkers}
    verdicts = [r["verdict"] for r in runs]
    unraced = any(not any(r["raced"] for r in runs if r["walkers"] == w) for w in walkers)
    verdict = ("violation" if "violation" in verdicts else
               "no_race" if unraced else
               "incomplete" if "incomplete" in verdicts else
               "conforms" if "conforms" in verdicts else "untraced")
    return {
        "version": SCHEMA_VERSION,
        "environment": env,
        "layout": layout_name,
        "walkers": walkers,
        "options": {"runs": options.runs, "resident": options.resident,
                    "trace": options.trace, "max_resident": options.max_resident,
                    "victim_threads": options.victim_threads},
        "recreation": recreation,
        "model": model,
        "runs": runs,
        "summary": summary,
        "verdict": verdict,
        "suspects": list(SUSPECTS) if verdict == "violation" else [],
    }
