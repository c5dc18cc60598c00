"""Actions: one step of one actor, named actor + verb (stateright style: ReaperTrylock)."""
from __future__ import annotations

from dataclasses import dataclass

ACTOR_PREFIX = {"exit_mmap": "Exit", "reaper": "Reaper", "mrelease": "Mrelease"}


@dataclass(frozen=True)
class Action:
    """One step of one actor."""

    actor: str  # exit_mmap | reaper | mrelease
    verb: str

    @property
    def name(self) -> str:
        words = "".join(w.capitalize() for w in self.verb.split("_"))
        return ACTOR_PREFIX[self.actor] + words
