"""Exact worst-case collisions without building the state graph, for layouts of any size.

Why this is exact (README, "How the sparse engine works", has the long form):
the product's states form a (2m+1) x (2n+1) grid of the two positions and every
schedule is a monotone path through it. Group the grid into blocks, one per pair
(exit item k, reaper item l). A path crosses a block either way, and it collides there
at most once, only if the two items share a key (the same VMA, or the same PTE lock);
conversely, at either granularity, every monotone staircase of blocks can be walked
so that it collides once in every matched block it crosses. So the worst case is the
longest chain of matched pairs (k, l) with k and l both non-decreasing: a longest
non-decreasing subsequence, computed Hunt-Szymanski style over matching pairs only.

Consecutive exit items with the same key (small VMAs under one PTE lock) form a run of
`a` identical rows; a chain crosses a run as "down one column, then along the last row",
worth a + (matches taken) - 1. So each run costs one Fenwick query and one update per
reaper item of its key, never a x b. Time O((m + n) log n), memory O(m + n).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from bisect import bisect_right
from itertools import compress, groupby, repeat
from operator import add, gt, sub

from ...model.walk_product import WalkProduct
from ...model.walks import Walk
from ..result import CollisionResult


def key_runs(keys) -> list[tuple[int, int, int]]:
    """(key, first index, last index) of each run of equal consecutive keys."""
    runs, start = [], 0
    for key, group in groupby(keys):
        size = sum(1 for _ in group)
        runs.append((key, start, start + size - 1))
        start += size
    return runs


def longest_matched_chain(exit_keys, reaper_keys, progress=None) -> list[tuple[int, int]]:
    """A longest chain of pairs (k, l), k and l non-decreasing, with exit_keys[k] == reaper_keys[l]."""
    n = len(reaper_keys)
    columns = defaultdict(list)
    for l, key in enumerate(reaper_keys):
        columns[key].append(l)
    runs = key_runs(exit_keys)
    fen_val = [0] * (n + 1)  # Fenwick tree over reaper positions: prefix max of chain length
    fen_node = [-1] * (n + 1)
    node_run, node_col, node_back, node_enter = [], [], [], []
    for r, (key, first, last) in enumerate(runs):
        if progress is not None and r % 4096 == 0:
            progress(r, len(runs))
        cols = columns.get(key)
        if not cols:
            continue
        rows = last - first + 1
        fresh = []
        prev_val, prev_node = -1, -1
        for c in cols:
            i, best, best_node = c + 1, 0, -1
            while i:
                if fen_val[i] > best:
                    best, best_node = fen_val[i], fen_node[i]
                i &= i - 1
            node = len(node_run)
            node_run.append(r)
            node_col.append(c)
            if prev_node >= 0 and prev_val + 1 > best + rows:
                value = prev_val + 1  # continue along this run's last row
                node_back.append(prev_node)
                node_enter.append(False)
            else:
                value = best + rows  # enter the run: down column c through every row
                node_back.append(best_node)
                node_enter.append(True)
            fresh.append((c, value, node))
            prev_val, prev_node = value, node
        for c, value, node in fresh:  # after all queries: a run never chains onto itself
            i = c + 1
            while i <= n and fen_val[i] < value:
                fen_val[i], fen_node[i] = value, node
                i += i & -i
    best, node = 0, -1
    i = n
    while i:
        if fen_val[i] > best:
            best, node = fen_val[i], fen_node[i]
        i &= i - 1
    chain = []
    while node >= 0:
        _, first, last = runs[node_run[node]]
        col = node_col[node]
        if node_enter[node]:
            chain.extend((k, col) for k in range(last, first - 1, -1))
        else:
            chain.append((last, col))
        node = node_back[node]
    chain.reverse()
    return chain


def ascending_chain(exit_walk: Walk, reaper_walk: Walk, progress=None):
    """Longest matched chain when exit_mmap's keys never decrease (its kernel order).

    Works on segments (one per VMA), never on expanded items. A key strictly inside a
    VMA's page range belongs to no other VMA: it occurs once in each walk, so a reapable
    VMA's interior is one diagonal of matches, answered with one query and one update.
    Keys at segment ends (page tables shared between VMAs) get the run treatment of
    `longest_matched_chain`. Returns pieces (k, l, length, diagonal): `length` matched
    pairs from (k, l), down column l (rows k, k+1, ...) or along the diagonal.
    """
    exit_rows = defaultdict(list)  # key at a segment end -> exit_mmap rows with that key
    for first, size, offset in zip(exit_walk.first, exit_walk.sizes, exit_walk.offsets):
        exit_rows[first].append(offset)
        if size > 1:
            exit_rows[first + size - 1].append(offset + size - 1)
    exit_offset = dict(zip(exit_walk.vmas, exit_walk.offsets))
    end_cols = defaultdict(list)  # key at a segment end -> reaper columns with that key
    diagonals = []  # (first key, first exit row, first column, length)
    for vma, first, size, offset in zip(reaper_walk.vmas, reaper_walk.first,
                                        reaper_walk.sizes, reaper_walk.offsets):
        end_cols[first].append(offset)
        if size > 1:
            end_cols[first + size - 1].append(offset + size - 1)
        if size > 2:
            diagonals.append((first + 1, exit_offset[vma] + 1, offset + 1, size - 2))
    events = sorted([(key, -1, 0, 0) for key in end_cols] + diagonals)
    coords = sorted({c for cols in end_cols.values() for c in cols}
                    | {c for _, _, c, _ in diagonals}
                    | {c + size - 1 for _, _, c, size in diagonals})
    # Fenwick tree over the coordinates (prefix maximum of chain length, and the node
    # that set it), inlined: this loop is the engine's whole cost. Every query and
    # update is at a coordinate, so its slot is a dict lookup, not a bisection.
    slot = {c: i for i, c in enumerate(coords, start=1)}
    size_n = len(coords)
    fen_val, fen_node = [0] * (size_n + 1), [-1] * (size_n + 1)
    nodes = []  # (k, l, length, diagonal, back)
    for number, (key, row, col, size) in enumerate(events):
        if progress is not None and number % 4096 == 0:
            progress(number, len(events))
        if row >= 0:  # a VMA's interior: one diagonal
            i, best, back = slot[col], 0, -1
            while i:
                if fen_val[i] > best:
                    best, back = fen_val[i], fen_node[i]
                i &= i - 1
            nodes.append((row, col, size, True, back))
            i, value, node = slot[col + size - 1], best + size, len(nodes) - 1
            while i <= size_n and fen_val[i] < value:  # parents cover children
                fen_val[i], fen_node[i] = value, node
                i += i & -i
            continue
        rows = exit_rows[key]  # ascending by construction, as are the columns
        fresh = []
        prev_val, prev_node = -1, -1
        for c in end_cols[key]:
            i, best, back = slot[c], 0, -1
            while i:
                if fen_val[i] > best:
                    best, back = fen_val[i], fen_node[i]
                i &= i - 1
            if prev_node >= 0 and prev_val + 1 > best + len(rows):
                value = prev_val + 1  # continue along the run's last row
                nodes.append((rows[-1], c, 1, False, prev_node))
            else:
                value = best + len(rows)  # enter the run: down column c
                nodes.append((rows[0], c, len(rows), False, back))
            prev_val, prev_node = value, len(nodes) - 1
            fresh.append((c, value, prev_node))
        for c, value, node in fresh:  # after all queries: a run never chains onto itself
            i = slot[c]
            while i <= size_n and fen_val[i] < value:
                fen_val[i], fen_node[i] = value, node
                i += i & -i
    best, node, i = 0, -1, size_n
    while i:
        if fen_val[i] > best:
            best, node = fen_val[i], fen_node[i]
        i &= i - 1
    pieces = []
    while node >= 0:
        k, l, length, diagonal, node = nodes[node]
        pieces.append((k, l, length, diagonal))
    pieces.reverse()
    return pieces


def _end_rows(exit_walk: Walk) -> dict[int, tuple[int, int]]:
    """exit_mmap in ascending order: for each key at a segment end, its first and last
    row (the rows with one key are consecutive: keys never decrease)."""
    rows = {}
    for first, size, offset in zip(exit_walk.first, exit_walk.sizes, exit_walk.offsets):
        rows[first] = (rows[first][0] if first in rows else offset, offset)
        if size > 1:
            last = offset + size - 1
            rows[first + size - 1] = (last, last)  # a VMA's last key is nobody's before
    return rows


def sorted_chain(exit_walk: Walk, reaper_walk: Walk):
    """`ascending_chain` when the reaper's keys never decrease either (reaper forward),
    in closed form, with the same pieces.

    Both key sequences are sorted, so the matches of key x form one block, rows of x
    times columns of x, the blocks in ascending order along both walks, and the
    longest chain crosses every block: down its first column, along its last row,
    a_x + b_x - 1 for a_x rows and b_x columns. ascending_chain takes the same pieces:
    a node's chain value exceeds every value left of it, so each query's best is the
    piece just before (and on a run's next column, going along beats going down).
    """
    rows, exit_offsets = _end_rows(exit_walk), exit_walk.offsets
    pieces, previous = [], None
    append = pieces.append
    for vma, first, size, column in zip(reaper_walk.vmas, reaper_walk.first,
                                        reaper_walk.sizes, reaper_walk.offsets):
        top, bottom = rows[first]
        if first == previous:  # the previous VMA's last key: along the run's last row
            append((bottom, column, 1, False))
        else:
            append((top, column, bottom - top + 1, False))
        if size > 1:
            if size > 2:  # the interior: one diagonal
                append((exit_offsets[vma] + 1, column + 1, size - 2, True))
            previous = first + size - 1
            top, bottom = rows[previous]
            append((top, column + size - 1, bottom - top + 1, False))
        else:
            previous = first
    return pieces


def descending_chain(exit_walk: Walk, reaper_walk: Walk):
    """`ascending_chain` when the reaper walks its VMAs in descending order (reaper
    reverse), in closed form, with the same pieces.

    A chain's keys never decrease, and every key of a later (lower) VMA is at most the
    first key of an earlier one, so a chain stays in one VMA (its first key, interior
    and last key: a_f + size - 2 + a_l) or in one shared key x, whose columns are the
    first column of one VMA and the last columns of the next ones (a_x + b_x - 1).
    ascending_chain's nodes are computed here in O(1) each, in the same order, with
    the same values and back pointers (a query's best is 0 at a VMA's first column and
    that VMA's own piece before its last column); its final pick among the nodes of
    the maximum value is then reproduced: the first Fenwick range of the final query,
    from the right, holding one, and in it the one updated first (by key, then column).
    """
    rows, exit_offsets = _end_rows(exit_walk), exit_walk.offsets
    nodes = []  # (exit row, column, length, diagonal, back): ascending_chain's nodes
    best, end_slots, end_nodes = 0, [], []  # the maximum value, its nodes and their slots
    slot = 0  # the node's coordinate index, 1-based, in ascending_chain's Fenwick tree
    run_key = run_value = run_node = None  # the last column of one key's event so far
    for vma, first, size, column in zip(reaper_walk.vmas, reaper_walk.first,
                                        reaper_walk.sizes, reaper_walk.offsets):
        last = first + size - 1
        top, bottom = rows[first]
        if size == 1:
            slot += 1
            if first == run_key:  # along the event's last row: prev + 1 beats 0 + a_x
                nodes.append((bottom, column, 1, False, run_node))
                value = run_value + 1
            else:
                nodes.append((top, column, bottom - top + 1, False, -1))
                value = bottom - top + 1
        else:
            slot += 1  # the first column: a new event, nothing to its left yet
            nodes.append((top, column, bottom - top + 1, False, -1))
            head_node, head_value = len(nodes) - 1, bottom - top + 1
            before_node, before_value = head_node, head_value
            if size > 2:  # the interior diagonal, stored at its last column
                slot += 1 if size == 3 else 2
                nodes.append((exit_offsets[vma] + 1, column + 1, size - 2, True, head_node))
                before_node, before_value = len(nodes) - 1, head_value + size - 2
            slot += 1
            top, bottom = rows[last]
            value = before_value + bottom - top + 1  # enter: down the last column
            if last == run_key and run_value + 1 > value:  # along the last row
                nodes.append((bottom, column + size - 1, 1, False, run_node))
                value = run_value + 1
            else:
                nodes.append((top, column + size - 1, bottom - top + 1, False, before_node))
        if value >= best:
            if value > best:
                best, end_slots, end_nodes = value, [], []
            end_slots.append(slot)
            end_nodes.append(len(nodes) - 1)
        if size == 1:
            run_key, run_value, run_node = first, value, len(nodes) - 1
        else:
            run_key, run_value, run_node = first, head_value, head_node
    node = _final_pick(end_slots, end_nodes, slot,
                       lambda node: (reaper_walk.key(nodes[node][1]), nodes[node][1]))
    pieces = []
    while node >= 0:
        k, l, length, diagonal, node = nodes[node]
        pieces.append((k, l, length, diagonal))
    pieces.reverse()
    return pieces


def _final_pick(slots, candidates, n: int, order) -> int:
    """The node ascending_chain's final Fenwick query over n slots returns among
    `candidates` (all of the maximum value, at ascending `slots`), -1 when none;
    `order(node)` is its update order, (key, column).

    The query visits the ranges (i - lowbit(i), i] for i = n, n & (n - 1), ..., right
    to left, and keeps the first that holds the maximum: the range of the rightmost
    candidate. In it, the node stored is the one updated to the maximum first."""
    if not candidates:
        return -1
    i = n
    while i & (i - 1) >= slots[-1]:  # the range (i & (i - 1), i] holds the last slot
        i &= i - 1
    low = i & (i - 1)
    first = bisect_right(slots, low)
    return min(candidates[first:], key=order)


def staircase(pieces, m: int, n: int) -> tuple[tuple[int, int], ...]:
    """Block moves through every piece, run-length encoded: (kind, count) with kind 0
    (exit_mmap finishes an item), 1 (the reaper does) or 2 (exit_mmap then the reaper,
    along a diagonal). Never expanded: one run per piece side, whatever the VMA sizes."""
    kinds, counts = [-1], [0]  # a sentinel run, dropped at the end
    add_kind, add_count = kinds.append, counts.append
    last = -1  # kinds[-1]
    k = l = 0
    for k2, l2, length, diagonal in pieces:
        # (exit_mmap down to row k2, reaper across to column l2), then the piece itself;
        # each run merged with an equal last one (the three written out: the hot loop)
        if k2 > k:
            if last == 0:
                counts[-1] += k2 - k
            else:
                add_kind(0)
                add_count(k2 - k)
                last = 0
        if l2 > l:
            if last == 1:
                counts[-1] += l2 - l
            else:
                add_kind(1)
                add_count(l2 - l)
                last = 1
        if length > 1:
            kind = 2 if diagonal else 0
            if last == kind:
                counts[-1] += length - 1
            else:
                add_kind(kind)
                add_count(length - 1)
                last = kind
        k, l = k2 + length - 1, l2 + length - 1 if diagonal else l2
    for kind, count in ((0, m - k), (1, n - l)):
        if count > 0:
            if kinds[-1] == kind:
                counts[-1] += count
            else:
                kinds.append(kind)
                counts.append(count)
    return tuple(zip(kinds[1:], counts[1:]))


def moves_of(stair):
    """The single block moves (0 exit_mmap, 1 reaper) of a staircase, one by one."""
    for kind, count in stair:
        movers = (0, 1) if kind == 2 else (kind,)
        for _ in range(count):
            yield from movers


def realize(model: WalkProduct, stair):
    """Yield the schedule of staircase `stair` that collides once in every matched block.

    ptl: each item is locked and unlocked at a block corner, where the other actor
    waits exactly when its next item shares the lock. vma: both actors stay inside
    an item and hand over (leave, enter next), so every block is a both-inside state.
    Lazy: for checking small witnesses and the tests; long ones go through
    engines/explicit/witness.py's runs.
    """
    actions = model.actions  # (exit enter, exit leave, reaper enter, reaper leave)
    if model.exclusive:
        for who in moves_of(stair):
            yield actions[2 * who]
            yield actions[2 * who + 1]
        return
    sizes = [len(walk) for walk in model.items]
    for who in (0, 1):
        if sizes[who]:
            yield actions[2 * who]
    done = [0, 0]
    for who in moves_of(stair):
        yield actions[2 * who + 1]
        done[who] += 1
        if done[who] < sizes[who]:
            yield actions[2 * who]


def state_space_size(model: WalkProduct) -> tuple[int, int]:
    """Reachable states and transitions, counted without enumerating them.

    The full grid, minus (ptl) one state per matched pair, where both would hold the same
    lock; each such state has two in- and two out-edges, shared with no other. A key
    inside a VMA's page range matches one exit_mmap item; a key at a segment end matches
    every VMA that ends or starts in that page table.
    """
    m, n = (len(walk) for walk in model.items)
    states = (2 * m + 1) * (2 * n + 1)
    transitions = 2 * m * (2 * n + 1) + 2 * n * (2 * m + 1)
    if model.exclusive:
        exits, reapers = model.items
        exit_count = Counter(exits.first)  # key at a segment end -> exit_mmap items
        exit_count.update(_last_keys(exits))
        # interiors: the sum of size - 2 over sizes > 1 (every size is at least 1)
        interiors = reapers.total - 2 * len(reapers.sizes) + reapers.sizes.count(1)
        forbidden = (sum(map(exit_count.__getitem__, reapers.first))
                     + sum(map(exit_count.__getitem__, _last_keys(reapers))) + interiors)
        states -= forbidden
        transitions -= 4 * forbidden
    return states, transitions


def _last_keys(walk: Walk):
    """The last key of each segment of more than one key (at C speed)."""
    lasts = map(add, walk.first, map(sub, walk.sizes, repeat(1)))
    return compress(lasts, map(gt, walk.sizes, repeat(1)))


PER_ITEM_LIMIT = 20_000_000  # items the per-item algorithm may hold (about 1 GiB)


class TooManyItems(ValueError):
    """`--exit-order reverse` on a layout whose items do not fit in memory."""


def explore(model: WalkProduct, progress=None) -> CollisionResult:
    """Worst case and witness for a walk product of any size (exit_mmap forward, the
    kernel's order); with exit_mmap reverse, of at most PER_ITEM_LIMIT items in all
    (TooManyItems otherwise: that algorithm holds every item's key)."""
    exit_walk, reaper_walk = model.items
    if model.config.exit_order == "forward":  # ascending_chain, in closed form
        chain = sorted_chain if model.config.order == "forward" else descending_chain
        pieces = chain(exit_walk, reaper_walk)
    else:  # exit_mmap's keys go down somewhere: the general per-item algorithm
        items = len(exit_walk) + len(reaper_walk)
        if items > PER_ITEM_LIMIT:
            raise TooManyItems(
                f"exit_mmap reverse needs every item in memory: {items:,} items (VMA, page "
                f"table) is over the limit of {PER_ITEM_LIMIT:,}; exit_mmap forward (the "
                "kernel's order) has no limit")
        chain = longest_matched_chain(exit_walk.key_list(), reaper_walk.key_list(), progress)
        pieces = [(k, l, 1, False) for k, l in chain]
    stair = staircase(pieces, len(exit_walk), len(reaper_walk))
    states, transitions = state_space_size(model)
    best = sum(length for _, _, length, _ in pieces)
    return CollisionResult(best, None, stair, "sparse", states, transitions, None)
