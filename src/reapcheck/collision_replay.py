"""`reapcheck replay` of a `collisions --json` output: its witness, full or compact, is
executed against the model rebuilt from the layout file it names.

Every entry must be legal (steps by the model's guard and update, runs by the closed
forms of engines/explicit/witness.py, whose step-by-step equivalence the tests check), the run
must end with both walkers done, and the collisions recounted per entry and in total
must equal what the file says. This checks that the witness reaches the claimed
number; that no schedule does better is the engine's claim (tests/oracle.py checks it
by brute force on small layouts).
"""
from __future__ import annotations

import os

from .collisions import WITNESS_KIND as KIND  # noqa: F401  (the "kind" of collisions --json)
from .engines.explicit import witness
from .engines.explicit.schedule import IllegalStep
from .model.layout import MAPS_SHARED_RULES, LayoutError
from .model.walk_product import WalkProduct
from .model.walks import GRANULARITIES, ORDERS, WalkConfig
from .witness_text import plural


class WitnessMismatch(Exception):
    """A witness that is illegal, or does not reach what its file claims (exit 1)."""


def _field(data, key, kind, source, choices=None):
    value = data.get(key)
    if type(value) is not kind or (choices is not None and value not in choices):
        want = f"one of {', '.join(map(str, choices))}" if choices else kind.__name__
        raise LayoutError(source, None, f"malformed witness file: {key}: want {want}")
    return value


def _named_layout(name: str, source: str, load_layout):
    """The layout a witness file names: from the current directory, or, for a relative
    path not found there, from the witness file's directory (`collisions --json` writes
    the path it was given). LayoutError naming both files when neither can be read."""
    try:
        return load_layout(name)
    except LayoutError as err:
        beside = os.path.join(os.path.dirname(source), name)
        if os.path.isabs(name) or os.path.exists(name):
            raise
        if os.path.isfile(beside) and os.path.dirname(source):
            return load_layout(beside)
        raise LayoutError(source, None, f"names layout {name}, which cannot be read "
                          f"(from the current directory or {os.path.dirname(source) or '.'}): "
                          f"{err.message}") from None


def replay_collisions(data: dict, source: str, load_layout) -> str:
    """A one-line verdict, or WitnessMismatch (exit 1) / LayoutError (exit 2)."""
    layout = _named_layout(_field(data, "layout", str, source), source, load_layout)
    if "maps_shared_rule" in data:  # older files have none: the default rule counted
        layout = layout.with_maps_shared_rule(
            _field(data, "maps_shared_rule", str, source, MAPS_SHARED_RULES))
    config = WalkConfig(_field(data, "order", str, source, ORDERS),
                        _field(data, "granularity", str, source, GRANULARITIES),
                        _field(data, "pmd_shift", int, source, range(12, 64)),
                        _field(data, "exit_order", str, source, ORDERS))
    claimed = _field(data, "max_collisions", int, source)
    model = WalkProduct.build(layout, config)
    if data.get("vmas") != len(layout):
        raise WitnessMismatch(f"the layout {layout.path} has {len(layout)} VMAs, the witness "
                              f"file says {data.get('vmas')}")
    if "reapable" in data and data["reapable"] != len(layout.reapable):
        raise WitnessMismatch(f"the layout {layout.path} has {len(layout.reapable)} reapable "
                              f"VMAs ({layout.reapable_rule} rule), the witness file says "
                              f"{data['reapable']}")
    printed = data.get("witness")
    try:
        entries = witness.entries_from_json(model, printed)
    except ValueError as err:
        raise LayoutError(source, None, f"malformed witness file: {err}") from None
    try:
        checked = list(witness.check(model, entries))
    except IllegalStep as err:
        raise WitnessMismatch(str(err)) from None
    at = 0
    for number, ((_, steps, hits), shown) in enumerate(zip(checked, printed), start=1):
        found = sum(n for _, _, n in hits)
        says = shown.get("collisions", shown.get("collision"))
        if "steps" in shown and shown["steps"] != steps or says is not None and says != found:
            raise WitnessMismatch(f"witness entry {number} (step {at + 1}): "
                                  f"{plural(steps, 'step')} with {plural(found, 'collision')}, "
                                  f"the file says {shown.get('steps', 1)} with {says}")
        at += steps
    total = witness.count(checked)
    if total != claimed or data.get("witness_steps", at) != at:
        raise WitnessMismatch(f"the witness has {plural(total, 'collision')} in "
                              f"{plural(at, 'step')}, the file "
                              f"says {claimed} in {data.get('witness_steps')}")
    form = data.get("witness_form", "full")
    return (f"reproduced: the {form} witness ({plural(len(entries), 'entry', 'entries')}) "
            f"reaches {plural(total, 'collision')} in {plural(at, 'legal step')}")
