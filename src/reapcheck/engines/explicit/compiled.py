"""The protocol's explicit search, compiled: straight-line successor code per control
location, packed states, optional partial-order reduction (issue 13 section 2).

engines/explicit/explicit.py explores any model by calling its rules on tuples. This engine is for
model/protocol.py alone and explores the same state graph much faster:

- Code generation. For each control location (ex_pc, rp_pc, mr_pc) met, the model's own
  guards, updates, `always` properties and progress measure are evaluated once on
  symbolic state entries (engines/explicit/pyops.py) with the location's pcs and the layout's
  constants (visit sequence, reapable VMAs) folded in; what is left becomes one Python
  function: unpack the fields read, check the properties that can fail there, and for
  each action that can be enabled there, its guard and its successor as a constant or
  small delta on the packed state. Functions are generated lazily, on a location's
  first state.
- Packed states. A state is one int, each variable a bit field (pcs in the low bits, so
  `s & LOCATION_MASK` picks the function). The breadth-first queue is the list of states
  in discovery order; a set says which are known; parents are indices (array 'l') and
  the action taken an array of bytes. No dict per step.
- Dead variables (reduction `por`). A variable that no guard, no other variable's
  update and no property reads is dropped (`unstable`: MMF_UNSTABLE is only ever set).
  The use-after-free ghost `uaf`, read only by no_use_after_free and only ever set to
  1, is made local to the step that could set it: that step is the violation (its trace
  is the path to the step plus the step), and `uaf` is no longer part of the state.
- Partial-order reduction (reduction `por`): engines/explicit/reduction.py.

Verdicts, limits (max_states, timeout, stop requests), progress callbacks and the
acyclicity check are those of engines/explicit/explicit.py. Traces are rebuilt by replaying the
actions found on the model itself (model.update), so they are the model's full states.
With `reduction="none"` the state graph is exactly engines/explicit/explicit.py's: same states,
same transitions, same shortest traces. With `por` a trace is a trace of the model but
not necessarily a shortest one; `check()` then searches again without the reduction, up
to the depth of the violations found, for shortest traces (see `check`).
"""
from __future__ import annotations

import functools
import time
import weakref
from array import array
from dataclasses import dataclass

from ...model.protocol import (MAX_OOM_REAP_RETRIES, MR_DONE, RP_DONE, VARIABLES,
                              WRITER_STUCK)
from .explicit import POLL_EVERY, CheckResult, Verdict, stop_reason
from .pyops import PyExpr, PyOps, text
from .reduction import ACTOR_ORDER, REDUCTIONS, ample_conditions

PC_FIELDS = ("ex_pc", "rp_pc", "mr_pc")
GHOSTS = {"uaf": "no_use_after_free"}  # a monotone flag read by one property only
ACTOR_PC = {"exit_mmap": "ex_pc", "reaper": "rp_pc", "mrelease": "mr_pc"}


def _maybe(condition) -> bool:
    """False only for a condition that folded to the constant false."""
    return isinstance(condition, PyExpr) or bool(condition)


def field_bounds(model) -> dict:
    """The largest value of each variable (the model's type invariant, type_ok)."""
    walk = len(model.seq)
    return {"ex_pc": model.ex_done, "ex_pos": model.ex_pos_bound, "rp_pc": RP_DONE,
            "rp_attempt": MAX_OOM_REAP_RETRIES, "rp_pos": walk, "rp_missed": 1, "rp_gone": 1,
            "mr_pc": MR_DONE, "mr_pos": walk, "mr_missed": 1, "mr_gone": 1, "readers": 3,
            "writer": WRITER_STUCK, "waiters": 3, "oom_skip": 1, "unstable": 1, "uaf": 1,
            "victim": 2, "mmput_by": 2, "zap_race": 1}


def dead_variables(model, properties) -> tuple[set, dict]:
    """(variables nothing reads, ghosts {variable: property}): read off the model's rules
    and the properties evaluated on symbolic states, never listed by hand."""
    ops = PyOps()
    sym = tuple(ops.var(name) for name in VARIABLES)
    read_by: dict[str, set] = {name: set() for name in VARIABLES}

    def note(expr, reader):
        for name in (expr.reads if isinstance(expr, PyExpr) else ()):
            read_by[name].add(reader)

    for action in model.actions:
        note(model.guard(sym, action, ops), "guard")
        after = model.update(sym, action, ops)
        for name, value in zip(VARIABLES, after):
            if value is not sym[VARIABLES.index(name)]:
                note(value, f"update:{name}")
    for prop in properties:
        note(prop.predicate(model, sym, ops), f"property:{prop.name}")
    note(model.progress_measure(sym), "progress")
    for cond in ample_conditions(model, sym, ops).values():
        note(cond, "reduction")
    dead, ghosts = set(), {}
    for name, readers in read_by.items():
        others = readers - {f"update:{name}"}
        if not others:
            dead.add(name)
        elif name in GHOSTS and others == {f"property:{GHOSTS[name]}"}:
            ghosts[name] = GHOSTS[name]
    return dead, ghosts


_POSSIBLE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _possible_actions(model) -> dict:
    """(pc variable, value) -> indices of the actions whose guard does not fold to false
    with only their own actor's pc fixed: a location tries only those (once per model)."""
    if model not in _POSSIBLE:
        ops, actions = PyOps(), list(model.actions)
        bounds = field_bounds(model)
        out = {}
        for pc in PC_FIELDS:
            for value in range(bounds[pc] + 1):
                sym = tuple(value if name == pc else ops.var(name) for name in VARIABLES)
                out[pc, value] = {index for index, action in enumerate(actions)
                                  if ACTOR_PC[action.actor] == pc
                                  and _maybe(model.guard(sym, action, ops))}
        _POSSIBLE[model] = out
    return _POSSIBLE[model]


class Compiled:
    """The generated successor functions of one Protocol and its layout."""

    def __init__(self, model, properties, reduction: str = "none", check_progress=True):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}")
        self.model, self.properties, self.reduction = model, list(properties), reduction
        self.check_progress = check_progress
        if reduction == "por":
            self.dead, self.ghosts = dead_variables(model, self.properties)
        else:
            self.dead, self.ghosts = set(), {}
        self.sliced = self.dead | set(self.ghosts)
        bounds = field_bounds(model)
        order = list(PC_FIELDS) + [n for n in VARIABLES if n not in PC_FIELDS]
        self.fields = {}  # name -> (shift, width) of the kept variables
        shift = 0
        for name in order:
            if name in self.sliced:
                continue
            width = max(1, int(bounds[name]).bit_length())
            self.fields[name] = (shift, width)
            shift += width
        self.location_bits = sum(self.fields[n][1] for n in PC_FIELDS)
        self.location_mask = (1 << self.location_bits) - 1
        self.actions = list(model.actions)
        self.prop_index = {p.name: k for k, p in enumerate(self.properties)}
        self.sources: dict[int, str] = {}
        self._possible = _possible_actions(model)


    # -- packing ------------------------------------------------------------------------
    def pack(self, state) -> int:
        out = 0
        for name, value in zip(VARIABLES, state):
            if name in self.fields:
                shift, width = self.fields[name]
                if not 0 <= value < (1 << width):
                    raise ValueError(f"{name} = {value} does not fit its {width}-bit field")
                out |= int(value) << shift
        return out

    def unpack(self, packed: int) -> tuple:
        """The model state (sliced variables as 0)."""
        return tuple((packed >> self.fields[name][0]) & ((1 << self.fields[name][1]) - 1)
                     if name in self.fields else 0 for name in VARIABLES)

    def location_state(self, location: int) -> tuple:
        """The symbolic state of a location: its pcs as ints, sliced variables 0, the
        rest PyExpr variables."""
        ops = PyOps
        values = []
        for name in VARIABLES:
            if name in PC_FIELDS:
                shift, width = self.fields[name]
                values.append((location >> shift) & ((1 << width) - 1))
            elif name in self.sliced:
                values.append(0)
            else:
                values.append(ops.var(name))
        return tuple(values)

    # -- code generation ----------------------------------------------------------------
    def source(self, location: int) -> tuple[str, dict]:
        """(Python source of the location's function `f(s, i)`, its tables)."""
        ops = PyOps()
        model, sym = self.model, self.location_state(location)
        reads: set[str] = set()
        body: list[str] = []

        def use(expr):
            if isinstance(expr, PyExpr):
                reads.update(expr.reads)
            return text(expr)

        for k, prop in enumerate(self.properties):
            if prop.expectation != "always":
                continue
            ok = prop.predicate(model, sym, ops)
            if ok is True or (not isinstance(ok, PyExpr) and ok):
                continue
            cond = "" if not isinstance(ok, PyExpr) else f"if not {use(ok)}: "
            body.append(f"    {cond}bad_append(({k}, i, -1, s))")
        if self.check_progress:
            body.append(f"    p0 = {use(model.progress_measure(sym))}")
        body.append("    n = 0")
        by_actor: dict[str, list[str]] = {actor: [] for actor in ACTOR_ORDER}
        in_order: list[str] = []  # every action, in the model's order (explicit.py's)
        possible = set().union(*(self._possible[pc, sym[VARIABLES.index(pc)]]
                                 for pc in PC_FIELDS))
        for index, action in enumerate(self.actions):
            if index not in possible:
                continue
            guard = model.guard(sym, action, ops)
            if not isinstance(guard, PyExpr) and not guard:
                continue
            lines = self._successor(index, action, sym, model.update(sym, action, ops),
                                    ops, use)
            if isinstance(guard, PyExpr):
                lines = [f"if {use(guard)}:"] + ["    " + line for line in lines]
            by_actor[action.actor] += lines
            in_order += lines
        if self.reduction == "por":
            ample = ample_conditions(model, sym, ops)
            for actor in ACTOR_ORDER:
                cond = ample[actor]
                if not by_actor[actor] or (not isinstance(cond, PyExpr) and not cond):
                    continue
                head = "    if True:" if not isinstance(cond, PyExpr) else f"    if {use(cond)}:"
                body.append(head)
                body += ["        " + line for line in by_actor[actor]]
                body.append("        if n:")
                body.append("            return n")
        body += ["    " + line for line in in_order]
        body.append("    return n")
        unpack = []
        for name in sorted(reads, key=VARIABLES.index):
            shift, width = self.fields[name]
            unpack.append(f"    {name} = (s >> {shift}) & {(1 << width) - 1}")
        head = ("def f(s, i, seen=seen, seen_add=seen_add, states_append=states_append, "
                "parents_append=parents_append, actions_append=actions_append, "
                "bad_append=bad_append, no_progress=no_progress):")
        return "\n".join([head] + unpack + body) + "\n", ops.tables

    def _successor(self, index, action, sym, after, ops, use) -> list[str]:
        constant, parts = 0, []
        for name, old, new in zip(VARIABLES, sym, after):
            if new is old or name not in self.fields:
                continue
            shift = self.fields[name][0]
            if not isinstance(new, PyExpr) and not isinstance(old, PyExpr):
                constant += (int(new) - int(old)) << shift
            elif isinstance(new, PyExpr) and new.affine and new.affine[0] == name:
                constant += new.affine[1] << shift
            else:
                parts.append(f"(({use(new)} - {use(old)}) << {shift})")
        lines = [f"t = s + {constant}" + "".join(f" + {p}" for p in parts)]
        for name, prop in self.ghosts.items():
            value = after[VARIABLES.index(name)]
            if isinstance(value, PyExpr):
                lines.append(f"if {use(value)}: bad_append(({self.prop_index[prop]}, i, "
                             f"{index}, t))")
            elif value:
                lines.append(f"bad_append(({self.prop_index[prop]}, i, {index}, t))")
        if self.check_progress:
            lines.append(f"if {use(self.model.progress_measure(after))} <= p0: "
                         f"no_progress(i, {index})")
        lines += ["if t not in seen:",
                  f"    seen_add(t); states_append(t); parents_append(i); "
                  f"actions_append({index})",
                  "n += 1"]
        return lines

    def function(self, location: int, namespace: dict):
        src, tables = self.source(location)
        self.sources[location] = src
        scope = dict(namespace)
        scope.update(tables)
        exec(_code(src, location), scope)
        return scope["f"]


@functools.lru_cache(maxsize=4096)
def _code(src: str, location: int):
    """The compiled code object of a location's source. The same source comes back for
    each search of one model (a search under the reduction, then its shortest-trace search
    without it) and across models that differ elsewhere (other seeded bugs, options), and
    compile() is most of the cost of generating it; the names it binds (the search's sets
    and lists, the tables) come from the scope it is run in, not from the code object."""
    return compile(src, f"<reapcheck location {location}>", "exec")


@dataclass
class CompiledResult(CheckResult):
    reduction: str = "none"
    shortest: bool = True  # every violated property's trace is a shortest one
    trace_states: int | None = None  # states of the unreduced search for shortest traces
    locations: int = 0  # control locations met (functions generated)


def check(model, properties, reduction: str = "none", max_states: int | None = None,
          progress=None, timeout_s: float | None = None, stop=None,
          shortest: bool = True) -> CheckResult:
    """Check every property in every reachable state of a Protocol (engines/explicit/explicit.py's
    contract: limits give `incomplete`, never `holds`; progress(states, rate, queue, depth)
    every POLL_EVERY states; AssertionError on a step that does not make progress).

    With `reduction="por"` and a violation, and `shortest`, the search runs again without
    the reduction, stopping once it has a trace for every violated property (breadth
    first: shortest ones), within what is left of the limits; if it cannot finish, the
    reduced search's traces are kept (traces of the model, not necessarily shortest) and
    `CheckResult.shortest` says so."""
    started = time.monotonic()
    deadline = None if timeout_s is None else started + timeout_s
    result = _search(Compiled(model, properties, reduction), max_states, progress, deadline,
                     stop, started)
    result.shortest = reduction == "none" or not any(
        v.status == "violated" for v in result.verdicts.values())
    if reduction == "por" and shortest and not result.shortest:
        wanted = {n for n, v in result.verdicts.items() if v.status == "violated"}
        again = _search(Compiled(model, properties, "none"), max_states, None, deadline,
                        stop, time.monotonic(), until=wanted)
        found = {n for n, v in again.verdicts.items() if v.status == "violated"}
        if wanted <= found:
            for name in found:
                result.verdicts[name] = again.verdicts[name]
            result.shortest = True
        result.trace_states = again.states
    result.seconds = time.monotonic() - started
    return result


def _search(compiled: Compiled, max_states, progress, deadline, stop, started,
            until: set | None = None, keep: list | None = None) -> CheckResult:
    model, props = compiled.model, compiled.properties
    seen: set[int] = set()
    states: list[int] = []
    parents = array("l")
    actions = array("B")
    bad: list[tuple] = []

    def no_progress(i, index):
        action = compiled.actions[index]
        raise AssertionError(f"{action.name} from {_replay(compiled, parents, actions, i)[-1]}"
                             " does not make progress")

    namespace = {"seen": seen, "seen_add": seen.add, "states_append": states.append,
                 "parents_append": parents.append, "actions_append": actions.append,
                 "bad_append": bad.append, "no_progress": no_progress}
    mask = compiled.location_mask

    def stub(s, i):
        location = s & mask
        fn = table[location] = compiled.function(location, namespace)
        return fn(s, i)

    table = [stub] * (mask + 1)
    init = compiled.pack(model.init())
    seen.add(init)
    states.append(init)
    parents.append(-1)
    actions.append(255)
    violations: dict[str, tuple[int, int]] = {}  # name -> (state index, action or -1)
    at_terminal = [p for p in props if p.expectation == "at_terminal"]
    transitions, complete, stopped, i = 0, True, None, 0
    while i < len(states):
        if i % POLL_EVERY == 0 and i:
            now = time.monotonic()
            stopped = stop_reason(stop, deadline, now)
            if stopped:
                complete = False
                break
            if progress is not None:
                progress(len(states), len(states) / max(now - started, 1e-9),
                         len(states) - i, _depth(parents, len(states) - 1))
        end = min(len(states), (i // POLL_EVERY + 1) * POLL_EVERY)
        terminal = []
        for i in range(i, end):
            s = states[i]
            n = table[s & mask](s, i)
            if n:
                transitions += n
            else:
                terminal.append(i)
        i = end
        for index in terminal:
            full = compiled.unpack(states[index])
            for prop in at_terminal:
                if prop.name not in violations and not prop.predicate(model, full):
                    violations[prop.name] = (index, -1)
        if bad:
            for k, index, action, _after in bad:
                violations.setdefault(props[k].name, (index, action))
            bad.clear()
        if max_states is not None and len(states) > max_states:
            for extra in states[max_states:]:
                seen.discard(extra)
            del states[max_states:], parents[max_states:], actions[max_states:]
            complete, stopped = False, stopped or "max_states"
        if until is not None and until <= set(violations):
            complete, stopped = False, stopped or "found"
            break
    if keep is not None:  # the packed states, in discovery order (tests, measurements)
        keep.extend(states)
    verdicts = {}
    for prop in props:
        if prop.name in violations:
            index, action = violations[prop.name]
            verdicts[prop.name] = Verdict("violated",
                                          _trace(compiled, parents, actions, index, action))
        else:
            verdicts[prop.name] = Verdict("holds" if complete else "incomplete")
    return CompiledResult(verdicts, len(states), transitions, complete,
                          _depth(parents, len(states) - 1), stopped=stopped,
                          queue=len(states) - i if stopped else 0,
                          seconds=time.monotonic() - started, reduction=compiled.reduction,
                          locations=len(compiled.sources))


def _depth(parents, index: int) -> int:
    depth = 0
    while parents[index] >= 0:
        index = parents[index]
        depth += 1
    return depth


def _path(parents, actions, index: int) -> list[int]:
    steps = []
    while parents[index] >= 0:
        steps.append(actions[index])
        index = parents[index]
    steps.reverse()
    return steps


def _replay(compiled, parents, actions, index, last: int = -1) -> list[tuple]:
    """The model's states along the path to state `index` (then action `last`)."""
    model = compiled.model
    state = model.init()
    out = [state]
    for step in _path(parents, actions, index) + ([last] if last >= 0 else []):
        state = model.update(state, compiled.actions[step])
        out.append(state)
    return out


def _trace(compiled, parents, actions, index: int, last: int) -> list:
    """[(action, before, after)] from Init: the path to state `index`, then action
    `last` (a ghost violation: the step that sets it), replayed on the model."""
    model = compiled.model
    path = _path(parents, actions, index) + ([last] if last >= 0 else [])
    state, steps = model.init(), []
    for step in path:
        action = compiled.actions[step]
        if not model.guard(state, action):
            raise AssertionError(f"compiled search: {action.name} is not enabled on replay")
        after = model.update(state, action)
        steps.append((action, state, after))
        state = after
    return steps
