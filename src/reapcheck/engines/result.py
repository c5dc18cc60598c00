"""What the engines answer (a collision worst case, a protocol verification): data
first, rendered by the CLI and the report."""
from __future__ import annotations

from dataclasses import dataclass

from ..model.walk_product import Action


@dataclass(frozen=True)
class CollisionResult:
    """The exact worst case over all schedules of one walk product, with a witness."""

    max_collisions: int
    witness: tuple[Action, ...] | None  # a complete schedule that reaches max_collisions
    moves: tuple | None  # or: its staircase, (kind, count) runs of block moves (engines/explicit/sparse.py)
    engine: str  # graph | sparse
    states: int  # reachable states of the product
    transitions: int
    schedules: int | None  # distinct complete schedules; None when not counted


@dataclass(frozen=True)
class Verification:
    """Every protocol property's verdict on one layout and configuration, from either
    engine (`reapcheck verify`)."""

    model: object  # model/protocol.py's Protocol
    engine: str
    statuses: dict  # name -> holds | violated | unknown | incomplete
    traces: dict  # name -> [(action, before, after)] for violated properties
    states: int | None
    transitions: int | None
    complete: bool
    notes: dict  # name -> extra facts (e.g. the solver's reason for unknown)
    termination: dict | None = None  # z3: {"status", "invariant"} of the progress proof
    stopped: str | None = None  # explicit: max_states, timeout, SIGINT or SIGTERM stopped it
    queue: int | None = None  # explicit, stopped: states found but not explored
    seconds: float | None = None  # explicit: search time
    reduction: str | None = None  # explicit: por (partial-order reduction) or none
    shortest: bool = True  # explicit: every trace is a shortest one (see compiled.check)
