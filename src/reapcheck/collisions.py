"""Worst-case collisions of one layout under one walk configuration: engine choice, check, JSON."""
from __future__ import annotations

import json
from itertools import islice
from dataclasses import dataclass

from .engines import graph, sparse
from .engines.result import CollisionResult
from .engines.schedule import replay, replay_steps
from .model.layout import Layout
from .model.walk_product import WalkProduct
from .model.walks import GRANULARITIES, ORDERS, WalkConfig

ENGINES = ("auto", "graph", "sparse")
GRAPH_STATE_LIMIT = 50_000  # auto: build the networkx graph up to this many states
REPLAY_LIMIT = 100_000  # witness steps checked by a full replay before the answer is given


@dataclass(frozen=True)
class Analysis:
    layout: Layout
    model: WalkProduct
    result: CollisionResult

    def actions(self):
        """The witness schedule's actions, in order (lazy for the sparse engine)."""
        if self.result.witness is not None:
            return iter(self.result.witness)
        return sparse.realize(self.model, self.result.moves)

    def steps(self):
        """The witness's Steps, in order (a generator): replayed against the model, or
        for long sparse witnesses rendered from the staircase (checked in worst_case)."""
        if self.witness_length > REPLAY_LIMIT:
            return sparse.witness_steps(self.model, self.result.moves)
        return replay_steps(self.model, self.actions())

    @property
    def witness_length(self) -> int:
        if self.result.witness is not None:
            return len(self.result.witness)
        return 2 * sum(len(walk) for walk in self.model.items)


def worst_case(layout: Layout, config: WalkConfig, engine: str = "auto",
               progress=None) -> Analysis:
    """Find the worst case and check its witness: an engine's claim is never printed unchecked.

    Witnesses up to REPLAY_LIMIT steps are replayed step by step against the model and
    their collisions recounted with the property; longer sparse witnesses are checked by
    counting the matched blocks their staircase crosses (the same number, see
    engines/sparse.py; the tests show both checks agree), and replayed when printed.
    """
    model = WalkProduct.build(layout, config)
    if engine == "auto":
        states, _ = sparse.state_space_size(model)
        engine = "graph" if states <= GRAPH_STATE_LIMIT else "sparse"
    if engine == "graph":
        result = graph.explore(model)
    elif engine == "sparse":
        result = sparse.explore(model, progress)
    else:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    analysis = Analysis(layout, model, result)
    if analysis.witness_length <= REPLAY_LIMIT:
        found = replay(model, analysis.actions()).collisions
    else:
        found = sparse.matched_blocks(model, result.moves)
    if found != result.max_collisions:
        raise AssertionError(f"{result.engine} engine's witness has {found} "
                             f"collisions, not the claimed {result.max_collisions}")
    return analysis


def summary_json(analysis: Analysis) -> dict:
    """Every field of `collisions --json` except the witness."""
    cfg, res = analysis.model.config, analysis.result
    return {
        "layout": analysis.layout.path,
        "vmas": len(analysis.layout),
        "reapable": len(analysis.layout.reapable),
        "order": cfg.order,
        "exit_order": cfg.exit_order,
        "granularity": cfg.granularity,
        "pmd_shift": cfg.pmd_shift,
        "exit_items": len(analysis.model.items[0]),
        "reaper_items": len(analysis.model.items[1]),
        "max_collisions": res.max_collisions,
        "engine": res.engine,
        "states": res.states,
        "transitions": res.transitions,
        "schedules": res.schedules,
    }


def write_json(analysis: Analysis, stream) -> None:
    """`collisions --json`: one object, the witness streamed step by step (it can be long)."""
    head = json.dumps(summary_json(analysis))
    stream.write(head[:-1] + ', "witness": [')
    steps = analysis.steps()
    while chunk := [step.json_text() for step in islice(steps, 8192)]:
        stream.write(", ".join(chunk))
        if len(chunk) == 8192:
            stream.write(", ")
    stream.write("]}\n")


def compare_pairs(layouts, pmd_shift: int = 21, exit_order: str = "forward",
                  progress_factory=None) -> list[tuple[Analysis, Analysis]]:
    """(reaper forward, reaper reverse) for each layout and granularity, in a fixed order."""
    pairs = []
    for layout in layouts:
        for granularity in GRANULARITIES:
            pair = []
            for order in ORDERS:
                config = WalkConfig(order, granularity, pmd_shift, exit_order)
                progress = progress_factory and progress_factory(
                    f"{layout.path} {order}/{granularity}")
                pair.append(worst_case(layout, config, "auto", progress))
                if progress:
                    progress.close()
            pairs.append(tuple(pair))
    return pairs
