"""An independent brute-force reading of docs/model.md §1-3, for tiny layouts only.

Shares no code with reapcheck's model or engines: items, positions, the lock rule and
the collision rule are re-derived here straight from the contract's wording, and every
interleaving of single steps is enumerated one by one (no memoisation).
"""
from __future__ import annotations

BEFORE, INSIDE, DONE = "before", "inside", "done"


def reapable(vma) -> bool:
    if vma.flags is not None:
        return not ({"ht", "pf", "sh"} & set(vma.flags))
    return vma.perms[3] == "p"


def walk_keys(layout, order, granularity, pmd_shift, exit_order="forward"):
    """(exit_mmap keys, reaper keys): VMA index at vma, PMD index at ptl; pages ascending."""
    def keys(indices, walk):
        indices = sorted(indices, reverse=(walk == "reverse"))
        if granularity == "vma":
            return [i for i in indices]
        out = []
        for i in indices:
            vma = layout.vmas[i]
            page = vma.start >> pmd_shift
            while page <= (vma.end - 1) >> pmd_shift:
                out.append(page)
                page += 1
        return out

    everything = list(range(len(layout.vmas)))
    mine = [i for i, v in enumerate(layout.vmas) if reapable(v)]
    return keys(everything, exit_order), keys(mine, order)


def _where(pos, items):
    phase, k = pos
    if phase == BEFORE and k == len(items):
        return (DONE, None)
    return pos


def _key_inside(pos, items):
    phase, k = _where(pos, items)
    return items[k] if phase == INSIDE else None


def _waits(me, other, my_items, other_items):
    phase, k = _where(me, my_items)
    return phase == BEFORE and _key_inside(other, other_items) == my_items[k]


def _state_waits(a, b, xs, ys):
    return _waits(a, b, xs, ys) or _waits(b, a, ys, xs)


def _both_in_same(a, b, xs, ys):
    ka, kb = _key_inside(a, xs), _key_inside(b, ys)
    return ka is not None and ka == kb


def _moves(pos, other, items, other_items, exclusive):
    phase, k = _where(pos, items)
    if phase == DONE:
        return []
    if phase == INSIDE:
        return [(BEFORE, k + 1)]
    if exclusive and _key_inside(other, other_items) == items[k]:
        return []  # cannot acquire a lock the other one holds
    return [(INSIDE, k)]


def all_schedules(xs, ys, granularity):
    """Yield the collision count of every complete schedule."""
    exclusive = granularity == "ptl"

    def collision(a, b, a2, b2):
        if exclusive:
            return not _state_waits(a, b, xs, ys) and _state_waits(a2, b2, xs, ys)
        return _both_in_same(a2, b2, xs, ys)

    def go(a, b, count):
        moves = [(a2, b) for a2 in _moves(a, b, xs, ys, exclusive)]
        moves += [(a, b2) for b2 in _moves(b, a, ys, xs, exclusive)]
        if not moves:
            assert _where(a, xs)[0] == DONE and _where(b, ys)[0] == DONE, "deadlock"
            yield count
            return
        for a2, b2 in moves:
            yield from go(a2, b2, count + collision(a, b, a2, b2))

    yield from go((BEFORE, 0), (BEFORE, 0), 0)


def brute_force(layout, order, granularity, pmd_shift=21, exit_order="forward"):
    """(max collisions, number of schedules) by enumerating every schedule."""
    xs, ys = walk_keys(layout, order, granularity, pmd_shift, exit_order)
    counts = list(all_schedules(xs, ys, granularity))
    return max(counts), len(counts)
