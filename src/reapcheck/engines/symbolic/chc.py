"""Unbounded safety by constrained Horn clauses: Z3's Spacer (IC3/PDR) on any `ops` model.

The same model definition the explorer runs (init, actions, guard, update) is evaluated
with Z3Ops over unbounded Ints and handed to Spacer as three Horn clauses over one
unknown relation Inv:

    Inv(init)
    Inv(x) and Or_a(guard_a(x) and x' == update_a(x))  =>  Inv(x')
    Inv(x) and bad(x)                                   =>  false

Spacer either finds an interpretation of Inv (an inductive invariant that excludes every
bad state: the property holds in every reachable state, for every run of any length) or
shows that no such relation exists (a bad state is reachable; engines/symbolic/bmc.py then finds
the shortest run to one). A timeout or a solver giving up is `unknown`.

An invariant is never taken on trust. `check_invariant` re-proves it with the plain SMT
solver, in three queries that each must be unsat: init violates it; one step leaves it;
it admits a bad state. Only then is the verdict `holds`, and the invariant (over the
model's variable names) goes into the output for a reviewer to read.

Spacer's time depends a lot on its random seed, so `prove_safe` restarts it with new
seeds in doubling time slices, each attempt in a forked process (Z3 keeps Spacer state
between queries inside one process, so the same query twice in one process finds two
invariants). Times still vary between processes (benchmarks/protocol_z3.py); a query
out of budget is `unknown`.
"""
from __future__ import annotations

import multiprocessing
import re
import time
import traceback
import weakref
from dataclasses import dataclass

import z3

from . import z3_solve
from .bmc import inductive_type_invariant, variable_names
from .z3ops import Z3Ops


FIRST_SLICE_S = 8.0  # the first seed's time; each restart doubles it
REACH_DEPTH, REACH_SECONDS = 24, 2.0  # prove_relative's bounded search before Spacer


@dataclass(frozen=True)
class SafetyResult:
    """status: ``holds`` (`invariant` proved inductive and safe, re-checked), ``violated``
    (a bad state is reachable; no trace here) or ``unknown`` (`reason_unknown`)."""

    status: str
    invariant: str | None
    reason_unknown: str | None
    seconds: float
    formula: object = None  # the invariant as a z3 Bool over the model's variables
    method: str | None = None  # prove_relative: support | inductive | spacer


def state_names(model) -> tuple[str, ...]:
    """The relation's arguments: the model's variables, then its parameters (if any)."""
    return variable_names(model) + tuple(getattr(model, "parameter_names", ()))


class Encoding:
    """The model's variables, transition relation and init as Z3 terms (Ints).

    A parametric model (engines/symbolic/z3_protocol_any.py) also has `parameters` (SymInts fixed
    for a whole run, such as the VMA count N: arguments of the relation that no step
    changes), `inputs` (z3 terms a step may read, chosen anew at every step, such as a
    visited VMA's reapable flag), `facts` (what is known of both) and `symbolic_ops()`
    (its ops, which know its symbolic tables). Spacer then proves one invariant for
    every value of the parameters."""

    def __init__(self, model, known=()):
        base = _relation(model)
        self.model = model
        self.ops, self.names, self.params = base.ops, base.names, base.params
        self.inputs, self.facts = base.inputs, list(base.facts)
        self.state, self.now = base.state, base.now
        self.after_state, self.after = base.after_state, base.after
        self.step, self.init, self.init_terms = base.step, base.init, base.init_terms
        self.typed = z3.And(base.typed, *self.facts, *known)

    def terms(self, state) -> list:
        return [x.term if hasattr(x, "term") else x for x in state]

    def bound(self) -> list:
        """Every variable of the step clause, once: state, parameters, next state, inputs."""
        out, seen = [], set()
        for t in self.terms(self.now) + self.terms(self.after_state) + list(self.inputs):
            if t.get_id() not in seen:
                seen.add(t.get_id())
                out.append(t)
        return out

    def state_formula(self, predicate) -> z3.BoolRef:
        """predicate(model, state, ops) over the current-state variables, as a z3 Bool."""
        return self.ops.to_bool(predicate(self.model, self.state, self.ops))

    def at_init(self, formula) -> z3.BoolRef:
        return z3.substitute(formula, *zip(self.terms(self.state),
                                           (z3.IntVal(v) for v in self.init)))

    def primed(self, formula) -> z3.BoolRef:
        return z3.substitute(formula, *zip(self.terms(self.state), self.terms(self.after_state)))


@dataclass(frozen=True)
class _Relation:
    """What an Encoding takes from its model alone (`known` aside): built once per model."""

    ops: object
    names: tuple
    params: tuple
    inputs: tuple
    facts: tuple
    state: tuple
    now: tuple
    after_state: tuple
    after: tuple
    step: object
    typed: object
    init: tuple
    init_terms: tuple


# Each model's transition relation, built once: guards and updates rendered through Z3Ops
# cost about 0.2 s per model, and a proof asks for an Encoding a dozen times (Houdini,
# termination, each property, each Spacer attempt). The same terms rebuilt would be the
# same Z3 terms (Z3 shares equal terms), so the queries are exactly the ones a fresh build
# gives. Weak keys: a model's entry goes with the model.
_RELATIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _relation(model) -> _Relation:
    try:
        return _RELATIONS[model]
    except (KeyError, TypeError):
        pass
    make_ops = getattr(model, "symbolic_ops", None)
    ops = make_ops() if make_ops is not None else Z3Ops("runs", None)
    variables = variable_names(model)
    params = tuple(getattr(model, "parameters", ()))
    state = tuple(ops.int_var(name) for name in variables)
    after_state = tuple(ops.int_var(name + "'") for name in variables)
    steps = []
    for action in model.actions:
        guard = ops.to_bool(model.guard(state, action, ops))
        if z3.is_false(z3.simplify(guard)):
            continue  # an action this configuration never takes (e.g. a mutant's)
        # (simplify() orders terms by creation number, which depends on what the
        # process built before; only its verdict is used, so queries stay the same.)
        nxt = tuple(model.update(state, action, ops))
        steps.append(z3.And(guard, *(y.term == ops.int_term(v)
                                     for y, v in zip(after_state, nxt))))
    # A proved inductive type invariant (bmc.inductive_type_invariant) holds in every
    # reachable state, so restricting steps to states that satisfy it removes no run;
    # it gives Spacer the variables' ranges, which it otherwise has to rediscover.
    typed = z3.BoolVal(True)
    if not params and inductive_type_invariant(model) is not None:
        typed = ops.to_bool(model.type_ok(state, ops))
    init = tuple(int(v) for v in model.init())
    relation = _Relation(
        ops=ops, names=state_names(model), params=params,
        inputs=tuple(getattr(model, "inputs", ())), facts=tuple(getattr(model, "facts", ())),
        state=state, now=state + params, after_state=after_state, after=after_state + params,
        step=z3.Or(*steps), typed=typed, init=init,
        init_terms=tuple(z3.IntVal(v) for v in init)
        + tuple(x.term if hasattr(x, "term") else x for x in params))
    try:
        _RELATIONS[model] = relation
    except TypeError:  # a model that cannot be weakly referenced is built every time
        pass
    return relation


def prove_safe(model, bad, timeout_s: float | None = None, known=()) -> SafetyResult:
    """Does no reachable state satisfy bad(model, state, ops)? See the module docstring.

    known: invariants already proved for this model (SafetyResult.formula of earlier
    calls). Every reachable state satisfies them, so steps are only taken from states
    that do: no run is lost, and Spacer starts from what was already learnt.

    Spacer's time depends a lot on its random seed (walk_complete on sleep.smaps: 1.4 s
    with seed 4, over 40 s with seed 2), so the query is restarted with seeds 0, 1, 2, ...
    and time slices of 8, 16, 32, ... seconds until one finishes or the budget is spent.
    Each attempt runs in a forked child: Z3 keeps Spacer state across queries inside the
    library (the same query twice in one process finds two different invariants), and a
    fork starts every attempt from the parent's state, not from earlier queries'.
    """
    start = time.perf_counter()
    seed, slice_s = 0, FIRST_SLICE_S
    while True:
        remaining = None if timeout_s is None else timeout_s - (time.perf_counter() - start)
        last = remaining is not None and remaining <= slice_s
        result = _forked(model, bad, max(0.001, remaining) if last else slice_s, known, seed)
        if result.status != "unknown" or last:
            reason = result.reason_unknown and f"{result.reason_unknown} ({seed + 1} seeds tried)"
            return SafetyResult(result.status, result.invariant, reason,
                                time.perf_counter() - start, result.formula)
        seed, slice_s = seed + 1, 2 * slice_s


def _forked(model, bad, timeout_s, known, seed) -> SafetyResult:
    """_prove_safe in a forked child; the invariant comes back as SMT-LIB text."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send, model, bad, timeout_s, known, seed))
    child.start()
    send.close()
    try:
        kind, payload = receive.recv()
    except EOFError:
        kind, payload = "error", f"the solver process died (exit code {child.exitcode})"
    child.join()
    if kind == "error":
        raise RuntimeError(f"Spacer query failed: {payload}")
    status, invariant, reason, seconds, sexpr = payload
    formula = None
    if sexpr is not None:
        decls = {name: z3.Int(name) for name in state_names(model)}
        formula = z3.And(*z3.parse_smt2_string(f"(assert {sexpr})", decls=decls))
    return SafetyResult(status, invariant, reason, seconds, formula)


def _child(send, model, bad, timeout_s, known, seed) -> None:
    try:
        r = _prove_safe(model, bad, timeout_s, known, seed)
        sexpr = None if r.formula is None else r.formula.sexpr()
        send.send(("ok", (r.status, r.invariant, r.reason_unknown, r.seconds, sexpr)))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises
        send.send(("error", traceback.format_exc()))
    finally:
        send.close()


def _prove_safe(model, bad, timeout_s, known, seed) -> SafetyResult:
    start = time.perf_counter()
    enc = Encoding(model, known)
    bad_now = enc.state_formula(bad)
    ctx = z3.Context()
    sort = z3.IntSort(ctx)
    inv = z3.Function("Inv", *([sort] * len(enc.names)), z3.BoolSort(ctx))
    now = [t.translate(ctx) for t in enc.terms(enc.now)]
    after = [t.translate(ctx) for t in enc.terms(enc.after)]
    bound = [t.translate(ctx) for t in enc.bound()]
    solver = z3.SolverFor("HORN", ctx=ctx)
    solver.set("spacer.global", True)  # measured 2x faster on no_deadlock (one VMA)
    solver.set("spacer.random_seed", seed)
    solver.set("random_seed", seed)
    if timeout_s is not None:
        solver.set("timeout", max(1, int(timeout_s * 1000)))
    start_state = inv(*(t.translate(ctx) for t in enc.init_terms))
    if enc.params:  # every value of the parameters the facts allow
        facts = z3.And(*enc.facts).translate(ctx)
        solver.add(z3.ForAll(bound, z3.Implies(facts, start_state)))
    else:
        solver.add(start_state)
    solver.add(z3.ForAll(bound, z3.Implies(
        z3.And(inv(*now), enc.typed.translate(ctx), enc.step.translate(ctx)), inv(*after))))
    solver.add(z3.ForAll(bound, z3.Implies(
        z3.And(inv(*now), *(f.translate(ctx) for f in enc.facts), bad_now.translate(ctx)),
        z3.BoolVal(False, ctx))))
    answer = solver.check()
    if answer == z3.unsat:
        return SafetyResult("violated", None, None, time.perf_counter() - start)
    if answer != z3.sat:
        return SafetyResult("unknown", None, solver.reason_unknown() or "unknown",
                            time.perf_counter() - start)
    found = z3.simplify(solver.model().eval(inv(*now)))
    invariant = found.translate(z3.main_ctx())
    remaining = None if timeout_s is None else max(1.0, timeout_s - (time.perf_counter() - start))
    failed = check_invariant(enc, invariant, bad_now, remaining)
    if failed is not None:
        return SafetyResult("unknown", None, f"Spacer's invariant failed re-checking: {failed}",
                            time.perf_counter() - start)
    return SafetyResult("holds", render_invariant(invariant), None,
                        time.perf_counter() - start, invariant)


def check_invariant(enc: Encoding, invariant, bad_now, timeout_s: float | None = None):
    """None when `invariant` (a Bool over enc.now) holds at init, is closed under every
    step and excludes `bad_now`; else which of the three failed (or could not be shown)."""
    obligations = (
        ("init", [*enc.facts, z3.Not(enc.at_init(invariant))]),
        ("step", [invariant, enc.typed, enc.step, z3.Not(enc.primed(invariant))]),
        ("safe", [*enc.facts, invariant, bad_now]),
    )
    for name, query in obligations:
        outcome = z3_solve.check(query, timeout_s)
        if outcome.result != z3.unsat:
            return f"{name} ({outcome.result})"
    return None


# a comparison of a number with a variable, alone between brackets or commas: Z3 orders
# `x == 2` as `2 == x` when the number's term is older
_NUMBER_FIRST = re.compile(r"(?:^|(?<=\()|(?<=, ))(-?\d+) (==|!=|<=|>=|<|>) ([a-z_]+)(?=[),]|$)")
_FLIPPED = {"==": "==", "!=": "!=", "<=": ">=", ">=": "<=", "<": ">", ">": "<"}


def render_invariant(invariant) -> str:
    """The invariant as one line of Z3's own syntax (And/Or/Not over variable names),
    each comparison of a variable and a number written variable first (`ex_pc == 2`)."""
    text = " ".join(str(invariant).split())
    return _NUMBER_FIRST.sub(lambda m: f"{m[3]} {_FLIPPED[m[2]]} {m[1]}", text)


def prove_progress(model, timeout_s: float | None = None, known=(),
                   lexicographic: bool = False, support=None) -> SafetyResult:
    """Does every run end? ``holds`` when Spacer proves that in every reachable state
    `model.type_ok` holds (which bounds every variable `model.progress_measure` reads)
    and every enabled step strictly increases the progress measure: a bounded measure
    that grows on every step admits no infinite run, so every schedule ends in a
    terminal state, which is what gives the `at_terminal` properties their meaning.

    `lexicographic`: the measure is `model.progress_ranks` instead, one tuple per actor;
    every step must increase one actor's tuple lexicographically and leave the others'
    as they were. Bounded tuples (type_ok) in that order admit no infinite run either,
    and the check stays linear when the VMA count is a parameter.

    `support`: a Support (houdini) proved first: then prove_relative, which needs one
    query when the support already bounds every variable the measure reads."""
    stalls = _stalls_lexicographic if lexicographic else _stalls
    if support is not None:
        return prove_relative(model, stalls, support, timeout_s, known)
    return prove_safe(model, stalls, timeout_s, known)


def _stalls(model, s, ops):
    """s is ill-typed, or some enabled step from s does not increase the measure."""
    rank = model.progress_measure(s)
    stalls = [ops.And(model.guard(s, a, ops),
                      model.progress_measure(tuple(model.update(s, a, ops))) <= rank)
              for a in model.actions]
    return ops.Or(ops.Not(model.type_ok(s, ops)), *stalls)


def _lex_greater(ops, after, before):
    """after > before in lexicographic order (tuples of equal length)."""
    options = []
    for k in range(len(before)):
        options.append(ops.And(*(after[j] == before[j] for j in range(k)), after[k] > before[k]))
    return ops.Or(*options)


def _stalls_lexicographic(model, s, ops):
    """s is ill-typed, or some enabled step from s increases no actor's rank alone."""
    ranks = model.progress_ranks(s)
    stalls = []
    for a in model.actions:
        later = model.progress_ranks(tuple(model.update(s, a, ops)))
        grows = [ops.And(_lex_greater(ops, later[i], ranks[i]),
                         *(x == y for j in range(len(ranks)) if j != i
                           for x, y in zip(later[j], ranks[j])))
                 for i in range(len(ranks))]
        stalls.append(ops.And(model.guard(s, a, ops), ops.Not(ops.Or(*grows))))
    return ops.Or(ops.Not(model.type_ok(s, ops)), *stalls)


# -- a support invariant first, then each property in one query where it can be -------------


@dataclass(frozen=True)
class Support:
    """The candidate conditions that hold at init and are inductive together (Houdini):
    `kept` (name -> z3 Bool over the model's variables), `dropped` (names), and their
    conjunction `formula`, which holds in every reachable state."""

    kept: dict
    dropped: tuple
    seconds: float

    @property
    def formula(self):
        return z3.And(*self.kept.values()) if self.kept else z3.BoolVal(True)

    def text(self) -> str:
        return "; ".join(f"{name}: {render_invariant(f)}" for name, f in self.kept.items())


def houdini(model, candidates, timeout_s: float | None = None) -> Support:
    """The largest subset of candidates(model, state, ops) -> {name: condition} that holds
    in the initial state(s) and is closed under every step when all of it is assumed
    (Houdini's fixpoint: drop every condition some step can break from a state that
    satisfies all the kept ones, until none breaks). One SMT query per round: a model of
    "some kept condition fails (at init, or after one step)" names the conditions to drop;
    unsat ends the round. An unknown drops every condition (nothing unproved is kept)."""
    start = time.perf_counter()
    enc = Encoding(model)
    conditions = {name: enc.ops.to_bool(c)
                  for name, c in candidates(model, enc.state, enc.ops).items()}
    kept = dict(conditions)
    for stepping, setup, after in ((False, [], enc.at_init),
                                   (True, [enc.typed, enc.step], enc.primed)):
        while kept:
            assumed = [z3.And(*kept.values())] if stepping else []
            flags = {name: z3.Bool(f"houdini_{name}") for name in kept}
            query = [*enc.facts, *setup, *assumed,
                     *(flag == z3.Not(after(c)) for (name, c), flag
                       in zip(kept.items(), flags.values())),
                     z3.Or(*flags.values())]
            outcome = z3_solve.check(query, timeout_s)
            if outcome.result == z3.unsat:
                break
            if outcome.result != z3.sat:
                kept = {}
                break
            for name in [n for n, flag in flags.items() if outcome.value(flag)]:
                del kept[name]
    dropped = tuple(name for name in conditions if name not in kept)
    return Support(kept, dropped, time.perf_counter() - start)


def reach(model, bad, support=None, depth: int = 20, timeout_s: float | None = None):
    """The length of a shortest run (at most `depth` steps) from Init to a state where
    `bad` holds, or None when there is none that short or time ran out: bounded model
    checking on the Encoding's own step relation (its parameters and inputs included,
    each input fresh at every step), reachable states restricted to the support.
    Incremental, one query per depth."""
    start = time.perf_counter()
    enc = Encoding(model, [] if support is None else [support.formula])
    bad_now = enc.state_formula(bad)
    ctx = z3.Context()
    solver = z3.Solver(ctx=ctx)
    state_terms, after_terms = enc.terms(enc.state), enc.terms(enc.after_state)
    names = variable_names(model)

    def frame(k):
        return [z3.Int(f"{name}@{k}", ctx) for name in names]

    current = frame(0)
    solver.add(*(f.translate(ctx) for f in enc.facts))
    solver.add(*(x == z3.IntVal(v, ctx) for x, v in zip(current, enc.init)))
    step = z3.And(enc.typed, enc.step).translate(ctx)
    bad_ctx = bad_now.translate(ctx)
    state_ctx = [t.translate(ctx) for t in state_terms]
    after_ctx = [t.translate(ctx) for t in after_terms]
    inputs_ctx = [t.translate(ctx) for t in enc.inputs]
    for k in range(depth + 1):
        if k:
            following = frame(k)
            fresh = [z3.Const(f"{t}@{k}", t.sort()) for t in inputs_ctx]
            solver.add(z3.substitute(step, *zip(state_ctx, current), *zip(after_ctx, following),
                                     *zip(inputs_ctx, fresh)))
            current = following
        if timeout_s is not None:
            left = timeout_s - (time.perf_counter() - start)
            if left <= 0:
                return None
            solver.set("timeout", max(1, int(left * 1000)))
        answer = solver.check(z3.substitute(bad_ctx, *zip(state_ctx, current)))
        if answer == z3.sat:
            return k
        if answer != z3.unsat:
            return None
    return None


def prove_relative(model, bad, support, timeout_s: float | None = None, known=()) -> SafetyResult:
    """prove_safe, cheapest argument first (`method` says which), each checked like
    Spacer's invariants; `invariant` is the part beyond the support (None for 1):
    1. ``support``: the support invariant alone excludes `bad` (one query);
    2. ``inductive``: Not(bad) is inductive together with the support (init and one step);
    3. ``bmc``: a run of at most REACH_DEPTH steps reaches `bad` (`violated`: a failing
       state is reachable; searched within a quarter of the budget);
    4. ``spacer``: Spacer, with the support (and `known`) assumed."""
    start = time.perf_counter()
    formula = support.formula
    enc = Encoding(model, [formula, *known])
    bad_now = enc.state_formula(bad)
    if z3_solve.check([*enc.facts, enc.typed, bad_now], timeout_s).result == z3.unsat:
        return SafetyResult("holds", None, None, time.perf_counter() - start, formula,
                            "support")
    good = bad_now.arg(0) if z3.is_not(bad_now) else z3.Not(bad_now)
    if check_invariant(enc, good, bad_now, timeout_s) is None:
        return SafetyResult("holds", render_invariant(good), None,
                            time.perf_counter() - start, z3.And(formula, good), "inductive")
    spent = time.perf_counter() - start
    quarter = REACH_SECONDS if timeout_s is None else min(REACH_SECONDS, (timeout_s - spent) / 4)
    steps = reach(model, bad, support, REACH_DEPTH, max(0.001, quarter))
    if steps is not None:
        return SafetyResult("violated", None, None, time.perf_counter() - start, None, "bmc")
    left = None if timeout_s is None else timeout_s - (time.perf_counter() - start)
    if left is not None and left <= 0:
        return SafetyResult("unknown", None, "timeout (before Spacer)",
                            time.perf_counter() - start, None, "spacer")
    result = prove_safe(model, bad, left, [formula, *known])
    formula = None if result.formula is None else z3.And(support.formula, result.formula)
    return SafetyResult(result.status, result.invariant, result.reason_unknown,
                        time.perf_counter() - start, formula, "spacer")
