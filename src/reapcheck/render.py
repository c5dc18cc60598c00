"""Text renderings of collision results (data in, plain text out; 80 columns)."""
from __future__ import annotations

from .collisions import Analysis
from .engines.witness import collision_steps


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


def collision_summary(analysis: Analysis) -> str:
    """A few lines for `reapcheck collisions` without --json."""
    layout, cfg, res = analysis.layout, analysis.model.config, analysis.result
    hits = collision_steps(analysis.checked(), 12)  # from the runs: never step by step
    shown = ", ".join(map(str, hits)) + (", ..." if res.max_collisions > 12 else "")
    gran = f"ptl (PMD shift {cfg.pmd_shift})" if cfg.granularity == "ptl" else "vma"
    schedules = "" if res.schedules is None else f", {res.schedules} schedules"
    lines = [
        f"layout:      {layout.path}: {len(layout)} VMAs, "
        f"{len(analysis.model.items[1].vmas)} reapable",
        f"reapable by: {layout.reapable_rule}: {rule_text(layout.reapable_rule)}",
        f"walks:       exit_mmap {cfg.exit_order}, reaper {cfg.order}; granularity {gran}",
        f"items:       exit_mmap {len(analysis.model.items[0])}, "
        f"reaper {len(analysis.model.items[1])}",
        f"worst case:  {res.max_collisions} collisions over all schedules",
        f"engine:      {res.engine}: {res.states} states, {res.transitions} transitions{schedules}",
        f"witness:     {analysis.witness_length} steps; collisions at steps {shown or 'none'}",
    ]
    return "\n".join(lines)


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
