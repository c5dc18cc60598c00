"""Worst-case collisions of one layout under one walk configuration: engine choice, check, JSON."""
from __future__ import annotations

from dataclasses import dataclass

from .engines import graph, sparse
from .engines.result import CollisionResult
from .engines.schedule import Replay, replay
from .model.layout import Layout
from .model.walk_product import WalkProduct
from .model.walks import GRANULARITIES, ORDERS, WalkConfig

ENGINES = ("auto", "graph", "sparse")
GRAPH_STATE_LIMIT = 50_000  # auto: build the networkx graph up to this many states


@dataclass(frozen=True)
class Analysis:
    layout: Layout
    model: WalkProduct
    result: CollisionResult
    witness: Replay  # the witness re-executed against the model


def worst_case(layout: Layout, config: WalkConfig, engine: str = "auto",
               progress=None) -> Analysis:
    """Find the worst case, then replay its witness: an engine's claim is never printed unchecked."""
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
    checked = replay(model, result.witness)
    if checked.collisions != result.max_collisions:
        raise AssertionError(f"{result.engine} engine's witness has {checked.collisions} "
                             f"collisions, not the claimed {result.max_collisions}")
    return Analysis(layout, model, result, checked)


def to_json(analysis: Analysis, witness: bool = True) -> dict:
    """The object `reapcheck collisions --json` prints (README, "Output")."""
    cfg, res = analysis.model.config, analysis.result
    out = {
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
    if witness:
        out["witness"] = [step.to_json() for step in analysis.witness.steps]
    return out


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
