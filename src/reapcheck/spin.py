"""SPIN as a second opinion: run the Promela exports (promela.py), read pan's answers,
turn a trail back into a reapcheck trace.

The commands are the ones each exported file's header prints: `spin -a FILE`,
`gcc -DSAFETY -o pan pan.c`, `./pan -mDEPTH -w20 [...]`. What is read from pan's
output (SPIN 6.5):
- `pan:N: assertion violated NAME (at depth D)`: a protocol property NAME fails in a
  reachable state (with `-c0` the search goes on, so every violated property shows);
- `errors: N`, `N states, stored`, `N transitions`, `State-vector N byte`,
  `total actual memory usage` (MB);
- `error: max search depth too small` or `out of memory`: the search did not cover
  every state, and no `holds` is given (`incomplete`).

`spin -a` hides global variables that no statement reads ("write-only", its default
dataflow optimization): in the protocol that is MMF_UNSTABLE (`unstable`: set by both
walkers, read by no rule and no property), so pan's states are reapcheck's states with
`unstable` projected out. `spin -o2 -a` keeps it; then, with -DNOREDUCE and no property
violated, pan stores exactly reapcheck verify's distinct states + 1 (the start state
before init's atomic start-up) and makes its transitions + 2 (init's start-up and its
exit). `state_count_relation` states both, and tests/test_spin.py checks them.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .model.action import Action
from .model.layout import Layout, LayoutError
from .model.smaps import read_text
from .model.protocol import Protocol, ProtocolConfig
from .model.walks import WalkConfig
from .promela import Export, export_collisions, export_protocol, read_meta
from .properties.protocol import BY_NAME, PROPERTIES, properties_for
from .traces import TraceError, layout_from_json, plural, trace_json

GCC_FAST = ("-O0", "-DNOREDUCE", "-DNOFAIR", "-DXUSAFE", "-DNOCOMP")  # tests: compiling
# dominates (about 0.4 s CPU with these; 0.55 s without), their runs are tiny; the flags
# leave out partial-order reduction, fairness, channel assertions and state compression
GCC_BENCH = ("-O2",)  # the header's command; about 1.5 s to compile, faster pan


def fast_compiler() -> str:
    """The C compiler for many small exports (the tests): tcc when installed (it compiles
    pan.c in about 0.02 s, gcc -O0 in 0.4 s; what pan answers does not depend on the
    compiler), else gcc. The headers' commands, and the benchmark, use gcc -O2."""
    return "tcc" if shutil.which("tcc") else "gcc"
ERROR = re.compile(r"^pan:\d+: (.*?) \(at depth \d+\)$", re.M)
ASSERTION = "assertion violated "
# an executed statement: "  14:\tproc  2 (oom_reaper:1) m.pml:96 (state 33)\t[...]" (the
# process list printed after the trail ends has no "[statement]")
TRAIL_STEP = re.compile(r"^\s*(\d+):\s+proc\s+(\d+) \((\S+?):\d+\) (\S+):(\d+) \(state \d+\)\s+\[",
                        re.M)
LABEL = re.compile(r"/\* (action|property) (\w+) \*/\s*$")


class SpinUnavailable(RuntimeError):
    """spin or gcc is not installed (tests skip with this reason)."""


class SpinFailed(RuntimeError):
    """spin, gcc or pan failed, or pan said something this module does not understand."""


def missing_tools() -> str | None:
    """None when spin and gcc are on PATH, else a sentence naming what is missing."""
    missing = [tool for tool in ("spin", "gcc") if shutil.which(tool) is None]
    if missing:
        return (f"{' and '.join(missing)} not installed (apt-get install -y spin gcc; "
                ".ci/run installs them)")
    return None


@dataclass
class PanRun:
    """One pan run: what pan printed, parsed."""

    output: str
    errors: int
    states: int
    transitions: int
    vector_bytes: int
    memory_mb: float
    complete: bool  # the whole state space was searched
    violated: dict[str, int]  # error text (`assertion violated X`) -> times pan printed it
    seconds: float  # wall time of ./pan alone
    trail: Path | None = None


@dataclass
class Compiled:
    """A pan binary for one export, in its own directory."""

    export: Export
    directory: Path
    model: Path
    pan: Path
    seconds: dict = field(default_factory=dict)  # spin -a and gcc wall times

    def run(self, extra: tuple[str, ...] = (), timeout: float | None = None) -> PanRun:
        return run_pan(self, extra, timeout)


def _run(args, cwd, what: str, timeout=None) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as err:
        raise SpinUnavailable(f"{args[0]} not installed") from err
    if done.returncode != 0:
        raise SpinFailed(f"{what} failed (exit {done.returncode}): "
                         f"{(done.stderr or done.stdout).strip()[-400:]}")
    return done


def compile_export(export: Export, directory: str | Path, name: str = "model.pml",
                   gcc_flags: tuple[str, ...] = GCC_FAST, noreduce: bool = False,
                   keep_write_only: bool = False, cc: str = "gcc") -> Compiled:
    """Write the export, run `spin -a` (`-o2` keeps write-only variables) and the C
    compiler `cc` (gcc; tcc for speed) with -DSAFETY (-DNOREDUCE: no partial-order
    reduction)."""
    reason = missing_tools()
    if reason:
        raise SpinUnavailable(reason)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model = directory / name
    model.write_text(export.text)
    seconds = {}
    started = time.monotonic()
    _run(["spin", *(["-o2"] if keep_write_only else []), "-a", name], directory, "spin -a")
    seconds["spin"] = time.monotonic() - started
    started = time.monotonic()
    flags = ["-DSAFETY", *(["-DNOREDUCE"] if noreduce and "-DNOREDUCE" not in gcc_flags
                           else []), *gcc_flags]
    _run([cc, *flags, "-o", "pan", "pan.c"], directory, f"{cc} pan.c")
    seconds["gcc"] = time.monotonic() - started
    return Compiled(export, directory, model, directory / "pan", seconds)


def _number(pattern: str, text: str, cast=int, default=None):
    m = re.search(pattern, text, re.M)
    if m is None:
        if default is not None:
            return default
        raise SpinFailed(f"pan printed no {pattern!r}: {text[-400:]}")
    return cast(m.group(1))


def run_pan(compiled: Compiled, extra: tuple[str, ...] = (),
            timeout: float | None = None) -> PanRun:
    """Run ./pan with the export's -m and -w and `extra`; parse its report."""
    trail = compiled.model.with_name(compiled.model.name + ".trail")
    if trail.exists():
        trail.unlink()
    started = time.monotonic()
    try:
        done = subprocess.run(["./pan", *compiled.export.pan_args(extra)], cwd=compiled.directory,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise SpinFailed(f"pan ran out of time ({timeout} s)") from err
    seconds = time.monotonic() - started
    out = done.stdout + done.stderr
    if "State-vector" not in out:
        raise SpinFailed(f"pan did not finish (exit {done.returncode}): {out.strip()[-400:]}")
    violated: dict[str, int] = {}
    for m in ERROR.finditer(out):  # pan prints an error again only when the text differs
        violated[m.group(1).strip()] = violated.get(m.group(1).strip(), 0) + 1
    complete = "max search depth too small" not in out and "out of memory" not in out \
        and "aborting" not in out
    return PanRun(out, _number(r"errors: (\d+)", out), _number(r"^\s*(\d+) states, stored", out),
                  _number(r"^\s*(\d+) transitions", out),
                  _number(r"State-vector (\d+) byte", out),
                  _number(r"^\s*([\d.]+)\s+total actual memory usage", out, float, 0.0),
                  complete, violated, seconds, trail if trail.exists() else None)


# -- protocol ------------------------------------------------------------------------------

@dataclass
class ProtocolVerdicts:
    """SPIN's verdict for each protocol property, reapcheck's words."""

    statuses: dict[str, str]  # name -> holds | violated | incomplete
    run: PanRun
    compiled: Compiled


def protocol_statuses(run: PanRun, properties=PROPERTIES) -> dict[str, str]:
    """Per property: violated when pan reported its assertion, holds when the search was
    complete and it did not, else incomplete. Any other error is a SpinFailed.
    `properties`: those the export checks (properties_for(config))."""
    names = {text.removeprefix(ASSERTION) for text in run.violated}
    unknown = [text for text in run.violated
               if not text.startswith(ASSERTION) or text.removeprefix(ASSERTION) not in BY_NAME]
    if unknown or (run.errors > 0) != bool(names):
        raise SpinFailed(f"pan reported errors that are not property assertions: "
                         f"{unknown or run.output[-400:]}")
    return {p.name: "violated" if p.name in names else
            ("holds" if run.complete else "incomplete") for p in properties}


def check_protocol(layout: Layout, config: ProtocolConfig, directory: str | Path,
                   gcc_flags: tuple[str, ...] = GCC_FAST, noreduce: bool = False,
                   keep_write_only: bool = False, cc: str = "gcc") -> ProtocolVerdicts:
    """Export, compile and run pan with -c0 (every violated property reported)."""
    compiled = compile_export(export_protocol(layout, config), directory, "protocol.pml",
                              gcc_flags, noreduce, keep_write_only, cc)
    run = compiled.run(("-c0",))
    return ProtocolVerdicts(protocol_statuses(run, properties_for(config)), run, compiled)


def state_count_relation(reapcheck_states: int, reapcheck_transitions: int,
                         keep_write_only: bool, projected_states: int | None = None):
    """pan's (states, transitions) expected for a protocol export with -DNOREDUCE and no
    property violated. With `spin -o2` (write-only variables kept): reapcheck's states + 1,
    transitions + 2 (init's start-up and its exit). Plain `spin -a`: states =
    `projected_states` + 1, where `projected_states` counts reapcheck's states with the
    export's `write_only` variables left out (`projected_states`); transitions are not
    predicted (merged states merge their successors)."""
    if keep_write_only:
        return reapcheck_states + 1, reapcheck_transitions + 2
    return (None if projected_states is None else projected_states + 1), None


def projected_states(model, drop: tuple[str, ...]) -> int:
    """Reachable states of `model` (a Protocol) with the variables `drop` left out."""
    keep = [i for i, name in enumerate(model.variables) if name not in drop]
    seen, stack = {model.init()}, [model.init()]
    while stack:
        for _, after in model.successors(stack.pop()):
            if after not in seen:
                seen.add(after)
                stack.append(after)
    return len({tuple(s[i] for i in keep) for s in seen})


# -- collisions ----------------------------------------------------------------------------

@dataclass
class WorstCaseCheck:
    """SPIN on the collision export with bound B: `within` (no schedule has more than B
    collisions: claim within_bound holds) and `reached` (a schedule reaches B: claim
    reaches_bound violated). B is the exact worst case iff both are true."""

    bound: int
    within: bool
    reached: bool
    runs: dict[str, PanRun]
    compiled: Compiled

    @property
    def exact(self) -> bool:
        return self.within and self.reached


def check_worst_case(layout: Layout, config: WalkConfig, bound: int,
                     directory: str | Path, gcc_flags: tuple[str, ...] = GCC_FAST,
                     timeout: float | None = None, cc: str = "gcc") -> WorstCaseCheck:
    """One export and compile; pan twice: the default claim (within_bound: errors 0 proves
    at most B) and -N reaches_bound (an error shows a schedule with B collisions, so
    B - 1 is refuted)."""
    compiled = compile_export(export_collisions(layout, config, bound), directory,
                              "collisions.pml", gcc_flags, cc=cc)
    within = compiled.run((), timeout)
    reached = compiled.run(("-N", "reaches_bound"), timeout)
    for name, run in (("within_bound", within), ("reaches_bound", reached)):
        if not run.complete and run.errors == 0:
            raise SpinFailed(f"pan -N {name}: search incomplete: {run.output[-300:]}")
    return WorstCaseCheck(bound, within.errors == 0, reached.errors > 0,
                          {"within_bound": within, "reaches_bound": reached}, compiled)


# -- trails --------------------------------------------------------------------------------

def labels(model_text: str) -> dict[int, tuple[str, str]]:
    """Line number -> ("action", ActionName) or ("property", name), from the comments
    the export puts at the end of each rule's and monitor's line."""
    out = {}
    for number, line in enumerate(model_text.splitlines(), start=1):
        m = LABEL.search(line)
        if m:
            out[number] = (m.group(1), m.group(2))
    return out


def trail_steps(spin_output: str, model_text: str) -> tuple[list[str], str | None]:
    """(action names in order, the property whose monitor fired or None) from
    `spin -t -p`'s listing. A d_step prints one line per statement, all with its step
    number; each step number with an action line is one model action."""
    where = labels(model_text)
    actions, last_step = [], None
    for m in TRAIL_STEP.finditer(spin_output):
        step, line = int(m.group(1)), int(m.group(5))
        kind, name = where.get(line, (None, None))
        if kind == "action" and step != last_step:
            actions.append(name)
            last_step = step
        elif kind == "property":
            return actions, name  # the monitor fired: pan stopped here
    return actions, None


TRAIL_LINE = re.compile(r"-?\d+:-?\d+:-?\d+")
# the first error of `spin -t` on a model it cannot parse: cpp's `model.pml:38:1: error: X`
# or spin's own `spin: model.pml:151, Error: X`
SPIN_ERROR = re.compile(r"model\.pml:(\d+)(?::\d+)?(?::|,) (?:error: |Error: )?(.*)$", re.M)


def check_trail_text(text: str, trail: str) -> None:
    """LayoutError (exit 2, naming the file and line) unless `text` is a SPIN trail:
    one `STEP:PROC:TRANSITION` line (integers) per step, at least one. A trail of such
    lines that stops early is well formed; replaying it decides (exit 1)."""
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise LayoutError(trail, None, "not a SPIN trail: the file is empty")
    for number, line in enumerate(lines, start=1):
        if line.strip() and not TRAIL_LINE.fullmatch(line.strip()):
            shown = line.strip()
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise LayoutError(trail, number, f"not a SPIN trail line ({shown!r}; pan writes "
                              "STEP:PROC:TRANSITION, three integers)")


def spin_model_error(message: str, model_path: str) -> LayoutError:
    """`spin -t`'s failure on the copied model.pml as one line naming the user's file
    and the line spin gave (exit 2)."""
    m = SPIN_ERROR.search(message)
    if m is None:
        first = message.splitlines()[0] if message else "spin -t failed"
        return LayoutError(model_path, None, first.replace("model.pml",
                                                           os.path.basename(model_path)))
    return LayoutError(model_path, int(m.group(1)),
                       f"spin -t cannot read the model: {' '.join(m.group(2).split())}")


def import_trail(model_path: str, trail_path: str | None = None) -> dict:
    """A protocol export's SPIN trail as reapcheck's trace JSON (traces.trace_json,
    engine "spin"), every step re-executed on the Python model first.

    Raises LayoutError (exit 2) for a file that is not a protocol export or a missing
    trail, SpinUnavailable without spin, TraceError (exit 1) for a trail whose steps the
    model does not take or whose end does not violate the property its monitor named.
    """
    text = read_text(model_path, model_path)
    try:
        meta = read_meta(text, model_path)
    except ValueError as err:
        raise LayoutError(model_path, None, str(err).removeprefix(f"{model_path}: ")) from None
    if meta.get("model") != "protocol":
        raise LayoutError(model_path, None, f"a {meta.get('model')} export; import-trail "
                          "reads protocol exports")
    trail = trail_path or model_path + ".trail"
    if not os.path.isfile(trail):
        raise LayoutError(trail, None, "no such trail file (./pan writes "
                          f"{os.path.basename(model_path)}.trail at a violation)")
    if shutil.which("spin") is None:
        raise SpinUnavailable("spin not installed: it replays the trail (apt-get install spin)")
    check_trail_text(read_text(trail, trail), trail)
    with tempfile.TemporaryDirectory(prefix="reapcheck-trail-") as tmp:
        # spin -t reads the model and MODEL.trail from one directory
        shutil.copy(model_path, Path(tmp) / "model.pml")
        shutil.copy(trail, Path(tmp) / "model.pml.trail")
        try:
            done = _run(["spin", "-t", "-p", "model.pml"], tmp, "spin -t")
        except SpinFailed as err:
            raise spin_model_error(str(err), model_path) from None
    actions, prop = trail_steps(done.stdout, text)
    if prop is None:
        raise TraceError(f"{trail}: the trail ends after {plural(len(actions), 'model step')} "
                         "without a property's assertion (a valid trail, cut short?)")
    layout = layout_from_json(meta["layout"], model_path)
    model = Protocol(layout, ProtocolConfig(**meta["config"]))
    by_name = {a.name: a for a in model.actions}
    state, trace = model.init(), []
    for number, name in enumerate(actions, start=1):
        action: Action | None = by_name.get(name)
        if action is None or not model.guard(state, action):
            raise TraceError(f"{trail}: step {number}: {name} is not enabled in the model")
        after = model.update(state, action)
        trace.append((action, state, after))
        state = after
    if BY_NAME[prop].holds_in(model, state):
        raise TraceError(f"{trail}: after {plural(len(trace), 'step')} {prop} still holds in the model")
    return trace_json(model, prop, trace, "spin")


# -- agreement, for the report -------------------------------------------------------------

SPIN_STATE_BUDGET = 2_000_000  # collision rows: product states x (W + 1) above this are skipped


def agreement(protocol_rows, collision_rows, load_layout,
              state_budget: int = SPIN_STATE_BUDGET) -> dict:
    """Whether SPIN agrees with reapcheck on each protocol row and worst case.

    `protocol_rows`: dicts with layout, walk, mutant, stuck_writer, mrelease and
    properties (name -> status), as report.py's protocol runs; `collision_rows`: dicts
    as collisions.summary_json (layout, order, granularity, pmd_shift, exit_order,
    max_collisions, states); `load_layout(name)` gives a Layout. Returns
    {"available": bool, "reason": str | None, "protocol": [...], "collisions": [...]},
    one entry per row in order: {"agrees": True | False | None, "spin": ..., "note": ...}
    (None: not run, with the note saying why: SPIN missing, or a collision product above
    `state_budget` states counting the collision counter).
    """
    reason = missing_tools()
    cc = fast_compiler()
    out = {"available": reason is None, "reason": reason, "protocol": [], "collisions": []}
    with tempfile.TemporaryDirectory(prefix="reapcheck-spin-") as tmp:
        for i, row in enumerate(protocol_rows):
            if reason:
                out["protocol"].append({"agrees": None, "spin": None, "note": reason})
                continue
            config = ProtocolConfig(row["walk"], row.get("mutant"), row.get("stuck_writer", False),
                                    row.get("mrelease", False))
            got = check_protocol(load_layout(row["layout"]), config, Path(tmp) / f"p{i}",
                                 cc=cc)
            out["protocol"].append({"agrees": got.statuses == row["properties"],
                                    "spin": got.statuses, "states": got.run.states,
                                    "note": None})
        for i, row in enumerate(collision_rows):
            worst = row["max_collisions"]
            size = row.get("states") or 0
            if reason or size * (worst + 1) > state_budget:
                out["collisions"].append({"agrees": None, "spin": None, "note": reason or (
                    f"not run: up to {size * (worst + 1):,} SPIN states "
                    f"(budget {state_budget:,})")})
                continue
            config = WalkConfig(row["order"], row["granularity"], row["pmd_shift"],
                                row.get("exit_order", "forward"))
            got = check_worst_case(load_layout(row["layout"]), config, worst,
                                   Path(tmp) / f"c{i}", cc=cc)
            out["collisions"].append({"agrees": got.exact, "spin": {
                "within_bound": got.within, "reaches_bound": got.reached},
                "states": got.runs["within_bound"].states, "note": None})
    return out
