"""Explicit-state checker: breadth-first search over every reachable state of a model.

Breadth first, so the first violating state found for a property is at the least depth:
its trace is a shortest one. Every step must strictly increase the model's
`progress_measure` (so the graph is acyclic and every schedule ends); a step that does
not is a modelling error and stops the search.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

POLL_EVERY = 256  # dequeued states between looks at the clock and the stop request


@dataclass
class Verdict:
    status: str  # holds | violated | incomplete
    trace: list | None = None  # [(action, before, after)] from Init to the violating state


@dataclass
class CheckResult:
    verdicts: dict[str, Verdict]
    states: int
    transitions: int
    complete: bool
    max_depth: int
    violating_state: dict = field(default_factory=dict)
    stopped: str | None = None  # what stopped the search: max_states, timeout, SIGINT, ...
    queue: int = 0  # states found but not yet explored when it stopped
    seconds: float = 0.0


class StopRequest:
    """Asks a running search to stop (set from a signal handler); no global state."""

    def __init__(self):
        self.reason: str | None = None

    def __call__(self, reason: str) -> None:
        self.reason = self.reason or reason


def stop_reason(stop, deadline: float | None, now: float) -> str | None:
    """Why a search must stop now: the stop request's reason (a signal), "timeout" once
    `now` (time.monotonic(), s) passes `deadline`, else None."""
    if stop is not None and stop.reason:
        return stop.reason
    if deadline is not None and now >= deadline:
        return "timeout"
    return None


def _trace(parents, state):
    steps = []
    while parents[state] is not None:
        before, action = parents[state]
        steps.append((action, before, state))
        state = before
    steps.reverse()
    return steps


def check(model, properties, max_states: int | None = None, progress=None,
          timeout_s: float | None = None, stop: StopRequest | None = None) -> CheckResult:
    """Check every property in every reachable state.

    Limits: `max_states` distinct states (the queue is still drained), `timeout_s`
    seconds of search, or `stop.reason` set (a signal). A limit makes the search
    incomplete: properties not yet violated are `incomplete`, never `holds`.
    `progress(states, rate, queue, depth)` is called every POLL_EVERY states.
    """
    started = time.monotonic()
    deadline = None if timeout_s is None else started + timeout_s
    init = model.init()
    parents = {init: None}
    depth = {init: 0}
    queue = deque([init])
    pending = {p.name: p for p in properties}
    violations: dict[str, tuple] = {}
    transitions, complete, max_depth, stopped = 0, True, 0, None

    def examine(state, terminal):
        """States are examined in BFS order, so each first violation is a shortest one."""
        for name, prop in list(pending.items()):
            if prop.expectation == "at_terminal" and not terminal:
                continue
            if not prop.predicate(model, state):
                violations[name] = state
                del pending[name]

    dequeued = 0
    while queue:
        if dequeued % POLL_EVERY == 0 and dequeued:
            now = time.monotonic()
            stopped = stop_reason(stop, deadline, now)
            if stopped:
                complete = False
                break
            if progress is not None:
                progress(len(parents), len(parents) / max(now - started, 1e-9), len(queue),
                         max_depth)
        state = queue.popleft()
        dequeued += 1
        rank = model.progress_measure(state)
        successors = model.successors(state)
        examine(state, not successors)
        for action, after in successors:
            transitions += 1
            if model.progress_measure(after) <= rank:
                raise AssertionError(f"{action.name} from {state} does not make progress")
            if after in parents:
                continue
            if max_states is not None and len(parents) >= max_states:
                complete, stopped = False, stopped or "max_states"
                continue
            parents[after] = (state, action)
            depth[after] = depth[state] + 1
            max_depth = max(max_depth, depth[after])
            queue.append(after)
    verdicts = {}
    for prop in properties:
        if prop.name in violations:
            verdicts[prop.name] = Verdict("violated", _trace(parents, violations[prop.name]))
        else:
            verdicts[prop.name] = Verdict("holds" if complete else "incomplete")
    return CheckResult(verdicts, len(parents), transitions, complete, max_depth,
                       stopped=stopped, queue=len(queue),
                       seconds=time.monotonic() - started)


def shortest_to_step(model, wanted, max_states: int | None = None):
    """A shortest trace ending with a step (before, action, after) that `wanted` accepts,
    or None when no reachable step does (a `sometimes` question, answered by BFS)."""
    init = model.init()
    parents = {init: None}
    queue = deque([init])
    while queue:
        state = queue.popleft()
        for action, after in model.successors(state):
            if wanted(state, action, after):
                return _trace(parents, state) + [(action, state, after)]
            if after not in parents and (max_states is None or len(parents) < max_states):
                parents[after] = (state, action)
                queue.append(after)
    return None
