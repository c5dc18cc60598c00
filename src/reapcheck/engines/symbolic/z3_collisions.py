"""Collision claims at granularity vma, for any number of VMAs, checked by Z3.

Everything here evaluates the model's own definitions with the project's symbolic ops
(engines/symbolic/z3ops.py, the Z3 twin of model/ops.py, shared with engines/symbolic/bmc.py):
`WalkProduct.guard`, `WalkProduct.update` and `properties.collisions.is_collision`. No
collision rule is restated. `ParametricOps` extends those ops by one thing: a lookup in a
`SymTable`, a table whose keys are a symbolic function with a symbolic length.

The parametric product (`parametric`). At granularity vma only VMA indices and the reaper
filter matter. A layout with m VMAs of which n are reapable gives exit_mmap the keys
0, 1, ..., m - 1 (every VMA, ascending) and the reaper the keys r(0), ..., r(n - 1): the
reapable VMAs in its order, so r is strictly increasing (forward) or strictly decreasing
(reverse) with values in [0, m). Conversely every such r is the reapable set of some layout
(the flags are free). So quantifying over m, n and an uninterpreted r quantifies over every
layout. Each walk is a `SymTable` of that length; the walks handed to `WalkProduct` report
`len() == sys.maxsize` (Python's len must be an int; k for layouts of up to k VMAs), so the
model's guard checks the position's parity and `real_guard` adds the symbolic length bound
`p < 2 * length`; lookups past the symbolic length give MISSING as in the explicit model.
m <= sys.maxsize is assumed: the explicit model cannot represent longer walks either (and
a process has fewer than 2**31 VMAs: mm->map_count is an int).

Facts about r (range and monotonicity) are instantiated on every index term a query looks
up (`layout_facts`): instances of universally true facts, so sound, and quantifier-free.

Proofs:
- `reverse_at_most_one`: an inductive invariant over (exit_pos, reaper_pos) with ghost
  variables c (collisions so far) and (k0, l0) (where the first one happened).
- `forward_at_most_reapable`: c <= n at every reachable state, by an invariant with a
  ghost flag h ("the reaper's current VMA has already collided").
- `forward_reaches_reapable`: a schedule with n collisions exists for every layout: a
  strategy (a scheduler) whose every move is enabled, whose run ends with both done and
  c = n, all by an inductive invariant.
- `bounded_upper`: bounded model checking of every schedule of every layout with up to k
  VMAs (4k steps, bit-vectors shown not to overflow): no schedule exceeds 1, or n.
- `concrete_worst`: on one concrete layout, Z3 finds a schedule reaching a target and
  shows none exceeds it; the schedule is decoded and replayed by engines/explicit/schedule.py.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import z3

from ...model.layout import Layout, Vma
from ...model.ops import MISSING
from ...model.walk_product import WalkProduct
from ...model.walks import ACTORS, WalkConfig
from ...properties.collisions import is_collision
from ..explicit.schedule import replay
from .z3_solve import check, check_valid, verdict
from .z3ops import SymInt, Z3Ops


class SymTable:
    """A walk's keys as a function of the item index, with a symbolic length. Every index
    looked up is recorded, so facts about the keys can be instantiated on exactly the
    terms a query uses."""

    def __init__(self, name: str, key, length):
        self.name, self.key, self.length = name, key, length
        self.indices: dict[int, object] = {}  # id -> every index term looked up

    def lookup(self, index, ops: Z3Ops) -> SymInt:
        i = ops.int_term(index)
        self.indices.setdefault(i.get_id(), i)
        inside = z3.And(ops.const(0) <= i, i < self.length)
        return SymInt(z3.If(inside, self.key(i), ops.const(MISSING)), ops)


class ParametricOps(Z3Ops):
    """engines/z3ops.Z3Ops, plus lookups in SymTables (past either end: MISSING)."""

    def lookup(self, table, index):
        if isinstance(table, SymTable):
            return table.lookup(index, self)
        return super().lookup(table, index)


def _t(ops: Z3Ops, x):
    """The z3 term of a model value: SymInt, int, bool or term."""
    return ops.term(x)


def _one(ops: Z3Ops, hit, one=1, zero=0):
    return z3.If(ops.to_bool(hit), one, zero)


class UnboundedWalk:
    """A walker whose keys are a SymTable; `len()` cannot be symbolic, so it is an upper
    bound (the largest length Python allows, or k for layouts of up to k VMAs) and
    `real_guard` adds the symbolic one."""

    def __init__(self, table: SymTable, most: int = sys.maxsize):
        self.table, self.most = table, most

    def __len__(self) -> int:
        return self.most

    def keys(self) -> SymTable:
        return self.table

    key_list = keys  # WalkProduct.keys asks for one or the other, by length


@dataclass
class Parametric:
    """The walk product of every layout: m VMAs, n reapable, reaper keys r."""

    order: str
    model: WalkProduct
    vmas: object  # m
    reapable: object  # n
    reaper_vma: object  # r, a function Int -> Int
    exit: SymTable
    reaper: SymTable
    constraints: list  # fixed facts (bounded variant: the k key variables)
    ops: ParametricOps

    @property
    def lengths(self):
        return (self.vmas, self.reapable)


def _product(order: str, exit_table: SymTable, reaper_table: SymTable,
             most: int = sys.maxsize) -> WalkProduct:
    config = WalkConfig(order=order, granularity="vma")
    return WalkProduct(None, config, (UnboundedWalk(exit_table, most),
                                      UnboundedWalk(reaper_table, most)))


def parametric(order: str) -> Parametric:
    """Layouts of any size: r is an uninterpreted function."""
    m, n = z3.Int("vmas"), z3.Int("reapable")
    r = z3.Function("reaper_vma", z3.IntSort(), z3.IntSort())
    exit_table = SymTable("exit_mmap", lambda k: k, m)  # every VMA, ascending
    reaper_table = SymTable("reaper", r, n)
    return Parametric(order, _product(order, exit_table, reaper_table), m, n, r,
                      exit_table, reaper_table, [], ParametricOps())


def bounded_parametric(order: str, k: int) -> Parametric:
    """Layouts of 1..k VMAs as bit-vectors: m, n and the k reaper keys r_j are variables
    constrained directly (`constraints`); positions stay below 4k + 4, far from overflow."""
    width = (8 * k + 8).bit_length() + 1
    m, n = z3.BitVec("vmas", width), z3.BitVec("reapable", width)
    rs = [z3.BitVec(f"reaper_vma{j}", width) for j in range(k)]

    def r(i):
        out = z3.BitVecVal(-2, width)  # never read: lookups stay below n <= k
        for j in reversed(range(k)):
            out = z3.If(i == j, rs[j], out)
        return out
    exit_table = SymTable("exit_mmap", lambda x: x, m)
    reaper_table = SymTable("reaper", r, n)
    constraints = [1 <= m, m <= k, 0 <= n, n <= m]
    for j in range(k):
        constraints.append(z3.Implies(j < n, z3.And(0 <= rs[j], rs[j] < m)))
        if j + 1 < k:
            step = rs[j] < rs[j + 1] if order == "forward" else rs[j] > rs[j + 1]
            constraints.append(z3.Implies(j + 1 < n, step))
    return Parametric(order, _product(order, exit_table, reaper_table, k), m, n, r,
                      exit_table, reaper_table, constraints, ParametricOps(width=width))


FACTS = ("m VMAs (m <= sys.maxsize), n of them reapable (0 <= n <= m); the reaper's l-th "
         "VMA r(l), for 0 <= l < n, satisfies 0 <= r(l) < m and r is strictly {direction} "
         "in l")


def layout_facts(par: Parametric) -> list:
    """The facts about m, n and r, on every reaper index the queries looked up so far."""
    m, n, r = par.vmas, par.reapable, par.reaper_vma
    out = [0 <= n, n <= m, m <= sys.maxsize] + par.constraints
    indices = list(par.reaper.indices.values())
    for i in indices:
        out.append(z3.Implies(z3.And(0 <= i, i < n), z3.And(0 <= r(i), r(i) < m)))
    for a in indices:
        for b in indices:
            if a.get_id() == b.get_id():
                continue
            order = r(a) < r(b) if par.order == "forward" else r(a) > r(b)
            out.append(z3.Implies(z3.And(0 <= a, a < b, b < n), order))
    return out


def real_guard(par: Parametric, state, action):
    """The model's guard, plus the walk-length bound the unbounded walks leave out."""
    me = ACTORS.index(action.actor)
    ops = par.ops
    guard = par.model.guard(state, action, ops)
    if action.verb in ("enter", "lock"):
        guard = ops.And(guard, state[me] < 2 * par.lengths[me])
    return guard


def _positions(ops: Z3Ops, prefix: str = ""):
    """(exit_pos, reaper_pos) as symbolic integers of the ops' sort."""
    return (ops.int_var(f"{prefix}exit_pos"), ops.int_var(f"{prefix}reaper_pos"))


def _init(model, ops: Z3Ops):
    return tuple(SymInt(ops.const(p), ops) for p in model.init())


# -- checking a list of obligations ------------------------------------------------------------


@dataclass(frozen=True)
class Proof:
    status: str  # holds | unknown (a failed obligation is not a violation: induction is
    # incomplete; violations come from the bounded checks and witnesses)
    seconds: float
    reason: str | None = None


def _check(obligations: list[tuple[str, object]], facts: list, timeout_s) -> Proof:
    """Each obligation must be valid under the facts (its negation unsatisfiable)."""
    return Proof(*check_valid(obligations, facts, timeout_s))


def _inductive(par: Parametric, inv, ghost_next, init_ghosts, conclusion, timeout_s) -> Proof:
    """Init => I;  I and guard(a) => I' for every action a;  I => conclusion."""
    model, ops = par.model, par.ops
    pre = _positions(ops)
    ghosts = init_ghosts(symbolic=True)
    obligations = [("initial state", inv(_init(model, ops), init_ghosts(symbolic=False)))]
    for action in model.actions:
        post = model.update(pre, action, ops)
        hit = is_collision(model, pre, post, ops)
        obligations.append((f"step {action.name}", z3.Implies(
            z3.And(inv(pre, ghosts), ops.to_bool(real_guard(par, pre, action))),
            inv(post, ghost_next(pre, post, hit, ghosts)))))
    obligations.append(("conclusion", z3.Implies(inv(pre, ghosts), conclusion(pre, ghosts))))
    return _check(obligations, layout_facts(par), timeout_s)


# -- reverse: at most one collision -----------------------------------------------------------


REVERSE_INVARIANT = """\
Ghosts: c = collisions so far; (k0, l0) = the exit_mmap and reaper items of the first one.
I(e, q, c, k0, l0):  e >= 0 and q >= 0 and 0 <= c <= 1 and
  (c = 1 -> 0 <= l0 < n and r(l0) = k0 and e >= 2*k0 + 1 and q >= 2*l0 + 1)
(e, q: positions of exit_mmap and the reaper; position p is before item p//2 when even,
inside it when odd.) Checked: I(init); I and guard(a) -> I(after a) for each of the four
actions, with c' = c + collision(step) and (k0, l0) set at the first collision; I -> c <= 1.
Why it is inductive: after a collision in (k0, l0) both positions are past it; a later one
in (k, l) needs k = r(l) with k >= k0 and l >= l0, not both equal; l > l0 gives
r(l) < r(l0) = k0 <= k, and l = l0 forces k > k0 = r(l0). The reverse order is what makes
r decreasing."""


def reverse_at_most_one(timeout_s=None, order: str = "reverse") -> Proof:
    """For every layout and schedule, the reverse walk collides at most once.

    `order="forward"` checks the same invariant on the forward walk, where it must fail
    (the deliberately failing model that shows the check can fail)."""
    par = parametric(order)

    def ghosts(symbolic):
        if symbolic:
            return (z3.Int("c"), z3.Int("k0"), z3.Int("l0"))
        return (z3.IntVal(0), z3.IntVal(0), z3.IntVal(0))

    ops = par.ops

    def inv(state, g):
        e, q = (_t(ops, p) for p in state)
        c, k0, l0 = g
        key = _t(ops, ops.lookup(par.reaper, l0))
        return z3.And(e >= 0, q >= 0, 0 <= c, c <= 1, z3.Implies(c == 1, z3.And(
            0 <= l0, l0 < par.reapable, key == k0, e >= 2 * k0 + 1, q >= 2 * l0 + 1)))

    def ghost_next(pre, post, hit, g):
        c, k0, l0 = g
        first = z3.And(c == 0, ops.to_bool(hit))
        return (c + _one(ops, hit), z3.If(first, _t(ops, post[0] // 2), k0),
                z3.If(first, _t(ops, post[1] // 2), l0))

    return _inductive(par, inv, ghost_next, ghosts, lambda state, g: g[0] <= 1, timeout_s)


# -- forward: at most n, and n is reached ------------------------------------------------------


FORWARD_UPPER_INVARIANT = """\
Ghosts: c = collisions so far; h = "the reaper is inside a VMA that has already collided".
I(e, q, c, h):  e >= 0 and q >= 0 and c >= 0 and (q even -> not h) and
  c <= (q//2 + [h] if q < 2n else n) and (h -> q//2 < n and e >= 2*r(q//2) + 1)
Checked: I(init); I and guard(a) -> I(after a) for each action, with c' = c + collision and
h' = (q' odd and (collision or (q' = q and h))); I -> c <= n. So no schedule of any layout
collides more often than the number of reapable VMAs: at most once per reaper VMA, since
exit_mmap's keys are all different (it visits each VMA once)."""

FORWARD_LOWER_INVARIANT = """\
Strategy S (a scheduler): reaper inside a VMA -> the reaper leaves; reaper before VMA l
(l < n) and exit_mmap inside VMA r(l) -> the reaper enters (a collision); otherwise exit_mmap
steps. J(e, q, c):  0 <= e <= 2m and 0 <= q <= 2n and c = (q + 1)//2 and
  (q < 2n -> e <= 2*r(q//2) + 1) and (q odd -> e = 2*r(q//2) + 1)
Checked: J(init); J and not done -> S picks a move, the model's guard allows it (and the
walk-length bound), and J holds after it (with c' = c + collision); J and done -> c = n.
Every move advances e + q <= 2m + 2n, so S's run is a complete schedule with n collisions:
r increasing (the forward order) lets exit_mmap reach each next reaper VMA."""


def forward_at_most_reapable(timeout_s=None) -> Proof:
    par = parametric("forward")
    n, ops = par.reapable, par.ops

    def ghosts(symbolic):
        if symbolic:
            return (z3.Int("c"), z3.Bool("h"))
        return (z3.IntVal(0), z3.BoolVal(False))

    def inv(state, g):
        e, q = state
        c, h = g
        et, qt = _t(ops, e), _t(ops, q)
        l = _t(ops, q // 2)
        key = _t(ops, ops.lookup(par.reaper, l))
        bound = z3.If(qt < 2 * n, l + z3.If(h, 1, 0), n)
        return z3.And(et >= 0, qt >= 0, c >= 0, z3.Implies(_t(ops, q % 2) == 0, z3.Not(h)),
                      c <= bound, z3.Implies(h, z3.And(l < n, et >= 2 * key + 1)))

    def ghost_next(pre, post, hit, g):
        c, h = g
        h2 = z3.And(_t(ops, post[1] % 2) == 1,
                    z3.Or(ops.to_bool(hit), z3.And(_t(ops, post[1]) == _t(ops, pre[1]), h)))
        return (c + _one(ops, hit), h2)

    return _inductive(par, inv, ghost_next, ghosts, lambda state, g: g[0] <= n, timeout_s)


def strategy(par: Parametric, state) -> list[tuple[object, object]]:
    """S: the (condition, action) pairs of the scheduler; exactly one holds when it moves."""
    model, ops = par.model, par.ops
    exit_enter, exit_leave, reaper_enter, reaper_leave = model.actions
    e, q = (_t(ops, p) for p in state)
    m, n = par.lengths
    key = _t(ops, ops.lookup(par.reaper, state[1] // 2))
    inside = _t(ops, state[1] % 2) == 1
    meet = z3.And(z3.Not(inside), q < 2 * n, e == 2 * key + 1)
    other = z3.And(z3.Not(inside), z3.Not(meet), e < 2 * m)
    return [(inside, reaper_leave), (meet, reaper_enter),
            (z3.And(other, _t(ops, state[0] % 2) == 0), exit_enter),
            (z3.And(other, _t(ops, state[0] % 2) == 1), exit_leave)]


def forward_reaches_reapable(timeout_s=None, order: str = "forward") -> Proof:
    """Every layout has a schedule of the forward walk with n collisions.

    `order="reverse"` runs the same argument on the reverse walk, where it must fail."""
    par = parametric(order)
    model, ops = par.model, par.ops
    m, n = par.lengths

    def inv(state, c):
        e, q = state
        et, qt, parity = _t(ops, e), _t(ops, q), _t(ops, q % 2)
        key = _t(ops, ops.lookup(par.reaper, q // 2))
        return z3.And(0 <= et, et <= 2 * m, 0 <= qt, qt <= 2 * n, 2 * c == qt + parity,
                      z3.Implies(qt < 2 * n, et <= 2 * key + 1),
                      z3.Implies(parity == 1, et == 2 * key + 1))

    pre = _positions(ops)
    c = z3.Int("c")
    done = z3.And(_t(ops, pre[0]) == 2 * m, _t(ops, pre[1]) == 2 * n)
    moves = strategy(par, pre)
    obligations = [
        ("initial state", inv(_init(model, ops), z3.IntVal(0))),
        ("progress", z3.Implies(z3.And(inv(pre, c), z3.Not(done)),
                                z3.Or(*(cond for cond, _ in moves)))),
        ("end", z3.Implies(z3.And(inv(pre, c), done), c == n)),
    ]
    for cond, action in moves:
        post = model.update(pre, action, ops)
        hit = is_collision(model, pre, post, ops)
        obligations.append((f"move {action.name}", z3.Implies(
            z3.And(inv(pre, c), cond),
            z3.And(ops.to_bool(real_guard(par, pre, action)), inv(post, c + _one(ops, hit))))))
    return _check(obligations, layout_facts(par), timeout_s)


# -- bounded model checking -----------------------------------------------------------------


def _schedule(model: WalkProduct, ops: Z3Ops, steps: int, guard, name: str):
    """`steps` symbolic steps from Init, integers as `ops.width`-bit vectors:
    (choices, states, collision count, constraints). The count is a bit-vector too
    (at most `steps`, which the widths used here hold), so the problem is pure bit-vector
    and Z3 bit-blasts it: much faster than integer division in its arithmetic solver."""
    actions = model.actions
    width = ops.width
    state = _init(model, ops)
    choices, states, constraints = [], [state], []
    one, zero = z3.BitVecVal(1, width), z3.BitVecVal(0, width)
    count = zero
    for t in range(steps):
        a = z3.BitVec(f"{name}_action{t}", 2)  # the four actions of granularity vma
        choices.append(a)
        after = _positions(ops, f"{name}_{t + 1}_")
        options = []
        for i, action in enumerate(actions):
            moved = model.update(state, action, ops)
            options.append(z3.And(a == i, ops.to_bool(guard(state, action)),
                                  *(_t(ops, x) == _t(ops, y) for x, y in zip(after, moved))))
        constraints.append(z3.Or(*options))
        count = count + _one(ops, is_collision(model, state, after, ops), one, zero)
        state = after
        states.append(state)
    return choices, states, count, constraints


def _exact(ops: Z3Ops, constraints, timeout_s):
    """Bit-vector runs are integer runs: no operation on any unrolled run leaves the width
    (z3ops records one condition per operation). Returns the query's Outcome: unsat = exact."""
    if not ops.exact:
        return None
    return check(constraints + [z3.Not(z3.And(*ops.exact))], timeout_s, "QF_BV")


def bounded_upper(order: str, k: int, timeout_s=None, at_most: int | None = None) -> Proof:
    """No schedule of any layout of 1..k VMAs collides more than 1 (reverse) or n (forward)
    times (or `at_most`): every schedule has 2m + 2n <= 4k steps, all are unrolled."""
    par = bounded_parametric(order, k)
    _, _, count, constraints = _schedule(
        par.model, par.ops, 4 * k, lambda s, a: real_guard(par, s, a), f"bmc_{order}")
    bound = at_most if at_most is not None else 1 if order == "reverse" else par.reapable
    exact = _exact(par.ops, par.constraints + constraints, timeout_s)
    if exact is not None and exact.result != z3.unsat:
        return Proof("unknown", exact.seconds, "bit-vector width not shown exact"
                     + (f" (solver unknown: {exact.reason})" if exact.reason else ""))
    outcome = check(par.constraints + constraints + [z3.UGT(count, bound)], timeout_s, "QF_BV")
    seconds = outcome.seconds + (exact.seconds if exact else 0.0)
    status = verdict(outcome.result)
    if status == "violated":
        return Proof(status, seconds, "a schedule exceeds the bound")
    return Proof(status, seconds, outcome.reason and f"solver unknown ({outcome.reason})")


def witness_layout(k: int, n: int) -> Layout:
    """k one-page VMAs with one-page gaps; n of them reapable (private), spread out, the
    rest shared (not reapable)."""
    reapable = {j * k // n for j in range(n)} if n else set()
    page = 4096
    vmas = [Vma((2 * i + 1) * page, (2 * i + 2) * page, "rw-p" if i in reapable else "rw-s",
                lineno=i + 1) for i in range(k)]
    return Layout.checked(f"witness-{k}-{n}", vmas)


@dataclass(frozen=True)
class Witness:
    status: str  # holds (target reached, nothing above) | violated | unknown
    seconds: float
    layout: Layout
    target: int
    schedule: tuple  # the Actions of the schedule reaching the target
    replayed: int | None  # its collisions, recounted by engines/schedule.replay


def concrete_worst(layout: Layout, order: str, target: int, timeout_s=None) -> Witness:
    """Z3 over every schedule of one layout: some schedule reaches `target` collisions (the
    schedule is decoded and replayed), and none reaches target + 1."""
    model = WalkProduct.build(layout, WalkConfig(order=order, granularity="vma"))
    steps = 2 * sum(len(walk) for walk in model.items)
    ops = Z3Ops(width=(2 * steps + 2).bit_length() + 2)  # positions <= steps, and -1
    choices, states, count, constraints = _schedule(
        model, ops, steps, lambda s, a: model.guard(s, a, ops), "witness")
    done = ops.to_bool(model.done(states[-1], ops))
    exact = _exact(ops, constraints, timeout_s)
    if exact is not None and exact.result != z3.unsat:
        return Witness("unknown", exact.seconds, layout, target, (), None)
    reach = check(constraints + [done, z3.UGE(count, target)], timeout_s, "QF_BV")
    above = check(constraints + [done, z3.UGE(count, target + 1)], timeout_s, "QF_BV")
    schedule, replayed = (), None
    if reach.result == z3.sat:
        schedule = tuple(model.actions[reach.value(a)] for a in choices)
        replayed = replay(model, schedule).collisions
    if reach.result == z3.sat and above.result == z3.unsat and replayed == target:
        status = "holds"
    elif z3.unknown in (reach.result, above.result):
        status = "unknown"
    else:
        status = "violated"
    seconds = reach.seconds + above.seconds + (exact.seconds if exact else 0.0)
    return Witness(status, seconds, layout, target, schedule, replayed)
