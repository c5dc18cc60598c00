"""Python-source operators for model definitions: the fourth twin of model/ops.py.

ConcreteOps computes values, engines/symbolic/z3ops.py builds Z3 terms, engines/promela_ops.py
Promela text; `PyOps` builds Python expression text, so engines/explicit/compiled.py can turn the
SAME guards, updates, properties and progress measure into straight-line successor code,
one function per control location, with the layout's constants folded in.

State entries are `PyExpr` atoms named after the model's variables (or Python ints where
the control location fixes them); Python operators on them give new `PyExpr`s, fully
parenthesized, remembering the variables they read. Python ints and bools fold: `If` on a
constant picks a branch, `And`/`Or` drop neutral constants and stop at an absorbing one,
so a rule whose guard the location or the configuration decides disappears.

Semantics kept equal to ConcreteOps on the values a model holds:
- `And`/`Or` render as Python's short-circuit `and`/`or`: the operands have no effects,
  and the value is only ever used as a truth value (guards, `If` conditions).
- `lookup(table, i)` renders as `T[i]` over the table padded with one MISSING entry at
  the end: index len(table) (a walk's end position) and -1 (MISSING itself, as in
  `lookup(reapable, lookup(seq, pos))`) both give MISSING, as ConcreteOps does. Any
  other index out of range raises IndexError at run time instead of giving MISSING;
  the protocol's positions never leave [0, len] (its type invariant). A lookup whose
  index is itself a lookup is composed into one table at generation time.
- An `x + k` or `x - k` remembers that it is `x` shifted by the constant k (`affine`),
  so an update `p := p + 1` becomes a constant delta on the packed state.
Using a `PyExpr` in Python control flow (`if p == 0:`) raises SymbolicBranch.

>>> ops = PyOps()
>>> p = ops.var("p")
>>> ops.If(ops.lookup((3, 1), p) == 1, p + 1, 0).text
'((p + 1) if (T0[p] == 1) else 0)'
"""
from __future__ import annotations

from ...model.ops import MISSING
from ...model.ops import SymbolicBranch


def _const(x) -> bool:
    return isinstance(x, (bool, int)) and not isinstance(x, PyExpr)


class PyExpr:
    """A Python expression: its text, the variables it reads, and two shapes it may have
    (`affine`: (variable, k) for variable + k; `lut`: (table, index) for a lookup)."""

    __slots__ = ("text", "reads", "affine", "lut")

    def __init__(self, text: str, reads: frozenset = frozenset(), affine=None, lut=None):
        self.text, self.reads, self.affine, self.lut = text, reads, affine, lut

    def __repr__(self) -> str:
        return f"PyExpr({self.text})"

    def __bool__(self):
        raise SymbolicBranch(f"Python expression {self.text} used as a bool while generating "
                             "code; write the branch with ops.If/And/Or/Not")

    __hash__ = object.__hash__

    def __add__(self, o): return _arith("+", self, o)
    def __radd__(self, o): return _arith("+", o, self)
    def __sub__(self, o): return _arith("-", self, o)
    def __rsub__(self, o): return _arith("-", o, self)
    def __mul__(self, o): return _arith("*", self, o)
    def __rmul__(self, o): return _arith("*", o, self)
    def __floordiv__(self, o): return _arith("//", self, o)
    def __rfloordiv__(self, o): return _arith("//", o, self)
    def __mod__(self, o): return _arith("%", self, o)
    def __rmod__(self, o): return _arith("%", o, self)
    def __neg__(self): return PyExpr(f"(-{self.text})", self.reads)
    def __pos__(self): return self
    def __eq__(self, o): return _binary("==", self, o)
    def __ne__(self, o): return _binary("!=", self, o)
    def __lt__(self, o): return _binary("<", self, o)
    def __le__(self, o): return _binary("<=", self, o)
    def __gt__(self, o): return _binary(">", self, o)
    def __ge__(self, o): return _binary(">=", self, o)


def text(x) -> str:
    """The Python source of a PyExpr or a constant (bools as 1 and 0)."""
    if isinstance(x, PyExpr):
        return x.text
    if _const(x):
        return str(int(x))
    raise TypeError(f"cannot render {type(x).__name__} {x!r} as Python source")


def reads(x) -> frozenset:
    return x.reads if isinstance(x, PyExpr) else frozenset()


def _binary(op: str, a, b) -> PyExpr:
    return PyExpr(f"({text(a)} {op} {text(b)})", reads(a) | reads(b))


def _arith(op: str, a, b):
    if _const(a) and _const(b):
        return {"+": a + b, "-": a - b, "*": a * b, "//": a // b, "%": a % b}[op]
    out = _binary(op, a, b)
    if op in "+-" and isinstance(a, PyExpr) and _const(b):
        base, k = a.affine if a.affine else (None, None)
        if base is not None:
            out.affine = (base, k + b if op == "+" else k - b)
    if op == "+" and isinstance(b, PyExpr) and _const(a) and b.affine:
        out.affine = (b.affine[0], b.affine[1] + a)
    return out


class PyOps:
    """The five names of ConcreteOps, building Python source text.

    `tables` maps each generated table name (`T0`, `T1`, ...) to its padded tuple; the
    code that runs the text must define those names."""

    def __init__(self):
        self.tables: dict[str, tuple] = {}
        self._names: dict[tuple, str] = {}

    @staticmethod
    def var(name: str) -> PyExpr:
        return PyExpr(name, frozenset([name]), affine=(name, 0))

    def If(self, cond, then, other):
        if _const(cond):
            return then if cond else other
        if _const(then) and _const(other) and int(then) == int(other):
            return then
        return PyExpr(f"({text(then)} if {text(cond)} else {text(other)})",
                      reads(cond) | reads(then) | reads(other))

    def And(self, *xs):
        return self._junction(xs, "and", absorbing=False)

    def Or(self, *xs):
        return self._junction(xs, "or", absorbing=True)

    @staticmethod
    def _junction(xs, word: str, absorbing: bool):
        kept = []
        for x in xs:
            if _const(x):
                if bool(x) == absorbing:
                    return absorbing
                continue
            kept.append(x)
        if not kept:
            return not absorbing
        if len(kept) == 1:
            return kept[0]
        return PyExpr("(" + f" {word} ".join(text(x) for x in kept) + ")",
                      frozenset().union(*(reads(x) for x in kept)))

    @staticmethod
    def Not(x):
        if _const(x):
            return not x
        return PyExpr(f"(not {text(x)})", x.reads)

    def lookup(self, table, index):
        table = tuple(int(t) for t in table)
        if _const(index):
            index = int(index)
            return table[index] if 0 <= index < len(table) else MISSING
        if index.lut is not None:  # lookup(table, lookup(inner, i)): one composed table
            inner, index = index.lut
            table = tuple(table[t] if 0 <= t < len(table) else MISSING for t in inner)
        if table and all(t == table[0] for t in table) and table[0] == MISSING:
            return MISSING
        name = self._names.get(table)
        if name is None:
            name = self._names[table] = f"T{len(self._names)}"
            self.tables[name] = table + (MISSING,)
        return PyExpr(f"{name}[{index.text}]", index.reads, lut=(table, index))
