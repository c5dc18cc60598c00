"""Promela operators for model definitions: the third twin of model/ops.py's ConcreteOps.

The model's guards, updates and properties are written once against an `ops` object
(If, And, Or, Not, lookup). ConcreteOps computes values, engines/symbolic/z3ops.py builds Z3
terms; `PromelaOps` builds Promela expression text, so `reapcheck export` renders the
SAME definition SPIN then checks (promela.py), never a hand-kept copy of the rules.

State entries are `PExpr` atoms named after the model's variables; Python operators on
them (`p + 1`, `p % 2 == 1`, `vma < v["ex_pos"]`) give new `PExpr`s, fully
parenthesized, and remember which variables they read (promela.py orders a rule's
assignments by it). Python ints and bools fold as in Z3Ops: `If` on a constant picks a
branch, `And`/`Or` drop neutral constants, so a rule disabled by a seeded bug
(`ops.And(not blocking, ...)`) renders as the constant 0 and is left out of the file.

Semantics kept equal to Python's:
- `If(c, a, b)` is Promela's conditional expression `(c -> a : b)`; C evaluates only
  the branch taken, so an out-of-range table index in the other branch is never read.
- `lookup(table, i)` is `((0 <= i && i < n) -> name[i] : -1)` over a constant array
  (MISSING = -1 outside the table, as ConcreteOps), declared by promela.py.
- `//` and `%` render as C's `/` and `%`, which truncate toward zero; they agree with
  Python's floor semantics for a non-negative left side. The models divide only
  positions (type_ok: 0 <= p), and `PromelaOps.check_division` refuses a constant
  negative operand.
- Booleans are Promela ints (0, 1), as in C; a comparison gives 0 or 1.
Using a `PExpr` in Python control flow (`if p == 0:`) raises `SymbolicBranch`.

>>> ops = PromelaOps()
>>> p = ops.var("p")
>>> ops.If(p % 2 == 1, ops.lookup(ops.table("keys", [7, 8]), p // 2), -1).text
'(((p % 2) == 1) -> (((0 <= (p / 2)) && ((p / 2) < 2)) -> keys[(p / 2)] : -1) : -1)'
"""
from __future__ import annotations

from dataclasses import dataclass

from ..model.ops import MISSING
from ..model.ops import SymbolicBranch

INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1  # Promela `int` is 32-bit (C int)


class PromelaRangeError(ValueError):
    """A constant of the model does not fit Promela's 32-bit `int`."""


def _concrete(x) -> bool:
    return isinstance(x, (bool, int))


def _const_text(value) -> str:
    value = int(value)
    if not INT_MIN <= value <= INT_MAX:
        raise PromelaRangeError(f"{value} does not fit Promela's 32-bit int")
    return str(value)


class PExpr:
    """A Promela expression: its text and the model variables it reads."""

    __slots__ = ("text", "reads")

    def __init__(self, text: str, reads: frozenset = frozenset()):
        self.text = text
        self.reads = reads

    def __repr__(self) -> str:
        return f"PExpr({self.text})"

    def __bool__(self):
        raise SymbolicBranch(f"Promela expression {self.text} used as a Python bool; "
                             "write the branch with ops.If/And/Or/Not")

    __hash__ = object.__hash__

    def _bin(self, op: str, other, swap: bool = False) -> "PExpr":
        a, b = (other, self) if swap else (self, other)
        return binary(op, a, b)

    def __add__(self, o): return self._bin("+", o)
    def __radd__(self, o): return self._bin("+", o, True)
    def __sub__(self, o): return self._bin("-", o)
    def __rsub__(self, o): return self._bin("-", o, True)
    def __mul__(self, o): return self._bin("*", o)
    def __rmul__(self, o): return self._bin("*", o, True)
    def __floordiv__(self, o): return self._bin("/", o)
    def __rfloordiv__(self, o): return self._bin("/", o, True)
    def __mod__(self, o): return self._bin("%", o)
    def __rmod__(self, o): return self._bin("%", o, True)
    def __neg__(self): return PExpr(f"(-{self.text})", self.reads)
    def __pos__(self): return self
    def __eq__(self, o): return self._bin("==", o)
    def __ne__(self, o): return self._bin("!=", o)
    def __lt__(self, o): return self._bin("<", o)
    def __le__(self, o): return self._bin("<=", o)
    def __gt__(self, o): return self._bin(">", o)
    def __ge__(self, o): return self._bin(">=", o)


def atom(x) -> PExpr:
    """A PExpr for x: PExprs pass through, Python ints and bools become constants."""
    if isinstance(x, PExpr):
        return x
    if _concrete(x):
        return PExpr(_const_text(x))
    raise TypeError(f"cannot render {type(x).__name__} {x!r} in Promela")


def binary(op: str, a, b) -> PExpr:
    if op in ("/", "%"):
        for side in (a, b):
            if _concrete(side) and int(side) < 0:
                raise ValueError(f"Promela {op} truncates; a negative constant {side} would "
                                 "not give Python's floor division")
        if _concrete(b) and int(b) == 0:
            raise ZeroDivisionError(f"integer {op} by zero in a model definition")
    x, y = atom(a), atom(b)
    return PExpr(f"({x.text} {op} {y.text})", x.reads | y.reads)


@dataclass(frozen=True)
class Table:
    """A constant array of the exported model: its Promela name and values."""

    name: str
    values: tuple[int, ...]


class PromelaOps:
    """The five names of ConcreteOps, building Promela expression text.

    Tables are registered with `table(name, values, source=None)`: a lookup in `source`
    (the model's own tuple or list, matched by identity) reads the array `name`. An
    unregistered table is registered under `table<k>` with its own values.
    """

    def __init__(self):
        self.tables: dict[str, Table] = {}
        self._by_source: dict[int, tuple[object, Table]] = {}

    @staticmethod
    def var(name: str) -> PExpr:
        return PExpr(name, frozenset([name]))

    def table(self, name: str, values, source=None) -> Table:
        """Declare the constant array `name`; lookups in `source` (default: `values`)
        read it. Values must fit a 32-bit int."""
        table = Table(name, tuple(int(v) for v in values))
        for v in table.values:
            _const_text(v)
        self.tables[name] = table
        src = values if source is None else source
        self._by_source[id(src)] = (src, table)
        return table

    def _table_for(self, source) -> Table:
        if isinstance(source, Table):
            return source
        hit = self._by_source.get(id(source))
        if hit is not None and hit[0] is source:
            return hit[1]
        return self.table(f"table{len(self.tables)}", list(source), source)

    # -- the five names ---------------------------------------------------------------------
    @staticmethod
    def If(cond, then, other):
        if _concrete(cond):
            return then if cond else other
        c, a, b = atom(cond), atom(then), atom(other)
        if a.text == b.text:
            return then
        return PExpr(f"({c.text} -> {a.text} : {b.text})", c.reads | a.reads | b.reads)

    @staticmethod
    def And(*xs):
        if any(_concrete(x) and not x for x in xs):
            return False
        rest = [atom(x) for x in xs if not _concrete(x)]
        if not rest:
            return True
        if len(rest) == 1:
            return rest[0]
        return PExpr("(" + " && ".join(x.text for x in rest) + ")",
                     frozenset().union(*(x.reads for x in rest)))

    @staticmethod
    def Or(*xs):
        if any(_concrete(x) and x for x in xs):
            return True
        rest = [atom(x) for x in xs if not _concrete(x)]
        if not rest:
            return False
        if len(rest) == 1:
            return rest[0]
        return PExpr("(" + " || ".join(x.text for x in rest) + ")",
                     frozenset().union(*(x.reads for x in rest)))

    @staticmethod
    def Not(x):
        if _concrete(x):
            return not x
        x = atom(x)
        return PExpr(f"(!{x.text})", x.reads)

    def lookup(self, source, index):
        table = self._table_for(source)
        n = len(table.values)
        if _concrete(index):
            return table.values[index] if 0 <= index < n else MISSING
        if n == 0:
            return MISSING
        i = atom(index)
        return PExpr(f"(((0 <= {i.text}) && ({i.text} < {n})) -> {table.name}[{i.text}] : "
                     f"{MISSING})", i.reads)


def is_false(x) -> bool:
    """A folded constant false (a rule a seeded bug disables)."""
    return _concrete(x) and not x


def text(x) -> str:
    """Promela text of a PExpr or a constant."""
    return atom(x).text
