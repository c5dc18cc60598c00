"""Bounded model checking with Z3 over any model written against `ops`.

The engine never has its own copy of a model: it calls the model's `init`, `actions`,
`guard`, `update` and `done` (and the caller's predicates) with a `Z3Ops`
(engines/symbolic/z3ops.py), exactly as the explicit explorer calls them with ConcreteOps.

What a model must provide (the walk product, model/walk_product.py, is one):

- ``init()``: the initial state, a tuple of ints (bools encoded as 0/1);
- ``actions``: a tuple of hashable actions with ``.name`` (``ReaperEnter``);
- ``guard(state, action, ops)`` -> bool term, ``update(state, action, ops)`` -> tuple;
- ``done(state, ops)`` -> bool term; ``type_ok(state, ops)`` for `type_violation`;
- optionally ``variables``: one name per state entry (else ``var0``, ``var1``, ...).

Unrolling (pysmt's naming): state entry x at time t is the constant ``x@t``; each step t
has one Bool per action (``ReaperEnter@t``) and one for ``Stutter@t``, exactly one of
them true. An action's Bool implies its guard and ``x@t+1 == update(...)``. Stutter keeps
the state and is enabled only where the run has finished: the state is `done`, or no
action is enabled. So a bound of D steps covers every run of at most D steps, and the
bound is *complete* when no run is longer, i.e. no stutter-free run of D steps has an
action enabled at its end (proved with the solver, not assumed). Stutter steps come
last (``Stutter@t`` implies ``Stutter@t+1``): moving an idle step to the end of a run
changes neither its final state nor its weight, and spares the solver the copies.
Each action's step, and each predicate asked of a state, is rendered through the
model's code once, on template constants ``x@template`` (``x@template+1`` after the
step), and copied to each time step with z3.substitute: the same terms as a rendering
at every step, for far less Python (see Unrolling).
find_violation deepens one step at a time and forbids stutter: it checks the states
reached in exactly t steps at depth t.

Integers are bit-vectors by default, because Z3 solves these unrollings by bit-blasting
far faster than with its arithmetic solver. A width is used only where no operation on
any run within the bound can leave its range, so the answers are those of unbounded
integers. ``width="auto"`` takes the narrowest of 8, 16, 32, 64, 128 bits that interval
evaluation of the same model code (engines/symbolic/intervals.py) proves wide enough; when that
cannot bound the values it tries them in turn, each after the solver has proved every
operation exact (Z3Ops.exact), and ends with unbounded Ints.

When the model's `type_ok` is a proved inductive invariant (`inductive_type_invariant`:
one solver query over a single step), it is asserted at every time step: it rules out
no run and shortens the solver's proofs of completeness and optimality.

Every answer is checked before it is returned: the decoded run is executed concretely
(ConcreteOps) action by action and its weight recounted; a mismatch is an internal error.

>>> from reapcheck.model.layout import Layout, Vma
>>> from reapcheck.model.walk_product import WalkProduct
>>> from reapcheck.model.walks import WalkConfig
>>> from reapcheck.properties.collisions import is_collision
>>> layout = Layout.checked("doc", [Vma(0x1000, 0x2000, "rw-p", None, lineno=1),
...                                 Vma(0x2000, 0x3000, "rw-p", None, lineno=2)])
>>> model = WalkProduct.build(layout, WalkConfig("forward", "vma"))
>>> result = max_weight(model, is_collision)
>>> result.status, result.max_weight, result.depth, len(result.witness)
('holds', 2, 8, 8)
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import z3
from z3.z3 import _to_expr_ref

from ...model.ops import CONCRETE
from . import intervals
from .z3ops import WidthTooSmall, Z3Ops

STRATEGIES = ("linear", "binary", "optimize", "maxsat")
DEFAULT_STRATEGY = "binary"  # least total in benchmarks/bmc.py: 208 s; linear 254, optimize 232
AUTO_WIDTHS = (8, 16, 32, 64, 128, None)  # width="auto" tries these in turn; None: Ints
RUN_LIMIT = 1_000_000  # steps of the concrete run that measures the default depth


class NoCompleteRun(Exception):
    """No run of at most the given length ends in a `done` state."""


class UnequalRuns(ValueError):
    """The default depth (one run's length) does not cover every run: pass `depth`."""


# -- results ------------------------------------------------------------------------------

@dataclass(frozen=True)
class MaxWeightResult:
    """The maximum total step weight over runs of at most `depth` steps that end in done.

    status: ``holds`` (the solver proved `max_weight` optimal) or ``unknown`` (the solver
    gave up: `reason_unknown` says why; no number is given). `complete` says whether
    `depth` covers every run of the model (proved: no action is enabled at time `depth`);
    `verdict` combines both into docs/model.md §5's vocabulary. `width`: the bit-vector width the
    answer was computed in (None: unbounded Ints); exact either way.
    """

    status: str
    max_weight: int | None
    witness: tuple | None  # entries of model.actions, stutter steps removed
    states: tuple[tuple[int, ...], ...] | None  # init, then the state after each witness step
    depth: int
    complete: bool | None
    reason_unknown: str | None
    seconds: float
    strategy: str
    width: int | None = None

    @property
    def verdict(self) -> str:
        """holds / unknown / incomplete (a number exact only for runs of <= depth steps)."""
        if self.status != "holds":
            return self.status
        return "holds" if self.complete else "incomplete"


@dataclass(frozen=True)
class ViolationResult:
    """The shortest run to a `bad` state, or none up to a bound.

    status: ``violated`` (`trace` reaches a bad state in `depth` steps, the fewest
    possible), ``holds`` (no bad state within `depth` steps; `complete` says whether
    that covers every reachable state, in which case `depth` may be smaller than asked:
    the search stopped at a depth no run reaches, at most twice the longest run) or
    ``unknown`` (the solver gave up; `reason_unknown` says why).
    """

    status: str
    depth: int
    trace: tuple | None
    states: tuple[tuple[int, ...], ...] | None
    complete: bool | None
    reason_unknown: str | None
    seconds: float
    width: int | None = None

    @property
    def verdict(self) -> str:
        """violated / unknown / holds (every reachable state checked) / incomplete."""
        if self.status != "holds":
            return self.status
        return "holds" if self.complete else "incomplete"


# -- predicates for find_violation --------------------------------------------------------

def any_enabled(model, state, ops):
    """Some action of the model is enabled in `state`."""
    return ops.Or(*(model.guard(state, a, ops) for a in model.actions))


def no_action_enabled(model, state, ops):
    """No action of the model is enabled in `state` (finished, or stuck)."""
    return ops.Not(any_enabled(model, state, ops))


def deadlocked(model, state, ops):
    """A deadlock: not done, and no action enabled. Use as `bad` in find_violation."""
    return ops.And(ops.Not(model.done(state, ops)), no_action_enabled(model, state, ops))


def type_violation(model, state, ops):
    """The type invariant fails. Use as `bad` in find_violation."""
    return ops.Not(model.type_ok(state, ops))


def _done(model, state, ops):
    return model.done(state, ops)


# -- the unrolling ------------------------------------------------------------------------

def variable_names(model) -> tuple[str, ...]:
    """The names of the state entries: `model.variables`, else var0, var1, ..."""
    n = len(tuple(model.init()))
    names = getattr(model, "variables", None)
    if names is None:
        return tuple(f"var{i}" for i in range(n))
    names = tuple(names)
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"model.variables {names} does not name the {n} state entries once each")
    return names


def run_length(model, limit: int = RUN_LIMIT) -> int:
    """Steps of one concrete run (always the first enabled action) until done or stuck."""
    state = tuple(model.init())
    for steps in range(limit + 1):
        if model.done(state, CONCRETE):
            return steps
        for action in model.actions:
            if model.guard(state, action, CONCRETE):
                state = tuple(model.update(state, action, CONCRETE))
                break
        else:
            return steps
    raise UnequalRuns(f"a run is longer than {limit} steps: pass depth")


class Unrolling:
    """The model's transition relation unrolled step by step into z3 constraints.

    `constraints` only grows; `extend()` adds one step. `states[t]` is the tuple of SymInt
    at time t, `choices[t]` the step's indicator Bools (one per action, then Stutter).
    `invariant`, if given, is asserted of every state: pass only a proved invariant
    (see `inductive_type_invariant`); it adds no behaviour, it only helps the solver.
    `stutter`: ``"end"`` (idle steps only after the last action) or ``"never"``.

    The model's code runs once per action step, predicate (`at`) and weight
    (`step_weight`), on the template state; each time step is an instance of that
    rendering by z3.substitute, with the exactness conditions (Z3Ops.exact) it recorded
    added to `ops.exact` on every use, as a rendering there would add them.
    """

    def __init__(self, model, ops: Z3Ops, invariant=None, stutter: str = "end"):
        if stutter not in ("end", "never"):
            raise ValueError(f"stutter must be 'end' or 'never', not {stutter!r}")
        self.model = model
        self.ops = ops
        self.invariant = invariant
        self.allow_stutter = stutter == "end"
        self.actions = tuple(model.actions)
        self.variables = variable_names(model)
        names = [a.name for a in self.actions]
        unique = len(set(names)) == len(names)
        self.labels = [n if unique else f"{n}#{i}" for i, n in enumerate(names)]
        self.stutter = "Stutter" if "Stutter" not in names else "Stutter_"
        self.states = [self._state(0)]
        self.choices: list[list] = []
        self.constraints = [x.term == ops.term(v)
                            for x, v in zip(self.states[0], model.init(), strict=True)]
        self._enabled: dict[int, object] = {}  # time -> Or of the guards there (built once)
        # Templates: the model rendered once on `now` -> `after` (template constants, never
        # given to a solver), each time step then an instance by z3.substitute.
        self._now = self._state("template")
        self._after = self._state("template+1")
        self._template_picks = [z3.Bool(f"{label}@template") for label in self.labels]
        self._steps: dict[int, tuple] = {}  # action index -> template of its step constraint
        self._predicates: dict = {}  # predicate -> template of at(predicate, t)
        self._weights: dict = {}  # weight -> template of step_weight's term
        self._substitutions: dict[tuple, _Substitution] = {}  # (kind, t) -> built once
        self._assume_invariant(0)

    def _assume_invariant(self, t: int) -> None:
        if self.invariant is not None:
            self.constraints.append(self.at(self.invariant, t))

    def _state(self, t: int):
        return tuple(self.ops.int_var(f"{name}@{t}") for name in self.variables)

    def enabled(self, t: int):
        """z3 Bool: some action is enabled at time t."""
        if t not in self._enabled:
            self._enabled[t] = self.at(any_enabled, t)
        return self._enabled[t]

    def at(self, predicate, t: int):
        """z3 Bool: predicate(model, state at t, ops)."""
        def render():
            return self.ops.to_bool(predicate(self.model, self._now, self.ops))
        return self._instance(self._template(self._predicates, predicate, render),
                              self._substitution("state", t))

    # -- templates ------------------------------------------------------------------------
    #
    # Rendering the model's Python code (guards, updates, predicates) is the costly part
    # of an unrolling, and it gives the same terms at every time step up to the names of
    # the state constants. So each is rendered once, on the template state `x@template`
    # (and `x@template+1` after a step), and every time step gets z3.substitute's copy
    # with `x@t` (and `x@t+1`): the very terms a rendering on `x@t` would build (Z3 shares
    # equal terms, and substitution rebuilds without simplifying), and the same tables,
    # so the solver sees the same constraints. The exactness conditions a rendering
    # records (Z3Ops.exact) are kept with its template and added, instantiated, to
    # `ops.exact` at each use, in the order and number a rendering at each use would.

    def _template(self, cache: dict, key, render):
        """render() on the template state, with the exactness conditions it recorded
        (see _render), cached under key (rendered anew each time for an unhashable key)."""
        try:
            found = cache.get(key)
        except TypeError:
            return self._render(render)
        if found is None:
            found = cache[key] = self._render(render)
        return found

    def _render(self, render):
        """(term, conditions): a Bool term's exactness conditions ride along as further
        arguments of an And (one substitution for all), conditions then their number;
        other terms come with the tuple of conditions."""
        exact = self.ops.exact
        mark = len(exact)
        try:
            term = render()
            recorded = tuple(exact[mark:])
        finally:
            del exact[mark:]
        if recorded and z3.is_bool(term):
            return z3.And(term, *recorded), len(recorded)
        return term, recorded

    def _substitution(self, kind: str, t: int) -> "_Substitution":
        """The state at time t for the template state (kind "state"); for "step" also
        the state at t + 1 for the one after, and the step's Bools for the template's."""
        found = self._substitutions.get((kind, t))
        if found is None:
            pairs = [(x.term, y.term) for x, y in zip(self._now, self.states[t])]
            if kind == "step":
                pairs += [(x.term, y.term) for x, y in zip(self._after, self.states[t + 1])]
                pairs += list(zip(self._template_picks, self.choices[t]))
            found = self._substitutions[(kind, t)] = _Substitution(pairs)
        return found

    def _instance(self, template, substitution: "_Substitution"):
        """The template's term at the substitution's time; its exactness conditions there
        are added to ops.exact."""
        packed, recorded = template
        term = substitution(packed)
        if not recorded:
            return term
        if isinstance(recorded, tuple):
            self.ops.exact.extend(substitution(e) for e in recorded)
            return term
        parts = term.children()
        self.ops.exact.extend(parts[1:])
        return parts[0]

    def _step(self, index: int):
        """Template of action `index`'s step: pick -> guard and after == update(now)."""
        model, ops, now = self.model, self.ops, self._now
        action = self.actions[index]

        def render():
            nxt = tuple(model.update(now, action, ops))
            if len(nxt) != len(now):
                raise ValueError(f"update of {action.name} gives {len(nxt)} entries, "
                                 f"not {len(now)}")
            return z3.Implies(self._template_picks[index], z3.And(
                ops.to_bool(model.guard(now, action, ops)),
                *(x.term == ops.int_term(v) for x, v in zip(self._after, nxt))))
        return self._template(self._steps, index, render)

    @property
    def depth(self) -> int:
        return len(self.choices)

    def extend(self) -> None:
        """Unroll one more step."""
        t = self.depth
        now = self.states[t]
        after = self._state(t + 1)
        self.states.append(after)
        picks = [z3.Bool(f"{label}@{t}") for label in self.labels]
        self.choices.append(picks)
        step = self._substitution("step", t)
        for index in range(len(self.actions)):
            self.constraints.append(self._instance(self._step(index), step))
        idle = z3.Bool(f"{self.stutter}@{t}")
        finished = z3.Or(self.at(_done, t), z3.Not(self.enabled(t)))
        self.constraints.append(z3.Implies(idle, z3.And(
            finished, *(x.term == y.term for x, y in zip(after, now)))))
        picks.append(idle)
        self.constraints.append(z3.PbEq([(p, 1) for p in picks], 1))
        if not self.allow_stutter:
            self.constraints.append(z3.Not(idle))
        elif t > 0:
            self.constraints.append(z3.Implies(self.choices[t - 1][-1], idle))
        self._assume_invariant(t + 1)

    def running(self, t: int):
        """z3 Bool: the first t steps are actions (no stutter) and an action is enabled at t.
        Unsatisfiable exactly when no run has more than t steps."""
        if t == 0 or not self.allow_stutter:
            return self.enabled(t)
        return z3.And(z3.Not(self.choices[t - 1][-1]), self.enabled(t))

    def unroll(self, depth: int) -> None:
        while self.depth < depth:
            self.extend()

    def step_weight(self, weight, t: int):
        """The weight of step t (0 for a stutter step): (Int term, Bool term or None).

        A bool-valued weight also gives its Bool, for pseudo-boolean constraints."""
        def render():
            return self.ops.term(weight(self.model, self._now, self._after, self.ops))
        w = self._instance(self._template(self._weights, weight, render),
                           self._substitution("step", t))
        idle = self.choices[t][-1]
        if z3.is_bool(w):
            counts = z3.And(z3.Not(idle), w)
            return z3.If(counts, 1, 0), counts
        if z3.is_bv(w):
            w = z3.BV2Int(w, is_signed=True)
        return z3.If(idle, 0, w), None

    def decode(self, m: z3.ModelRef, depth: int):
        """The run in model m: (actions without stutter, states after each of them)."""
        trace, states = [], [self._values(m, 0)]
        for t in range(depth):
            picked = [i for i, p in enumerate(self.choices[t])
                      if z3.is_true(m.eval(p, model_completion=True))]
            if len(picked) != 1:
                raise AssertionError(f"step {t}: {len(picked)} choices in the solver's model")
            if picked[0] < len(self.actions):
                trace.append(self.actions[picked[0]])
                states.append(self._values(m, t + 1))
        return tuple(trace), tuple(states)

    def _values(self, m: z3.ModelRef, t: int) -> tuple[int, ...]:
        return tuple(self.ops.value(m.eval(x.term, model_completion=True)) for x in self.states[t])

    def solver_assertions(self):
        return self.constraints + self.ops.axioms

    def inexact(self):
        """z3 Bool: some operation built so far left the bit-vector range."""
        return z3.Or(*(z3.Not(e) for e in self.ops.exact)) if self.ops.exact else z3.BoolVal(False)


class _Substitution:
    """z3.substitute with fixed pairs, the C arrays built once: the z3 wrapper would
    check every pair's sorts on every call (equal here by construction), which costs
    more than the substitution itself."""

    def __init__(self, pairs):
        self.pairs = pairs  # keeps the terms alive while the arrays point at them
        self.sources = (z3.Ast * len(pairs))(*(a.as_ast() for a, _ in pairs))
        self.targets = (z3.Ast * len(pairs))(*(b.as_ast() for _, b in pairs))

    def __call__(self, term):
        ctx = term.ctx
        return _to_expr_ref(z3.Z3_substitute(ctx.ref(), term.as_ast(), len(self.pairs),
                                             self.sources, self.targets), ctx)


def _type_ok(model, state, ops):
    return model.type_ok(state, ops)


def inductive_type_invariant(model, lookup: str = "runs", width=None, timeout_ms=None):
    """`model.type_ok` if it is a proved inductive invariant, else None.

    Proved: init satisfies it (concretely); type_ok is computed exactly in `width` bits
    on every representable state; and from ANY state satisfying it, every enabled action
    leads to a state satisfying it, every operation on the way exact (one solver query
    over one step). By induction it holds in every reachable state, and the reachable
    states are representable in `width` bits, so the engine may assert it at every time
    step: a strengthening that rules out no run and speeds up the proofs of completeness
    and optimality. Models without `type_ok` get None.
    """
    if not callable(getattr(model, "type_ok", None)):
        return None
    if not model.type_ok(tuple(model.init()), CONCRETE):
        return None
    ops = Z3Ops(lookup, width)
    names = variable_names(model)
    now = tuple(ops.int_var(f"{name}@pre") for name in names)
    typed = ops.to_bool(model.type_ok(now, ops))
    typed_exact = list(ops.exact)  # type_ok itself must be exact on EVERY representable state
    escapes = []
    for action in model.actions:
        after = tuple(model.update(now, action, ops))
        escapes.append(z3.And(ops.to_bool(model.guard(now, action, ops)),
                              z3.Not(ops.to_bool(model.type_ok(after, ops)))))
    step_exact = ops.exact[len(typed_exact):]  # guards, updates, type_ok after: on typed states
    solver = z3.Solver()
    solver.add(*ops.axioms)
    solver.add(z3.Or(z3.Not(z3.And(True, *typed_exact)),
                     z3.And(typed, z3.Or(*escapes, z3.Not(z3.And(True, *step_exact))))))
    if timeout_ms is not None:
        solver.set("timeout", max(1, int(timeout_ms)))
    return _type_ok if solver.check() == z3.unsat else None


def execute(model, actions, weight=None):
    """Run `actions` concretely from init: (states, total weight); raise AssertionError at a
    step the model forbids. The engine's self-check of every decoded run."""
    state = tuple(model.init())
    states, total = [state], 0
    for index, action in enumerate(actions):
        if not model.guard(state, action, CONCRETE):
            raise AssertionError(f"decoded step {index + 1} ({action.name}) "
                                 f"is not enabled in {state}")
        after = tuple(model.update(state, action, CONCRETE))
        if weight is not None:
            total += int(weight(model, state, after, CONCRETE))
        states.append(after)
        state = after
    return tuple(states), total


# -- solver plumbing ----------------------------------------------------------------------

class _Clock:
    """An overall time budget shared by several solver calls."""

    def __init__(self, timeout_ms: int | None):
        self.start = time.perf_counter()
        self.timeout_ms = timeout_ms

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def remaining_ms(self) -> int | None:
        if self.timeout_ms is None:
            return None
        return max(1, int(self.timeout_ms - 1000 * self.elapsed()))

    def arm(self, solver) -> None:
        if self.timeout_ms is not None:
            solver.set("timeout", self.remaining_ms())


class _Unknown(Exception):
    """A solver answered unknown (or ran out of time)."""


class _Widen(Exception):
    """The current bit-vector width cannot represent some run: try the next one."""


def _check(solver, clock: _Clock, *assumptions) -> bool:
    """sat -> True, unsat -> False, unknown -> _Unknown(reason)."""
    clock.arm(solver)
    answer = solver.check(*assumptions)
    if answer == z3.unknown:
        raise _Unknown(solver.reason_unknown())
    return answer == z3.sat


def _flag(solver, name: str, formula):
    """A fresh Bool atom equivalent to formula (z3 assumptions must be atoms)."""
    atom = z3.Bool(name)
    solver.add(atom == formula)
    return atom


def _solver(width: int | None, lookup: str):
    """Plain SMT core for Ints, arrays and functions; the bit-blasting SAT solver for BV."""
    if width is not None and lookup in ("runs", "ite"):
        return z3.SolverFor("QF_BV")
    return z3.Solver()


def _plan(model, width, depth, step_predicates=(), state_predicates=()):
    """The (bits, exact) encodings to try in turn. exact: every bit-vector operation on
    every run of at most `depth` steps is proved exact by interval evaluation
    (engines/symbolic/intervals.py), so the solver need not check it; else the solver does."""
    if not (width in ("auto", None) or (isinstance(width, int) and width >= 2)):
        raise ValueError(f"width must be 'auto', None or a number of bits >= 2, not {width!r}")
    if width is None:
        return ((None, True),)
    try:
        bound = intervals.peak(model, depth, step_predicates, state_predicates)
    except intervals.Unbounded:
        bound = None
    if width != "auto":
        return ((width, bound is not None and bound < 1 << (width - 2)),)
    if bound is None:
        return tuple((bits, bits is None) for bits in AUTO_WIDTHS)
    fits = [bits for bits in AUTO_WIDTHS if bits is None or bound < 1 << (bits - 2)]
    return tuple((bits, True) for bits in fits)  # wider ones too: a table may hold more


# -- max_weight ---------------------------------------------------------------------------

def max_weight(model, weight, depth: int | None = None, timeout_ms: int | None = None, *,
               strategy: str = DEFAULT_STRATEGY, lookup: str = "runs", width="auto",
               use_invariant: bool = True) -> MaxWeightResult:
    """Maximum total weight of a run of at most `depth` steps from init to a done state.

    Parameters
    ----------
    model : a model with the interface in this module's docstring.
    weight : ``weight(model, before, after, ops)`` -> bool or int term, e.g.
        ``properties.collisions.is_collision``.
    depth : the bound. Default: the length of one concrete run, after the solver proves
        that no run is longer (else UnequalRuns: pass a depth).
    timeout_ms : budget for all solver calls together; past it the answer is ``unknown``.
    strategy : ``linear`` (one incremental Solver: find a run, demand a heavier one,
        until unsat), ``binary`` (the same solver, bisecting the bound under
        assumptions), ``optimize`` (z3 Optimize, maximize the sum) or ``maxsat``
        (Optimize, one soft constraint per step; bool weights only).
    lookup : the Z3Ops table encoding (engines/symbolic/z3ops.py).
    width : ``"auto"``, a bit-vector width, or None for unbounded Ints.
    use_invariant : assert `model.type_ok` at every step when it is a proved inductive
        invariant (inductive_type_invariant); False to measure without it.

    Returns
    -------
    MaxWeightResult; for a walk product its witness replays with engines.explicit.schedule.replay.

    Raises
    ------
    NoCompleteRun : no run of at most `depth` steps ends in done.
    UnequalRuns : depth=None and some run is longer than one run's length.

    Examples
    --------
    >>> from reapcheck.model.layout import Layout, Vma
    >>> from reapcheck.model.walk_product import WalkProduct
    >>> from reapcheck.model.walks import WalkConfig
    >>> from reapcheck.properties.collisions import is_collision
    >>> one = Layout.checked("doc", [Vma(0x1000, 0x3000, "rw-p", None, lineno=1)])
    >>> r = max_weight(WalkProduct.build(one, WalkConfig("reverse", "ptl", 12)), is_collision)
    >>> r.status, r.max_weight, len(r.witness), r.complete
    ('holds', 2, 8, True)
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    clock = _Clock(timeout_ms)
    default_depth = depth is None
    if default_depth:
        depth = run_length(model)
    if depth < 0:
        raise ValueError(f"depth must be >= 0, not {depth}")
    plan = _plan(model, width, depth, [weight], [_type_ok] if use_invariant else [])
    for bits, exact in plan:
        try:
            return _max_weight(model, weight, depth, default_depth, clock, strategy, lookup, bits,
                               exact, use_invariant)
        except _Unknown as e:
            return MaxWeightResult("unknown", None, None, None, depth, None, str(e),
                                   clock.elapsed(), strategy, bits)
        except (_Widen, WidthTooSmall) as e:
            reason = f"{bits}-bit integers are too narrow: {e}"
    return MaxWeightResult("unknown", None, None, None, depth, None, reason,
                           clock.elapsed(), strategy, plan[-1][0])


def _max_weight(model, weight, depth, default_depth, clock, strategy, lookup, bits, exact,
                use_invariant):
    invariant = (inductive_type_invariant(model, lookup, bits, clock.remaining_ms())
                 if use_invariant else None)
    ops = Z3Ops(lookup, bits)
    unrolling = Unrolling(model, ops, invariant)
    unrolling.unroll(depth)
    steps = [unrolling.step_weight(weight, t) for t in range(depth)]
    weights = [w for w, _ in steps]
    bools = [b for _, b in steps]
    pseudo_boolean = all(b is not None for b in bools)
    total = z3.Sum(weights) if weights else z3.IntVal(0)
    done = unrolling.at(_done, depth)
    running = unrolling.running(depth)

    solver = _solver(bits, lookup) if pseudo_boolean else z3.Solver()  # Int sums: SMT core
    solver.add(*unrolling.solver_assertions())
    inexact = _flag(solver, "inexact", z3.BoolVal(False) if exact else unrolling.inexact())
    running = _flag(solver, f"running@{depth}", running)
    # One query in the usual case: no run within the bound overflows or is still running.
    either = _flag(solver, "inexact_or_running", z3.Or(inexact, running))
    if not _check(solver, clock, either):
        complete = True
    elif _check(solver, clock, inexact):
        raise _Widen("an operation leaves the range on some run")
    else:
        complete = False
    if default_depth and not complete:
        raise UnequalRuns(f"some run is longer than {depth} steps (one run's length): pass depth")

    def at_least(k):
        return z3.PbGe([(b, 1) for b in bools], k) if pseudo_boolean and bools else total >= k

    if strategy in ("linear", "binary"):
        solver.add(done)
        if not _check(solver, clock):
            raise NoCompleteRun(f"no run of at most {depth} steps ends in done")
        m = solver.model()
        low = m.eval(total, model_completion=True).as_long()  # reached by model m
        if strategy == "linear":
            solver.add(at_least(low + 1))
            while _check(solver, clock):
                m = solver.model()
                low = m.eval(total, model_completion=True).as_long()
                solver.add(at_least(low + 1))
        else:
            high = None  # the least bound known to be unreachable (None: not known yet)
            step = 1
            while high is None or high - low > 1:
                k = low + step if high is None else (low + high) // 2
                if _check(solver, clock, _flag(solver, f"weight>={k}", at_least(k))):
                    m = solver.model()
                    low = m.eval(total, model_completion=True).as_long()
                    step *= 2
                else:
                    high = k
    else:
        opt = z3.Optimize()
        opt.add(*unrolling.solver_assertions(), done)
        if strategy == "optimize":
            opt.maximize(total)
        else:
            if not pseudo_boolean:
                raise ValueError("strategy maxsat needs bool-valued weights")
            for b in bools:
                opt.add_soft(b, 1)
        if not _check(opt, clock):
            raise NoCompleteRun(f"no run of at most {depth} steps ends in done")
        m = opt.model()
    value = m.eval(total, model_completion=True).as_long()
    witness, states = unrolling.decode(m, depth)
    replayed, recount = execute(model, witness, weight)
    if replayed != states or not model.done(replayed[-1], CONCRETE) or recount != value:
        raise AssertionError(f"decoded witness does not replay: weight {recount} vs {value}, "
                             f"states {replayed} vs {states}")
    return MaxWeightResult("holds", value, witness, states, depth, complete, None,
                           clock.elapsed(), strategy, bits)


# -- find_violation -----------------------------------------------------------------------

def find_violation(model, bad, depth: int, timeout_ms: int | None = None, *,
                   lookup: str = "runs", width="auto",
                   use_invariant: bool = True) -> ViolationResult:
    """The shortest run (0, 1, ... up to `depth` steps) from init to a `bad` state.

    Parameters
    ----------
    bad : ``bad(model, state, ops)`` -> bool term; e.g. `deadlocked`, `type_violation`,
        or ``properties.collisions.both_inside_same_item``.
    depth : the largest number of steps searched.
    timeout_ms : budget for all solver calls together.
    lookup, width, use_invariant : as for max_weight. (With the invariant in use,
        `type_violation` holds by proof.)

    One incremental solver, runs of exactly t steps at depth t (no stutter): step t is
    unrolled once, then "bad at t, or some operation inexact" is checked under an
    assumption; then, at t = 0, 1, 2, 4, ... and at `depth`, "some run goes on after t
    steps". When that is unsat, every reachable state has been checked and the search
    stops with ``holds``, ``complete=True``.

    Examples
    --------
    >>> from reapcheck.model.layout import Layout, Vma
    >>> from reapcheck.model.walk_product import WalkProduct
    >>> from reapcheck.model.walks import WalkConfig
    >>> one = Layout.checked("doc", [Vma(0x1000, 0x3000, "rw-p", None, lineno=1)])
    >>> model = WalkProduct.build(one, WalkConfig("reverse", "ptl", 12))
    >>> r = find_violation(model, deadlocked, 100)
    >>> r.status, r.complete, r.depth  # the longest run has 8 steps
    ('holds', True, 8)
    """
    if depth < 0:
        raise ValueError(f"depth must be >= 0, not {depth}")
    clock = _Clock(timeout_ms)
    plan = _plan(model, width, depth, [],
                 [bad, any_enabled] + ([_type_ok] if use_invariant else []))
    for bits, exact in plan:
        try:
            return _find_violation(model, bad, depth, clock, lookup, bits, exact, use_invariant)
        except _Unknown as e:
            return ViolationResult("unknown", depth, None, None, None, str(e),
                                   clock.elapsed(), bits)
        except (_Widen, WidthTooSmall) as e:
            reason = f"{bits}-bit integers are too narrow: {e}"
    return ViolationResult("unknown", depth, None, None, None, reason, clock.elapsed(),
                           plan[-1][0])


def _find_violation(model, bad, depth, clock, lookup, bits, exact, use_invariant):
    invariant = (inductive_type_invariant(model, lookup, bits, clock.remaining_ms())
                 if use_invariant else None)
    ops = Z3Ops(lookup, bits)
    unrolling = Unrolling(model, ops, invariant, stutter="never")
    solver = _solver(bits, lookup)
    added = 0
    t = 0
    for t in range(depth + 1):
        unrolling.unroll(t)
        bad_t = unrolling.at(bad, t)
        running_t = unrolling.enabled(t)
        new = unrolling.solver_assertions()
        solver.add(*new[added:])
        added = len(new)
        # One query per depth: a bad state after exactly t steps, or an inexact operation
        # on the way there (then the width is too small and everything is redone wider).
        inexact = _flag(solver, f"inexact@{t}",
                        z3.BoolVal(False) if exact else unrolling.inexact())
        if _check(solver, clock, _flag(solver, f"bad_or_inexact@{t}", z3.Or(bad_t, inexact))):
            m = solver.model()
            if z3.is_true(m.eval(inexact, model_completion=True)):
                raise _Widen("an operation leaves the range on some run")
            trace, states = unrolling.decode(m, t)
            replayed, _ = execute(model, trace)
            if replayed != states or not bad(model, replayed[-1], CONCRETE):
                raise AssertionError(f"decoded trace does not reach a bad state: {replayed}")
            return ViolationResult("violated", len(trace), trace, states, None, None,
                                   clock.elapsed(), bits)
        # Does some run go on? Asked at t = 0, 1, 2, 4, 8, ... and at the bound: a run
        # going on at t also went on at every earlier depth, so at most twice too deep.
        if (t & (t - 1) == 0 or t == depth) and \
                not _check(solver, clock, _flag(solver, f"running@{t}", running_t)):
            return ViolationResult("holds", t, None, None, True, None, clock.elapsed(), bits)
    return ViolationResult("holds", t, None, None, False, None, clock.elapsed(), bits)
