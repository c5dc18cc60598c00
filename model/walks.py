"""The two walkers' item sequences: what exit_mmap and the reaper visit, in order
(docs/model.md §2-3).

An item is what one actor is "inside" between two steps: a whole VMA at granularity
`vma`, or one (VMA, page-table page) pair at granularity `ptl`. Its `key` is what the
two actors can collide on: the VMA index, or the page-table page (PMD index) whose
split PTE lock zap_pte_range() takes (docs/kernel.md §7).
"""
from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate, repeat
from operator import add, rshift, sub
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


class Walk:
    """One walker's item sequence, stored as one segment per VMA (never expanded).

    At granularity vma a segment is one item whose key is the VMA index; at ptl it is
    the VMA's page-table pages, ascending: keys first, first+1, ..., first+size-1.
    A VMA over terabytes costs one segment, not millions of items.
    """

    def __init__(self, layout: Layout, vmas: list[int], config: WalkConfig):
        self.vmas = tuple(vmas)
        self.ptl = config.granularity == "ptl"
        if self.ptl:  # Vma.ptl_pages, at C speed: maps over the layout's bounds
            shift, (starts, ends) = config.pmd_shift, layout.bounds
            if self.vmas != tuple(range(len(starts))):  # not every VMA in address order
                starts, ends = (list(map(column.__getitem__, self.vmas))
                                for column in (starts, ends))
            lasts = map(rshift, map(sub, ends, repeat(1)), repeat(shift))
            self.first = tuple(map(rshift, starts, repeat(shift)))
            self.sizes = tuple(map(add, map(sub, lasts, self.first), repeat(1)))
        else:
            self.first = self.vmas
            self.sizes = (1,) * len(self.vmas)
        offsets = list(accumulate(self.sizes, initial=0))
        self.total = offsets.pop()
        self.offsets = tuple(offsets)

    def __len__(self) -> int:
        return self.total

    def segment_of(self, index: int) -> int:
        """Which segment (VMA in walk order) holds item `index`."""
        return bisect_right(self.offsets, index) - 1

    def key(self, index: int) -> int:
        seg = self.segment_of(index)
        return self.first[seg] + index - self.offsets[seg]

    def item(self, index: int) -> Item:
        seg = self.segment_of(index)
        if not self.ptl:
            return Item(self.vmas[seg])
        return Item(self.vmas[seg], self.first[seg] + index - self.offsets[seg])

    def keys(self):
        """Every item's key, in order (a lazy sequence)."""
        return _Keys(self)

    def key_list(self) -> list[int]:
        """Every item's key, materialized (fast: one range per segment)."""
        out = []
        for first, size in zip(self.first, self.sizes):
            out.extend(range(first, first + size))
        return out

    def iter_items(self):
        """(vma, key) of every item, in order, generated one by one (never materialized)."""
        for vma, first, size in zip(self.vmas, self.first, self.sizes):
            for key in range(first, first + size):
                yield vma, key


class _Keys:
    """Read-only sequence view of a walk's keys, for `ops.lookup`."""

    def __init__(self, walk: Walk):
        self.walk = walk

    def __len__(self) -> int:
        return len(self.walk)

    def __getitem__(self, index: int) -> int:
        if not 0 <= index < len(self.walk):
            raise IndexError(index)
        return self.walk.key(index)


def exit_mmap_walk(layout: Layout, config: WalkConfig) -> Walk:
    """exit_mmap's unmap_vmas(): every VMA, no filter (docs/kernel.md §6, step 2)."""
    return Walk(layout, vma_order(range(len(layout)), config.exit_order), config)


def reaper_walk(layout: Layout, config: WalkConfig) -> Walk:
    """__oom_reap_task_mm(): the reapable VMAs only, in the order under test."""
    return Walk(layout, vma_order(layout.reapable, config.order), config)
