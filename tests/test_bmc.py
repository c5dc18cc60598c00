"""The Z3 BMC engine against the explicit explorer, on the SAME model definition.

Differential tests (Z3's maximum equals the graph engine's, the witness replays), the
symbolic ops against the concrete ones state by state, shortest violations against a
BFS over the state graph, and two toy models written against the generic interface
(several actors, bools as ints, runs of different lengths) like the protocol model.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import networkx as nx
import pytest
import z3
from conftest import random_layout

from reapcheck.engines.symbolic import bmc
from reapcheck.engines.explicit import graph
from reapcheck.engines.explicit.schedule import replay
from reapcheck.engines.symbolic.z3ops import SymbolicBranch, WidthTooSmall, Z3Ops
from reapcheck.model.layout import Layout, Vma
from reapcheck.model.ops import CONCRETE, MISSING
from reapcheck.model.walk_product import WalkProduct
from reapcheck.model.walks import WalkConfig
from reapcheck.properties.collisions import both_inside_same_item, is_collision, someone_waits

CONFIGS = [(order, gran, exit_order) for order in ("forward", "reverse")
           for gran in ("vma", "ptl") for exit_order in ("forward", "reverse")]
PAGE = 4096


def small_model(seed: int, order: str, gran: str, exit_order: str, max_items: int = 8):
    """A random 2-4 VMA layout with shared page tables (PMD shift 12-14), or None when
    the product has more than max_items items (keeps each solver call well under 1 s)."""
    rng = random.Random(seed)
    layout = random_layout(rng, rng.randint(2, 4), max_pages=3, max_gap=1)
    model = WalkProduct.build(layout, WalkConfig(order, gran, rng.choice([12, 13, 14]), exit_order))
    return model if sum(map(len, model.items)) <= max_items else None


def concrete_value(ops: Z3Ops, x):
    """A term built from constants only, as a Python value."""
    t = z3.simplify(ops.term(x))
    if z3.is_true(t) or z3.is_false(t):
        return z3.is_true(t)
    return ops.value(t)


# -- Z3Ops: the symbolic twin of ConcreteOps ----------------------------------------------

@pytest.mark.parametrize("width", [None, 8, 16])
def test_floor_division_and_modulo_follow_python(width):
    ops = Z3Ops(width=width)
    a, b = ops.int_var("a"), ops.int_var("b")
    for c in (1, 2, 3, 4, -2, -3):
        for x in range(-9, 10):
            sub = [(a.term, ops.const(x)), (b.term, ops.const(c))]
            for got, want in ((a // c, x // c), (a % c, x % c), (a // b, x // c), (a % b, x % c),
                              (x // b, x // c), (-a + 1, -x + 1), (3 * a - b, 3 * x - c)):
                assert ops.value(z3.simplify(z3.substitute(got.term, *sub))) == want, (x, c)


@pytest.mark.parametrize("lookup", ["runs", "ite", "array", "function"])
@pytest.mark.parametrize("width", [None, 8])
def test_lookup_is_concrete_lookup_with_missing_outside(lookup, width):
    table = [5, 6, 7, 3, 3, 3, 9, 1, 2, 40]
    ops = Z3Ops(lookup, width)
    i = ops.int_var("i")
    value = ops.lookup(table, i)
    solver = z3.Solver()
    solver.add(*ops.axioms)
    for k in range(-3, len(table) + 3):
        solver.push()
        solver.add(i.term == ops.const(k))
        assert solver.check() == z3.sat
        got = ops.value(solver.model().eval(value.term, model_completion=True))
        assert got == CONCRETE.lookup(table, k), (k, got)
        solver.pop()
    assert ops.lookup(table, 3) == 3 and ops.lookup(table, 10) == MISSING  # concrete index


def test_symbolic_values_refuse_python_control_flow():
    ops = Z3Ops()
    p = ops.int_var("p")
    with pytest.raises(SymbolicBranch):
        bool(p)
    with pytest.raises(SymbolicBranch):
        if p + 1:
            pass
    with pytest.raises(ZeroDivisionError):
        p // 0


def test_bit_vectors_record_every_overflow_and_reject_wide_constants():
    ops = Z3Ops(width=8)
    with pytest.raises(WidthTooSmall):
        ops.const(128)
    p = ops.int_var("p")
    q = p + 1
    solver = z3.Solver()
    solver.add(z3.Not(z3.And(*ops.exact)))  # some operation overflowed ...
    assert solver.check() == z3.sat
    assert solver.model().eval(p.term).as_signed_long() == 127  # ... only at p = 127
    assert q.ops is ops


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("width", [None, 16])
def test_symbolic_model_evaluates_like_the_concrete_one_in_every_state(seed, width):
    """guard, update, done, type_ok, keys and the collision property, evaluated by Z3Ops on
    every reachable state (and its successors), equal ConcreteOps' values."""
    for order, gran, exit_order in CONFIGS[seed::4]:
        model = small_model(seed, order, gran, exit_order, max_items=9)
        if model is None:
            continue
        ops = Z3Ops(width=width)
        sym = (ops.int_var("e"), ops.int_var("r"))
        exprs = {"done": model.done(sym, ops), "type_ok": model.type_ok(sym, ops),
                 "waits": someone_waits(model, sym, ops),
                 "same": both_inside_same_item(model, sym, ops)}
        for actor in (0, 1):
            exprs[f"in{actor}"] = model.inside_key(sym, actor, ops)
            exprs[f"next{actor}"] = model.next_key(sym, actor, ops)
        for action in model.actions:
            exprs[action.name] = model.guard(sym, action, ops)
            after = model.update(sym, action, ops)
            exprs["hit" + action.name] = is_collision(model, sym, after, ops)
        for state in graph.build_graph(model).nodes:
            sub = [(x.term, ops.const(v)) for x, v in zip(sym, state)]
            concrete = {"done": model.done(state), "type_ok": model.type_ok(state),
                        "waits": someone_waits(model, state),
                        "same": both_inside_same_item(model, state)}
            for actor in (0, 1):
                concrete[f"in{actor}"] = model.inside_key(state, actor)
                concrete[f"next{actor}"] = model.next_key(state, actor)
            for action in model.actions:
                concrete[action.name] = model.guard(state, action)
                after = model.update(state, action)
                concrete["hit" + action.name] = is_collision(model, state, after)
            for name, expr in exprs.items():
                got = concrete_value(ops, z3.substitute(ops.term(expr), *sub))
                assert got == concrete[name], (state, name)


# -- max_weight: Z3 agrees with the explorer ----------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_max_collisions_agree_with_graph_engine(seed):
    """Every walk order, exit order and granularity: the same maximum, a witness that
    replays with that many collisions, and a proved-complete default depth 2(m+n)."""
    checked = 0
    for order, gran, exit_order in CONFIGS:
        model = small_model(seed, order, gran, exit_order)
        if model is None:
            continue
        expected = graph.explore(model).max_collisions
        result = bmc.max_weight(model, is_collision)
        assert (result.status, result.verdict, result.complete) == ("holds", "holds", True)
        assert result.depth == 2 * sum(map(len, model.items))
        assert result.max_weight == expected
        assert all(action in model.actions for action in result.witness)
        assert replay(model, result.witness).collisions == expected
        checked += 1
    assert checked >= 2


@pytest.mark.parametrize("strategy,width,lookup", [
    ("binary", "auto", "runs"), ("optimize", "auto", "ite"), ("maxsat", 16, "array"),
    ("linear", None, "function")])
def test_every_strategy_and_encoding_agrees(strategy, width, lookup):
    for seed in range(3):
        for order, gran, exit_order in CONFIGS[seed::3]:
            model = small_model(seed, order, gran, exit_order, max_items=5)
            if model is None:
                continue
            result = bmc.max_weight(model, is_collision, strategy=strategy, width=width,
                                    lookup=lookup, use_invariant=(seed != 1))
            assert result.max_weight == graph.explore(model).max_collisions
            assert replay(model, result.witness).collisions == result.max_weight


def test_hand_counts_of_model_md():
    """vma forward: one collision per reapable VMA; vma reverse: one."""
    vmas = [Vma(i * 3 * PAGE, (i * 3 + 1) * PAGE, "rw-p" if i != 1 else "rw-s", None, lineno=i + 1)
            for i in range(4)]
    layout = Layout.checked("hand", vmas)
    forward = bmc.max_weight(WalkProduct.build(layout, WalkConfig("forward", "vma")), is_collision)
    reverse = bmc.max_weight(WalkProduct.build(layout, WalkConfig("reverse", "vma")), is_collision)
    assert (forward.max_weight, reverse.max_weight) == (3, 1)


def test_unrolled_variables_and_actions_are_named_x_at_t():
    model = WalkProduct.build(random_layout(random.Random(1), 2), WalkConfig("reverse", "vma"))
    unrolling = bmc.Unrolling(model, Z3Ops())
    unrolling.unroll(4)
    assert str(unrolling.states[3][0].term) == "exit_pos@3"
    assert str(unrolling.states[3][1].term) == "reaper_pos@3"
    assert [str(p) for p in unrolling.choices[3]] == [
        "ExitEnter@3", "ExitLeave@3", "ReaperEnter@3", "ReaperLeave@3", "Stutter@3"]


def test_a_bound_too_short_for_any_complete_run():
    model = WalkProduct.build(random_layout(random.Random(2), 2), WalkConfig("forward", "vma"))
    with pytest.raises(bmc.NoCompleteRun):
        bmc.max_weight(model, is_collision, depth=2 * sum(map(len, model.items)) - 1)


def test_solver_giving_up_is_unknown_never_a_number():
    rng = random.Random(7)
    layout = random_layout(rng, 12, max_pages=4)
    model = WalkProduct.build(layout, WalkConfig("forward", "ptl", 12))
    result = bmc.max_weight(model, is_collision, timeout_ms=1)
    assert (result.status, result.verdict) == ("unknown", "unknown")
    assert result.max_weight is None and result.witness is None
    assert result.reason_unknown


# -- find_violation: shortest traces, bounded proofs --------------------------------------

def shortest_distance(model, predicate):
    """BFS over the explorer's graph: fewest steps from Init to a state where predicate holds."""
    g = graph.build_graph(model)
    dist = nx.single_source_shortest_path_length(g, model.init())
    hits = [d for state, d in dist.items() if predicate(model, state)]
    return min(hits) if hits else None


def step_through(model, trace):
    """Execute a trace concretely (a prefix of a schedule: replay() wants a complete one)."""
    state = model.init()
    for action in trace:
        assert action in model.actions and model.guard(state, action)
        state = model.update(state, action)
    return state


@pytest.mark.parametrize("seed", range(6))
def test_shortest_trace_to_both_inside_one_vma(seed):
    for order, exit_order in (("forward", "forward"), ("reverse", "forward"),
                              ("reverse", "reverse")):
        model = small_model(seed, order, "vma", exit_order, max_items=8)
        if model is None:
            continue
        expected = shortest_distance(model, both_inside_same_item)
        result = bmc.find_violation(model, both_inside_same_item, 2 * sum(map(len, model.items)))
        if expected is None:  # nothing reapable: no shared VMA, proved over every run
            assert (result.status, result.verdict) == ("holds", "holds")
            continue
        assert result.status == "violated" and result.depth == expected == len(result.trace)
        final = step_through(model, result.trace)
        assert final == result.states[-1] and both_inside_same_item(model, final)


def same_key_inside(model, state, ops=CONCRETE):
    """Both actors inside items with the same key (ptl: both hold one PTE lock)."""
    key = model.inside_key(state, 0, ops)
    return ops.And(key != MISSING, key == model.inside_key(state, 1, ops))


@pytest.mark.parametrize("seed", range(4))
def test_the_pte_lock_excludes_both_inside_one_key(seed):
    """Unreachable at ptl: holds, and the search proves it covered every run."""
    for order in ("forward", "reverse"):
        model = small_model(seed, order, "ptl", "forward", max_items=8)
        if model is None:
            continue
        full = 2 * sum(map(len, model.items))
        result = bmc.find_violation(model, same_key_inside, full + 5)
        assert (result.status, result.complete, result.verdict) == ("holds", True, "holds")
        assert full <= result.depth <= full + 5  # stopped once every run had finished
        # at vma the same predicate is reachable whenever the walks share a VMA
        vma = WalkProduct.build(model.layout, WalkConfig(order, "vma", model.config.pmd_shift))
        if vma.items[1].vmas:
            assert bmc.find_violation(vma, same_key_inside, 2 * sum(map(len, vma.items))).status \
                == "violated"


def test_a_shallow_bound_is_not_a_proof():
    model = WalkProduct.build(random_layout(random.Random(3), 3), WalkConfig("forward", "ptl", 13))
    result = bmc.find_violation(model, bmc.deadlocked, 3)
    assert (result.status, result.complete, result.verdict) == ("holds", False, "incomplete")


def test_walk_product_has_no_deadlock_and_keeps_its_type():
    for seed in range(3):
        model = small_model(seed, "reverse", "ptl", "forward")
        if model is None:
            continue
        for bad in (bmc.deadlocked, bmc.type_violation):
            result = bmc.find_violation(model, bad, 100)
            assert (result.status, result.verdict) == ("holds", "holds")


# -- toy models on the generic interface (as the protocol model will use it) --------------

@dataclass(frozen=True)
class Act:
    actor: str
    verb: str

    @property
    def name(self) -> str:
        return self.actor.capitalize() + self.verb.capitalize()


class LockOrder:
    """Two threads take locks A and B in the given orders, then release both.

    State: pc0, pc1 (0..3) and the holders of A and B (0 free, else 1 + thread): a
    deadlock is reachable exactly when the two orders differ."""

    variables = ("pc0", "pc1", "lock_a", "lock_b")

    def __init__(self, order0="ab", order1="ba"):
        self.orders = (order0, order1)
        self.actions = tuple(Act(f"t{i}", verb) for i in (0, 1)
                             for verb in ("first", "second", "release"))

    def init(self):
        return (0, 0, 0, 0)

    def type_ok(self, state, ops=CONCRETE):
        pc0, pc1, a, b = state
        return ops.And(0 <= pc0, pc0 <= 3, 0 <= pc1, pc1 <= 3, 0 <= a, a <= 2, 0 <= b, b <= 2)

    def done(self, state, ops=CONCRETE):
        return ops.And(state[0] == 3, state[1] == 3)

    def _lock(self, me, k):
        return 2 + "ab".index(self.orders[me][k])

    def guard(self, state, action, ops=CONCRETE):
        me = int(action.actor[1])
        pc = state[me]
        if action.verb == "release":
            return pc == 2
        k = 0 if action.verb == "first" else 1
        return ops.And(pc == k, state[self._lock(me, k)] == 0)

    def update(self, state, action, ops=CONCRETE):
        me = int(action.actor[1])
        out = list(state)
        out[me] = state[me] + 1
        if action.verb == "release":
            out[2] = out[3] = 0
        else:
            out[self._lock(me, 0 if action.verb == "first" else 1)] = me + 1
        return tuple(out)


def test_deadlock_found_with_the_shortest_trace():
    model = LockOrder("ab", "ba")
    result = bmc.find_violation(model, bmc.deadlocked, 10)
    assert result.status == "violated" and result.depth == 2
    assert sorted(a.name for a in result.trace) == ["T0First", "T1First"]
    assert result.states[-1] == (1, 1, 1, 2)
    assert bmc.deadlocked(model, result.states[-1], CONCRETE)


def test_no_deadlock_with_one_lock_order():
    result = bmc.find_violation(LockOrder("ab", "ab"), bmc.deadlocked, 20)
    assert (result.status, result.verdict, result.depth) == ("holds", "holds", 8)  # 6 <= 8
    def takes_a_lock(model, before, after, ops):
        return ops.Or(before[2] != after[2], before[3] != after[3])

    takes = bmc.max_weight(LockOrder("ab", "ab"), takes_a_lock)
    assert (takes.max_weight, takes.depth, takes.verdict) == (6, 6, "holds")


class Choice:
    """One actor: `Short` jumps from 0 to done, or `Step` three times; no `variables`."""

    actions = (Act("a", "short"), Act("a", "step"))

    def init(self):
        return (0,)

    def type_ok(self, state, ops=CONCRETE):
        return ops.And(0 <= state[0], state[0] <= 3)

    def done(self, state, ops=CONCRETE):
        return state[0] == 3

    def guard(self, state, action, ops=CONCRETE):
        return state[0] == 0 if action.verb == "short" else state[0] < 3

    def update(self, state, action, ops=CONCRETE):
        return (ops.If(action.verb == "short", 3, state[0] + 1),)


def steps_weigh_two(model, before, after, ops):
    return ops.If(after[0] - before[0] == 1, 2, 0)  # an int-valued weight


def test_runs_of_different_lengths_need_a_bound_and_stutter():
    model = Choice()
    assert bmc.variable_names(model) == ("var0",)
    with pytest.raises(bmc.UnequalRuns):
        bmc.max_weight(model, steps_weigh_two)
    full = bmc.max_weight(model, steps_weigh_two, depth=5)  # the short run idles 4 steps
    assert (full.max_weight, full.verdict, len(full.witness)) == (6, "holds", 3)
    short = bmc.max_weight(model, steps_weigh_two, depth=2)  # only Short finishes in 2 steps
    assert (short.max_weight, short.verdict, short.complete) == (0, "incomplete", False)
    assert [a.verb for a in short.witness] == ["short"]


# -- exactness of the bit-vector encoding -------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_interval_peak_bounds_every_value_the_explorer_sees(seed):
    from reapcheck.engines.symbolic import intervals

    for order, gran, exit_order in CONFIGS[seed::3]:
        model = small_model(seed, order, gran, exit_order)
        if model is None:
            continue
        depth = 2 * sum(map(len, model.items))
        bound = intervals.peak(model, depth, [is_collision], [bmc.any_enabled])
        for state in graph.build_graph(model).nodes:
            keys = [model.inside_key(state, a) for a in (0, 1)] + \
                   [model.next_key(state, a) for a in (0, 1)]
            assert max(map(abs, (*state, *keys))) <= bound


def test_width_follows_the_values_and_a_fixed_narrow_width_is_unknown():
    high = 1 << 46  # page tables numbered ~2**33 at PMD shift 13: keys need 64 bits
    layout = Layout.checked("high", [Vma(high + i * PAGE, high + (i + 1) * PAGE, "rw-p", None,
                                         lineno=i + 1) for i in range(3)])
    model = WalkProduct.build(layout, WalkConfig("reverse", "ptl", 13))
    result = bmc.max_weight(model, is_collision)
    assert (result.width, result.max_weight) == (64, graph.explore(model).max_collisions)
    narrow = bmc.max_weight(model, is_collision, width=16)
    assert narrow.status == "unknown" and narrow.max_weight is None
    assert "too narrow" in narrow.reason_unknown
    small = bmc.max_weight(small_model(0, "forward", "vma", "forward"), is_collision)
    assert small.width == 8


# -- the protocol model (issue 3) on the same engine --------------------------------------

def test_protocol_model_agrees_with_the_explicit_checker():
    """A seeded bug: the same shortest counterexample length as the BFS checker; and a
    property proved over every run (the stuck writer keeps the runs short)."""
    protocol = pytest.importorskip("reapcheck.model.protocol")
    props = pytest.importorskip("reapcheck.properties.protocol")
    from reapcheck.engines.explicit import explicit

    layout = random_layout(random.Random(1), 2)
    for mutant, stuck, name in (("oom_skip_after_unlock", False, "walk_complete"),
                                (None, True, "no_deadlock")):
        model = protocol.Protocol(layout, protocol.ProtocolConfig("rev_find", mutant, stuck, False))
        prop = props.BY_NAME[name]
        expected = explicit.check(model, [prop]).verdicts[name]
        result = bmc.find_violation(model, lambda m, s, ops: ops.Not(prop.holds_in(m, s, ops)), 40)
        assert result.verdict == expected.status
        if expected.status == "violated":
            assert result.depth == len(expected.trace)
            assert not prop.holds_in(model, result.states[-1])
