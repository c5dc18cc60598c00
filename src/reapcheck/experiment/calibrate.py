"""`reapcheck experiment --calibrate`: fit the timed model's costs (timed_costs.py) on this
kernel, and hold the timed model's predictions against recorded experiments.

What a trace gives (the `mmap_lock` events of experiment/tracefs.py, µs resolution):
- exit_mmap's walk: the read lock exit_mmap() takes around unmap_vmas() (docs/kernel.md
  §6, steps 1-3), i.e. the last read acquisition of the victim's thread before its write
  acquisition, from `mmap_lock_acquire_returned` to `mmap_lock_released`;
- each reaper's walk: process_mrelease()'s read lock, acquired to released (docs/kernel.md §4);
- the delay d of the timed model: the reaper's acquisition minus exit_mmap's.

Calibration runs, on layouts of different shapes (one page per VMA, many pages per VMA):
- `alone`: SIGKILL only, no process_mrelease(): exit_mmap's walk without contention, every
  item at its full cost;
- `opposite`: the race of `reapcheck experiment` (process_mrelease() at once).
exit_mmap's cost pair (c_item, c_page) is fitted on the `alone` runs, the reaper's on the
`opposite` runs (no run has the reaper alone: process_mrelease() needs a dying victim,
whose exit_mmap then runs too), each by least squares on
  duration - PTE-lock wait = c_item x items + c_page x pages,
items and pages being what the timed model says that walker did at that run's delay
(items the other walker had emptied cost c_item only); as those depend on the costs,
fit and simulation alternate until the costs settle (a few rounds). The cost file keeps
the costs, their fit error, every run's residual, the kernel and the machine.
"""
from __future__ import annotations

import gzip
import json
import math
import os
import platform
import select
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from ..model.pmd import shift_for_page_size
from ..model.walks import WalkConfig
from ..timed import NS_PER_US, build_items, simulate
from ..timed_costs import KIND as COSTS_KIND, VERSION as COSTS_VERSION, Costs, WalkerCosts
from .trace_parse import _EVENT, _ns, parse_trace, tally

# Layout shapes: pages per item 1 (c_item and c_page together), 64 and 256 (c_page).
SHAPES = ("synthetic:30000:4k:0", "synthetic:1500:256k:0", "synthetic:400:1m:0")
FIT_ROUNDS = 4


@dataclass(frozen=True)
class Walks:
    """One run's walk intervals from its trace (ns, the trace clock)."""

    exit_start: int
    exit_end: int
    reapers: tuple[tuple[int, int, int], ...]  # (pid, start, end), by start

    @property
    def exit_us(self) -> float:
        return (self.exit_end - self.exit_start) / NS_PER_US

    def reaper_delays_us(self) -> list[float]:
        return [(s - self.exit_start) / NS_PER_US for _, s, _ in self.reapers]

    def reaper_us(self) -> list[float]:
        return [(e - s) / NS_PER_US for _, s, e in self.reapers]


def walk_intervals(text: str, actors: dict) -> Walks | None:
    """exit_mmap's and each reaper's read-lock walk in one run's trace; None when exit_mmap's
    is not in it (a run that did not trace its write lock)."""
    events = {}
    for line in text.split("\n"):
        m = _EVENT.match(line)
        if not m:
            continue
        event, _, body = m["rest"].partition(": ")
        if event not in ("mmap_lock_acquire_returned", "mmap_lock_released"):
            continue
        if event == "mmap_lock_acquire_returned" and "success=true" not in body:
            continue
        events.setdefault(int(m["pid"]), []).append(
            (_ns(m["sec"], m["frac"]), event == "mmap_lock_released", "write=true" in body))
    exit_walk, reapers = None, []
    for pid, evs in events.items():
        actor = actors.get(str(pid)) or actors.get(pid)
        if actor == "exit_mmap":
            writes = [i for i, (_, rel, w) in enumerate(evs) if w and not rel]
            if not writes:
                continue
            reads = [i for i in range(writes[0]) if not evs[i][1] and not evs[i][2]]
            if not reads:
                continue
            start = evs[reads[-1]][0]
            end = next((t for t, rel, w in evs[reads[-1]:writes[0]] if rel and not w), None)
            if end is not None:
                exit_walk = (start, end)
        elif actor == "reaper":
            acquired = next((i for i, (_, rel, w) in enumerate(evs) if not rel and not w), None)
            if acquired is None:
                continue
            end = next((t for t, rel, w in evs[acquired:] if rel and not w), None)
            if end is not None:
                reapers.append((pid, evs[acquired][0], end))
    if exit_walk is None:
        return None
    return Walks(exit_walk[0], exit_walk[1], tuple(sorted(reapers, key=lambda r: r[1])))


def pte_waits(text: str, actors: dict) -> dict:
    """PTE-lock contentions and wait (µs) per actor in one run's trace."""
    table, _ = tally(parse_trace(text), {int(p): a for p, a in actors.items()})
    return table["pte"]


# ---------------------------------------------------------------- the timed model per run

def predict(layout, walks: Walks, costs: Costs, mode: str, pmd_shift: int = 21) -> dict:
    """The timed model at this run's own start times: `alone` (exit_mmap only),
    `opposite` (exit_mmap forward, one reaper reverse), `same` (exit_mmap and every
    reaper: the two reverse), all in one simulation (simulate(), any number of walkers)."""
    cfg = WalkConfig("reverse", "ptl", pmd_shift, "forward")
    exit_items, reaper_items = build_items(layout, cfg)
    walkers = [(exit_items, costs.exit_mmap, 0)]
    if mode != "alone":
        for delay in walks.reaper_delays_us():
            walkers.append((reaper_items, costs.reaper, round(delay * NS_PER_US)))
    runs = simulate(walkers)
    return {
        "contentions": sum(r.contentions for r in runs),
        "wait_us": sum(r.wait_ns for r in runs) / NS_PER_US,
        "walkers": [{"items": r.items, "pages": r.pages, "contentions": r.contentions,
                     "wait_us": r.wait_ns / NS_PER_US,
                     "duration_us": (r.end_ns - w[2]) / NS_PER_US}
                    for r, w in zip(runs, walkers)],
    }


def _least_squares(rows: list[tuple[float, float, float]]) -> tuple[float, float]:
    """(a, b) >= 0 minimising sum (a x + b y - t)^2 over rows (x, y, t)."""
    sxx = sum(x * x for x, _, _ in rows)
    syy = sum(y * y for _, y, _ in rows)
    sxy = sum(x * y for x, y, _ in rows)
    sxt = sum(x * t for x, _, t in rows)
    syt = sum(y * t for _, y, t in rows)
    det = sxx * syy - sxy * sxy
    if det > 1e-9 * sxx * syy:
        a, b = (sxt * syy - syt * sxy) / det, (syt * sxx - sxt * sxy) / det
        if a >= 0 and b >= 0:
            return a, b
    # one of them at 0: the better of the two one-parameter fits
    a_only = (sxt / sxx, 0.0) if sxx else (0.0, 0.0)
    b_only = (0.0, syt / syy) if syy else (0.0, 0.0)

    def err(ab):
        return sum((ab[0] * x + ab[1] * y - t) ** 2 for x, y, t in rows)
    return min((max(0.0, a_only[0]), 0.0), (0.0, max(0.0, b_only[1])), key=err)


def fit(samples: list[dict], rounds: int = FIT_ROUNDS) -> tuple[Costs, dict]:
    """Fit both walkers' costs on samples {layout, walks, mode, pte: {actor: wait}}."""
    costs = Costs(WalkerCosts(0.3, 0.3), WalkerCosts(0.3, 0.3), "fit")
    for _ in range(rounds):
        rows = {"exit_mmap": [], "reaper": []}
        for s in samples:
            p = predict(s["layout"], s["walks"], costs, s["mode"], s["pmd_shift"])
            durations = [s["walks"].exit_us] + s["walks"].reaper_us()
            for i, (w, measured) in enumerate(zip(p["walkers"], durations)):
                actor = "exit_mmap" if i == 0 else "reaper"
                if actor == "exit_mmap" and s["mode"] != "alone":
                    continue  # exit_mmap from its runs without contention only
                wait = s["pte"][actor]["wait_us"] / (1 if i == 0 else len(durations) - 1)
                rows[actor].append((w["items"], w["pages"], measured - wait))
        pairs = {a: WalkerCosts(*(round(v, 4) for v in _least_squares(r))) if r
                 else costs.of(a) for a, r in rows.items()}
        costs = Costs(pairs["exit_mmap"], pairs["reaper"], "fit")
    costs = Costs(costs.exit_mmap, _refine(samples, costs), "fit")
    rows["reaper"] = _reaper_rows(samples, costs)
    error = {}
    for actor, r in rows.items():
        c = costs.of(actor)
        rel = [(c.c_item_us * x + c.c_page_us * y - t) / t for x, y, t in r if t > 0]
        error[actor] = {"samples": len(r),
                        "rms_relative_error": round(math.sqrt(sum(e * e for e in rel) / len(rel)), 4)
                        if rel else None,
                        "max_relative_error": round(max(map(abs, rel)), 4) if rel else None}
    return costs, error


def _reaper_rows(samples, costs) -> list[tuple[float, float, float]]:
    rows = []
    for s in samples:
        if s["mode"] == "alone":
            continue
        p = predict(s["layout"], s["walks"], costs, s["mode"], s["pmd_shift"])
        waits = s["pte"]["reaper"]["wait_us"] / len(s["walks"].reapers)
        for w, measured in zip(p["walkers"][1:], s["walks"].reaper_us()):
            rows.append((w["items"], w["pages"], measured - waits))
    return rows


def _refine(samples, costs: Costs, evaluations: int = 40) -> WalkerCosts:
    """The alternation of fit and simulation can settle on a nearby fixed point that is not
    the best fit (the emptied items move with the costs): a pattern search on the reaper's
    pair, minimising the squared relative error of the simulated release durations."""
    runs = [s for s in samples if s["mode"] != "alone"]
    if not runs:
        return costs.reaper

    def error(pair: WalkerCosts) -> float:
        c = Costs(costs.exit_mmap, pair, "fit")
        total = 0.0
        for s in runs:
            p = predict(s["layout"], s["walks"], c, s["mode"], s["pmd_shift"])
            for w, measured in zip(p["walkers"][1:], s["walks"].reaper_us()):
                total += ((w["duration_us"] - measured) / measured) ** 2
        return total

    best, best_err = costs.reaper, error(costs.reaper)
    step = [max(0.01, 0.1 * best.c_item_us), max(0.01, 0.1 * best.c_page_us)]
    used = 1
    while used < evaluations and max(step) > 0.002:
        improved = False
        for axis in (0, 1):
            for sign in (1, -1):
                values = [best.c_item_us, best.c_page_us]
                values[axis] = max(0.0, values[axis] + sign * step[axis])
                trial = WalkerCosts(round(values[0], 4), round(values[1], 4))
                e = error(trial)
                used += 1
                if e < best_err:
                    best, best_err, improved = trial, e, True
                    break
        if not improved:
            step = [x / 2 for x in step]
    return best


# ---------------------------------------------------------------- kernel runs

def _kill_only(victim, pidfd: int, trace) -> dict:
    """SIGKILL, no process_mrelease(): exit_mmap alone; returns the actors."""
    from .race import SYS_PIDFD_SEND_SIGNAL, _libc

    libc = _libc()
    trace.start(list(victim.tids))
    if libc.syscall(SYS_PIDFD_SEND_SIGNAL, pidfd, 9, None, 0) != 0:
        raise OSError("pidfd_send_signal(SIGKILL) failed")
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.poll(30_000)
    time.sleep(0.05)
    trace.stop()
    return {str(t): "exit_mmap" for t in victim.tids}


def kernel_samples(shapes, runs: int, progress=None) -> tuple[list[dict], list[tuple]]:
    """`runs` alone and `runs` opposite runs per shape on this kernel, traced; returns the
    samples and the raw traces. Same safety as `reapcheck experiment` (run.py)."""
    from contextlib import ExitStack

    from ..model.synthetic import SyntheticSpec, generate, parse_range
    from . import race as race_mod
    from .plan import make_plan
    from .run import (Options, check_limits, exclusive_lock, kernel_page_size, preflight,
                      sigterm_as_interrupt)
    from .tracefs import (Instance, KernelSupportError, check_events, find_tracefs,
                          fingerprint, signals_deferred, unmount)
    from .victim import Victim

    options = Options(walkers=("opposite",), runs=runs)
    preflight(options)
    page_size = kernel_page_size()
    shift = shift_for_page_size(page_size)
    samples, traces = [], []
    with ExitStack() as stack:
        stack.enter_context(sigterm_as_interrupt())
        stack.enter_context(exclusive_lock())
        with signals_deferred():
            root, mounted = find_tracefs()
            if mounted:
                stack.callback(unmount, root)
        check_events(root)
        before = fingerprint(root)
        done, total = 0, len(shapes) * runs * 2
        for shape in shapes:
            n, size, gap = shape.split(":")[1:]
            layout = generate(SyntheticSpec(vmas=int(n), seed=0, sizes=parse_range(size),
                                            gaps=parse_range(gap), shared=0.0, hugetlb=0.0,
                                            pfnmap=0.0))
            plan = make_plan(layout, page_size, "all")
            check_limits(plan, options)
            seen: dict = {}
            for mode in ("alone", "opposite") * runs:
                cpus = race_mod.Cpus.choose(os.sched_getaffinity(0))
                with Victim(plan, cpus.victim, 0, seen) as victim:
                    pidfd = os.pidfd_open(victim.pid)
                    try:
                        with Instance(root) as trace:
                            trace.create()
                            if mode == "alone":
                                actors = _kill_only(victim, pidfd, trace)
                            else:
                                header = {}

                                def before_kill(tids, trace=trace, header=header):
                                    header["actors"] = {**{str(t): "exit_mmap" for t in victim.tids},
                                                        **{str(t): "reaper" for t in tids}}
                                    trace.start([*victim.tids, *tids])
                                result = race_mod.race(victim.pid, pidfd, "opposite", cpus,
                                                       before_kill, trace.stop)
                                actors = header["actors"]
                                if not result.raced:
                                    continue
                            text = trace.read()
                    finally:
                        os.close(pidfd)
                    victim.proc.wait()
                    readback = victim.layout
                walks = walk_intervals(text, actors)
                done += 1
                if progress:
                    progress(done, total)
                if walks is None or (mode == "opposite" and not walks.reapers):
                    continue
                traces.append(({"shape": shape, "mode": mode, "actors": actors}, text))
                samples.append({"shape": shape, "mode": mode, "layout": readback,
                                "walks": walks, "pmd_shift": shift,
                                "pte": pte_waits(text, actors)})
        if fingerprint(root) != before:
            raise KernelSupportError(f"the global tracing state in {root} changed during "
                                     "the calibration (another tracer at work?)")
    return samples, traces


def cost_file(costs: Costs, error: dict, samples: list[dict]) -> dict:
    """The cost file written by --calibrate (timed_costs.py reads it)."""
    per_run = []
    for s in samples:
        p = predict(s["layout"], s["walks"], costs, s["mode"], s["pmd_shift"])
        per_run.append({"shape": s["shape"], "mode": s["mode"],
                        "measured_us": [round(s["walks"].exit_us, 1)]
                        + [round(x, 1) for x in s["walks"].reaper_us()],
                        "predicted_us": [round(w["duration_us"], 1) for w in p["walkers"]],
                        "delay_us": [round(d, 1) for d in s["walks"].reaper_delays_us()]})
    return {
        "version": COSTS_VERSION,
        "kind": COSTS_KIND,
        "exit_mmap": {"c_item_us": costs.exit_mmap.c_item_us,
                      "c_page_us": costs.exit_mmap.c_page_us},
        "reaper": {"c_item_us": costs.reaper.c_item_us, "c_page_us": costs.reaper.c_page_us},
        "fit": {"method": "least squares, per walker: duration - PTE wait = c_item x items "
                          "+ c_page x pages, items and pages from the timed model at each "
                          f"run's delay ({FIT_ROUNDS} rounds)",
                "error": error, "runs": per_run},
        "kernel": platform.release(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "measured": f"fitted by reapcheck experiment --calibrate on Linux {platform.release()} "
                    f"{platform.machine()} ({len(samples)} runs, "
                    f"{', '.join(sorted({s['shape'] for s in samples}))})",
    }


# ---------------------------------------------------------------- the kernel check

def recorded_runs(json_path: Path) -> tuple[dict, list[tuple[dict, str]]]:
    """A recorded experiment (results/experiments/MODE.json) and its runs' raw traces."""
    data = json.loads(json_path.read_text())
    twin = json_path.with_suffix(".trace.gz")
    traces, header, lines = [], None, []
    for line in gzip.open(twin, "rt").read().split("\n"):
        if line.startswith("# reapcheck-run "):
            if header is not None:
                traces.append((header, "\n".join(lines)))
            header, lines = json.loads(line[len("# reapcheck-run "):]), []
        else:
            lines.append(line)
    if header is not None:
        traces.append((header, "\n".join(lines)))
    return data, traces


def kernel_check(costs: Costs, experiments: dict[str, Path], load_layout) -> dict:
    """For each recorded mode: per raced run, the measured PTE-lock contentions and wait
    against the timed model's at that run's own start times; medians and their ratio."""
    from .command import load_experiment_layout

    out = {}
    for mode, path in experiments.items():
        data, traces = recorded_runs(path)
        name = data["layout"].split(" (seed ")[0]
        seed = int(data["layout"].split(" (seed ")[1].rstrip(")")) if "(seed" in data["layout"] else 0
        layout = load_experiment_layout(name, seed, load_layout)
        shift = data.get("model", {}).get("pmd_shift", 21)
        if "pmd_shift" not in data.get("model", {}):
            shift = next(iter(data["model"].values()))["pmd_shift"]
        raced = {r["run"]: r for r in data["runs"] if r["raced"]}
        rows = []
        for header, text in traces:
            run = raced.get(header["run"])
            if run is None:
                continue
            walks = walk_intervals(text, header["actors"])
            if walks is None or not walks.reapers:
                continue
            p = predict(layout, walks, costs, mode, shift)
            pte = run["contentions"]["pte"]
            rows.append({
                "run": header["run"],
                "reaper_delays_us": [round(d, 1) for d in walks.reaper_delays_us()],
                "measured": {"contentions": sum(c["count"] for c in pte.values()),
                             "wait_us": round(sum(c["wait_us"] for c in pte.values()), 1),
                             "exit_us": round(walks.exit_us, 1),
                             "reaper_us": [round(x, 1) for x in walks.reaper_us()]},
                "predicted": {"contentions": p["contentions"], "wait_us": round(p["wait_us"], 1),
                              "exit_us": round(p["walkers"][0]["duration_us"], 1),
                              "reaper_us": [round(w["duration_us"], 1)
                                            for w in p["walkers"][1:]]},
            })
        med = {side: {k: statistics.median(r[side][k] for r in rows) for k in
                      ("contentions", "wait_us", "exit_us")} for side in ("measured", "predicted")}
        ratios = {k: (med["measured"][k] / med["predicted"][k]) if med["predicted"][k] else None
                  for k in ("contentions", "wait_us", "exit_us")}
        out[mode] = {"layout": data["layout"], "kernel": data["environment"]["kernel"],
                     "runs": rows, "median": med,
                     "measured_over_predicted": {k: None if v is None else round(v, 3)
                                                 for k, v in ratios.items()},
                     "within_factor_3": {k: v is not None and 1 / 3 <= v <= 3
                                         for k, v in ratios.items()}}
    return out


RECORDED = Path("results/experiments")


def command(args, load_layout) -> int:
    """`reapcheck experiment --calibrate [--runs N] [--out FILE]`: exit 0 with the cost file
    written; 2 without root, tracefs or process_mrelease(), or a bad option."""
    from .. import outputs
    from ..model.layout import LayoutError
    from ..progress import Progress
    from .options import refuse_unused
    from .plan import PlanError
    from .tracefs import KernelSupportError
    from .victim import VictimError

    refuse_unused(args, "--calibrate", "runs its own layouts and modes",
                  ("LAYOUT", "--from", "--walkers", "--no-trace"))
    if args.out is not None:
        outputs.check_file(args.out)
    progress = Progress("calibration runs", quiet=args.quiet)
    try:
        samples, _ = kernel_samples(SHAPES, args.runs, progress)
    except (KernelSupportError, PlanError, VictimError) as err:
        raise LayoutError("experiment --calibrate", None, str(err)) from None
    finally:
        progress.close()
    if not samples:
        raise LayoutError("experiment --calibrate", None, "no run gave exit_mmap's walk")
    costs, error = fit(samples)
    data = cost_file(costs, error, samples)
    recorded = {m: RECORDED / f"{m}.json" for m in ("opposite", "same")
                if (RECORDED / f"{m}.json").exists()}
    if recorded:
        check = kernel_check(costs, recorded, load_layout)
        data["check"] = check_summary(check)
    text = json.dumps(data, indent=1) + "\n"
    outputs.emit(args.out, text)
    return 0


def check_summary(check: dict) -> dict:
    """The kernel check in a cost file: measured/predicted medians per mode, and a line."""
    parts = []
    for mode, c in check.items():
        r = c["measured_over_predicted"]
        parts.append(f"{mode}: PTE contentions measured/predicted {r['contentions']}, "
                     f"wait {r['wait_us']}")
    return {"modes": {m: {"median": c["median"], "measured_over_predicted":
                          c["measured_over_predicted"], "within_factor_3": c["within_factor_3"]}
                      for m, c in check.items()},
            "text": "medians on the experiment's default layout (results/experiments), "
                    + "; ".join(parts)}
