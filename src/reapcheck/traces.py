"""Protocol traces: numbered text, self-contained JSON, Apalache ITF, and replay.

A trace JSON carries the layout, walk, mutant and options, so `reapcheck replay` can
re-check it alone: it rebuilds the model and re-executes every step against it.
"""
from __future__ import annotations

import json
import re
import textwrap

from .model.action import Action
from .model.layout import DEFAULT_MAPS_SHARED_RULE, Layout, LayoutError, Vma
from .model.protocol import (KERNEL_WORDS, MUTANTS, PC_ACTOR, PROTOCOL_WALKS, VARIABLES, Protocol,
                             ProtocolConfig)
from .model.smaps import read_text
from .properties.protocol import BY_NAME
from .trace_shape import ShapeError, check_trace
from .witness_text import plural  # noqa: F401  (imported from here by spin.py, verify.py)

TRACE_VERSION = 1
TRACE_KIND = "reapcheck-protocol-trace"
ITF_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"
MAX_SAFE_INT = 2**53 - 1

STEP_WIDTH = 80  # text lines of a trace wrap here


def trace_steps(model: Protocol, trace) -> list[dict]:
    """[(action, before, after)] as JSON steps: actor, action, VMA, what changed (the raw
    variables), and the step in kernel words (`kernel`, model/protocol.py KERNEL_WORDS)."""
    steps = []
    for number, (action, before, after) in enumerate(trace, start=1):
        changes = {name: [old, new] for name, old, new in zip(VARIABLES, before, after)
                   if old != new}
        steps.append({"step": number, "actor": action.actor, "action": action.verb,
                      "name": action.name, "vma": model.touched_vma(before, action),
                      "kernel": model.describe(action, before, after), "changes": changes})
    return steps


def render_steps(steps) -> str:
    """Numbered steps, one each: the actor and what it did, in kernel words."""
    lines = []
    for step in steps:
        words = step.get("kernel") or f"{step['action']} (vma {step['vma']})"
        head = f"{step['step']:>3}. {step['actor'] + ':':<10} "
        lines.append(textwrap.fill(words, STEP_WIDTH, initial_indent=head,
                                   subsequent_indent=" " * len(head),
                                   break_on_hyphens=False, break_long_words=False))
    return "\n".join(lines)


# a comparison of one variable with a number, alone between brackets or commas
_ATOM = re.compile(r"(?:^|(?<=\()|(?<=, ))(Not\()?([a-z_]+) (==|!=|<=|>=|<|>) (-?\d+)"
                   r"(?=[),]|$)(\))?")
_NEGATED = {"==": "!=", "!=": "==", "<=": ">", ">=": "<", "<": ">=", ">": "<="}
_OPS = {"==": int.__eq__, "!=": int.__ne__, "<=": int.__le__, ">=": int.__ge__,
        "<": int.__lt__, ">": int.__gt__}


def condition_words(text: str, phases: dict | None = None) -> str:
    """A Z3 condition over the model's variables (an invariant, `Not(rp_pc == 5)`) with
    each comparison of a variable and a number in kernel words (KERNEL_WORDS):
    `rp_pc == 5` -> `the reaper at the VMA walk`; And/Or/Not are kept. `phases`: the
    model's own phase words ({pc variable: {value: words}}, Protocol.phase_words(); an
    older kernel numbers exit_mmap's phases its own way), default KERNEL_WORDS'."""
    def atom(match):
        negated, name, op, value, close = match.groups()
        if negated and not close:
            return match.group(0)
        if negated:
            op, close = _NEGATED[op], ""
        words = _comparison_words(name, op, int(value), phases)
        return match.group(0) if words is None else f"[{words}]{close or ''}"
    words = _ATOM.sub(atom, text)
    left = re.sub(r"\[[^]]*\]", "", words)  # outside the words already given
    raw = [name for name in VARIABLES if re.search(rf"\b{name}\b", left)]
    if raw:  # left in a sum (rp_pos + -1*ex_pos <= 0): say what each one is
        words += " (where " + "; ".join(f"{name}: {KERNEL_WORDS['variables'][name]}"
                                        for name in raw) + ")"
    return words


def _comparison_words(name: str, op: str, value: int, phases_of=None) -> str | None:
    what = KERNEL_WORDS["variables"].get(name)
    if what is None:
        return None
    if name in PC_ACTOR:  # the phases where the comparison holds, as a range of code
        phases = (phases_of or {}).get(name, KERNEL_WORDS[name])
        where = [pc for pc in phases if _OPS[op](pc, value)]
        if len(where) == len(phases):
            return f"{what} in any phase"
        if not where:
            return f"{what} in no phase"
        if op == "!=":
            return f"{what} not at {phases[value]}"
        low, high = where[0], where[-1]
        if low == high:
            return f"{what} at {phases[low]}"
        if low == 0:
            return f"{what} at or before {phases[high]}"
        if high == len(phases) - 1:
            return f"{what} at or past {phases[low]}"
        return f"{what} from {phases[low]} to {phases[high]}"
    if name == "writer" and op in ("==", "!=") and value in KERNEL_WORDS["writer"]:
        words = KERNEL_WORDS["writer"][value]
        return words if op == "==" else f"not ({words})"
    if name in KERNEL_WORDS["flags"]:  # 0 or 1
        where = [x for x in (0, 1) if _OPS[op](x, value)]
        if len(where) == 1:
            return KERNEL_WORDS["flags"][name][1 - where[0]]
        return f"{what}: {'any (a type bound)' if where else 'never'}"
    if op in ("<", ">"):  # counters are integers: x > k is x >= k + 1
        op, value = ("<=", value - 1) if op == "<" else (">=", value + 1)
    if (op == ">=" and value <= 0) or (op == "<=" and value < 0):
        return f"{what}: {'any (a type bound)' if op == '>=' else 'never'}"
    if op == "<=" and value == 0:  # counters are never negative
        op = "=="
    return f"{what} {'=' if op == '==' else op} {value}"


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
    kernel = ["the initial state"] + [f"{action.actor}: {model.describe(action, before, after)}"
                                      for action, before, after in trace]
    return {
        "#meta": {"format": "ITF", "format-description": ITF_DESCRIPTION,
                  "source": "reapcheck", "description":
                  f"counterexample to {property_name} ({model.config.walk}, "
                  f"mutant {model.config.mutant})"},
        "params": ["vmas"],
        "vars": list(VARIABLES) + ["action", "kernel"],
        "states": [dict({"#meta": {"index": i}, "vmas": layout, "action": actions[i],
                         "kernel": kernel[i]},
                        **{name: _itf_int(value) for name, value in zip(VARIABLES, state)})
                   for i, state in enumerate(states)],
    }


def short_list(values, ends: int = 3) -> str:
    """A list of numbers in brackets, its middle elided when longer than 2 * ends + 1:
    `[9, 8, 7, ..., 2, 1, 0]`."""
    values = list(values)
    if len(values) <= 2 * ends + 1:
        return "[" + ", ".join(map(str, values)) + "]"
    return ("[" + ", ".join(map(str, values[:ends])) + ", ..., "
            + ", ".join(map(str, values[-ends:])) + "]")


def visits_text(seq, n: int) -> str:
    """A walk's visit sequence over `n` VMAs, short: `all 10,000 VMAs, top down` when it
    visits each once from the top (bottom up: from VMA 0), else the count, the first and
    last few indices, and the VMAs it skips."""
    seq = list(seq)
    if n == 1 and seq == [0]:
        return "its 1 VMA"
    if seq == list(range(n - 1, -1, -1)):
        return f"all {n:,} VMAs, top down"
    if seq == list(range(n)):
        return f"all {n:,} VMAs, bottom up"
    skipped = sorted(set(range(n)) - set(seq))
    return (f"{len(seq):,} of {n:,} VMA{'' if n == 1 else 's'} {short_list(seq)}"
            + (f", skips {short_list(skipped)}" if skipped else ""))


def indices_text(indices, n: int) -> str:
    """A set of VMA indices out of `n`, short: `all`, `none`, or count and list."""
    indices = list(indices)
    if len(indices) == n:
        return f"all {n:,}"
    if not indices:
        return "none"
    shown = f"{len(indices):,} {short_list(indices)}"
    others = sorted(set(range(n)) - set(indices))
    if "..." in shown:  # elided: the ones left out say more
        shown += f" (all but {len(others):,} {short_list(others)})"
    return shown


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
    """Re-execute a trace against the model; return a verdict line and the steps in
    kernel words (from the model, never from the file's `kernel` text), or raise
    TraceError naming the first illegal step.

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
    try:
        model = Protocol(layout, config)
    except ValueError as err:  # e.g. an mlocked VMA the layout does not have
        raise LayoutError(source, None, f"malformed trace: {err}") from None
    state, executed = model.init(), []
    for number, step in enumerate(steps, start=1):
        try:
            action = Action(step["actor"], step["action"])
        except (KeyError, TypeError):
            raise LayoutError(source, None, f"malformed step {number}") from None
        if action not in model.actions:
            raise TraceError(f"step {number}: {step.get('actor')} {step.get('action')} "
                             "is not an action of this model")
        if not model.guard(state, action):
            raise TraceError(f"step {number} ({action.actor} {action.verb}: "
                             f"{model.action_words(action)}) is not enabled here")
        after = model.update(state, action)
        said = f"step {number} ({action.actor}: {model.describe(action, state, after)})"
        if "changes" in step:
            actual = {name: [old, new] for name, old, new in zip(VARIABLES, state, after)
                      if old != new}
            if actual != step["changes"]:
                raise TraceError(f"{said} changes {actual}, the trace says {step['changes']}")
        if "vma" in step and step["vma"] != model.touched_vma(state, action):
            raise TraceError(f"{said} touches VMA {model.touched_vma(state, action)}, "
                             f"the trace says {step['vma']}")
        executed.append((action, state, after))
        state = after
    words = render_steps(trace_steps(model, executed))
    if wanted is None:
        return (f"all {plural(len(steps), 'step')} are legal:\n{words}" if len(steps) != 1
                else f"its 1 step is legal:\n{words}")
    prop = BY_NAME.get(wanted)
    if prop is None:
        raise LayoutError(source, None, f"unknown property {wanted!r}; known: {', '.join(BY_NAME)}")
    if prop.holds_in(model, state):
        raise TraceError(f"after {'all ' if len(steps) > 1 else ''}{plural(len(steps), 'step')} "
                         f"{wanted} still holds: "
                         "the trace does not reproduce the violation")
    return f"reproduced: {wanted} is violated after {len(steps)} legal steps:\n{words}"
