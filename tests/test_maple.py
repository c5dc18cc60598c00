"""The maple-tree walks (model/maple.py) against docs/kernel.md §2.

Every expected value below is derived by hand from docs/kernel.md §2 (and lib/maple_tree.c v6.16),
never copied from the model's output. Notation: a VMA [s, e) is the tree range [s, e - 1];
gaps are NULL ranges; MAX = ULONG_MAX = 2**64 - 1; TOP = 2**64 (an exclusive end that
makes the VMA contain MAX).
"""
from __future__ import annotations

import random

import pytest

from reapcheck.model.layout import ULONG_MAX, Layout, Vma
from reapcheck.model.maple import (
    WALKS, build, ma_state, mas_find, mas_find_rev, mas_prev, skipped, visits, vma_iterator)

PAGE = 4096
TOP = 2**64


def layout(*spans: tuple[int, int]) -> Layout:
    vmas = [Vma(s, e, "rw-p", lineno=i + 1) for i, (s, e) in enumerate(spans)]
    return Layout.checked("hand", vmas)


def random_layout(rng: random.Random) -> Layout:
    """1..6 VMAs; gaps often 0; placed at 0, at the top (end 2**64), both, just below the
    top (end 2**64 - 1, so ULONG_MAX is a one-byte gap), or in the middle."""
    n = rng.choice([1, 1, 2, 3, 4, 6])
    sizes = [rng.randint(1, 4) * PAGE for _ in range(n)]
    gaps = [rng.choice([0, 0, PAGE, rng.randint(1, 2**40) * PAGE]) for _ in range(n - 1)]
    place = rng.choice(["zero", "top", "both", "below_top", "middle"])
    span = sum(sizes) + sum(gaps)
    start = {"zero": 0, "both": 0, "top": TOP - span, "below_top": TOP - 1 - span,
             "middle": rng.randrange(1, 2**62)}[place]
    vmas, addr = [], start
    for i, size in enumerate(sizes):
        end = addr + size
        if place == "both" and i == n - 1:
            end = TOP  # the last VMA stretches to the top; n == 1 covers [0, 2**64)
        vmas.append(Vma(addr, end, "rw-p", lineno=i + 1))
        addr = end + (gaps[i] if i < n - 1 else 0)
    return Layout.checked("random", vmas)


SEEDS = range(400)
LAYOUTS = [random_layout(random.Random(seed)) for seed in SEEDS]


# -- properties over random layouts ---------------------------------------------------


def test_generator_covers_the_edges():
    """The random layouts include every boundary case the properties must hold on."""
    assert any(len(lay) == 1 for lay in LAYOUTS)
    assert any(lay.vmas[0].start == 0 for lay in LAYOUTS)
    assert any(lay.vmas[-1].end == TOP for lay in LAYOUTS)
    assert any(lay.vmas[-1].end == TOP - 1 for lay in LAYOUTS)
    assert any(len(lay) == 1 and lay.vmas[0].start == 0 and lay.vmas[0].end == TOP
               for lay in LAYOUTS)
    assert any(a.end == b.start for lay in LAYOUTS for a, b in zip(lay.vmas, lay.vmas[1:]))


@pytest.mark.parametrize("seed", SEEDS)
def test_walks_on_random_layouts(seed):
    """forward: mas_find returns the entry containing 0 or the first above, then each next
    one up to ULONG_MAX: every VMA once, ascending. rev_find: mas_find_rev returns the entry
    containing ULONG_MAX or the nearest below, then each lower one, stopping after the range
    starting at 0: every VMA once, descending. rev_prev: the first mas_prev discards the
    range containing ULONG_MAX, which is a VMA only if the last VMA ends at 2**64; all else
    descending. rev_find_bad_last: MA_STATE's last is never read on the reverse path before
    mas_walk overwrites it, so it equals rev_find."""
    lay = LAYOUTS[seed]
    n = len(lay)
    top = lay.vmas[-1].end == TOP
    assert visits(lay, "forward") == list(range(n))
    assert visits(lay, "rev_find") == list(range(n - 1, -1, -1))
    assert visits(lay, "rev_prev") == list(range(n - 1 - top, -1, -1))
    assert skipped(lay, "rev_prev") == ([n - 1] if top else [])
    assert visits(lay, "rev_find_bad_last") == visits(lay, "rev_find")
    for walk in ("forward", "rev_find", "rev_find_bad_last"):
        assert skipped(lay, walk) == []


# -- hand cases -------------------------------------------------------------------------


def test_whole_space_vma():
    """One VMA [0, 2**64): the tree is the single range [0, MAX].
    forward: walk from 0 finds it; next call: last == MAX >= max -> NULL.  [0]
    rev_find (and bad_last): walk from MAX finds it; next call: its start 0 <= min -> NULL. [0]
    rev_prev: walk from MAX lands on it and discards it; its start 0 <= min -> NULL.  []"""
    lay = layout((0, TOP))
    assert visits(lay, "forward") == [0]
    assert visits(lay, "rev_find") == [0]
    assert visits(lay, "rev_find_bad_last") == [0]
    assert visits(lay, "rev_prev") == []
    assert skipped(lay, "rev_prev") == [0]


def test_single_vma_in_the_middle():
    """[4096, 8192): ranges NULL [0, 4095], V0 [4096, 8191], NULL [8192, MAX].
    Every walk returns V0 once: no range holds both V0 and an end of the space."""
    lay = layout((PAGE, 2 * PAGE))
    for walk in WALKS:
        assert visits(lay, walk) == [0], walk
        assert skipped(lay, walk) == []


def test_vma_at_zero_and_vma_at_top():
    """V0 [0, 4096), V1 [8192, 2**64): ranges V0 [0, 4095], NULL, V1 [8192, MAX].
    forward: V0, V1, then last == MAX -> NULL.
    rev_find: V1 (contains MAX), V0 (past the NULL), then V0's start 0 <= min -> NULL.
    rev_prev: V1 is the range at index MAX: discarded; then V0; then index 0 <= min -> NULL."""
    lay = layout((0, PAGE), (2 * PAGE, TOP))
    assert visits(lay, "forward") == [0, 1]
    assert visits(lay, "rev_find") == [1, 0]
    assert visits(lay, "rev_find_bad_last") == [1, 0]
    assert visits(lay, "rev_prev") == [0]
    assert skipped(lay, "rev_prev") == [1]


def test_vma_at_zero_is_returned_by_both_reverse_walks():
    """V0 [0, 4096), V1 [8192, 12288): the top range is NULL [12288, MAX], so mas_prev's
    discard drops only a gap. Both reverse walks return V1 then V0 and stop (docs/kernel.md §2:
    "A VMA at address 0 ... is returned by both reverse walks")."""
    lay = layout((0, PAGE), (2 * PAGE, 3 * PAGE))
    for walk in ("rev_prev", "rev_find", "rev_find_bad_last"):
        assert visits(lay, walk) == [1, 0], walk
    assert visits(lay, "forward") == [0, 1]


def test_adjacent_vmas_zero_gaps_from_zero_to_top():
    """V0 [0, 4096), V1 [4096, 8192), V2 [8192, 2**64): three ranges, no NULL at all.
    rev_find: V2, V1, V0. rev_prev: V2 is discarded, then V1, V0. forward: V0, V1, V2."""
    lay = layout((0, PAGE), (PAGE, 2 * PAGE), (2 * PAGE, TOP))
    assert visits(lay, "forward") == [0, 1, 2]
    assert visits(lay, "rev_find") == [2, 1, 0]
    assert visits(lay, "rev_find_bad_last") == [2, 1, 0]
    assert visits(lay, "rev_prev") == [1, 0]
    assert skipped(lay, "rev_prev") == [2]


def test_vma_ending_just_below_ulong_max_is_not_skipped():
    """V0 [4096, 2**64 - 1) is the range [4096, MAX - 1]; MAX itself is a one-byte NULL
    range [MAX, MAX]. mas_prev discards that NULL, then returns V0: nothing is skipped."""
    lay = layout((PAGE, TOP - 1))
    for walk in WALKS:
        assert visits(lay, walk) == [0], walk


def test_lone_one_byte_vma_at_zero():
    """V0 [0, 1) is the range [0, 0] (in the kernel a lone [0, 0] is the ma_root pointer;
    its branches give the same answers). forward: V0, then NULL. Reverse: the walk from MAX
    lands on NULL [1, MAX]; the step below returns V0; the next call stops at index 0."""
    lay = layout((0, 1))
    for walk in WALKS:
        assert visits(lay, walk) == [0], walk


def test_tree_ranges():
    """build(): VMAs as [start, end - 1], one NULL range per gap, covering [0, MAX]."""
    tree = build(layout((PAGE, 2 * PAGE), (2 * PAGE, 3 * PAGE)))
    assert tree.lo == (0, PAGE, 2 * PAGE, 3 * PAGE)
    assert tree.hi == (PAGE - 1, 2 * PAGE - 1, 3 * PAGE - 1, ULONG_MAX)
    assert tree.entry == (None, 0, 1, None)
    assert build(layout((0, TOP))).entry == (0,)


# -- single steps -----------------------------------------------------------------------


def test_fresh_mas_prev_discards_the_range_at_index():
    """V0 [4096, 8192), V1 [8192, 2**64). VMA_ITERATOR(ULONG_MAX) has last = 0, status start.
    mas_prev walks to V1 = [8192, MAX] and drops it, steps to V0 and returns it with
    index/last = V0's range. mas_find_rev from MA_STATE(MAX, MAX) returns V1 itself."""
    tree = build(layout((PAGE, 2 * PAGE), (2 * PAGE, TOP)))
    fresh = vma_iterator(ULONG_MAX)
    assert (fresh.index, fresh.last, fresh.status) == (ULONG_MAX, 0, "start")
    entry, s = mas_prev(tree, fresh, 0)
    assert entry == 0 and (s.index, s.last, s.status) == (PAGE, 2 * PAGE - 1, "active")
    entry, s = mas_find_rev(tree, ma_state(ULONG_MAX, ULONG_MAX), 0)
    assert entry == 1 and (s.index, s.last, s.status) == (2 * PAGE, ULONG_MAX, "active")


def test_calls_after_the_end_stay_null():
    """After a loop's NULL the state is at its limit: forward has last == MAX (mas_find
    forces ma_active, and active with last >= max gives NULL); the reverse walks underflowed
    at index 0 (index <= min gives NULL). A further call returns NULL again."""
    tree = build(layout((0, PAGE), (2 * PAGE, 3 * PAGE)))
    steps = {
        "forward": (vma_iterator(0), lambda s: mas_find(tree, s, ULONG_MAX)),
        "rev_prev": (vma_iterator(ULONG_MAX), lambda s: mas_prev(tree, s, 0)),
        "rev_find": (ma_state(ULONG_MAX, ULONG_MAX), lambda s: mas_find_rev(tree, s, 0)),
    }
    for walk, (s, step) in steps.items():
        entries = []
        for _ in range(len(tree.entry) + 1):  # bounded: a broken step must not hang
            entry, s = step(s)
            if entry is None:
                break
            entries.append(entry)
        assert entry is None and len(entries) == 2, walk
        assert step(s)[0] is None, walk


def test_unknown_walk():
    lay = layout((PAGE, 2 * PAGE))
    with pytest.raises(ValueError) as err:
        visits(lay, "reverse")
    assert all(walk in str(err.value) for walk in WALKS)
    with pytest.raises(ValueError):
        skipped(lay, "backwards")
