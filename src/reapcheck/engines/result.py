"""What a collision engine answers: data first, rendered by the CLI and the report."""
from __future__ import annotations

from dataclasses import dataclass

from ..model.walk_product import Action


@dataclass(frozen=True)
class CollisionResult:
    """The exact worst case over all schedules of one walk product, with a witness."""

    max_collisions: int
    witness: tuple[Action, ...] | None  # a complete schedule that reaches max_collisions
    moves: tuple | None  # or: its staircase, (kind, count) runs of block moves (engines/sparse.py)
    engine: str  # graph | sparse
    states: int  # reachable states of the product
    transitions: int
    schedules: int | None  # distinct complete schedules; None when not counted
