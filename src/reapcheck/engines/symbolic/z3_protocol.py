"""`reapcheck verify --engine z3`: every protocol property, unbounded, by Z3 alone.

The same model (model/protocol.py) and the same property predicates
(properties/protocol.py) as the explicit checker, evaluated on Z3 terms. Per property:

1. Spacer (engines/symbolic/chc.py) looks for an inductive invariant that excludes every state
   where the property fails. Found and re-checked by the plain solver: ``holds`` for
   every run of any length, and the invariant is reported. Invariants already proved
   (termination's, then earlier properties', named in `relative_to`) restrict the
   steps Spacer considers: they hold in every reachable state, so no run is lost, and
   the reported invariant is inductive together with them (about 4x faster).
2. Spacer shows a failing state reachable: bounded model checking (engines/symbolic/bmc.py)
   deepens one step at a time to the shortest run that reaches one, which becomes the
   trace (the same length as the explicit checker's breadth-first trace).
3. A timeout or a solver giving up is ``unknown``, never ``holds``. When Spacer shows a
   violation but BMC runs out of time before the trace, the verdict is ``incomplete``
   (docs/model.md §5: `violated` comes with a trace).

The `at_terminal` properties (no_deadlock, reaper_terminates) speak about the end of
every schedule; that every schedule ends is proved once per model (chc.prove_progress:
the progress measure grows on every step). Without that proof they are ``unknown``.
"""
from __future__ import annotations

import time

from ..result import Verification
from . import bmc, chc

DEFAULT_TIMEOUT_S = 300.0  # per property; out of time is `unknown`
FIRST_DEPTH, TRACE_DEPTH = 32, 4096  # BMC bounds once Spacer has shown a violation reachable


def check_protocol(model, properties, timeout_s: float | None = DEFAULT_TIMEOUT_S,
                   progress=None):
    """A Verification (engines/result.py) with one verdict per property."""
    statuses, traces, notes = {}, {}, {}
    support = chc.houdini(model, _candidates, timeout_s)
    progress_proof = chc.prove_progress(model, timeout_s, support=support)
    terminates = progress_proof.status
    known = {"support": support.formula}
    if terminates == "holds" and progress_proof.method == "spacer":
        known["termination"] = progress_proof.formula
    # The `always` properties first, split ones last: what is proved helps with the rest.
    order = sorted(properties, key=lambda p: (p.expectation == "at_terminal",
                                              p.conjuncts is not None))
    for number, prop in enumerate(order):
        if progress is not None:
            progress(number, len(properties))
        start = time.perf_counter()
        status, trace, note = _check_one(model, prop, terminates, timeout_s, known, support)
        note["seconds"] = round(time.perf_counter() - start, 3)
        statuses[prop.name], notes[prop.name] = status, note
        if trace is not None:
            traces[prop.name] = trace
    statuses = {p.name: statuses[p.name] for p in properties}
    complete = all(s in ("holds", "violated") for s in statuses.values())
    termination = {"status": terminates, "method": progress_proof.method,
                   "invariant": progress_proof.invariant,
                   "support": chc.render_invariant(support.formula),
                   "support_kept": list(support.kept), "support_dropped": list(support.dropped)}
    if progress_proof.reason_unknown:
        termination["reason_unknown"] = progress_proof.reason_unknown
    return Verification(model, "z3", statuses, traces, None, None, complete, notes, termination)


def _candidates(model, s, ops):
    return model.candidate_invariants(s, ops)


def _check_one(model, prop, terminates: str, timeout_s, known, support):
    """(status, trace or None, notes) of one property."""
    start = time.perf_counter()

    def bad(m, s, ops):
        return ops.Not(prop.holds_in(m, s, ops))

    relative_to = list(known)
    # One Spacer query per way the property can fail (per conjunct): smaller invariants.
    proofs = []
    for part in range(len(prop.failures(model, model.init()))):
        def fails(m, s, ops, part=part):
            return prop.failures(m, s, ops)[part]

        budget = None if timeout_s is None else \
            max(0.001, timeout_s - (time.perf_counter() - start))
        others = [f for name, f in known.items() if name != "support"]
        proofs.append(chc.prove_relative(model, fails, support, budget, others))
        if proofs[-1].status != "holds":
            break
        if proofs[-1].method == "spacer":  # proved: later parts use it
            known[f"{prop.name}[{part}]"] = proofs[-1].formula
    safety = proofs[-1]
    note = {"method": ", ".join(dict.fromkeys(p.method for p in proofs))}
    if safety.status == "holds":
        if len(proofs) == 1 and f"{prop.name}[0]" in known:
            known[prop.name] = known.pop(f"{prop.name}[0]")
        if prop.expectation == "at_terminal" and terminates != "holds":
            return "unknown", None, {**note, "reason_unknown":
                                     f"termination (progress measure) is {terminates}"}
        own = [p.invariant for p in proofs if p.invariant is not None]
        # each part relative to the support (and to the parts before it)
        invariant = (chc.render_invariant(support.formula) if not own else own[0]
                     if len(own) == 1 else "And(" + ", ".join(own) + ")")
        return "holds", None, {**note, "invariant": invariant, "relative_to": relative_to}
    if safety.status == "unknown":
        return "unknown", None, {**note, "reason_unknown": safety.reason_unknown}
    found = _shortest_violation(model, bad, timeout_s, start)
    note = {"method": f"{safety.method or 'spacer'}, then bmc for the shortest trace",
            "depth": found.depth}
    if found.status == "violated":
        states = found.states
        return "violated", [(a, states[i], states[i + 1]) for i, a in enumerate(found.trace)], note
    if found.status == "holds" and found.complete:
        raise AssertionError(f"{prop.name}: Spacer found a violation that BMC proves absent")
    # Spacer shows a violation reachable, but BMC ran out of time before the shortest
    # run: docs/model.md §5 gives `violated` only with a trace, so a limit stopped this search.
    return "incomplete", None, {**note, "reason_no_trace": found.reason_unknown
                                or f"no run of at most {found.depth} steps reached it",
                                "spacer": "violated"}

def _shortest_violation(model, bad, timeout_s, start):
    """BMC at bounds 32, 64, ... TRACE_DEPTH until it finds the shortest violating run.
    Each round deepens one step at a time, so the first run found is a shortest one; the
    bound only caps the work spent per round (the engine's interval pass costs time in
    proportion to it), and doubling costs at most twice the last round."""
    depth = FIRST_DEPTH
    while True:
        remaining = None if timeout_s is None else \
            max(1.0, timeout_s - (time.perf_counter() - start))
        found = bmc.find_violation(model, bad, depth,
                                   None if remaining is None else int(remaining * 1000))
        if found.status != "holds" or found.complete or depth >= TRACE_DEPTH:
            return found
        depth *= 2
