"""The report's sweep section (issue 15): the distribution of worst cases over every layout
the report uses, and a histogram of the reverse walk's reduction factors.

`sweep_data(layouts)` runs `reapcheck sweep`'s collisions task (sweep.check_layout, the
function the Dask workers run) serially in this process on each (name, Layout), and
summarizes the lines with sweep_summary.py: no Dask, deterministic (integers, and factors
rounded the same way). The layouts are the report's: every bundled one and the synthetic
ones of the scaling table. `sweep_markdown(section, wrap)` is REPORT.md's text; the HTML
histogram's coordinates are made by html_report._sweep_chart.
"""
from __future__ import annotations

import math

from tabulate import tabulate

from .model.walks import GRANULARITIES
from .sweep import check_layout
from .sweep_summary import factor, rows, summarize

HEADERS = ["", "n", "min", "median", "p90", "max"]


def histogram(factors: dict[str, list[float]]) -> dict:
    """Reduction factors per granularity, counted in common bins: below 1x (reverse
    worse; only when some factor is), then [2^k, 2^(k+1)) from 1x up to the largest
    finite factor, then `all` (reverse 0, forward above 0). {"labels": [...], "counts":
    {granularity: [count per label]}}."""
    values = [v for vs in factors.values() for v in vs]
    top = max((v for v in values if not math.isinf(v)), default=1.0)
    edges = [(0.0, 1.0, "< 1x")] if any(v < 1 for v in values) else []
    k = 0
    while 2 ** k <= top:
        edges.append((2 ** k, 2 ** (k + 1), f"{2 ** k:,}-{2 ** (k + 1):,}x"))
        k += 1
    counts = {gran: [sum(1 for v in vs if lo <= v < hi) for lo, hi, _ in edges]
              + [sum(1 for v in vs if math.isinf(v))] for gran, vs in factors.items()}
    return {"labels": [label for _, _, label in edges] + ["all"], "counts": counts}


def sweep_data(layouts: dict) -> dict:
    """{"layouts": count, "per_layout": [{"layout", "vmas", "<gran>": {"forward",
    "reverse", "factor"}}], "table": the distribution rows (text cells, as `reapcheck
    sweep` prints them), "histogram": histogram(factors)}. `layouts`: name -> Layout.
    A factor is forward / reverse rounded to 0.1, "all" when only reverse is 0, None
    when both are 0 (JSON has no infinity)."""
    lines = [line for name, layout in layouts.items()
             for line in check_layout(name, layout, "collisions")]
    per_layout = {}
    for line in lines:
        entry = per_layout.setdefault(line["layout"], {"layout": line["layout"],
                                                       "vmas": line["vmas"]})
        entry.setdefault(line["granularity"], {})[line["order"]] = line["max_collisions"]
    factors = {gran: [] for gran in GRANULARITIES}
    for entry in per_layout.values():
        for gran in GRANULARITIES:
            w = entry[gran]
            f = factor(w["forward"], w["reverse"])
            if f is not None:
                factors[gran].append(f)
            w["factor"] = None if f is None else ("all" if math.isinf(f) else round(f, 1))
    summary = summarize(lines)
    return {"layouts": summary["layouts"], "per_layout": list(per_layout.values()),
            "table": rows(summary), "histogram": histogram(factors)}


def sweep_markdown(section: dict, wrap) -> list[str]:
    """REPORT.md lines for the section; `wrap` is the report's paragraph wrapper."""
    out = [wrap(f"`reapcheck sweep` runs the checks over a fleet of layouts on Dask and "
                f"prints this summary. Here the same collisions task and summary run "
                f"serially in the report's process over its {section['layouts']} layouts "
                "(every bundled one and the synthetic ones of section 3): the worst case of "
                "each reaper order, PMD shift auto, exit_mmap forward; reduction = forward / "
                "reverse per layout (`all`: reverse 0; layouts where both are 0 have no "
                "factor). Median: the middle value (the mean of the two middle ones for an "
                "even n); p90: the nearest rank."), "",
           tabulate(section["table"], headers=HEADERS, tablefmt="github",
                    disable_numparse=True, colalign=("left",) + ("right",) * 5), ""]
    hist = section["histogram"]
    for gran, counts in hist["counts"].items():
        out.append(wrap(f"Reduction factors, {gran} (layouts per bin): " + ", ".join(
            f"{label} {n}" for label, n in zip(hist["labels"], counts) if n) + "."))
    return out + [""]
