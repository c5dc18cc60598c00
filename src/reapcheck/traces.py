"""Protocol traces: numbered text, self-contained JSON, Apalache ITF, and replay.

A trace JSON carries the layout, walk, mutant and options, so `reapcheck replay` can
re-check it alone: it rebuilds the model and re-executes every step against it.
"""
from __future__ import annotations

import json

from .model.action import Action
from .model.layout import DEFAULT_MAPS_SHARED_RULE, Layout, LayoutError, Vma
from .model.protocol import MUTANTS, PROTOCOL_WALKS, VARIABLES, Protocol, ProtocolConfig
from .model.smaps import read_text
from .properties.protocol import BY_NAME
from .trace_shape import ShapeError, check_trace

TRACE_VERSION = 1
TRACE_KIND = "reapcheck-protocol-trace"
ITF_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"
MAX_SAFE_INT = 2**53 - 1

# Display names of the program counters (model/protocol.py).
PC_NAMES = {
    "ex_pc": ["READ", "READ_WAIT", "UNMAP", "READ_UNLOCK", "SET_SKIP", "WRITE", "WRITE_WAIT",
              "FREE_PGT", "REMOVE", "WRITE_UNLOCK", "LATE_SKIP", "DONE"],
    "rp_pc": ["PEEK", "TRY", "WAIT", "CHECK", "UNSTABLE", "WALK", "SKIP_UNLOCK", "FINAL", "DONE"],
    "mr_pc": ["LOCK", "WAIT", "CHECK", "WALK", "SKIP_UNLOCK", "DONE"],
    "writer": ["none", "exit_mmap", "stuck"],
}


def show(name: str, value: int) -> str:
    names = PC_NAMES.get(name)
    return names[value] if names and 0 <= value < len(names) else str(value)


def trace_steps(model: Protocol, trace) -> list[dict]:
    """[(action, before, after)] as JSON steps: actor, action, VMA and what changed."""
    steps = []
    for number, (action, before, after) in enumerate(trace, start=1):
        changes = {name: [old, new] for name, old, new in zip(VARIABLES, before, after)
                   if old != new}
        steps.append({"step": number, "actor": action.actor, "action": action.verb,
                      "name": action.name, "vma": model.touched_vma(before, action),
                      "changes": changes})
    return steps


def render_steps(steps) -> str:
    """Numbered steps, one line each: actor, action, VMA, and what changed."""
    lines = []
    for step in steps:
        vma = "" if step["vma"] is None else f" vma {step['vma']}"
        changed = ", ".join(f"{name} {show(name, old)}->{show(name, new)}"
                            for name, (old, new) in step["changes"].items())
        lines.append(f"{step['step']:>3}. {step['actor']:<9} {step['action']:<19}{vma:<8} "
                     f"{changed}".rstrip())
    return "\n".join(lines)


def layout_json(layout: Layout) -> dict:
    return {"path": layout.path, "maps_shared_rule": layout.maps_shared_rule,
            "vmas": [{"start": hex(v.start), "end": hex(v.end), "perms": v.perms,
                      "flags": None if v.flags is None else sorted(v.flags)}
                     for v in layout.vmas]}


def layout_from_json(data: dict, source: str) -> Layout:
    vmas = [Vma(int(v["start"], 16), int(v["end"], 16), v["perms"],
                None if v.get("flags") is None else frozenset(v["flags"]), lineno=i + 1)
            for i, v in enumerate(data["vmas"])]
    return Layout.checked(f"{source} (layout {data.get('path', '?')})", vmas,
                          data.get("maps_shared_rule", DEFAULT_MAPS_SHARED_RULE))


def trace_json(model: Protocol, property_name: str, trace, engine: str) -> dict:
    """The self-contained trace file `--trace-out` writes."""
    return {"version": TRACE_VERSION, "kind": TRACE_KIND, "property": property_name,
            "engine": engine, "layout": layout_json(model.layout),
            "config": model.config.to_json(),
            "init": dict(zip(VARIABLES, model.init())),
            "steps": trace_steps(model, trace)}


def _itf_int(value: int):
    return value if -MAX_SAFE_INT <= value <= MAX_SAFE_INT else {"#bigint": str(value)}


def itf_json(model: Protocol, property_name: str, trace) -> dict:
    """The same trace in Apalache's ITF (ADR-015); addresses as {"#bigint": ...}."""
    layout = [{"start": {"#bigint": str(v.start)}, "end": {"#bigint": str(v.end)},
               "reapable": model.layout.is_reapable(v)} for v in model.layout.vmas]
    states = [model.init()] + [after for _, _, after in trace]
    actions = ["Init"] + [action.name for action, _, _ in trace]
    return {
        "#meta": {"format": "ITF", "format-description": ITF_DESCRIPTION,
                  "source": "reapcheck", "description":
                  f"counterexample to {property_name} ({model.config.walk}, "
                  f"mutant {model.config.mutant})"},
        "params": ["vmas"],
        "vars": list(VARIABLES) + ["action"],
        "states": [dict({"#meta": {"index": i}, "vmas": layout, "action": actions[i]},
                        **{name: _itf_int(value) for name, value in zip(VARIABLES, state)})
                   for i, state in enumerate(states)],
    }


class TraceError(Exception):
    """A trace that is not a legal run of the model, or does not show its violation."""


def load_json(path: str):
    """A JSON file's value; unreadable or unparsable input is a LayoutError naming the
    file (and the line) for exit 2."""
    text = read_text(path, path)  # a regular file only: a FIFO cannot hang us
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise LayoutError(path, err.lineno, f"not a JSON trace: {err.msg} (column {err.colno})") from None
    except RecursionError:
        raise LayoutError(path, None, "not a JSON trace: nested too deeply") from None
    except ValueError as err:  # an integer of thousands of digits (int_max_str_digits)
        what = "an integer with too many digits" if "digits" in str(err) else str(err)[:80]
        raise LayoutError(path, None, f"not a JSON trace: {what}") from None


def load_trace(path: str, data=None) -> dict:
    """Read a trace JSON (or take its parsed `data`) and check its shape; any fault is a
    LayoutError naming the file (and the line, or the key) for exit 2."""
    if data is None:
        data = load_json(path)
    try:
        check_trace(data, TRACE_KIND, PROTOCOL_WALKS, MUTANTS, BY_NAME)
    except ShapeError as err:
        raise LayoutError(path, None, f"malformed trace: {err}") from None
    return data


def replay_trace(data: dict, source: str) -> str:
    """Re-execute a trace against the model; return a one-line verdict or raise TraceError.

    Structure errors (missing fields, a bad layout) are LayoutErrors: unreadable input.
    """
    try:
        layout = layout_from_json(data["layout"], source)
        config = ProtocolConfig(**data["config"])
        steps = data["steps"]
        wanted = data.get("property")
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, LayoutError):
            raise
        raise LayoutError(source, None, f"malformed trace: {err}") from None
    model = Protocol(layout, config)
    state = model.init()
    for number, step in enumerate(steps, start=1):
        try:
            action = Action(step["actor"], step["action"])
        except (KeyError, TypeError):
            raise LayoutError(source, None, f"malformed step {number}") from None
        if action not in model.actions:
            raise TraceError(f"step {number}: {step.get('actor')} {step.get('action')} "
                             "is not an action of this model")
        if not model.guard(state, action):
            raise TraceError(f"step {number}: {action.name} is not enabled here")
        after = model.update(state, action)
        if "changes" in step:
            actual = {name: [old, new] for name, old, new in zip(VARIABLES, state, after)
                      if old != new}
            if actual != step["changes"]:
                raise TraceError(f"step {number}: {action.name} changes {actual}, "
                                 f"the trace says {step['changes']}")
        if "vma" in step and step["vma"] != model.touched_vma(state, action):
            raise TraceError(f"step {number}: {action.name} touches VMA "
                             f"{model.touched_vma(state, action)}, the trace says {step['vma']}")
        state = after
    if wanted is None:
        return f"all {len(steps)} steps are legal"
    prop = BY_NAME.get(wanted)
    if prop is None:
        raise LayoutError(source, None, f"unknown property {wanted!r}; known: {', '.join(BY_NAME)}")
    if prop.holds_in(model, state):
        raise TraceError(f"after all {len(steps)} steps {wanted} still holds: "
                         "the trace does not reproduce the violation")
    return f"reproduced: {wanted} is violated after {len(steps)} legal steps"
