"""Symbolic operators for model definitions: the Z3 twin of model/ops.py's ConcreteOps.

A model's guards, updates and properties are written once, against an `ops` object with
five names (If, And, Or, Not, lookup). The explorer passes ConcreteOps and plain ints;
the BMC engine (engines/symbolic/bmc.py) passes a `Z3Ops` and state entries that are `SymInt`s,
so the SAME Python code builds Z3 terms instead of computing values.

Integers. `Z3Ops(width=None)` makes every integer a z3 Int (exact, but Z3's arithmetic
solver is slow on these unrollings: about 3 s for a 6-item walk product that takes 0.1 s
in bit-vectors); `Z3Ops(width=W)` makes them W-bit two's-complement bit-vectors, which
Z3 bit-blasts to SAT. Bit-vectors wrap around, so in that mode every `+ - * // %` and
unary minus a model performs also records a Bool in `Z3Ops.exact`: true when that
operation did not leave the W-bit range. The engine uses a width only when no run can
make any of them false (then the bit-vector run IS the integer run, operation by
operation): proved beforehand by interval evaluation (engines/symbolic/intervals.py), or else by
the solver; a Python constant that does not fit raises WidthTooSmall at once.

`SymInt` exists because model code uses Python operators on state entries, and z3's
ArithRef has no `//` (its `/` is integer division on Ints, truncating on bit-vectors).
SymInt supplies `//` and `%` with Python's floor semantics in both modes, the other
arithmetic operators, and comparisons that give z3 Bool terms (signed, for bit-vectors).
Using one in Python control flow (`if p == 0:`) raises SymbolicBranch instead of
silently comparing syntax: branch with `ops.If`.

`lookup(table, index)` over a concrete table and a symbolic index has four encodings
(`Z3Ops(lookup=...)`); all give MISSING outside [0, len(table)), like ConcreteOps:

- ``"runs"`` (default): the table is cut into maximal arithmetic runs
  (t[k] = base + step * (k - start)), and the lookup is an If-chain over the runs,
  ``If(i < 0, MISSING, If(i < e0, b0 + s0*(i - st0), If(i < e1, ...)))``. A walk's keys are
  one run per VMA (granularity ptl) or often one run in all (vma, every VMA in order).
- ``"ite"``: one If per entry, ``If(i == 0, t0, If(i == 1, t1, ...))``.
- ``"array"``: ``Select(Store(...Store(K(sort, MISSING), 0, t0)..., n-1, t_{n-1}), i)``.
- ``"function"``: an uninterpreted function f with the axioms f(k) == t_k (collected in
  `Z3Ops.axioms`; the engine asserts them), guarded by ``If(0 <= i < n, f(i), MISSING)``.

>>> import z3
>>> ops = Z3Ops()
>>> p = ops.int_var("p")
>>> s = z3.Solver()
>>> s.add(ops.lookup([7, 8, 9], p // 2) == 9)
>>> s.check()
sat
>>> s.model()[p.term].as_long() in (4, 5)
True
"""
from __future__ import annotations

import z3

from ...model.ops import MISSING, SymbolicBranch  # noqa: F401 (re-exported)

LOOKUPS = ("runs", "ite", "array", "function")


class WidthTooSmall(ValueError):
    """A constant of the model does not fit the bit-vector width."""


def _concrete(x) -> bool:
    return isinstance(x, (bool, int))


def _is_int_term(t) -> bool:
    return z3.is_int(t) or z3.is_bv(t)


class SymInt:
    """A symbolic integer that behaves like a Python int in model code.

    Arithmetic gives SymInt (through its Z3Ops, which knows Int or bit-vector),
    comparisons give z3 Bool terms, and bool() raises SymbolicBranch.
    """

    __slots__ = ("term", "ops")

    def __init__(self, t, ops: "Z3Ops"):
        if not _is_int_term(t):
            raise TypeError(f"SymInt needs an integer term, not {t.sort()}")
        self.term = t
        self.ops = ops

    def __repr__(self) -> str:
        return f"SymInt({self.term})"

    def __hash__(self) -> int:
        return self.term.hash()

    def __bool__(self):
        raise SymbolicBranch(f"symbolic value {self.term} used as a Python bool; "
                             "write the branch with ops.If/And/Or/Not")

    # -- arithmetic (results are SymInt) ------------------------------------------------------
    def __add__(self, o):
        return self.ops.arith("+", self, o)

    def __radd__(self, o):
        return self.ops.arith("+", o, self)

    def __sub__(self, o):
        return self.ops.arith("-", self, o)

    def __rsub__(self, o):
        return self.ops.arith("-", o, self)

    def __mul__(self, o):
        return self.ops.arith("*", self, o)

    def __rmul__(self, o):
        return self.ops.arith("*", o, self)

    def __floordiv__(self, o):
        return self.ops.arith("//", self, o)

    def __rfloordiv__(self, o):
        return self.ops.arith("//", o, self)

    def __mod__(self, o):
        return self.ops.arith("%", self, o)

    def __rmod__(self, o):
        return self.ops.arith("%", o, self)

    def __neg__(self):
        return self.ops.arith("-", 0, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.ops.If(self >= 0, self, -self)

    # -- comparisons (results are z3 Bool terms) ----------------------------------------------
    def __eq__(self, o):
        return self.term == self.ops.int_term(o)

    def __ne__(self, o):
        return self.term != self.ops.int_term(o)

    def __lt__(self, o):
        return self.term < self.ops.int_term(o)

    def __le__(self, o):
        return self.term <= self.ops.int_term(o)

    def __gt__(self, o):
        return self.term > self.ops.int_term(o)

    def __ge__(self, o):
        return self.term >= self.ops.int_term(o)


def _runs(table) -> list[tuple[int, int, int, int]]:
    """Maximal arithmetic runs of a table: (start, end, base, step) with
    t[k] = base + step * (k - start) for start <= k < end."""
    runs = []
    n = len(table)
    k = 0
    while k < n:
        base = table[k]
        if k + 1 == n:
            runs.append((k, k + 1, base, 0))
            break
        step = table[k + 1] - base
        end = k + 2
        while end < n and table[end] - table[end - 1] == step:
            end += 1
        runs.append((k, end, base, step))
        k = end
    return runs


class Z3Ops:
    """Symbolic evaluation: the five names of ConcreteOps, building z3 terms.

    Concrete arguments are folded (If on a Python bool picks a branch; And/Or drop
    neutral constants), so a definition evaluated on concrete values still gives values.
    One instance per solver run: it caches each table's encoding, collects the axioms of
    the ``"function"`` lookup in `axioms`, and (bit-vectors) the exactness conditions in
    `exact`.
    """

    def __init__(self, lookup: str = "runs", width: int | None = None):
        if lookup not in LOOKUPS:
            raise ValueError(f"lookup must be one of {', '.join(LOOKUPS)}, not {lookup!r}")
        if width is not None and width < 2:
            raise ValueError(f"width must be at least 2 bits, not {width}")
        self.lookup_encoding = lookup
        self.width = width
        self.sort = z3.IntSort() if width is None else z3.BitVecSort(width)
        self.axioms: list = []
        self.exact: list = []
        self._tables: dict[int, tuple[object, object]] = {}  # id(table) -> (table, encoding)
        self._memo: dict[tuple[int, int], SymInt] = {}  # (id(table), index term id) -> value

    # -- values and terms ----------------------------------------------------------------------
    def fits(self, value: int) -> bool:
        return self.width is None or -(1 << (self.width - 1)) <= value < (1 << (self.width - 1))

    def const(self, value: int):
        """A Python int as a term of this integer sort (WidthTooSmall if it does not fit)."""
        value = int(value)
        if self.width is None:
            return z3.IntVal(value)
        if not self.fits(value):
            raise WidthTooSmall(f"{value} does not fit in {self.width} bits")
        return z3.BitVecVal(value, self.width)

    def int_var(self, name: str) -> SymInt:
        return SymInt(z3.Const(name, self.sort), self)

    def term(self, x):
        """The z3 term behind x: unwraps SymInt; Python bools and ints become z3 values."""
        if isinstance(x, SymInt):
            return x.term
        if isinstance(x, z3.ExprRef):
            return x
        if isinstance(x, bool):
            return z3.BoolVal(x)
        if isinstance(x, int):
            return self.const(x)
        raise TypeError(f"cannot make a z3 term of {type(x).__name__} {x!r}")

    def int_term(self, x):
        """x as an integer term (a Bool becomes 1 or 0, as ints encode bools)."""
        t = self.term(x)
        return z3.If(t, self.const(1), self.const(0)) if z3.is_bool(t) else t

    def to_bool(self, x):
        """x as a z3 Bool term; an integer is true when non-zero."""
        t = self.term(x)
        if z3.is_bool(t):
            return t
        if _is_int_term(t):
            return t != self.const(0)
        raise TypeError(f"not a Bool or integer term: {t}")

    def wrap(self, t):
        """Integer terms become SymInt; Bool terms and Python values pass through."""
        if isinstance(t, z3.ExprRef) and _is_int_term(t):
            return SymInt(t, self)
        return t

    def value(self, v) -> int:
        """A model value of this integer sort as a Python int."""
        return v.as_long() if self.width is None else v.as_signed_long()

    # -- arithmetic with Python semantics --------------------------------------------------------
    def arith(self, op: str, a, b) -> SymInt:
        """a op b for + - * // %, with Python's floor division; records exactness."""
        if op in ("//", "%") and _concrete(b):
            if int(b) == 0:
                raise ZeroDivisionError(f"integer {op} by zero in a model definition")
        x, y = self.int_term(a), self.int_term(b)
        if self.width is None:
            if op == "+":
                return SymInt(x + y, self)
            if op == "-":
                return SymInt(x - y, self)
            if op == "*":
                return SymInt(x * y, self)
            q = self._int_floordiv(x, y, b)
            return SymInt(q if op == "//" else x - y * q, self)
        return SymInt(self._bv_arith(op, x, y, b), self)

    @staticmethod
    def _int_floordiv(x, y, b):
        """Floor division on Ints (SMT-LIB div is Euclidean: floor only for y > 0)."""
        if _concrete(b):
            return x / y if int(b) > 0 else (-x) / (-y)
        return z3.If(y > 0, x / y, (-x) / (-y))

    def _bv_arith(self, op, x, y, b):
        exact = self.exact
        if op == "+":
            exact += [z3.BVAddNoOverflow(x, y, True), z3.BVAddNoUnderflow(x, y)]
            return x + y
        if op == "-":
            exact += [z3.BVSubNoOverflow(x, y), z3.BVSubNoUnderflow(x, y, True)]
            return x - y
        if op == "*":
            exact += [z3.BVMulNoOverflow(x, y, True), z3.BVMulNoUnderflow(x, y)]
            return x * y
        c = int(b) if _concrete(b) else None
        if c is not None and c > 0 and c & (c - 1) == 0:  # a power of two: shift and mask
            k = c.bit_length() - 1
            return x >> k if op == "//" else x & self.const(c - 1)
        if c is None:
            exact.append(y != self.const(0))
        rem = x % y  # z3's % on bit-vectors is bvsmod: the sign of y, as Python's %
        if op == "%":
            return rem
        exact += [z3.BVSubNoOverflow(x, rem), z3.BVSubNoUnderflow(x, rem, True),
                  z3.BVSDivNoOverflow(x - rem, y)]
        return (x - rem) / y  # exact division: truncation and floor agree

    # -- the five names ----------------------------------------------------------------------
    def If(self, cond, then, other):
        if _concrete(cond):
            return then if cond else other
        c = self.to_bool(cond)
        a, b = self.term(then), self.term(other)
        if z3.is_bool(a) != z3.is_bool(b):  # an int-encoded bool on one side only
            a, b = self.int_term(a), self.int_term(b)
        return self.wrap(z3.If(c, a, b))

    def And(self, *xs):
        if any(_concrete(x) and not x for x in xs):
            return False
        rest = [self.to_bool(x) for x in xs if not _concrete(x)]
        return True if not rest else rest[0] if len(rest) == 1 else z3.And(*rest)

    def Or(self, *xs):
        if any(_concrete(x) and x for x in xs):
            return True
        rest = [self.to_bool(x) for x in xs if not _concrete(x)]
        return False if not rest else rest[0] if len(rest) == 1 else z3.Or(*rest)

    def Not(self, x):
        if _concrete(x):
            return not x
        return z3.Not(self.to_bool(x))

    def lookup(self, table, index):
        if _concrete(index):
            return table[index] if 0 <= index < len(table) else MISSING
        i = self.int_term(index)
        memo_key = (id(table), i.get_id())
        if memo_key in self._memo:
            return self._memo[memo_key]
        enc = self._encoding(table)
        n = len(table)
        kind = self.lookup_encoding
        const = self.const
        if n == 0:
            out = const(MISSING)
        elif kind == "runs":
            out = const(MISSING)
            for start, end, base, step in reversed(enc):
                value = const(base) if step == 0 else const(base) + const(step) * (i - const(start))
                out = z3.If(i < const(end), value, out)
            out = z3.If(i < const(0), const(MISSING), out)
        elif kind == "ite":
            out = const(MISSING)
            for k in range(n - 1, -1, -1):
                out = z3.If(i == const(k), const(table[k]), out)
        elif kind == "array":
            out = z3.Select(enc, i)
        else:  # function
            out = z3.If(z3.And(const(0) <= i, i < const(n)), enc(i), const(MISSING))
        out = SymInt(out, self)
        self._memo[memo_key] = out
        return out

    def _encoding(self, table):
        """The per-table part of a lookup, built once per table."""
        hit = self._tables.get(id(table))
        if hit is not None and hit[0] is table:
            return hit[1]
        kind = self.lookup_encoding
        values = [int(v) for v in table]
        for v in (MISSING, len(values), *values):  # every constant a lookup can produce
            self.const(v)
        if kind == "runs":
            enc = _runs(values)
            for start, end, base, step in enc:  # in-range arithmetic of a run must be exact
                for v in (step, step * (end - 1 - start), base + step * (end - 1 - start)):
                    self.const(v)
        elif kind == "array":
            enc = z3.K(self.sort, self.const(MISSING))
            for k, v in enumerate(values):
                enc = z3.Store(enc, self.const(k), self.const(v))
        elif kind == "function":
            enc = z3.Function(f"table{len(self._tables)}", self.sort, self.sort)
            self.axioms.extend(enc(self.const(k)) == self.const(v) for k, v in enumerate(values))
        else:
            enc = None
        self._tables[id(table)] = (table, enc)  # keeps the table alive, so its id stays unique
        return enc
