"""The `reapcheck experiment` subcommand's work: synthetic layouts, running or re-classifying,
output files (its options are in options.py, which the CLI imports at start-up)."""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

from .. import outputs
from ..model.layout import LayoutError
from ..model.synthetic import SyntheticSpec, generate, parse_range
from .plan import PlanError
from .render import render
from .run import (SCHEMA_VERSION, Experiment, Options, analyse_run, build_record,
                  run_experiment, verdict_of)
from .tracefs import KernelSupportError
from .trace_parse import TraceFormatError
from .victim import VictimError

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
        spec = {"vmas": int(fields[0]), "seed": seed, "shared": 0.0, "hugetlb": 0.0,
                "pfnmap": 0.0}
        if len(fields) > 1:
            spec["sizes"] = parse_range(fields[1])
        if len(fields) > 2:
            spec["gaps"] = parse_range(fields[2])
        return generate(SyntheticSpec(**spec))
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
    """Read FILE and its .trace.gz twin, classify every run's trace again, rebuild the record."""
    try:
        data = json.loads(Path(path).read_text())
        raw = gzip.decompress(_twin(path).read_bytes()).decode(errors="replace")
    except (OSError, ValueError, EOFError) as err:
        raise LayoutError(path, None, f"not a recorded experiment: {err}") from None
    if not isinstance(data, dict) or data.get("version") != SCHEMA_VERSION:
        raise LayoutError(path, None, f"not a recorded experiment of schema version "
                          f"{SCHEMA_VERSION}")
    runs = {r["run"]: r for r in data.get("runs", [])}
    parts = raw.split(RUN_MARK)[1:]
    for part in parts:
        head, _, text = part.partition("\n")
        header = json.loads(head)
        run = runs.get(header["run"])
        if run is None:
            raise LayoutError(str(_twin(path)), None, f"run {header['run']} is not in {path}")
        run.update(analyse_run(header, text, f"{_twin(path)} (run {header['run']})"))
        run["verdict"] = verdict_of(run, run["model"])
    walkers = data["walkers"]
    bounds = {walkers[0]: data["model"]} if len(walkers) == 1 else data["model"]
    opts = data["options"]
    options = Options(tuple(walkers), opts["runs"], opts["resident"], None, opts["trace"])
    return build_record(data["layout"], data["recreation"], options, data["runs"], bounds,
                        data["environment"])


def command(args, load_layout) -> int:
    """Exit 0: conforms (or timings only); 1: fidelity violation; 2: bad input or a kernel
    without what is needed; 3: no run raced, or the trace lost events."""
    if args.out:  # before the minutes of work
        outputs.check_file(args.out)
        outputs.check_file(str(_twin(args.out)))
    try:
        if args.recorded:
            record = reclassify(args.recorded)
            experiment = None
        else:
            layout = load_experiment_layout(args.layout, args.seed, load_layout)
            walkers = ("opposite", "same") if args.walkers == "both" else (args.walkers,)
            if not 0 <= args.victim_threads <= 1000:
                raise LayoutError("--victim-threads", None, "must be between 0 and 1000")
            options = Options(walkers, args.runs, args.resident, args.max_resident,
                              not args.no_trace, args.victim_threads)
            experiment = run_experiment(layout, options, _progress())
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


def _progress():
    if not sys.stderr.isatty():
        return None

    def show(done, total):
        sys.stderr.write(f"\rexperiment: run {done}/{total}\x1b[K")
        sys.stderr.flush()
        if done >= total:
            sys.stderr.write("\r\x1b[K")
    return show
