"""The report's timed-model section (issue 12): typical PTE-lock contention per bundled layout.

`timed_data(layouts, pairs)` runs the timed model (timed.py, docs/model.md §8) with the
shipped cost file on every bundled layout, both reaper orders, 200 delays over the overlap
window, and puts each summary beside the `ptl` worst case of `compare_pairs`; it also keeps
one layout's wait-against-delay curves for the HTML chart and the cost file's check against
the recorded experiments. `timed_markdown(section)` is REPORT.md's text. Deterministic:
the model works in integer nanoseconds and every figure is rounded the same way.
"""
from __future__ import annotations

from tabulate import tabulate

from .model.walks import WalkConfig
from .timed import timed_orders
from .timed_costs import default_costs
from .timed_command import share_text

CHART_LAYOUT = "bundled/java.smaps"
AUTHOR_RATIO = 33.1  # the author's PTE spinlock wait, forward 33.1 ms against reverse 1.0 ms


def timed_data(layouts: dict, pairs) -> dict:
    """{"costs", "check", "rows", "chart"}: rows per (layout, order) with the timed summary
    (contentions, µs) and the worst case; chart = {layout, orders: {order: [[delay_us,
    wait_us], ...]}} for CHART_LAYOUT (µs)."""
    costs = default_costs()
    worst = {(a.layout.path, a.model.config.order): (a.result.max_collisions,
                                                     a.model.config.pmd_shift)
             for pair in pairs for a in pair if a.model.config.granularity == "ptl"}
    rows, chart = [], None
    for name, layout in layouts.items():
        shift = worst[(layout.path, "forward")][1]
        results = timed_orders(layout, WalkConfig("reverse", "ptl", shift), costs)
        for r in results:
            s = r.summary()
            rows.append({"layout": name, "order": r.config.order,
                         "worst_case": worst[(layout.path, r.config.order)][0],
                         "exit_mmap_alone_us": round(r.alone_us[0], 1),
                         "reaper_alone_us": round(r.alone_us[1], 1), **s})
        if name == CHART_LAYOUT:
            chart = {"layout": name, "orders": {
                r.config.order: [[round(p.delay_us, 1), round(p.total_wait_us, 1)]
                                 for p in r.points] for r in results}}
    raw = costs.to_json()
    return {"costs": {k: raw[k] for k in ("source", "exit_mmap", "reaper", "kernel", "machine",
                                          "measured") if k in raw},
            "check": _check(costs), "rows": rows, "chart": chart}


def _check(costs) -> dict | None:
    """The cost file's own check against the recorded experiments, as `experiment
    --calibrate` wrote it (experiment/calibrate.py check_summary)."""
    return (costs.meta.get("check") or {}).get("modes")


def wait_ratio(rows: list[dict], layout: str) -> float | None:
    """Forward over reverse mean wait for one layout; None when reverse waits 0 µs."""
    by = {r["order"]: r for r in rows if r["layout"] == layout}
    rev = by["reverse"]["mean_wait_us"]
    return round(by["forward"]["mean_wait_us"] / rev, 1) if rev else None


def _ms(us: float) -> str:
    return f"{us / 1000:,.2f} ms" if us >= 1000 else f"{us:,.1f} µs"


def _count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def check_lines(check: dict) -> list[str]:
    """Per mode of the recorded experiments, the medians measured and predicted (PTE-lock
    contentions, wait) with their ratio and whether both are within a factor of 3."""
    lines = []
    for mode, c in check.items():
        r, ok = c["measured_over_predicted"], c["within_factor_3"]
        median = c.get("median") or {}
        m, p = median.get("measured"), median.get("predicted")
        if m and p:
            contentions = (f"{_count(m['contentions'])} measured / "
                           f"{_count(p['contentions'])} predicted ({r['contentions']})")
            wait = f"{_ms(m['wait_us'])} / {_ms(p['wait_us'])} ({r['wait_us']})"
        else:
            contentions, wait = f"measured/predicted {r['contentions']}", str(r["wait_us"])
        lines.append(f"{mode}: median PTE-lock contentions {contentions}, wait {wait}, "
                     f"{'within' if ok['contentions'] and ok['wait_us'] else 'NOT within'}"
                     " a factor of 3")
    return lines


def timed_markdown(section: dict, wrap) -> list[str]:
    """REPORT.md lines for the section; `wrap` is the report's paragraph wrapper."""
    costs = section["costs"]
    out = [wrap("The worst case is a bound over every schedule; the timed model (`reapcheck "
                "timed`, docs/model.md §8) asks what to expect. Each (VMA, page table) item "
                "holds its PTE lock for c_item + c_page x its resident pages; exit_mmap "
                "starts at 0, the reaper at a delay d; a walker that needs the lock the other "
                "holds waits. The delay is swept over the window where the walks overlap "
                "(200 delays); mean and share are for d uniform over that window. This is a "
                "model of time with fitted costs, not a measurement."), "",
           wrap(f"Costs (the shipped cost file, {costs.get('measured', 'source unknown')}): "
                f"exit_mmap {costs['exit_mmap']['c_item_us']} µs per item + "
                f"{costs['exit_mmap']['c_page_us']} µs per page; reaper "
                f"{costs['reaper']['c_item_us']} µs per item + "
                f"{costs['reaper']['c_page_us']} µs per page."), ""]
    table = [[r["layout"].removeprefix("bundled/"), r["order"], f"{r['worst_case']:,}",
              f"{r['max_contentions']:,}", f"{r['mean_contentions']:,.1f}",
              share_text(r['share_with_contention']), _ms(r["mean_wait_us"])]
             for r in section["rows"]]
    out += [tabulate(table, headers=["layout", "reaper", "worst case (ptl)", "max over d",
                                     "mean", "share of d", "mean wait"],
                     tablefmt="github", disable_numparse=True), ""]
    ratios = [(r["layout"], wait_ratio(section["rows"], r["layout"]))
              for r in section["rows"] if r["order"] == "forward"]
    shown = ", ".join(f"{name.removeprefix('bundled/')} "
                      + (f"{ratio:,}x" if ratio is not None else "all (reverse waits 0)")
                      for name, ratio in ratios)
    out += [wrap(f"Forward over reverse mean wait: {shown}. The author measured "
                 f"{AUTHOR_RATIO:g}x (33.1 ms to 1.0 ms) on an arm64 Android device under "
                 "memory pressure; these layouts are x86-64 captures, the costs come from a "
                 "2-CPU x86-64 VM, and the reaper here starts "
                 "at every delay with equal weight, where the author's runs start it when "
                 "the OOM killer does."), ""]
    check = section.get("check")
    if check:
        lines = check_lines(check)
        out += [wrap("Against the real kernel (the recorded experiments of section 8, each run "
                     "simulated at its own start delays with these costs): " + "; ".join(lines)
                     + ". Where it is not within 3x the model misses the kernel's lock drops "
                     "(need_resched(), a full TLB batch) and page freeing after the PTE lock "
                     "is released: its walkers hold the lock for the whole item."), ""]
    return out
