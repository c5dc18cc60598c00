"""`reapcheck verify`: every protocol property on one layout and configuration."""
from __future__ import annotations

from tabulate import tabulate

from .engines.explicit import compiled
from .engines.explicit.reduction import REDUCTIONS
from .engines.result import Verification
from .model.layout import Layout
from .model.protocol import Protocol, ProtocolConfig
from .model.kernels import DEFAULT_KERNEL
from .properties.protocol import properties_for
from .traces import (condition_words, plural, render_steps, short_list, trace_steps,
                     visits_text)

VERIFY_ENGINES = ("explicit", "z3")


def verify(layout: Layout, config: ProtocolConfig, engine: str = "explicit",
           max_states: int | None = None, progress=None,
           timeout_s: float | None = None, stop=None,
           reduction: str = "none") -> Verification:
    """Explicit engine (engines/explicit/compiled.py): max_states, timeout_s (seconds for the
    whole search) and `stop` (an engines/explicit/explicit.py's StopRequest, set by a signal) end the search
    early, and verdicts not yet violated are then incomplete; `reduction` is `none` (every
    reachable state, the graph engines/explicit/explicit.py and SPIN's -DNOREDUCE count) or `por`
    (partial-order reduction and dead variables, engines/explicit/reduction.py; the CLI's
    default). Z3: timeout_s is the budget per property (default
    z3_protocol.DEFAULT_TIMEOUT_S); max_states and reduction do not apply.

    Another kernel than the default (config.kernel) checks properties_for(config) (the
    history's properties too) and only without the reduction: its soundness is argued
    for today's rules (engines/explicit/reduction.py), so `por` is a ValueError there."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, not {reduction!r}")
    if reduction == "por" and config.kernel != DEFAULT_KERNEL:
        raise ValueError(f"the partial-order reduction is argued for kernel {DEFAULT_KERNEL}'s "
                         f"rules only; kernel {config.kernel} needs --reduction none")
    model = Protocol(layout, config)
    properties = properties_for(config)
    if engine == "explicit":
        result = compiled.check(model, properties, reduction, max_states, progress,
                                timeout_s, stop)
        return Verification(model, engine,
                            {name: v.status for name, v in result.verdicts.items()},
                            {name: v.trace for name, v in result.verdicts.items() if v.trace},
                            result.states, result.transitions, result.complete, {},
                            stopped=result.stopped,
                            queue=result.queue if result.stopped else None,
                            seconds=result.seconds, reduction=reduction,
                            shortest=result.shortest)
    if engine == "z3":
        from .engines.symbolic import z3_protocol

        budget = z3_protocol.DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
        return z3_protocol.check_protocol(model, properties, budget, progress)
    raise ValueError(f"engine must be one of {', '.join(VERIFY_ENGINES)}, not {engine!r}")


def verification_json(v: Verification) -> dict:
    """The object `verify --json` prints."""
    props = {}
    for prop in properties_for(v.model.config):
        entry = {"status": v.statuses[prop.name], "expectation": prop.expectation,
                 "description": prop.description}
        if prop.name in v.traces:
            steps = trace_steps(v.model, v.traces[prop.name])
            entry["trace_length"] = len(steps)
            entry["trace"] = steps
        entry.update(v.notes.get(prop.name, {}))
        if entry.get("invariant"):  # the raw Z3 form, and the same in kernel words
            entry["invariant_kernel"] = condition_words(entry["invariant"],
                                                        v.model.phase_words())
        props[prop.name] = entry
    return {"layout": v.model.layout.path, "vmas": len(v.model.layout),
            "reapable": list(v.model.layout.reapable),
            "reapable_rule": v.model.layout.reapable_rule,
            "maps_shared_rule": v.model.layout.maps_shared_rule,
            "engine": v.engine, **v.model.config.to_json(),
            "visits": list(v.model.seq), "properties": props, "states": v.states,
            "transitions": v.transitions, "complete": v.complete,
            **({"reduction": v.reduction, "traces_shortest": v.shortest}
               if v.reduction is not None else {}),
            **({"stopped": v.stopped, "queue": v.queue} if v.stopped else {}),
            **({"termination": _with_kernel_words(v.termination, v.model.phase_words())}
               if v.termination is not None else {})}


def _with_kernel_words(proof: dict, phases=None) -> dict:
    """A proof's raw Z3 invariant, and the same in kernel words."""
    if not proof.get("invariant"):
        return proof
    return {**proof, "invariant_kernel": condition_words(proof["invariant"], phases)}


STOP_REASONS = {"max_states": "--max-states reached", "timeout": "--timeout reached",
                "SIGINT": "interrupted (SIGINT)", "SIGTERM": "terminated (SIGTERM)"}


def stop_reason(v: Verification) -> str:
    """Why an explicit search is incomplete, with the states left in its queue."""
    why = STOP_REASONS.get(v.stopped, v.stopped or "limit reached")
    queue = f", {plural(v.queue, 'state')} in the queue unexplored" if v.queue else ""
    seconds = f" after {v.seconds:.1f} s" if v.seconds is not None else ""
    return f"{why}{seconds}{queue}"


def render(v: Verification) -> str:
    cfg = v.model.config
    head = (f"layout {v.model.layout.path}: {plural(len(v.model.layout), 'VMA')}, walk {cfg.walk} "
            f"visits {visits_text(v.model.seq, len(v.model.layout))}; mutant {cfg.mutant or 'none'}"
            f"{'; stuck writer' if cfg.stuck_writer else ''}"
            f"{'; process_mrelease' if cfg.mrelease else ''}"
            + (f"; kernel {cfg.kernel}" if cfg.kernel != DEFAULT_KERNEL else "")
            + (f"; mlocked VMAs {short_list(sorted(v.model.mlocked))}" if v.model.mlocked else ""))
    if v.engine == "z3":
        size = ("z3: Spacer inductive invariants (re-checked), BMC for shortest traces; "
                f"{'complete' if v.complete else 'INCOMPLETE (a solver gave up or ran out of time)'}")
    else:
        reduced = (" (partial-order reduction)" if v.reduction == "por" else "")
        size = (f"{v.engine}{reduced}: {v.states} distinct "
                f"state{'' if v.states == 1 else 's'}, {plural(v.transitions, 'transition')}, "
                f"{'complete' if v.complete else 'INCOMPLETE (' + stop_reason(v) + ')'}")
    rows = [[p.name, v.statuses[p.name],
             len(v.traces[p.name]) if p.name in v.traces else ""]
            for p in properties_for(cfg)]
    out = [head, size, "", tabulate(rows, headers=["property", "status", "trace steps"])]
    if v.termination is not None:
        out += ["", f"termination (type_ok and a growing progress measure in every reachable "
                f"state): {v.termination['status']}"]
        if v.termination.get("invariant"):
            out.append(condition_words(v.termination["invariant"], v.model.phase_words()))
        if v.termination.get("support"):
            dropped = v.termination.get("support_dropped")
            out += ["", "support invariant (model/protocol.py's candidate invariants that "
                    "are inductive together; every proof here assumes it"
                    + (f"; not inductive here: {', '.join(dropped)}" if dropped else "")
                    + "):", condition_words(v.termination["support"],
                                            v.model.phase_words())]
    for name, note in v.notes.items():
        if note.get("method") == "support" and "invariant" in note:
            out += ["", f"{name}: the support invariant excludes every state where it fails"]
        elif "invariant" in note:
            also = note.get("relative_to")
            out += ["", f"inductive invariant proving {name}"
                    + (f" (with those of {', '.join(also)})" if also else "") + ":",
                    condition_words(note["invariant"], v.model.phase_words())]
        elif "reason_unknown" in note:
            out += ["", f"{name} unknown: {note['reason_unknown']}"]
    for name, trace in v.traces.items():
        kind = "shortest trace" if v.shortest else "a trace (the reduced search's; not shortest)"
        out += ["", f"{kind} to a violation of {name}:",
                render_steps(trace_steps(v.model, trace))]
    return "\n".join(out)
