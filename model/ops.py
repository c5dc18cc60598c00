"""Concrete operators for model definitions.

Every guard and update in model/ is written against an `ops` object instead of Python's
own `if`/`and`, so the explicit explorer (these concrete ops, on ints) and the Z3 engine
(symbolic ops, on terms) evaluate the SAME definition. The symbolic twin implements the
same five names.
"""
from __future__ import annotations

MISSING = -1  # what `lookup` gives past either end of a table; never a real key


class SymbolicBranch(TypeError):
    """A symbolic value (a Z3 term, a Promela or generated-Python expression) reached Python
    control flow (`if`, `and`, `or`, `not`, bool()). Here, not in engines/symbolic/z3ops.py, so that
    the code generators need not import Z3."""


class ConcreteOps:
    """Plain Python evaluation."""

    @staticmethod
    def If(cond, then, other):
        return then if cond else other

    @staticmethod
    def And(*xs):
        return all(xs)

    @staticmethod
    def Or(*xs):
        return any(xs)

    @staticmethod
    def Not(x):
        return not x

    @staticmethod
    def lookup(table, index):
        return table[index] if 0 <= index < len(table) else MISSING


CONCRETE = ConcreteOps()
