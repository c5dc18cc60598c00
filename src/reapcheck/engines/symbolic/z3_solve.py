"""One Z3 query: its verdict, a model reader, and honest unknowns.

Every query is translated into a fresh Z3 context before it is solved. Z3 numbers terms in
the order they are created, and its search (and so the model it returns) depends on those
numbers; a fresh context numbers the query's terms by the query alone. So the same query
gives the same model whatever was built before it, in this process or another: the
counterexamples and witnesses that prove.py prints are reproducible.

`result` is z3.sat, z3.unsat or z3.unknown (a timeout, or a solver giving up): callers turn
unsat of a negated claim into `holds`, sat into `violated`, and unknown into `unknown`,
never into `holds` (docs/model.md §5).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import z3


@dataclass
class Outcome:
    result: object  # z3.sat | z3.unsat | z3.unknown
    seconds: float
    reason: str | None  # why unknown
    _model: object = None
    _ctx: object = None

    def value(self, term):
        """The model's value of `term` (a term of the main context), as a Python value."""
        got = self._model.eval(term.translate(self._ctx), model_completion=True)
        if z3.is_true(got) or z3.is_false(got):
            return z3.is_true(got)
        return got.as_long()


def check(assertions, timeout_s: float | None = None, logic: str | None = None,
          maximize=(), minimize=()) -> Outcome:
    """Solve `assertions` (with objectives: lexicographically, in the order given, each
    maximize before the minimize of the same position) in a fresh context."""
    ctx = z3.Context()
    optimizing = bool(maximize or minimize)
    if optimizing:
        solver = z3.Optimize(ctx=ctx)
    else:
        solver = z3.SolverFor(logic, ctx=ctx) if logic else z3.Solver(ctx=ctx)
    if timeout_s is not None:
        solver.set("timeout", max(1, int(timeout_s * 1000)))
    for a in assertions:
        solver.add(z3.BoolVal(a, ctx) if isinstance(a, bool) else a.translate(ctx))
    for i in range(max(len(maximize), len(minimize))):
        if i < len(maximize):
            solver.maximize(maximize[i].translate(ctx))
        if i < len(minimize):
            solver.minimize(minimize[i].translate(ctx))
    start = time.perf_counter()
    result = solver.check()
    seconds = time.perf_counter() - start
    if result == z3.sat:
        return Outcome(result, seconds, None, solver.model(), ctx)
    reason = solver.reason_unknown() if result == z3.unknown else None
    return Outcome(result, seconds, reason)


def verdict(result) -> str:
    """unsat of a negated claim: holds; sat: violated; anything else: unknown."""
    if result == z3.unsat:
        return "holds"
    if result == z3.sat:
        return "violated"
    return "unknown"


def check_valid(obligations, facts, timeout_s: float | None = None):
    """(status, seconds, reason): each (name, formula) must be valid under the facts (its
    negation unsatisfiable). `holds` when all are; else `unknown` with the reasons (a
    failed inductive step is not a violation: induction is incomplete)."""
    seconds, reasons = 0.0, []
    for name, formula in obligations:
        outcome = check(list(facts) + [z3.Not(formula)], timeout_s)
        seconds += outcome.seconds
        if outcome.result == z3.sat:
            reasons.append(f"{name}: not inductive (Z3 found a counterexample to induction)")
        elif outcome.result != z3.unsat:
            reasons.append(f"{name}: solver unknown ({outcome.reason})")
    return ("unknown" if reasons else "holds"), seconds, "; ".join(reasons) or None
