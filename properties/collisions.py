"""What counts as a collision between exit_mmap and the reaper (docs/model.md §3).

Predicates over the walk product's states, written against `ops` like the model itself,
so the explorer and the Z3 engine count the same thing.
"""
from __future__ import annotations

from ..model.ops import CONCRETE, MISSING


def both_inside_same_item(model, state, ops=CONCRETE):
    """Granularity vma: both actors are inside the same VMA."""
    key = model.inside_key(state, 0, ops)
    return ops.And(key != MISSING, key == model.inside_key(state, 1, ops))


def waits(model, state, actor: int, ops=CONCRETE):
    """Granularity ptl: `actor` is before an item whose lock the other actor holds.

    The positions carry no separate 'waiting' state: an actor waits exactly when its
    next acquire is disabled by the lock the other one holds (reapcheck's choice,
    docs/model.md §3).
    """
    want = model.next_key(state, actor, ops)
    return ops.And(want != MISSING, want == model.inside_key(state, 1 - actor, ops))


def someone_waits(model, state, ops=CONCRETE):
    return ops.Or(waits(model, state, 0, ops), waits(model, state, 1, ops))


def is_collision(model, before, after, ops=CONCRETE):
    """Is the step before -> after one collision?

    vma: a step into a state where both are inside the same VMA.
    ptl: a step from a state where no actor waits into one where an actor waits.
    """
    if model.exclusive:
        return ops.And(ops.Not(someone_waits(model, before, ops)), someone_waits(model, after, ops))
    return both_inside_same_item(model, after, ops)


def collision_stepper(model):
    """`is_collision` for concrete steps taken one after another: a function
    step(before, after) -> bool equal to bool(is_collision(model, before, after)), that
    evaluates someone_waits once per state when each `before` is the previous `after`
    (a replay's steps; halves the work of counting a long schedule)."""
    if not model.exclusive:
        return lambda before, after: bool(is_collision(model, before, after))
    last = [None, False]  # the state someone_waits was last evaluated on, and its value

    def step(before, after) -> bool:
        waiting_before = last[1] if last[0] == before else someone_waits(model, before)
        waiting_after = someone_waits(model, after)
        last[0], last[1] = after, waiting_after
        return bool(not waiting_before and waiting_after)  # is_collision's ptl case
    return step
