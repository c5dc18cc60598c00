"""Every protocol layout of 1..K VMAs, searched by the explicit engine: the
counterexample (smallest layout, shortest trace) for a protocol claim that the proof for
any layout (engines/symbolic/z3_protocol_any.py) shows violated.

forward and rev_find visit every VMA once, in order, so a layout is told apart only by
its VMA count and which VMAs are reapable; one one-page VMA per flag covers them all.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from .model.layout import Layout, Vma
from .model.protocol import ProtocolConfig
from .properties.protocol import PROPERTIES
from .traces import trace_json
from .verify import verify

COUNTEREXAMPLE_VMAS = 3  # layouts of 1..3 VMAs, every flag pattern, for a counterexample
PAGE = 4096  # bytes


def flag_layout(flags) -> Layout:
    """One one-page VMA per flag, one-page gaps: reapable (private) for 1, shared for 0."""
    vmas = [Vma((2 * i + 1) * PAGE, (2 * i + 2) * PAGE, "rw-p" if f else "rw-s", lineno=i + 1)
            for i, f in enumerate(flags)]
    return Layout.checked("layout-" + ("".join(map(str, flags)) or "empty"), vmas)


def small_layouts(most: int = COUNTEREXAMPLE_VMAS):
    """Every layout of 1..most VMAs that the protocol can tell apart (forward and
    rev_find visit every VMA in order, so a layout is its VMA count and flags), smallest
    first."""
    for n in range(1, most + 1):
        for flags in itertools.product((0, 1), repeat=n):
            yield flag_layout(flags)


@dataclass
class Bounded:
    """The explicit engine on every small layout of one configuration: per property,
    `holds` (on every layout checked) or `violated` with the first (smallest) layout and
    its shortest trace."""

    most: int  # layouts of 1..most VMAs
    statuses: dict  # property -> holds | violated | incomplete
    witnesses: dict  # property -> (Layout, Verification) of its first violation
    seconds: float


def bounded_check(config: ProtocolConfig, most: int, names=None) -> Bounded:
    """Every layout of 1..most VMAs (every flag pattern), smallest first, explicitly; a
    search stops once every wanted property has a violation."""
    start = time.perf_counter()
    wanted = [p.name for p in PROPERTIES if names is None or p.name in names]
    statuses = dict.fromkeys(wanted, "holds")
    witnesses = {}
    for layout in small_layouts(most):
        if len(witnesses) == len(wanted):
            break
        result = verify(layout, config, "explicit")
        for name in wanted:
            status = result.statuses[name]
            if status == "violated" and name not in witnesses:
                statuses[name], witnesses[name] = "violated", (layout, result)
            elif status != "holds" and statuses[name] == "holds":
                statuses[name] = status
    return Bounded(most, statuses, witnesses, time.perf_counter() - start)


def counterexample(layout: Layout, result, name: str) -> dict:
    """A violation as data: the layout, and the trace file `reapcheck replay` reads."""
    trace = result.traces[name]
    return {"vmas": len(layout),
            "layout": [{"vma": i, "start": hex(v.start), "end": hex(v.end),
                        "reapable": layout.is_reapable(v)} for i, v in enumerate(layout.vmas)],
            "steps": len(trace),
            "trace": trace_json(result.model, name, trace, "explicit")}
