"""Text renderings of collision results (data in, plain text out; 80 columns)."""
from __future__ import annotations

from fractions import Fraction
import math
import textwrap

from .collisions import Analysis
from .engines.explicit.witness import collision_steps
from .witness_text import plural, snippet

EXACT_DIGITS = 15  # counts below 10**EXACT_DIGITS are printed whole, larger ones rounded


def reduction(forward: int, reverse: int) -> str:
    """How many times fewer worst-case collisions the reverse walk has."""
    if reverse == 0:
        return "-" if forward == 0 else "all"
    return f"{forward / reverse:.1f}x"


# What each `reapable_rule` (Layout.reapable_rule) means, for the notes under tables.
REAPABLE_RULES = {
    "vmflags": "smaps VmFlags: none of ht, pf, sh (exact)",
    "private": "plain maps: 4th permission character p (docs/model.md §1)",
    "writable": "plain maps: p, or s without w (--maps-shared-rule writable)",
}


def rule_text(rule: str) -> str:
    """One reapable rule in words (`vmflags+RULE`: VmFlags where given, else RULE)."""
    if rule.startswith("vmflags+"):
        plain = rule.removeprefix("vmflags+")
        return f"VmFlags where given, else {REAPABLE_RULES[plain]}"
    return REAPABLE_RULES[rule]


def rule_legend(rules) -> str:
    """The line under a compare table: each `reapable by` value used, in words."""
    return "reapable by: " + "; ".join(f"{rule} = {rule_text(rule)}"
                                       for rule in dict.fromkeys(rules))


def scientific(n: int) -> tuple[str, int]:
    """(mantissa, exponent) of a positive integer n rounded to two significant digits:
    n ~ mantissa * 10**exponent, 1.0 <= mantissa < 10. The float log10 only guesses the
    exponent; integer arithmetic fixes it and rounds (no int-to-str: Python refuses that
    past 4,300 digits)."""
    if n <= 0:
        raise ValueError(f"want a positive integer, not {n}")
    exponent = int(math.log10(n))  # may be off by one for huge n: corrected below
    while 10 ** exponent > n:
        exponent -= 1
    while 10 ** (exponent + 1) <= n:
        exponent += 1
    tenths = round(Fraction(10 * n, 10 ** exponent))  # 10..100, half to even
    if tenths == 100:
        tenths, exponent = 10, exponent + 1
    return f"{tenths // 10}.{tenths % 10}", exponent


def count_text(n: int, noun: str) -> str:
    """A count for text output: whole (thousands separated) below 10**EXACT_DIGITS, else
    as an order of magnitude, `about 10^399 schedules (4.1e399)`. JSON keeps the integer."""
    if n < 10 ** EXACT_DIGITS:
        return f"{n:,} {noun.removesuffix('s') if n == 1 else noun}"
    mantissa, exponent = scientific(n)
    return f"about 10^{exponent} {noun} ({mantissa}e{exponent})"


def collision_summary(analysis: Analysis) -> str:
    """A few lines for `reapcheck collisions` without --json."""
    layout, cfg, res = analysis.layout, analysis.model.config, analysis.result
    hits = collision_steps(analysis.checked(), 12)  # from the runs: never step by step
    shown = ", ".join(map(str, hits)) + (", ..." if res.max_collisions > 12 else "")
    gran = f"ptl (PMD shift {cfg.pmd_shift})" if cfg.granularity == "ptl" else "vma"
    schedules = "" if res.schedules is None else f", {count_text(res.schedules, 'schedules')}"
    lines = [
        f"layout:      {layout.path}: {plural(len(layout), 'VMA')}, "
        f"{len(analysis.model.items[1].vmas)} reapable",
        f"reapable by: {layout.reapable_rule}: {rule_text(layout.reapable_rule)}",
        f"walks:       exit_mmap {cfg.exit_order}, reaper {cfg.order}; granularity {gran}",
        f"items:       exit_mmap {len(analysis.model.items[0])}, "
        f"reaper {len(analysis.model.items[1])}",
        f"worst case:  {plural(res.max_collisions, 'collision')} over all schedules",
        f"engine:      {res.engine}: {count_text(res.states, 'states')}, "
        f"{count_text(res.transitions, 'transitions')}{schedules}",
        f"witness:     {plural(analysis.witness_length, 'step')}; "
        + (f"collision{'s' if len(hits) > 1 else ''} at step{'s' if len(hits) > 1 else ''} "
           f"{shown}" if hits else "no collisions"),
    ]
    lines += snippet(analysis.model, analysis.checked(), analysis.witness_length)
    return "\n".join(lines)


def compare_legend(exit_order: str = "forward") -> str:
    """The lines under a compare table: what its numbers count and what reduction means."""
    exit_walk = {"forward": "upward, as the kernel does",
                 "reverse": "downward (--exit-order reverse)"}[exit_order]
    notes = [
        "collision (properties/collisions.py, docs/model.md §3): vma = a step into a state "
        "where both walkers are inside the same VMA; ptl = a step from a state where no "
        "walker waits into one where a walker waits for a page-table (PTE) lock the "
        "other holds",
        "forward, reverse = the most collisions over all schedules, the reaper walking "
        f"the VMAs upward (before v6.18) or downward (v6.18); exit_mmap walks {exit_walk}",
        "reduction = forward / reverse: how many times fewer collisions the reverse walk "
        "allows at worst; all = reverse is 0 and forward is not; - = both are 0",
    ]
    return "\n".join(line for note in notes
                     for line in textwrap.wrap(note, 80, subsequent_indent="  "))


def compare_rows(pairs) -> list[list]:
    """Rows of (layout, VMAs, reapable, reapable by, granularity, forward, reverse,
    reduction)."""
    rows = []
    for forward, reverse in pairs:
        layout = forward.layout
        fwd, rev = forward.result.max_collisions, reverse.result.max_collisions
        rows.append([layout.path, len(layout), len(layout.reapable), layout.reapable_rule,
                     forward.model.config.granularity, fwd, rev, reduction(fwd, rev)])
    return rows


COMPARE_HEADERS = ["layout", "VMAs", "reapable", "reapable by", "granularity", "forward",
                   "reverse", "reduction"]


def compare_table(pairs, fmt: str = "simple") -> str:
    """Worst-case collisions, reaper forward vs reverse, for each layout and granularity."""
    from tabulate import tabulate  # 80 ms to import: only for tables

    return tabulate(compare_rows(pairs), headers=COMPARE_HEADERS, tablefmt=fmt,
                    colalign=("left", "right", "right", "left", "left", "right", "right",
                              "right"))
