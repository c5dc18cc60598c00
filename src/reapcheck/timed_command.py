"""`reapcheck timed` and `compare --timed`: options, text (summaries and a terminal plot of
contentions against delay) and JSON of the timed model (timed.py)."""
from __future__ import annotations

import argparse
import json
import math
import re

from .model.walks import ORDERS

DELAY_UNITS = {"": 1.0, "us": 1.0, "µs": 1.0, "ms": 1000.0, "s": 1e6}
_NUMBER = re.compile(r"^\s*(-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*(us|µs|ms|s)?\s*$", re.I)
MAX_DELAYS = 100_000
PLOT_WIDTH, PLOT_HEIGHT = 60, 8


def delay(text: str) -> float:
    """A delay in µs: a number, optionally with a unit (us, ms, s); negative: the reaper
    starts first."""
    m = _NUMBER.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a delay: {text[:40]!r} (a number of µs, or "
                                         "with a unit: 250us, 1.5ms, 0.01s)")
    value = float(m[1]) * DELAY_UNITS[(m[2] or "").lower().replace("µs", "us")]
    if not math.isfinite(value) or abs(value) > 1e12:
        raise argparse.ArgumentTypeError(f"delay out of range: {text[:40]!r}")
    return value


def delay_range(text: str) -> tuple[float, float, int]:
    """A:B:N, delays A to B (µs, or with units) at N evenly spaced points, both ends in."""
    parts = text.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(
            f"not A:B:N: {text[:40]!r} (e.g. --delays=-20ms:20ms:200; a value that starts "
            "with - needs the =)")
    a, b = delay(parts[0]), delay(parts[1])
    try:
        n = int(parts[2])
    except ValueError:
        raise argparse.ArgumentTypeError(f"N must be a whole number: {parts[2][:40]!r}") from None
    if not 1 <= n <= MAX_DELAYS:
        raise argparse.ArgumentTypeError(f"N must be 1 to {MAX_DELAYS:,}, not {n}")
    if n > 1 and b <= a:
        raise argparse.ArgumentTypeError(f"B must be above A in {text[:40]!r}")
    return a, b, n


def resident(text: str) -> float:
    """`all` (1), `none` (0) or a fraction 0..1 of each VMA's pages taken as resident
    where the layout has no Rss."""
    named = {"all": 1.0, "none": 0.0}
    if text in named:
        return named[text]
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not all, none or a fraction: {text[:40]!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a fraction between 0 and 1, not {text[:40]}")
    return value


def add_parser(sub, pmd_shift, maps_shared_rule_option, quiet_option) -> None:
    p = sub.add_parser("timed", help="timed model: PTE-lock contention and wait (µs) at each "
                       "start delay of the reaper, from the layout's sizes and measured costs")
    p.add_argument("layout", help="a /proc/PID/maps or smaps file, or bundled/NAME")
    p.add_argument("--order", choices=ORDERS, default=None,
                   help="the reaper's VMA order; default both (text), and reverse for the "
                        "JSON summary")
    p.add_argument("--exit-order", choices=ORDERS, default="forward",
                   help="exit_mmap's VMA order (the kernel's is forward; default forward)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--delay", type=delay, metavar="D",
                       help="one delay of the reaper's start after exit_mmap's, µs (or with "
                            "a unit: 2ms); negative: the reaper starts first")
    group.add_argument("--delays", type=delay_range, metavar="A:B:N",
                       help="N delays from A to B (default: 200 over the overlap window, "
                            "from the reaper ending as exit_mmap starts to the reaper "
                            "starting as exit_mmap ends)")
    p.add_argument("--costs", metavar="FILE",
                   help="a cost file (JSON, written by experiment --calibrate); default: "
                        "the one shipped, measured on the development machine")
    p.add_argument("--resident", type=resident, default=1.0, metavar="all|none|F",
                   help="pages taken as resident where the layout has no Rss (plain maps): "
                        "all (default), none, or a fraction")
    p.add_argument("--pmd-shift", type=pmd_shift, default=None, metavar="S",
                   help="log2 of the range one PTE page table maps, 12..63, or auto (default)")
    maps_shared_rule_option(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    quiet_option(p)


def load_costs_arg(path: str | None, usage_error, command: str | None = None):
    """The cost file of --costs (default: the shipped one); a bad one is a usage error
    worded as the command's other option errors (`reapcheck timed: ...`) when `command`
    is given, else `reapcheck: ...`."""
    from .timed_costs import CostsError, default_costs, load_costs

    try:
        return default_costs() if path is None else load_costs(path)
    except CostsError as err:
        prog = f"reapcheck {command}" if command else "reapcheck"
        raise usage_error(f"{prog}: {err}") from None


def _delays(args):
    from .timed import linspace

    if args.delay is not None:
        return [args.delay]
    if args.delays is not None:
        return linspace(*args.delays)
    return None


def command(args, load_layout, resolve_pmd_shift, usage_error, warn) -> int:
    from . import timed as timed_mod

    costs = load_costs_arg(args.costs, usage_error, "timed")  # before the layout: a bad file is one line
    layout = load_layout(args.layout, args.maps_shared_rule)
    shift = resolve_pmd_shift(layout, args.pmd_shift)
    orders = (args.order,) if args.order else ORDERS
    config = timed_mod.WalkConfig("reverse", "ptl", shift, args.exit_order)
    try:
        results = timed_mod.timed_orders(layout, config, costs, orders, _delays(args),
                                         resident=args.resident)
    except timed_mod.TimedInputError as err:
        raise usage_error(f"reapcheck timed: {err}") from None
    warn(args.layout, layout)
    if args.json:
        print(json.dumps(timed_mod.timed_json(results, args.order or "reverse"), indent=1))
    else:
        print(render(results, layout))
    return 0


def _us(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value / 1000:,.2f} ms"
    return f"{value:,.1f} µs"


def share_text(share: float | None) -> str:
    """A share 0..1 as a percentage: `n/a` for None (no delay to take it over); 0% and
    100% only when exactly 0 or 1, else as many decimals (up to 4) as keep it strictly
    between them (0.995: 99.5%, not 100%)."""
    if share is None:
        return "n/a"
    if share <= 0 or share >= 1:
        return f"{100 * share:.0f}%"
    for decimals in range(5):
        text = f"{100 * share:.{decimals}f}"
        if 0 < float(text) < 100:
            return text + "%"
    return "<0.0001%" if share < 0.5 else ">99.9999%"  # within 5e-7 of 0 or 1


def _mean(value: float | None, unit=None) -> str:
    if value is None:
        return "n/a"
    return unit(value) if unit else f"{value:,.1f}"


def render(results, layout) -> str:
    """Text: the configuration, one line of summaries per order, a plot per order."""
    first = results[0]
    costs = first.costs
    cfg = first.config
    where = costs.meta.get("measured") or costs.source
    lines = [
        f"layout:   {layout.path}: {len(layout)} VMAs; PMD shift {cfg.pmd_shift}; "
        f"exit_mmap {cfg.exit_order}",
        f"costs:    {costs.source} ({where}): exit_mmap {costs.exit_mmap.c_item_us:g} µs "
        f"per item + {costs.exit_mmap.c_page_us:g} µs per page; reaper "
        f"{costs.reaper.c_item_us:g} µs per item + {costs.reaper.c_page_us:g} µs per page",
    ]
    check = costs.meta.get("check")
    if isinstance(check, dict) and check.get("text"):
        lines.append(f"kernel:   {check['text']}")
    lines.append("")
    for r in results:
        s = r.summary()
        lines += [
            f"reaper {r.config.order}: exit_mmap alone {_us(r.alone_us[0])}, reaper alone "
            f"{_us(r.alone_us[1])}; items {r.exit_items:,} and {r.reaper_items:,}",
            *((f"  over {s['delays_in_window']} delays in the overlap window "
               f"({_us(r.window_us[0])} .. {_us(r.window_us[1])}):",
               f"  mean {s['mean_contentions']:,.1f} PTE-lock contentions, mean wait "
               f"{_us(s['mean_wait_us'])}; some contention at "
               f"{share_text(s['share_with_contention'])} of the delays")
              if s["delays_in_window"] else
              (f"  no delay in the overlap window ({_us(r.window_us[0])} .. "
               f"{_us(r.window_us[1])}): mean contentions n/a, mean wait n/a, share "
               "with contention n/a",)),
            f"  max over the delays: {s['max_contentions']:,} contentions, "
            f"{_us(s['max_wait_us'])} wait",
        ]
        if len(r.points) > 1:
            lines += ["  contentions against the reaper's start delay:"]
            lines += ["  " + row for row in plot(r)]
        else:
            p = r.points[0]
            lines.append(f"  at delay {_us(p.delay_us)}: {p.total_contentions:,} contentions "
                         f"(exit_mmap {p.contentions[0]:,}, reaper {p.contentions[1]:,}), "
                         f"wait {_us(p.total_wait_us)}; exit_mmap ends at {_us(p.end_us[0])}, "
                         f"the reaper at {_us(p.end_us[1])}")
        lines.append("")
    lines.append("A model of time with fitted costs (docs/model.md §8): each item holds its "
                 "PTE lock for its whole cost; a wait is counted once per item.")
    return "\n".join(lines)


def plot(r, width: int = PLOT_WIDTH, height: int = PLOT_HEIGHT) -> list[str]:
    """Contentions against delay as rows of '#': each column the maximum of its delays."""
    pts = r.points
    lo, hi = pts[0].delay_us, pts[-1].delay_us
    cols = min(width, len(pts))
    top = [0] * cols
    for i, p in enumerate(pts):
        c = min(cols - 1, i * cols // len(pts))
        top[c] = max(top[c], p.total_contentions)
    peak = max(top) or 1
    label = len(f"{peak:,}")
    rows = []
    for level in range(height, 0, -1):
        threshold = peak * (level - 0.5) / height
        # the lowest row marks every nonzero column, however small beside the peak
        mark = "".join("#" if v > 0 and (v >= threshold or level == 1) else " "
                       for v in top)
        name = f"{peak:,}" if level == height else ("0" if level == 1 else "")
        rows.append(f"{name:>{label}} |{mark}")
    rows.append(" " * label + " +" + "-" * cols)
    left, right = _us(lo), _us(hi)
    rows.append(" " * (label + 2) + left + right.rjust(max(1, cols - len(left))))
    return rows


def compare_timed(layouts, shifts, exit_order: str, costs) -> list[dict]:
    """Per layout, the timed summaries of both orders (for `compare --timed`)."""
    from . import timed as timed_mod

    out = []
    for layout, shift in zip(layouts, shifts):
        config = timed_mod.WalkConfig("reverse", "ptl", shift, exit_order)
        results = timed_mod.timed_orders(layout, config, costs)
        out.append({"layout": layout.path,
                    **{r.config.order: r.summary() for r in results}})
    return out


TIMED_HEADERS = ["layout", "order", "worst case (ptl)", "timed mean", "timed max",
                 "share with contention", "mean wait"]


def compare_timed_table(rows, worst: dict) -> str:
    """The timed columns beside the ptl worst case, per layout and order."""
    from tabulate import tabulate

    table = []
    for row in rows:
        for order in ORDERS:
            s = row[order]
            table.append([row["layout"], order, worst[(row["layout"], order)],
                          _mean(s["mean_contentions"]), f"{s['max_contentions']:,}",
                          share_text(s["share_with_contention"]),
                          _mean(s["mean_wait_us"], _us)])
    return tabulate(table, headers=TIMED_HEADERS, tablefmt="simple",
                    colalign=("left", "left", "right", "right", "right", "right", "right"))
