"""`reapcheck verify --engine z3`: the protocol properties by bounded model checking.

The same model (model/protocol.py) and the same property predicates
(properties/protocol.py) as the explicit checker, evaluated with Z3Ops by engines/bmc.py.
For each property the solver looks for the shortest run to a state where it fails. The
search deepens one step at a time and stops when no action is enabled at the current
depth in any run: then every reachable state has been covered and a `holds` is a proof
for this layout, not a bounded one. A solver `unknown` stays `unknown`.
"""
from __future__ import annotations

from . import bmc

DEFAULT_DEPTH = 24  # steps; deeper runs are left `incomplete` (see README)


def check_protocol(model, properties, depth: int = DEFAULT_DEPTH,
                   timeout_ms: int | None = None, progress=None):
    """A Verification (see verify.py) with one verdict per property."""
    from ..verify import Verification

    statuses, traces, notes = {}, {}, {}
    complete = True
    for number, prop in enumerate(properties):
        if progress is not None:
            progress(number, len(properties))

        def bad(m, s, ops, prop=prop):
            return ops.Not(prop.holds_in(m, s, ops))

        result = bmc.find_violation(model, bad, depth, timeout_ms)
        statuses[prop.name] = result.verdict
        notes[prop.name] = {"depth": result.depth}
        if result.reason_unknown:
            notes[prop.name]["reason_unknown"] = result.reason_unknown
        if result.verdict == "violated":
            states = result.states
            traces[prop.name] = [(action, states[i], states[i + 1])
                                 for i, action in enumerate(result.trace)]
        complete = complete and result.verdict in ("holds", "violated")
    return Verification(model, "z3", statuses, traces, None, None, complete, notes)
