"""Interval evaluation of a model: a third `ops`, used to bound every integer a run can hold.

The BMC engine (engines/symbolic/bmc.py) computes in W-bit bit-vectors, which is exact only if no
operation on any run leaves the W-bit range. Proving that with the solver is as hard as
the question itself (it is a counting argument), so the engine first tries this cheap
abstract interpretation of the SAME model code: every state entry is an interval, every
boolean is True, False or MAYBE, `If` on MAYBE joins both branches, guards that are surely
false drop their action, and the state at time t+1 is the join of every possibly enabled
action's update (and of the state itself, for stutter). Every integer a guard, update or
predicate computes on a run of at most `depth` steps lies in the interval computed for it
at its step, so if every interval stays within +-2**(W-2), every bit-vector operation
(including the intermediate ones of Z3Ops' floor division) is exact in W bits.

>>> ops = IntervalOps()
>>> p = Interval(0, 6, ops)
>>> (p // 2).bounds(), (p % 2).bounds(), ops.lookup([5, 9, 7], p // 2).bounds()
((0, 3), (0, 1), (-1, 9))
>>> ops.peak
9
"""
from __future__ import annotations

from ...model.ops import MISSING


class Unbounded(Exception):
    """The interval evaluation cannot bound some value (e.g. a division by an interval
    containing 0): exactness must be proved another way."""


class _Maybe:
    """A boolean that may be true or false."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MAYBE"

    def __bool__(self):
        raise TypeError("an interval comparison reached Python control flow; use ops.If")


MAYBE = _Maybe()


def _tri(certainly: bool, possibly: bool):
    return True if certainly else (MAYBE if possibly else False)


class Interval:
    """An integer known to lie in [lo, hi]; Python's operators give intervals / tri-bools."""

    __slots__ = ("lo", "hi", "ops")

    def __init__(self, lo: int, hi: int, ops: "IntervalOps"):
        self.lo, self.hi, self.ops = lo, hi, ops
        ops.saw(lo, hi)

    def bounds(self) -> tuple[int, int]:
        return self.lo, self.hi

    def __repr__(self) -> str:
        return f"[{self.lo}, {self.hi}]"

    def __bool__(self):
        raise TypeError("an interval reached Python control flow; use ops.If")

    __hash__ = None

    # -- arithmetic -------------------------------------------------------------------------
    def _other(self, o) -> "Interval":
        return self.ops.interval(o)

    def __add__(self, o):
        o = self._other(o)
        return Interval(self.lo + o.lo, self.hi + o.hi, self.ops)

    __radd__ = __add__

    def __sub__(self, o):
        o = self._other(o)
        return Interval(self.lo - o.hi, self.hi - o.lo, self.ops)

    def __rsub__(self, o):
        return self._other(o) - self

    def __mul__(self, o):
        o = self._other(o)
        corners = [a * b for a in (self.lo, self.hi) for b in (o.lo, o.hi)]
        return Interval(min(corners), max(corners), self.ops)

    __rmul__ = __mul__

    def __neg__(self):
        return Interval(-self.hi, -self.lo, self.ops)

    def __pos__(self):
        return self

    def __floordiv__(self, o):
        o = self._other(o)
        if o.lo <= 0 <= o.hi:
            raise Unbounded(f"division by {o}, which may be 0")
        corners = [a // b for a in (self.lo, self.hi) for b in (o.lo, o.hi)]
        return Interval(min(corners), max(corners), self.ops)  # floor division is monotone

    def __rfloordiv__(self, o):
        return self._other(o) // self

    def __mod__(self, o):
        o = self._other(o)
        if o.lo <= 0 <= o.hi:
            raise Unbounded(f"modulo by {o}, which may be 0")
        if o.lo == o.hi and self.lo // o.lo == self.hi // o.lo:  # within one period
            return Interval(self.lo % o.lo, self.hi % o.lo, self.ops)
        if o.lo > 0:
            return Interval(0, o.hi - 1, self.ops)
        return Interval(o.lo + 1, 0, self.ops)

    def __rmod__(self, o):
        return self._other(o) % self

    def __abs__(self):
        if self.lo >= 0:
            return self
        if self.hi <= 0:
            return -self
        return Interval(0, max(-self.lo, self.hi), self.ops)

    # -- comparisons (True, False or MAYBE) ----------------------------------------------------
    def __eq__(self, o):
        o = self._other(o)
        return _tri(self.lo == self.hi == o.lo == o.hi, self.lo <= o.hi and o.lo <= self.hi)

    def __ne__(self, o):
        eq = self == o
        return MAYBE if eq is MAYBE else not eq

    def __lt__(self, o):
        o = self._other(o)
        return _tri(self.hi < o.lo, self.lo < o.hi)

    def __le__(self, o):
        o = self._other(o)
        return _tri(self.hi <= o.lo, self.lo <= o.hi)

    def __gt__(self, o):
        return self._other(o) < self

    def __ge__(self, o):
        return self._other(o) <= self


def join(a, b, ops: "IntervalOps"):
    """The least value covering both: an interval, or a tri-bool."""
    if _is_bool(a) or _is_bool(b):
        return a if a is b or (a is not MAYBE and a == b) else MAYBE
    a, b = ops.interval(a), ops.interval(b)
    return Interval(min(a.lo, b.lo), max(a.hi, b.hi), ops)


def _is_bool(x) -> bool:
    return x is MAYBE or isinstance(x, bool)


class IntervalOps:
    """The five names of ConcreteOps over intervals and tri-bools; `peak` is the largest
    absolute value of any integer produced so far."""

    def __init__(self):
        self.peak = 0

    def saw(self, lo: int, hi: int) -> None:
        self.peak = max(self.peak, abs(lo), abs(hi))

    def interval(self, x) -> Interval:
        if isinstance(x, Interval):
            return x
        if x is MAYBE:
            return Interval(0, 1, self)
        return Interval(int(x), int(x), self)

    def truth(self, x):
        """x as True / False / MAYBE (an integer is true when non-zero)."""
        if _is_bool(x):
            return x
        if isinstance(x, Interval):
            return _tri(x.lo > 0 or x.hi < 0, not x.lo == x.hi == 0)
        return bool(x)

    def If(self, cond, then, other):
        c = self.truth(cond)
        if c is MAYBE:
            return join(then, other, self)
        return then if c else other

    def And(self, *xs):
        values = [self.truth(x) for x in xs]
        return False if False in values else (MAYBE if MAYBE in values else True)

    def Or(self, *xs):
        values = [self.truth(x) for x in xs]
        return True if True in values else (MAYBE if MAYBE in values else False)

    def Not(self, x):
        c = self.truth(x)
        return MAYBE if c is MAYBE else not c

    def lookup(self, table, index):
        if not isinstance(index, Interval):
            return table[index] if 0 <= index < len(table) else MISSING
        lo, hi = max(index.lo, 0), min(index.hi, len(table) - 1)
        values = [table[k] for k in range(lo, hi + 1)]
        if index.lo < 0 or index.hi >= len(table):
            values.append(MISSING)
        return Interval(min(values), max(values), self)


def state_join(a: tuple, b: tuple, ops: IntervalOps) -> tuple:
    return tuple(join(x, y, ops) for x, y in zip(a, b))


def _key(value):
    if isinstance(value, Interval):
        return ("i", value.lo, value.hi)
    return ("v", value)


def peak(model, depth: int, step_predicates=(), state_predicates=()) -> int:
    """The largest absolute value of any integer that `model` (its guards, updates, `done`)
    and the given predicates compute on any run of at most `depth` steps from init, as
    the engine builds them, bounded by interval evaluation. Raises Unbounded when it
    cannot say.

    state_predicates take (model, state, ops) and are evaluated at every time step;
    step_predicates take (model, before, after, ops) and are evaluated, like the engine's
    step weights, on the state at t and the (joined) state at t+1.
    """
    ops = IntervalOps()
    state = tuple(model.init())
    for v in state:
        ops.saw(int(v), int(v))
    for t in range(depth + 1):
        ops.truth(model.done(state, ops))
        for predicate in state_predicates:
            ops.truth(predicate(model, state, ops))
        if t == depth:
            break
        nxt = state  # stutter
        for action in model.actions:
            if ops.truth(model.guard(state, action, ops)) is not False:
                nxt = state_join(nxt, tuple(model.update(state, action, ops)), ops)
        for predicate in step_predicates:
            ops.truth(predicate(model, state, nxt, ops))
        if [_key(v) for v in nxt] == [_key(v) for v in state]:
            break  # a fixpoint: every later step computes exactly what this one did
        state = nxt
    return ops.peak
