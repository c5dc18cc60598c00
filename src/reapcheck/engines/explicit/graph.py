"""Explicit-state explorer: the whole state graph of a walk product, built with networkx.

For small layouts. The graph is a DAG (every step moves one actor forward), so the worst
case is a longest path from Init to the final state with collision steps weighing 1.
"""
from __future__ import annotations

from collections import deque

import networkx as nx

from ...model.walk_product import WalkProduct
from ...properties.collisions import is_collision
from ..result import CollisionResult


class TooManyStates(Exception):
    """The state graph would pass the given limit."""


def build_graph(model: WalkProduct, max_states: int | None = None) -> nx.DiGraph:
    """Breadth-first construction from Init; edges carry `action` and `collision` (0/1)."""
    graph = nx.DiGraph()
    init = model.init()
    graph.add_node(init)
    queue = deque([init])
    while queue:
        state = queue.popleft()
        for action in model.enabled(state):
            after = model.update(state, action)
            if after not in graph:
                if max_states is not None and graph.number_of_nodes() >= max_states:
                    raise TooManyStates(f"more than {max_states} states")
                graph.add_node(after)
                queue.append(after)
            graph.add_edge(state, after, action=action,
                           collision=int(is_collision(model, state, after)))
    return graph


def explore(model: WalkProduct, max_states: int | None = None) -> CollisionResult:
    """Worst-case collisions, a witness and the state-space sizes, from the full graph."""
    graph = build_graph(model, max_states)
    init = model.init()
    final = tuple(2 * len(walk) for walk in model.items)
    if not nx.is_directed_acyclic_graph(graph):  # positions only grow; a cycle is a model bug
        raise AssertionError("walk product state graph has a cycle")
    best = {init: 0}
    back = {}
    paths = {init: 1}
    for state in nx.topological_sort(graph):
        for _, after, data in graph.out_edges(state, data=True):
            paths[after] = paths.get(after, 0) + paths[state]
            value = best[state] + data["collision"]
            if value > best.get(after, -1):
                best[after] = value
                back[after] = (state, data["action"])
    witness = []
    state = final
    while state != init:
        state, action = back[state]
        witness.append(action)
    witness.reverse()
    return CollisionResult(best[final], tuple(witness), None, "graph", graph.number_of_nodes(),
                           graph.number_of_edges(), paths[final])
