"""The protocol properties for every layout of any number of VMAs, proved with Z3.

`AnyLayout` is model/protocol.py's `Protocol` itself (every guard, update and property is
the same code) with the three layout-derived values replaced by symbolic ones:

- the VMA count N is a parameter (`vmas`, an Int fixed for the whole run, N >= 0);
- the visit sequence is the one the iterator claims proved (prove.py, engines/symbolic/z3_maple.py):
  `forward` visits 0, 1, ..., N - 1 and `rev_find` N - 1, ..., 0, each VMA once, so the
  reaper's position p visits VMA p (forward) or N - 1 - p (rev_find), a SymTable of
  length N (engines/symbolic/z3_collisions.py);
- which VMAs are reapable is left open: each visit reads its reapable flag as an input
  (`reapable_visit`, 0 or 1, chosen anew at every step). That allows every layout's flags
  and more (a VMA read twice may read two values), so a proof covers every layout; the
  parameter `no_reapable` (1: no VMA is reapable, so every flag reads 0) keeps
  `reaped_when_attempt_succeeds` exact for a layout with nothing to reap.

Proof of one property (engines/symbolic/chc.py, every invariant re-checked by the plain solver):
1. the support invariant: model/protocol.py's lock accounting and type bounds, kept by
   Houdini where inductive together (`chc.houdini`);
2. termination, for the `at_terminal` properties: every step increases one actor's
   progress tuple lexicographically (`Protocol.progress_ranks`), the tuples bounded;
3. the property: excluded by the support alone (one query), or inductive with it, or
   shown reachable by a bounded search of at most 24 steps, or by Spacer with the
   support assumed (`chc.prove_relative`).
A result of `violated` (a failing state reachable for some N and flags) is turned
into a counterexample by the explicit engine on every layout of 1..K VMAs (every flag
pattern; small_layouts.py, outside the engines); the layout and its shortest trace are what `reapcheck replay` re-runs. Unknown
or out of time is `unknown`, never `holds`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import z3

from ...model.protocol import Protocol, ProtocolConfig
from ...properties.protocol import PROPERTIES
from . import chc
from .z3_collisions import ParametricOps, SymTable
from .z3ops import SymInt

ANY_LAYOUT_WALKS = ("forward", "rev_find")


class AnyLayout(Protocol):
    """Protocol over every layout: N VMAs, the walk's proved visit order, any flags."""

    parameter_names = ("vmas", "no_reapable")

    def __init__(self, config: ProtocolConfig):
        if config.walk not in ANY_LAYOUT_WALKS:
            raise ValueError(f"the walk of a proof for any layout must be one of "
                             f"{', '.join(ANY_LAYOUT_WALKS)}, not {config.walk!r}")
        self.layout, self.config = None, config
        self._ops = ParametricOps()
        n, none, flag = z3.Int("vmas"), z3.Int("no_reapable"), z3.Int("reapable_visit")
        self.vmas = self.walk_len = SymInt(n, self._ops)
        key = (lambda i: i) if config.walk == "forward" else (lambda i: n - 1 - i)
        self.seq = SymTable("visits", key, n)
        self.reapable = SymTable("reapable", lambda i: flag, n)
        self.seq_complete = True  # the iterator claims (assumptions of every claim here)
        self.seq_covers_reapable = True
        self.nothing_to_reap = none == 1
        self.parameters = (self.vmas, SymInt(none, self._ops))
        self.inputs = (flag,)
        self.facts = [n >= 0, 0 <= none, none <= 1, 0 <= flag, flag <= 1 - none]

    def symbolic_ops(self) -> ParametricOps:
        return self._ops


def support_candidates(model, s, ops) -> dict:
    """The support invariant's candidates: model/protocol.py's candidate_invariants."""
    return model.candidate_invariants(s, ops)


@dataclass
class PropertyProof:
    name: str
    status: str  # holds | violated | unknown
    invariant: str | None  # the property's own part (with the support invariant)
    method: str | None  # per part: support | inductive | bmc (violated) | spacer
    reason: str | None
    seconds: float


@dataclass
class ConfigProof:
    """Every property of one configuration, for every layout."""

    config: ProtocolConfig
    support: chc.Support
    termination: chc.SafetyResult
    properties: dict = field(default_factory=dict)  # name -> PropertyProof
    seconds: float = 0.0


def prove_property(model: AnyLayout, prop, support: chc.Support, termination: str,
                   timeout_s: float | None = None, known=()) -> PropertyProof:
    """One property for every layout: each way it can fail (per conjunct) excluded."""
    start = time.perf_counter()
    parts = prop.failures(model, model.init(), model.symbolic_ops())
    invariants, methods = [], []
    status, reason = "holds", None
    for part in range(len(parts)):
        def fails(m, s, ops, part=part):
            return prop.failures(m, s, ops)[part]

        budget = None if timeout_s is None else \
            max(0.001, timeout_s - (time.perf_counter() - start))
        result = chc.prove_relative(model, fails, support, budget, known)
        if result.status != "holds":
            status, reason = result.status, result.reason_unknown
            methods.append(result.method)
            break
        methods.append(result.method)
        if result.invariant is not None:
            invariants.append(result.invariant)
    if status == "holds" and prop.expectation == "at_terminal" and termination != "holds":
        status, reason = "unknown", f"termination (progress ranks) is {termination}"
    return PropertyProof(prop.name, status, " and ".join(invariants) or None,
                         ", ".join(dict.fromkeys(methods)) or None, reason,
                         time.perf_counter() - start)


def prove_config(config: ProtocolConfig, timeout_s: float | None = None,
                 names=None) -> ConfigProof:
    """The support invariant, termination, then each named property (default: all)."""
    start = time.perf_counter()
    model = AnyLayout(config)
    support = chc.houdini(model, support_candidates, timeout_s)
    termination = chc.prove_progress(model, timeout_s, lexicographic=True, support=support)
    out = ConfigProof(config, support, termination)
    for prop in PROPERTIES:
        if names is not None and prop.name not in names:
            continue
        out.properties[prop.name] = prove_property(model, prop, support, termination.status,
                                                   timeout_s)
    out.seconds = time.perf_counter() - start
    return out
