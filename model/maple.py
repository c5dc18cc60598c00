"""The reaper's VMA walks as maple-tree iterator steps (docs/model.md §4, docs/kernel.md §2).

Models Linux v6.16 lib/maple_tree.c and include/linux/mm.h over the tree's leaf ranges:

- `MapleTree`, `build`: mm->mm_mt. A VMA is the range [vm_start, vm_end - 1], a gap is one
  NULL range (the tree merges adjacent NULLs), and the ranges cover [0, ULONG_MAX].
- `MaState`: struct ma_state reduced to (index, last, status). The node/offset position is
  implied: while active, [index, last] is exactly one range, the one containing `index`.
- `ma_state`, `vma_iterator`: MA_STATE(mas, mt, index, last); VMA_ITERATOR(vmi, mm, addr)
  (sets index and status only, last stays 0).
- `mas_walk`, `mas_next_slot`, `mas_prev_slot`: the internal steps (empty == false).
- `mas_find`, `mas_prev`, `mas_find_rev`: the public steps, each with its setup
  (mas_find_setup, mas_prev_setup, mas_find_rev_setup) inlined, case by case.
- Walks: `forward` = for_each_vma (vma_next = mas_find(ULONG_MAX)); `rev_prev` =
  while (vma_prev()) (mas_prev(0)); `rev_find_bad_last` = MA_STATE(ULONG_MAX, 0) and
  while (mas_find_rev(0)); `rev_find` = mas_for_each_rev from MA_STATE(ULONG_MAX, ULONG_MAX).

Not modelled, because unreachable here: ma_none (empty tree; a Layout has a VMA), ma_pause
(no mas_pause), ma_error (no stores), dead-node rewalks (the walk holds mmap_lock), and
ma_root (a lone entry [0, 0], i.e. a lone VMA [0, 1)): tracing that case through the
ma_root branches of the setups gives the same visits as the one-node tree modelled here.

Every step is `step(tree, state, bound) -> (entry, state')` with entry a VMA index or None.
The only loops are in the slot steps; they run at most twice (a NULL range is always next
to a VMA), so an encoding can unroll them.

One definition, two engines: the Z3 engine (src/reapcheck/engines/symbolic/z3_maple.py) does not
re-model these steps, it EXECUTES the functions below on symbolic values: a tree whose
`lo`, `hi`, `entry` and `slot` give Z3 terms, and a state whose index/last are 64-bit
bit-vectors and whose status is a 2-bit code. Each `if` on a symbolic comparison forks the
run, `tree.entry[p] is None` forks on "range p is NULL", and the forks are merged back into
if-then-else terms (symbolic execution with path merging). So a step may only use what
both kinds of value support: comparisons of addresses with each other or with ints,
`status == "name"` / `status in (...)`, `p + 1` / `p - 1` on slot indices, reads of
`tree.lo/hi/entry[p]` and `tree.slot(addr)`, `replace()` and `MaState(...)`, and loops
whose exit is decided by those comparisons. `walk_loop` gives both engines the same
initial state and step for each walk.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, replace
from typing import Callable, Literal

from .layout import Layout, ULONG_MAX

# -- the tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MapleTree:
    """Leaf ranges in address order: range i is [lo[i], hi[i]] holding entry[i] (VMA or None)."""

    lo: tuple[int, ...]
    hi: tuple[int, ...]
    entry: tuple[int | None, ...]

    def slot(self, addr: int) -> int:
        """The range containing addr (mtree_range_walk)."""
        return bisect_right(self.lo, addr) - 1


def build(layout: Layout) -> MapleTree:
    """mm->mm_mt for a layout: VMA i as [start, end - 1], gaps as NULL ranges."""
    ranges: list[tuple[int, int, int | None]] = []
    addr = 0
    for i, vma in enumerate(layout.vmas):
        if vma.start > addr:
            ranges.append((addr, vma.start - 1, None))
        ranges.append((vma.start, vma.end - 1, i))
        addr = vma.end
    if addr <= ULONG_MAX:
        ranges.append((addr, ULONG_MAX, None))
    lo, hi, entry = zip(*ranges)
    return MapleTree(lo, hi, entry)


# -- state and Init ---------------------------------------------------------------------

Status = Literal["start", "active", "underflow", "overflow"]  # ma_start, ma_active, ...


@dataclass(frozen=True)
class MaState:
    """struct ma_state: the search window [index, last] and the status."""

    index: int
    last: int
    status: Status


def ma_state(index: int, last: int) -> MaState:
    """MA_STATE(mas, mt, index, last): a fresh state."""
    return MaState(index, last, "start")


def vma_iterator(addr: int) -> MaState:
    """VMA_ITERATOR(vmi, mm, addr): index = addr, status ma_start; last stays 0."""
    return MaState(addr, 0, "start")


Step = tuple[int | None, MaState]  # what a step returns: (entry or NULL, next state)


# -- internal steps ---------------------------------------------------------------------


def mas_walk(tree: MapleTree, s: MaState) -> Step:
    """mas_walk(): go to the range containing index; index/last become that range."""
    p = tree.slot(s.index)
    return tree.entry[p], MaState(tree.lo[p], tree.hi[p], "active")


def mas_next_slot(tree: MapleTree, s: MaState, max_: int) -> Step:
    """mas_next_slot(mas, max, false): the next non-NULL range above index, up to max."""
    p = tree.slot(s.index)
    if tree.hi[p] >= max_:  # was at the limit, next would extend beyond
        return None, replace(s, status="overflow")
    while True:
        p += 1
        s = MaState(tree.lo[p], tree.hi[p], "active")
        if tree.entry[p] is not None:
            return tree.entry[p], s
        if s.last >= max_:
            return None, replace(s, status="overflow")


def mas_prev_slot(tree: MapleTree, s: MaState, min_: int) -> Step:
    """mas_prev_slot(mas, min, false): the previous non-NULL range below index, down to min."""
    p = tree.slot(s.index)
    if tree.lo[p] <= min_:
        return None, replace(s, status="underflow")
    while True:
        p -= 1
        s = MaState(tree.lo[p], tree.hi[p], "active")
        if tree.entry[p] is not None:
            return tree.entry[p], s
        if s.index <= min_:
            return None, replace(s, status="underflow")


# -- the operations -----------------------------------------------------------------------


def mas_find(tree: MapleTree, s: MaState, max_: int) -> Step:
    """mas_find(): first call the entry at or above index; later the next one, up to max."""
    if s.status == "active":
        if s.last >= max_:
            return None, s
    else:
        if s.status == "start":
            if s.index > max_:
                return None, s
        elif s.status == "underflow" and s.index >= max_:
            return None, replace(s, status="overflow")
        elif s.status == "overflow" and s.last >= max_:
            return None, s
        entry, s = mas_walk(tree, s)
        if entry is not None:
            return entry, s
        if s.index == max_:
            return None, s
    entry, s = mas_next_slot(tree, s, max_)
    return entry, replace(s, status="active")  # mas_find ignores overflow


def mas_prev(tree: MapleTree, s: MaState, min_: int) -> Step:
    """mas_prev(): the entry below the current range; a fresh state walks to index and
    DISCARDS the entry there, so the range containing index is never returned."""
    if s.index <= min_:
        return None, replace(s, status="underflow")
    if s.status == "start":
        _, s = mas_walk(tree, s)  # the entry at index is dropped
    elif s.status == "overflow":  # the user expects mas one after where it is
        entry, s = mas_walk(tree, s)
        if entry is not None:
            return entry, s
    elif s.status == "underflow":  # underflowed before, but min changed
        s = replace(s, status="active")
    return mas_prev_slot(tree, s, min_)


def mas_find_rev(tree: MapleTree, s: MaState, min_: int) -> Step:
    """mas_find_rev(): first call the entry at or below index; later the next one below,
    down to min. `last` is never read before mas_walk overwrites it."""
    if s.status == "start":
        if s.index < min_:
            return None, s
        entry, s = mas_walk(tree, s)
        if entry is not None:
            return entry, s
    elif s.status in ("underflow", "overflow"):
        if s.index <= min_:
            return None, replace(s, status="underflow")
        s = replace(s, status="active")
    if s.index < min_:
        return None, s
    return mas_prev_slot(tree, s, min_)


# -- the walks ----------------------------------------------------------------------------

WALKS = ("forward", "rev_prev", "rev_find_bad_last", "rev_find")

_LOOPS: dict[str, tuple[MaState, Callable[[MapleTree, MaState], Step]]] = {
    "forward": (vma_iterator(0), lambda t, s: mas_find(t, s, ULONG_MAX)),
    "rev_prev": (vma_iterator(ULONG_MAX), lambda t, s: mas_prev(t, s, 0)),
    "rev_find_bad_last": (ma_state(ULONG_MAX, 0), lambda t, s: mas_find_rev(t, s, 0)),
    "rev_find": (ma_state(ULONG_MAX, ULONG_MAX), lambda t, s: mas_find_rev(t, s, 0)),
}


def walk_loop(walk: str) -> tuple[MaState, Callable[[MapleTree, MaState], Step]]:
    """The walk's fresh iterator state and the step its kernel loop repeats until NULL."""
    if walk not in _LOOPS:
        raise ValueError(f"unknown walk {walk!r}; valid walks: {', '.join(WALKS)}")
    return _LOOPS[walk]


def visits(layout: Layout, walk: str) -> list[int]:
    """The VMA indices the walk's kernel loop returns, in order, up to its first NULL."""
    state, step = walk_loop(walk)
    tree = build(layout)
    out: list[int] = []
    for _ in range(len(tree.entry) + 1):  # each call moves past one range at least
        entry, state = step(tree, state)
        if entry is None:
            return out
        out.append(entry)
    raise AssertionError(f"walk {walk} did not terminate")  # a modelling bug


def skipped(layout: Layout, walk: str) -> list[int]:
    """VMA indices the walk never returns, ascending."""
    seen = set(visits(layout, walk))
    return [i for i in range(len(layout)) if i not in seen]
