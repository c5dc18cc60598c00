"""Text renderings of collision results (data in, plain text out; 80 columns)."""
from __future__ import annotations

from .collisions import Analysis
from .engines.witness import collision_steps


def reduction(forward: int, reverse: int) -> str:
    """How many times fewer worst-case collisions the reverse walk has."""
    if reverse == 0:
        return "-" if forward == 0 else "all"
    return f"{forward / reverse:.1f}x"


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
        f"walks:       exit_mmap {cfg.exit_order}, reaper {cfg.order}; granularity {gran}",
        f"items:       exit_mmap {len(analysis.model.items[0])}, "
        f"reaper {len(analysis.model.items[1])}",
        f"worst case:  {res.max_collisions} collisions over all schedules",
        f"engine:      {res.engine}: {res.states} states, {res.transitions} transitions{schedules}",
        f"witness:     {analysis.witness_length} steps; collisions at steps {shown or 'none'}",
    ]
    return "\n".join(lines)


def compare_rows(pairs) -> list[list]:
    """Rows of (layout, VMAs, reapable, granularity, forward, reverse, reduction)."""
    rows = []
    for forward, reverse in pairs:
        layout = forward.layout
        fwd, rev = forward.result.max_collisions, reverse.result.max_collisions
        rows.append([layout.path, len(layout), len(layout.reapable),
                     forward.model.config.granularity, fwd, rev, reduction(fwd, rev)])
    return rows


COMPARE_HEADERS = ["layout", "VMAs", "reapable", "granularity", "forward", "reverse", "reduction"]


def compare_table(pairs, fmt: str = "simple") -> str:
    """Worst-case collisions, reaper forward vs reverse, for each layout and granularity."""
    from tabulate import tabulate  # 80 ms to import: only for tables

    return tabulate(compare_rows(pairs), headers=COMPARE_HEADERS, tablefmt=fmt,
                    colalign=("left", "right", "right", "left", "right", "right", "right"))
