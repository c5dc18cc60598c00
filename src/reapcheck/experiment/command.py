"""The `reapcheck experiment` subcommand's work: synthetic layouts, running or re-classifying,
output files (its options are in options.py, which the CLI imports at start-up)."""
from __future__ import annotations

import gzip
import os
from dataclasses import replace
import json
from pathlib import Path

from .. import outputs
from ..model.layout import LayoutError
from ..model.synthetic import SyntheticSpec, generate, parse_range
from ..progress import Progress
from .options import refuse_unused
from .plan import PlanError
from .render import render
from .run import (SCHEMA_VERSION, VICTIM_OWN_VMAS, max_map_count, Experiment, Options, analyse_run, build_record,
                  run_experiment, verdict_of)
from .tracefs import KernelSupportError
from .trace_parse import TraceFormatError
from .victim import VictimError

MAX_THREADS = 100  # the stack trigger lists every thread, and must stay below a page
RUN_MARK = "# reapcheck-run "


def load_experiment_layout(name: str, seed: int, load_layout):
    """A file, bundled/NAME, or synthetic:N[:SIZE[:GAP]] (private anonymous VMAs only:
    the victim can make nothing else)."""
    if not name.startswith("synthetic:"):
        return load_layout(name)
    fields = name.split(":")[1:]
    try:
        if not 1 <= len(fields) <= 3:
            raise ValueError("want synthetic:N[:SIZE[:GAP]]")
        vmas = int(fields[0]) if fields[0].isdigit() else None
        if vmas is None:
            raise ValueError(f"N must be a number of VMAs, not {fields[0][:20]!r}")
        limit = max_map_count()
        if vmas + VICTIM_OWN_VMAS > limit:  # before drawing millions of VMAs
            raise ValueError(f"{vmas} VMAs plus the victim's own ({VICTIM_OWN_VMAS}) "
                             f"exceed vm.max_map_count = {limit}")
        spec = {"vmas": vmas, "seed": seed, "shared": 0.0, "hugetlb": 0.0, "pfnmap": 0.0}
        if len(fields) > 1:
            spec["sizes"] = parse_range(fields[1])
        if len(fields) > 2:
            spec["gaps"] = parse_range(fields[2])
        return replace(generate(SyntheticSpec(**spec)), path=f"{name} (seed {seed})")
    except ValueError as err:
        raise LayoutError(name, None, str(err)) from None


def _twin(out: str) -> Path:
    return Path(out.removesuffix(".json") + ".trace.gz")


def save(experiment: Experiment, out: str) -> None:
    """FILE: the JSON object; FILE.trace.gz: each run's raw trace after a header line.
    Both appear together or neither does (outputs.write_files)."""
    text = "".join(f"{RUN_MARK}{json.dumps(header)}\n{raw}" for header, raw in experiment.traces)
    outputs.write_files([(str(_twin(out)), gzip.compress(text.encode(), mtime=0)),
                         (out, json.dumps(experiment.data, indent=1) + "\n")])


def reclassify(path: str) -> dict:
    """Read FILE and its .trace.gz twin, classify every run's trace again, rebuild the record.
    Raises LayoutError (exit 2) naming the file for anything that is not such a record,
    and when a traced run of FILE has no trace in the twin."""
    twin = _twin(path)
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)[:80]
        raise LayoutError(path, None, f"not a recorded experiment: {why}") from None
    try:
        raw = gzip.decompress(twin.read_bytes()).decode(errors="replace")
    except FileNotFoundError:
        raise LayoutError(str(twin), None, f"missing: the raw traces of {Path(path).name} "
                          "(written beside it by --out)") from None
    except (OSError, ValueError, EOFError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)[:80]
        raise LayoutError(str(twin), None, f"not the gzip traces of a recorded experiment: "
                          f"{why}") from None
    if not isinstance(data, dict) or data.get("version") != SCHEMA_VERSION:
        raise LayoutError(path, None, f"not a recorded experiment of schema version "
                          f"{SCHEMA_VERSION}")
    try:
        return _reclassify(data, raw, path, twin)
    except LayoutError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        what = f"missing key {err}" if isinstance(err, KeyError) else str(err)[:80]
        raise LayoutError(path, None, f"not a well-formed recorded experiment: {what}") from None


def _reclassify(data: dict, raw: str, path: str, twin: Path) -> dict:
    walkers = data["walkers"]
    if not walkers or any(w not in ("opposite", "same") for w in walkers):
        raise ValueError(f"walkers must be opposite and/or same, not {walkers!r}")
    runs = {r["run"]: r for r in data["runs"]}
    traced = {n for n, r in runs.items() if "contentions" in r}
    found = set()
    for part in raw.split(RUN_MARK)[1:]:
        head, _, text = part.partition("\n")
        header = json.loads(head)
        run = runs.get(header["run"])
        if run is None:
            raise LayoutError(str(twin), None, f"run {header['run']} is not in {path}")
        run.update(analyse_run(header, text, f"{twin} (run {header['run']})"))
        run["verdict"] = verdict_of(run, run["model"])
        found.add(header["run"])
    if traced - found:
        raise LayoutError(str(twin), None, f"no trace of run(s) {sorted(traced - found)} of "
                          f"{path}: nothing to classify them again from")
    bounds = {walkers[0]: data["model"]} if len(walkers) == 1 else data["model"]
    opts = data["options"]
    options = Options(tuple(walkers), opts["runs"], opts["resident"], opts.get("max_resident"),
                      opts["trace"], opts.get("victim_threads", 0))
    return build_record(data["layout"], data["recreation"], options, data["runs"], bounds,
                        data["environment"])


def command(args, load_layout) -> int:
    """Exit 0: conforms (or timings only); 1: fidelity violation; 2: bad input or a kernel
    without what is needed; 3: no run raced, or the trace lost events."""
    if args.timed_check is not None:
        from .timed_check import command as timed_check

        return timed_check(args, load_layout)
    if args.costs is not None:
        raise LayoutError("--costs", None, "is read by --timed-check only")
    if args.calibrate:
        from .calibrate import command as calibrate

        return calibrate(args, load_layout)
    if args.recorded:
        refuse_unused(args, "--from", "classifies a recorded experiment",
                      ("LAYOUT", "--out", "--walkers", "--runs", "--no-trace"))
    if args.out is not None:  # before the minutes of work
        for target in (args.out, str(_twin(args.out))):
            if not target.strip() or (os.path.exists(target) and not os.path.isfile(target)):
                raise LayoutError(target or "--out", None, "--out needs a regular file "
                                  "(the raw traces go to its .trace.gz twin)")
            outputs.check_file(target)
    try:
        if args.recorded:
            record = reclassify(args.recorded)
            experiment = None
        else:
            layout = load_experiment_layout(args.layout, args.seed, load_layout)
            walkers = ("opposite", "same") if args.walkers == "both" else (args.walkers,)
            if not 0 <= args.victim_threads <= MAX_THREADS:
                raise LayoutError("--victim-threads", None,
                                  f"must be between 0 and {MAX_THREADS}")
            options = Options(walkers, args.runs, args.resident, args.max_resident,
                              not args.no_trace, args.victim_threads)
            progress = Progress("experiment runs", quiet=args.quiet)
            experiment = run_experiment(layout, options, progress)
            progress.close()
            record = experiment.data
    except (KernelSupportError, PlanError, VictimError, TraceFormatError) as err:
        raise LayoutError("experiment", None, str(err)) from None
    if args.out and experiment is not None:
        save(experiment, args.out)
    if args.json:
        print(json.dumps(record, indent=1))
    else:
        print(render(record))
    return {"conforms": 0, "untraced": 0, "violation": 1, "no_race": 3,
            "incomplete": 3}[record["verdict"]]
