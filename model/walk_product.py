"""The collision model: exit_mmap and the reaper stepping through their items, interleaved.

Written in TLA+ order: variables and type invariant, Init, one definition per action,
Next (the one list of every action), then helpers the properties read. Every guard and
update takes an `ops` object (model/ops.py) so the explorer and the Z3 engine evaluate
the same definition.

State: one position per actor, `exit_pos` and `reaper_pos`. Position p of an actor with
items[0..n) means: p even -> before item p // 2 (p == 2n: done); p odd -> inside item
p // 2 (docs/model.md §3). A schedule is a path from Init to both done.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .action import Action  # noqa: F401  (re-exported: engines import it from here)
from .layout import Layout
from .ops import CONCRETE, MISSING
from .walks import ACTORS, Item, Walk, WalkConfig, exit_mmap_walk, reaper_walk

VARIABLES = ("exit_pos", "reaper_pos")
MATERIALIZE_LIMIT = 1 << 22  # items; longer walks compute keys on demand
VERBS = {"vma": ("enter", "leave"), "ptl": ("lock", "unlock")}


@dataclass(frozen=True)
class WalkProduct:
    """Two walkers over one layout; the transition system of docs/model.md §3."""

    layout: Layout
    config: WalkConfig
    items: tuple[Walk, Walk]  # indexed like ACTORS: each walker's item sequence

    @classmethod
    def build(cls, layout: Layout, config: WalkConfig) -> "WalkProduct":
        return cls(layout, config, (exit_mmap_walk(layout, config), reaper_walk(layout, config)))

    @cached_property
    def keys(self):
        """Per actor, the key of each item, for `ops.lookup` (lazy for huge walks)."""
        return tuple(walk.key_list() if len(walk) <= MATERIALIZE_LIMIT else walk.keys()
                     for walk in self.items)

    @property
    def variables(self) -> tuple[str, ...]:
        return VARIABLES

    @property
    def exclusive(self) -> bool:
        """Granularity ptl: items are critical sections under the PTE lock."""
        return self.config.granularity == "ptl"

    @cached_property
    def actions(self) -> tuple[Action, ...]:
        """Next: every action of the system."""
        enter, leave = VERBS[self.config.granularity]
        return tuple(Action(actor, verb) for actor in ACTORS for verb in (enter, leave))

    # -- type invariant and Init ------------------------------------------------------
    def type_ok(self, state, ops=CONCRETE):
        return ops.And(*(ops.And(0 <= p, p <= 2 * len(its)) for p, its in zip(state, self.items)))

    def init(self) -> tuple[int, int]:
        return (0, 0)

    def done(self, state, ops=CONCRETE):
        return ops.And(*(p == 2 * len(its) for p, its in zip(state, self.items)))

    # -- what each position means -----------------------------------------------------
    def inside_key(self, state, actor: int, ops=CONCRETE):
        """Key of the item the actor is inside, or MISSING."""
        p = state[actor]
        return ops.If(p % 2 == 1, ops.lookup(self.keys[actor], p // 2), MISSING)

    def next_key(self, state, actor: int, ops=CONCRETE):
        """Key of the item the actor is before (about to enter), or MISSING (inside/done)."""
        p = state[actor]
        return ops.If(p % 2 == 0, ops.lookup(self.keys[actor], p // 2), MISSING)

    # -- actions ------------------------------------------------------------------------
    def guard(self, state, action: Action, ops=CONCRETE):
        """Is `action` enabled in `state`?"""
        me = ACTORS.index(action.actor)
        p = state[me]
        if action.verb in ("enter", "lock"):
            can_enter = ops.And(p % 2 == 0, p < 2 * len(self.items[me]))
            if not self.exclusive:
                return can_enter  # vma: no mutual exclusion
            # ptl: an actor cannot acquire the lock the other one holds
            held = self.inside_key(state, 1 - me, ops)
            return ops.And(can_enter, ops.Or(held == MISSING, held != self.next_key(state, me, ops)))
        return p % 2 == 1

    def update(self, state, action: Action, ops=CONCRETE):
        """The state after `action`: the actor moves one position on."""
        me = ACTORS.index(action.actor)
        return tuple(p + 1 if i == me else p for i, p in enumerate(state))

    # -- concrete conveniences ------------------------------------------------------------
    def enabled(self, state) -> list[Action]:
        return [a for a in self.actions if self.guard(state, a)]

    def item_at(self, state, actor: int) -> Item | None:
        """The item the actor is inside or before; None when done."""
        k = state[actor] // 2
        walk = self.items[actor]
        return walk.item(k) if k < len(walk) else None
