"""Symbolic engines: the same models as Z3 terms (BMC, Horn clauses / Spacer, inductive
invariants)."""
