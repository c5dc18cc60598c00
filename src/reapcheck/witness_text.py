"""The witness around its first collisions, as numbered steps in kernel words.

`reapcheck collisions` (text) shows a few steps before and after each of the first
collisions of the witness, with what each step does in the kernel and, at a collision,
who waits for whom. The steps come from the checked entries (engines/explicit/witness.py:
single steps and runs, each with its step count and its collision offsets as
arithmetic progressions), never from expanding the witness: the k-th step of a run,
and where both walkers stand before it, follow from the run's start in constant time.
The pass over the entries stops at the last step shown, so the cost does not depend
on how many page tables a VMA has.
"""
from __future__ import annotations

import textwrap
from collections import deque
from dataclasses import dataclass

from .model.walk_product import WalkProduct
from .model.walks import ACTORS

def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 step`, `2 steps` (`many`: an irregular plural): for every text output."""
    return f"{n} {word if n == 1 else many or word + 's'}"


FIRST_COLLISIONS = 3  # collisions shown
BEFORE = 2  # steps shown before each of them
AFTER = 1  # and after


@dataclass(frozen=True)
class ShownStep:
    """One step of the witness, located without expanding it."""

    number: int  # 1-based, as the witness counts steps
    actor: int  # index into ACTORS
    verb: int  # 0: enter (vma) / lock (ptl); 1: leave / unlock
    vma: int
    ptl: int | None
    before: tuple[int, int]  # both walkers' positions before the step (walk_product.py)
    collision: int | None  # this step is collision number `collision` (1-based), or None


def shown_steps(model: WalkProduct, checked, collisions: int = FIRST_COLLISIONS,
                before: int = BEFORE, after: int = AFTER) -> list[ShownStep]:
    """Steps number - `before` .. number + `after` around each of the first `collisions`
    collision steps of the checked entries ((entry, steps, hits), witness.check), in order.
    """
    recent = deque(maxlen=before + 1)  # (first step number - 1, state, entry, steps)
    wanted: dict[int, int | None] = {}  # step number -> collision number, not yet located
    shown: dict[int, ShownStep] = {}
    found, base, state = 0, 0, model.init()
    for entry, steps, hits in checked:
        recent.append((base, state, entry, steps))
        for offset in _first_offsets(hits, collisions - found):
            found += 1
            number = base + offset + 1
            for n in range(max(1, number - before), number + after + 1):
                if n not in shown:
                    wanted.setdefault(n, None)
            shown.pop(number, None)
            wanted[number] = found
        for n in sorted(n for n in wanted if n <= base + steps):
            shown[n] = _locate(model, recent, n, wanted.pop(n))
        state = _after(entry, state, steps)
        base += steps
        if found >= collisions and not wanted:
            break
    return [shown[n] for n in sorted(shown)]


def _first_offsets(hits, limit: int) -> list[int]:
    """The first `limit` collision offsets of one entry, from its progressions."""
    if limit <= 0 or not hits:
        return []
    out = []
    for first, stride, n in hits:
        out.extend(first + k * stride for k in range(min(n, limit)))
    return sorted(out)[:limit]


def _after(entry, state, steps):
    """Both positions after an entry of `steps` steps."""
    kind = entry[0]
    if kind == "both":
        return (state[0] + steps // 2, state[1] + steps // 2)
    who = entry[1]
    return (state[0] + steps, state[1]) if who == 0 else (state[0], state[1] + steps)


def _locate(model, recent, number, collision) -> ShownStep:
    """Step `number` (1-based) from the recent entry that holds it."""
    base, state, entry, steps = next(r for r in recent if r[0] < number <= r[0] + r[3])
    k = number - base - 1  # offset inside the entry
    kind = entry[0]
    if kind == "step":
        _, who, verb, vma, ptl = entry
        return ShownStep(number, who, verb, vma, ptl, state, collision)
    if kind == "run":  # who locks and unlocks p..q of vma
        _, who, vma, p, q = entry
        pos = (state[0] + k, state[1]) if who == 0 else (state[0], state[1] + k)
        return ShownStep(number, who, k % 2, vma, p + k // 2, pos, collision)
    if kind == "both":  # per page table: exit_mmap locks, unlocks; the reaper locks, unlocks
        _, vma, p, q = entry
        block, r = divmod(k, 4)
        pos = (state[0] + 2 * block + min(r, 2), state[1] + 2 * block + max(r - 2, 0))
        return ShownStep(number, r // 2, r % 2, vma, p + block, pos, collision)
    _, who, i, _j = entry  # vrun: who leaves item t, enters item t + 1, from t = i
    vmas = model.items[who].vmas
    t = i + k // 2
    pos = (state[0] + k, state[1]) if who == 0 else (state[0], state[1] + k)
    if k % 2 == 0:
        return ShownStep(number, who, 1, vmas[t], None, pos, collision)
    return ShownStep(number, who, 0, vmas[t + 1], None, pos, collision)


def describe(model: WalkProduct, step: ShownStep) -> tuple[str, str | None]:
    """What one step does, in kernel words, and at a collision who waits for whom."""
    actor, other = ACTORS[step.actor], ACTORS[1 - step.actor]
    if model.exclusive:
        verb = "unlocks" if step.verb else "locks"
        what = f"{actor} {verb} the PTE lock of VMA {step.vma}, page table {step.ptl}"
    else:
        what = f"{actor} {'leaves' if step.verb else 'enters'} VMA {step.vma}"
    if step.collision is None:
        return what, None
    after = list(step.before)
    after[step.actor] += 1
    after = tuple(after)
    if not model.exclusive:
        why = f"{other} is inside VMA {step.vma} too"
    elif step.verb == 0:  # a lock: the other waits for it (its next item is this page
        # table); an unlock: the unlocker's next page table is held by the other (the only
        # two ways a step makes someone wait, properties/collisions.py)
        nxt = model.item_at(after, 1 - step.actor)
        why = f"{other} waits: this lock is its next (for VMA {nxt.vma})"
    else:  # the unlocking actor's next page table is the one the other holds
        nxt = model.item_at(after, step.actor)
        held = model.item_at(after, 1 - step.actor)
        why = (f"{actor} waits for its next lock (VMA {nxt.vma}, page table {nxt.ptl}), "
               f"held by {other} (VMA {held.vma})")
    return what, f"collision {step.collision}: {why}"


def heading(model: WalkProduct) -> str:
    """What the shown steps' words stand for in the kernel (docs/kernel.md §7)."""
    if model.exclusive:
        return ("first collisions (PTE lock: the page-table lock zap_pte_range() takes with "
                f"pte_offset_map_lock(); page table = address >> {model.config.pmd_shift}):")
    return ("first collisions (inside a VMA: exit_mmap's unmap_vmas() or the reaper's "
            "__oom_reap_task_mm() is unmapping it):")


def snippet(model: WalkProduct, checked, total: int, collisions: int = FIRST_COLLISIONS,
            before: int = BEFORE, after: int = AFTER) -> list[str]:
    """The text lines: a heading, the numbered steps, `...` where steps are left out
    (`total`: the witness's length in steps). No lines without a collision."""
    steps = shown_steps(model, checked, collisions, before, after)
    if not steps:
        return []
    width = len(str(steps[-1].number))
    lines, last = textwrap.wrap(heading(model), 80), 0
    for step in steps:
        if step.number > last + 1:
            lines.append("  ...")
        what, why = describe(model, step)
        lines.append(f"  step {step.number:>{width}}: {what}")
        if why:
            indent = " " * (width + 9)
            lines += textwrap.wrap(why, 80, initial_indent=indent, subsequent_indent=indent + "  ")
        last = step.number
    if last < total:
        lines.append("  ...")
    return lines
