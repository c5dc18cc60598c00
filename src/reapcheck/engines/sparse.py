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

from collections import defaultdict
from itertools import groupby

from ..model.walk_product import Action, WalkProduct
from .result import CollisionResult


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


def staircase(chain, m: int, n: int) -> list[int]:
    """Block moves (0 = exit_mmap finishes an item, 1 = the reaper does) through every chain pair."""
    moves, k, l = [], 0, 0
    for k2, l2 in [*chain, (m, n)]:
        moves += [0] * (k2 - k) + [1] * (l2 - l)
        k, l = k2, l2
    return moves


def realize(model: WalkProduct, moves) -> list[Action]:
    """Turn block moves into a schedule that collides once in every matched block it crosses.

    ptl: each item is locked and unlocked at a block corner, where the other actor
    waits exactly when its next item shares the lock. vma: both actors stay inside
    an item and hand over (leave, enter next), so every block is a both-inside state.
    """
    actions = model.actions
    if model.exclusive:
        per_move = ((actions[0], actions[1]), (actions[2], actions[3]))  # (lock, unlock)
        return [a for who in moves for a in per_move[who]]
    enter = (actions[0], actions[2])
    leave = (actions[1], actions[3])
    sizes = [len(items) for items in model.items]
    schedule = [enter[who] for who in (0, 1) if sizes[who]]
    done = [0, 0]
    for who in moves:
        schedule.append(leave[who])
        done[who] += 1
        if done[who] < sizes[who]:
            schedule.append(enter[who])
    return schedule


def state_space_size(model: WalkProduct) -> tuple[int, int]:
    """Reachable states and transitions, counted without enumerating them.

    The full grid, minus (ptl) one state per matched pair where both would hold the same
    lock; each such state has two in- and two out-edges, shared with no other.
    """
    m, n = (len(items) for items in model.items)
    states = (2 * m + 1) * (2 * n + 1)
    transitions = 2 * m * (2 * n + 1) + 2 * n * (2 * m + 1)
    if model.exclusive:
        count = defaultdict(int)
        for key in model.keys[1]:
            count[key] += 1
        forbidden = sum(count.get(key, 0) for key in model.keys[0])
        states -= forbidden
        transitions -= 4 * forbidden
    return states, transitions


def explore(model: WalkProduct, progress=None) -> CollisionResult:
    """Worst case and witness for a walk product of any size."""
    m, n = (len(items) for items in model.items)
    chain = longest_matched_chain(model.keys[0], model.keys[1], progress)
    witness = realize(model, staircase(chain, m, n))
    states, transitions = state_space_size(model)
    return CollisionResult(len(chain), tuple(witness), "sparse", states, transitions, None)
