"""`reapcheck sweep`'s summary: the distribution of a sweep's result lines, as data and a table.

`summarize(lines)` reads result lines (sweep.py's, from a run or a --resume file) and
gives counts and distributions; `table(summary)` is the text `sweep` prints on stdout.
Distributions are min, median, p90 and max: median as statistics.median (the mean of
the two middle values for an even count), p90 the nearest rank (the smallest value with
at least 90% of the values at or below it; always one of the values). The reduction
factor of a layout is forward / reverse worst case per granularity; reverse 0 with
forward above 0 is infinite (shown as `all`: the reverse walk removes every collision);
both 0 leaves the layout out of that factor's distribution (`n` says how many count).
"""
from __future__ import annotations

import math
import statistics

from .model.walks import GRANULARITIES

STATUSES = ("holds", "violated", "incomplete", "unknown")


def distribution(values: list[float]) -> dict:
    """{"n", "min", "median", "p90", "max"}; the four are None for no values."""
    if not values:
        return {"n": 0, "min": None, "median": None, "p90": None, "max": None}
    ordered = sorted(values)
    rank = math.ceil(0.9 * len(ordered))  # nearest rank, 1-based
    return {"n": len(ordered), "min": ordered[0], "median": statistics.median(ordered),
            "p90": ordered[rank - 1], "max": ordered[-1]}


def factor(forward: int, reverse: int) -> float | None:
    """forward / reverse; inf when only reverse is 0; None when both are 0."""
    if reverse == 0:
        return None if forward == 0 else math.inf
    return forward / reverse


def summarize(lines: list[dict]) -> dict:
    """{"layouts", "errors", "failed_layouts", "collisions": {granularity: {"forward",
    "reverse", "reduction"}: distribution}, "timed": {"forward", "reverse"}: distribution
    of mean contentions, "properties": {status: count}, "verify_layouts"}.

    Collisions count a layout at a granularity only when both orders are there;
    `properties` counts (layout, property) verdicts over every verify line."""
    layouts = {line["layout"] for line in lines}
    errors = [line for line in lines if "error" in line]
    worst: dict = {}
    for line in lines:
        if line["check"] == "collisions" and "error" not in line:
            worst.setdefault((line["layout"], line["granularity"]), {})[line["order"]] = \
                line["max_collisions"]
    collisions = {}
    for gran in GRANULARITIES:
        pairs = [w for (_, g), w in sorted(worst.items()) if g == gran
                 and {"forward", "reverse"} <= w.keys()]
        factors = [factor(w["forward"], w["reverse"]) for w in pairs]
        collisions[gran] = {
            "forward": distribution([w["forward"] for w in pairs]),
            "reverse": distribution([w["reverse"] for w in pairs]),
            "reduction": distribution([f for f in factors if f is not None]),
        }
    timed = {order: distribution([line["mean_contentions"] for line in lines
                                  if line["check"] == "timed" and "error" not in line
                                  and line["order"] == order])
             for order in ("forward", "reverse")}
    properties = dict.fromkeys(STATUSES, 0)
    verified = [line for line in lines if line["check"] == "verify" and "error" not in line]
    for line in verified:
        for status in line["properties"].values():
            properties[status] = properties.get(status, 0) + 1
    return {"layouts": len(layouts), "errors": len(errors),
            "failed_layouts": len({line["layout"] for line in errors}),
            "collisions": collisions, "timed": timed, "properties": properties,
            "verify_layouts": len(verified)}


def number(value) -> str:
    """A cell: integers with thousands separators, factors to one decimal, inf as all."""
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "all"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def factor_cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isinf(value)):
        return number(value)
    return f"{value:,.1f}x"


def rows(summary: dict) -> list[list[str]]:
    """The distribution table's rows: [what, n, min, median, p90, max]."""
    out = []
    for gran, d in summary["collisions"].items():
        for what, label, cell in (("forward", f"{gran} worst case, forward", number),
                                  ("reverse", f"{gran} worst case, reverse", number),
                                  ("reduction", f"{gran} reduction (fwd/rev)", factor_cell)):
            dist = d[what]
            if dist["n"]:
                out.append([label, f"{dist['n']:,}"] + [cell(dist[k]) for k in
                                                        ("min", "median", "p90", "max")])
    for order, dist in summary["timed"].items():
        if dist["n"]:
            out.append([f"timed mean contentions, {order}", f"{dist['n']:,}"]
                       + [f"{dist[k]:,.1f}" for k in ("min", "median", "p90", "max")])
    return out


def table(summary: dict, fmt: str = "simple") -> str:
    """The text `reapcheck sweep` prints: layouts, the distributions, property counts."""
    from tabulate import tabulate

    text = [f"layouts: {summary['layouts']:,}"
            + (f" ({summary['failed_layouts']:,} with a failed task: {summary['errors']:,} "
               f"error line{'' if summary['errors'] == 1 else 's'})" if summary["errors"] else "")]
    body = rows(summary)
    if body:
        text += ["", tabulate(body, headers=["", "n", "min", "median", "p90", "max"],
                              tablefmt=fmt, disable_numparse=True,
                              colalign=("left",) + ("right",) * 5)]
    if summary["verify_layouts"]:
        counts = summary["properties"]
        n = summary["verify_layouts"]
        text += ["", f"properties (walk rev_find, {n:,} layout{'' if n == 1 else 's'}): "
                 + ", ".join(f"{counts.get(s, 0):,} {s}" for s in STATUSES)]
    return "\n".join(text)


def exit_status(summary: dict) -> int:
    """1 when a property is violated; else 3 when a task failed (an error line) or a
    verdict is incomplete or unknown; else 0."""
    props = summary["properties"]
    if props.get("violated"):
        return 1
    if summary["errors"] or props.get("incomplete") or props.get("unknown"):
        return 3
    return 0
