"""Worst-case collisions of one layout under one walk configuration: engine choice, check, JSON."""
from __future__ import annotations

import json
from itertools import islice
from dataclasses import dataclass
from functools import cached_property

from .engines.explicit import sparse, witness
from .engines.result import CollisionResult
from .engines.explicit.schedule import Replay, replay
from .model.gc_pause import cyclic_gc_paused
from .model.layout import Layout, LayoutError
from .model.walk_product import WalkProduct
from .model.walks import GRANULARITIES, ORDERS, WalkConfig

ENGINES = ("auto", "graph", "sparse")
GRAPH_STATE_LIMIT = 200_000  # --engine graph refuses larger products (about 8 s, 0.5 GiB)
REPLAY_LIMIT = 100_000  # witness steps checked by a full replay before the answer is given
FULL_WITNESS_LIMIT = 100_000  # --witness auto: every step up to this many, else runs
WITNESS_FORMS = ("auto", "full", "compact")
JSON_CHUNK = 8192  # witness entries per write
WITNESS_KIND = "reapcheck-collisions"  # `reapcheck replay` recognizes the object by it


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

    def entries(self):
        """The witness as steps and runs (engines/explicit/witness.py); runs only for sparse."""
        if self.result.witness is not None:
            return witness.entries_from_actions(self.model, self.result.witness)
        return witness.compact_entries(self.model, self.result.moves)

    @cached_property
    def _checked(self) -> list:
        if self.result.witness is None:  # the sparse engine's staircase, in one pass
            return list(witness.checked_stair(self.model, self.result.moves))
        return list(witness.check(self.model, self.entries()))

    def checked(self):
        """(entry, steps, collision offsets) of each entry, executed against the model
        (once; kept: one entry per run, never one per page table)."""
        return iter(self._checked)

    @cached_property
    def replayed(self) -> Replay:
        """The witness replayed step by step (up to REPLAY_LIMIT steps; done once: the
        check in worst_case() and the printed steps share it)."""
        return replay(self.model, self.actions())

    def steps(self):
        """The witness's Steps, in order: replayed against the model, or for long
        witnesses expanded from the checked runs (a generator, never materialized)."""
        if self.witness_length > REPLAY_LIMIT:
            return witness.expand(self.model, self.checked())
        return iter(self.replayed.steps)

    @property
    def witness_length(self) -> int:
        if self.result.witness is not None:
            return len(self.result.witness)
        return 2 * sum(len(walk) for walk in self.model.items)

    def witness_form(self, requested: str = "auto") -> str:
        """full (every step) or compact (steps and runs); auto: full up to FULL_WITNESS_LIMIT."""
        if requested == "auto":
            return "full" if self.witness_length <= FULL_WITNESS_LIMIT else "compact"
        if requested not in WITNESS_FORMS:
            raise ValueError(f"witness form must be one of {', '.join(WITNESS_FORMS)}")
        return requested


@cyclic_gc_paused()  # hundreds of thousands of acyclic tuples: model/gc_pause.py
def worst_case(layout: Layout, config: WalkConfig, engine: str = "auto",
               progress=None) -> Analysis:
    """Find the worst case and check its witness: an engine's claim is never printed unchecked.

    The witness's steps and runs are executed against the model (engines/explicit/witness.py,
    time per run, not per page table) and their collisions recounted; witnesses up to
    REPLAY_LIMIT steps are also replayed step by step with the collision property.
    """
    model = WalkProduct.build(layout, config)
    if engine == "auto":  # the sparse engine is faster at every size measured, 1 VMA up
        engine = "sparse"  # (README); the graph only adds the schedule count
    if engine == "graph":
        states, _ = sparse.state_space_size(model)
        if states > GRAPH_STATE_LIMIT:
            raise LayoutError(layout.path, None, f"--engine graph would build {states:,} "
                              f"states (at most {GRAPH_STATE_LIMIT:,}); use --engine sparse")
        from .engines.explicit import graph  # networkx: imported only when asked for

        result = graph.explore(model)
    elif engine == "sparse":
        try:
            result = sparse.explore(model, progress)
        except sparse.TooManyItems as err:
            raise LayoutError(layout.path, None, str(err)) from None
    else:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    analysis = Analysis(layout, model, result)
    found = witness.count(analysis.checked())
    if analysis.witness_length <= REPLAY_LIMIT:
        replayed = analysis.replayed.collisions
        if replayed != found:
            raise AssertionError(f"witness runs give {found} collisions, replay {replayed}")
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
        "reapable": len(analysis.model.items[1].vmas),  # the reaper walks exactly those
        "reapable_rule": analysis.layout.reapable_rule,  # what counted them (vmflags, ...)
        "maps_shared_rule": analysis.layout.maps_shared_rule,  # --maps-shared-rule
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


@cyclic_gc_paused()
def write_json(analysis: Analysis, stream, form: str = "auto") -> None:
    """`collisions --json`: one object, the witness streamed entry by entry (it can be long).

    `form`: full (every step), compact (steps and runs), auto (full up to
    FULL_WITNESS_LIMIT steps); the object says which in "witness_form".
    """
    form = analysis.witness_form(form)
    head = dict(summary_json(analysis), kind=WITNESS_KIND, witness_form=form,
                witness_steps=analysis.witness_length)
    stream.write(json.dumps(head)[:-1] + ', "witness": [')
    if form == "full":
        texts = (step.json_text() for step in analysis.steps())
    else:
        texts = witness.json_texts(analysis.model, analysis.checked())
    separator = ""
    while chunk := list(islice(texts, JSON_CHUNK)):
        stream.write(separator + ", ".join(chunk))
        separator = ", "
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
