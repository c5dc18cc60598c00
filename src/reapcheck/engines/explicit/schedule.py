"""Schedules of the walk product: replaying them step by step and rendering them.

Every witness, whichever engine found it, goes through `replay` before it is printed:
each step must be enabled in the model, the run must end with both walkers done, and the
collisions are recounted with the property definition, not taken from the engine.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...model.walk_product import Action, WalkProduct
from ...model.walks import ACTORS
from ...properties.collisions import collision_stepper


class IllegalStep(Exception):
    """A schedule step that the model does not allow."""

    def __init__(self, index: int, message: str):
        self.index = index
        super().__init__(f"step {index + 1}: {message}")


@dataclass(frozen=True)
class Step:
    """One step of a schedule, as the JSON output and the traces show it."""

    actor: str
    action: str
    vma: int
    ptl: int | None
    collision: bool

    def to_json(self) -> dict:
        out = {"actor": self.actor, "action": self.action, "vma": self.vma}
        if self.ptl is not None:
            out["ptl"] = self.ptl
        out["collision"] = self.collision
        return out

    def json_text(self) -> str:
        """json.dumps(self.to_json()), written out fast for witnesses of millions of steps."""
        ptl = "" if self.ptl is None else f', "ptl": {self.ptl}'
        return (f'{{"actor": "{self.actor}", "action": "{self.action}", "vma": {self.vma}'
                f'{ptl}, "collision": {"true" if self.collision else "false"}}}')


@dataclass(frozen=True)
class Replay:
    steps: tuple[Step, ...]
    collisions: int


def replay_steps(model: WalkProduct, actions):
    """Execute `actions` from Init, yielding each Step; raise IllegalStep at the first the
    model forbids, or at the end if the walkers are not both done."""
    state = model.init()
    collision = collision_stepper(model)  # is_collision, each state's waits evaluated once
    index = -1
    for index, action in enumerate(actions):
        if action not in model.actions:
            raise IllegalStep(index, f"{action.actor} {action.verb} is not an action of this model")
        if not model.guard(state, action):
            raise IllegalStep(index, f"{action.actor} cannot {action.verb} in state {state}")
        item = model.item_at(state, ACTORS.index(action.actor))
        after = model.update(state, action)
        yield Step(action.actor, action.verb, item.vma, item.ptl,
                   collision(state, after))
        state = after
    if not model.done(state):
        raise IllegalStep(index + 1, f"schedule ends in {state}, before both walkers are done")


def replay(model: WalkProduct, actions) -> Replay:
    """Execute `actions` from Init and collect the steps (see replay_steps)."""
    steps = tuple(replay_steps(model, actions))
    return Replay(steps, sum(s.collision for s in steps))


def actions_from_json(steps) -> list[Action]:
    """The actions of a witness as printed by `collisions --json` (vma/ptl are checked by replay)."""
    return [Action(step["actor"], step["action"]) for step in steps]
