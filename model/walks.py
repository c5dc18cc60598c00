"""The two walkers' item sequences: what exit_mmap and the reaper visit, in order (MODEL.md 2-3).

An item is what one actor is "inside" between two steps: a whole VMA at granularity
`vma`, or one (VMA, page-table page) pair at granularity `ptl`. Its `key` is what the
two actors can collide on: the VMA index, or the page-table page (PMD index) whose
split PTE lock zap_pte_range() takes (KERNEL.md "The lock the two walkers fight over").
"""
from __future__ import annotations

from dataclasses import dataclass

from .layout import DEFAULT_PMD_SHIFT, Layout

ORDERS = ("forward", "reverse")
GRANULARITIES = ("vma", "ptl")
ACTORS = ("exit_mmap", "reaper")


@dataclass(frozen=True)
class Item:
    """One critical section of a walker: a VMA, or a VMA's slice under one PTE lock."""

    vma: int
    ptl: int | None = None  # PMD index (address >> pmd_shift) at granularity ptl

    @property
    def key(self) -> int:
        return self.vma if self.ptl is None else self.ptl


@dataclass(frozen=True)
class WalkConfig:
    """Everything that fixes the two walks; carried into every result and trace."""

    order: str = "reverse"  # the reaper's VMA order: forward (before v6.18) or reverse
    granularity: str = "vma"
    pmd_shift: int = DEFAULT_PMD_SHIFT
    exit_order: str = "forward"  # exit_mmap's VMA order; the kernel's is forward

    def __post_init__(self):
        for name, value, allowed in (("order", self.order, ORDERS),
                                     ("exit_order", self.exit_order, ORDERS),
                                     ("granularity", self.granularity, GRANULARITIES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        if not 12 <= self.pmd_shift <= 63:
            raise ValueError(f"pmd_shift must be between 12 and 63, not {self.pmd_shift}")


def vma_order(indices, order: str) -> list[int]:
    """VMA indices in walk order."""
    return sorted(indices, reverse=(order == "reverse"))


def items_for(layout: Layout, vmas: list[int], config: WalkConfig) -> tuple[Item, ...]:
    """Expand VMAs (already in walk order) into items; inside a VMA always low to high."""
    if config.granularity == "vma":
        return tuple(Item(i) for i in vmas)
    return tuple(Item(i, page) for i in vmas
                 for page in layout.vmas[i].ptl_pages(config.pmd_shift))


def exit_mmap_items(layout: Layout, config: WalkConfig) -> tuple[Item, ...]:
    """exit_mmap's unmap_vmas(): every VMA, no filter (KERNEL.md exit_mmap step 2)."""
    return items_for(layout, vma_order(range(len(layout)), config.exit_order), config)


def reaper_items(layout: Layout, config: WalkConfig) -> tuple[Item, ...]:
    """__oom_reap_task_mm(): the reapable VMAs only, in the order under test."""
    return items_for(layout, vma_order(layout.reapable, config.order), config)
