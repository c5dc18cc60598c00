"""The compiled explicit engine and its partial-order reduction (issue 13 section 2).

- Without the reduction, the compiled engine explores exactly engines/explicit/explicit.py's graph:
  same states, transitions, verdicts and trace lengths.
- With it, on every small case of the agreement matrix (tests/test_protocol_z3.py's
  layouts and walks, every seeded bug and none, with and without a stuck writer and
  process_mrelease), every verdict is the same, traces replay and are as short; both
  state counts are regression data (tests/data/reduction_counts.json).
- The reduction's two conditions (engines/explicit/reduction.py), checked state by state: the
  chosen actor's steps stay enabled, commute with every step the others can take before
  it moves, and change no property's truth value.
"""
from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import pytest

from reapcheck.bundled import load_bundled
from reapcheck.cli import main
from reapcheck.engines.explicit import compiled, explicit
from reapcheck.engines.explicit.pyops import PyOps
from reapcheck.engines.explicit.reduction import ACTOR_ORDER, ample_conditions
from reapcheck.model.protocol import MUTANTS, VARIABLES, Protocol, ProtocolConfig
from reapcheck.model.smaps import parse_text
from reapcheck.properties.protocol import PROPERTIES
from reapcheck.traces import replay_trace, trace_json

COUNTS = Path(__file__).resolve().parent / "data" / "reduction_counts.json"
ONE = parse_text("1000-2000 rw-p 00000000 00:00 0\n", "one")
TWO = parse_text("1000-2000 rw-s 00000000 00:00 0 /f\n3000-5000 rw-p 00000000 00:00 0\n", "two")
TOP = load_bundled("top.maps")  # rev_prev skips its top VMA
BELOW = parse_text("1000-2000 rw-p 00000000 00:00 0\n7ffff000-80000000 rw-p 0 00:00 0\n",
                   "below")
BASES = {"one-rev_find": (ONE, "rev_find"), "one-forward": (ONE, "forward"),
         "two-forward": (TWO, "forward"), "top-rev_prev": (TOP, "rev_prev"),
         "below-rev_prev": (BELOW, "rev_prev")}
MATRIX = {f"{base}-{mutant or 'kernel'}{'-stuck' if stuck else ''}{'-mrelease' if mr else ''}":
          (layout, ProtocolConfig(walk, mutant, stuck, mr))
          for base, (layout, walk) in BASES.items()
          for mutant in (None, *sorted(MUTANTS)) for stuck in (False, True)
          for mr in (False, True)}


def _summary(result):
    return {name: (v.status, len(v.trace) if v.trace else None)
            for name, v in result.verdicts.items()}


@pytest.mark.parametrize("case", ["one-rev_find-kernel-mrelease", "two-forward-kernel",
                                  "top-rev_prev-kernel", "one-rev_find-no_write_lock",
                                  "one-rev_find-blocking_read_lock-stuck"])
def test_without_reduction_the_graph_is_the_generic_engines(case):
    layout, config = MATRIX[case]
    model = Protocol(layout, config)
    generic = explicit.check(model, PROPERTIES)
    fast = compiled.check(model, PROPERTIES, "none")
    assert (fast.states, fast.transitions, fast.max_depth) == \
        (generic.states, generic.transitions, generic.max_depth)
    assert _summary(fast) == _summary(generic)
    for name, verdict in generic.verdicts.items():
        if verdict.trace:  # breadth first from the same state order: the same trace
            assert fast.verdicts[name].trace == verdict.trace


def test_tiny_without_reduction_matches_the_recorded_count():
    result = compiled.check(Protocol(load_bundled("tiny.maps"), ProtocolConfig("rev_find")),
                            PROPERTIES, "none")
    assert (result.states, result.transitions) == (1897, 3701)


def test_the_recorded_counts_cover_the_matrix():
    assert set(json.loads(COUNTS.read_text())) == set(MATRIX)


@pytest.mark.parametrize("base", sorted(BASES))
def test_every_verdict_is_the_same_with_and_without_the_reduction(base):
    """The matrix (120 cases), 24 per layout and walk: each search is milliseconds, most
    of the time goes to generating code."""
    recorded = json.loads(COUNTS.read_text())
    for case, (layout, config) in MATRIX.items():
        if not case.startswith(base + "-"):
            continue
        model = Protocol(layout, config)
        full = compiled.check(model, PROPERTIES, "none")
        reduced = compiled.check(model, PROPERTIES, "por", shortest=False)
        assert full.complete and reduced.complete, case
        assert _statuses(reduced) == _statuses(full), case
        assert reduced.states <= full.states, case
        assert recorded[case] == {"none": [full.states, full.transitions],
                                  "por": [reduced.states, reduced.transitions]}, case


def _statuses(result):
    return {name: v.status for name, v in result.verdicts.items()}


@pytest.mark.parametrize("case", ["one-rev_find-no_write_lock-mrelease",
                                  "one-rev_find-oom_skip_check_unlocked",
                                  "two-forward-oom_skip_after_unlock-mrelease",
                                  "top-rev_prev-kernel-mrelease",
                                  "below-rev_prev-no_final_oom_skip",
                                  "one-forward-blocking_read_lock-stuck"])
def test_traces_under_the_reduction_are_shortest(case):
    """A violation found under the reduction is searched again without it: the traces
    are as long as the unreduced search's (shortest, breadth first)."""
    layout, config = MATRIX[case]
    model = Protocol(layout, config)
    full = compiled.check(model, PROPERTIES, "none")
    reduced = compiled.check(model, PROPERTIES, "por")
    assert "violated" in _statuses(full).values()
    assert reduced.shortest and _summary(reduced) == _summary(full)


def test_reduced_traces_before_the_shortest_search_replay():
    """The reduced search's own traces (shortest=False) are traces of the model."""
    for case in ("one-rev_find-no_write_lock", "top-rev_prev-kernel",
                 "one-rev_find-oom_skip_check_unlocked-mrelease",
                 "one-rev_find-blocking_read_lock-stuck"):
        layout, config = MATRIX[case]
        model = Protocol(layout, config)
        result = compiled.check(model, PROPERTIES, "por", shortest=False)
        violated = {n: v for n, v in result.verdicts.items() if v.status == "violated"}
        assert violated and not result.shortest
        for name, verdict in violated.items():
            data = json.loads(json.dumps(trace_json(model, name, verdict.trace, "explicit")))
            assert replay_trace(data, "t").startswith("reproduced"), (case, name)


def _observed(model, s):
    return tuple(bool(p.predicate(model, s)) for p in PROPERTIES if p.expectation == "always")


@pytest.mark.parametrize("case", ["one-rev_find-kernel-mrelease", "two-forward-kernel-mrelease",
                                  "top-rev_prev-kernel-mrelease",
                                  "one-rev_find-no_write_lock-mrelease",
                                  "one-rev_find-oom_skip_after_unlock-mrelease",
                                  "below-rev_prev-oom_skip_check_unlocked-mrelease",
                                  "one-forward-blocking_read_lock-mrelease"])
def test_the_chosen_actor_is_persistent_and_invisible(case):
    """In every reachable state t where an actor X's reduction condition holds and X can
    step: after any step b of another actor the condition still holds and X's enabled
    steps are the same; each step a of X commutes with b and neither disables the other;
    and a changes no `always` property. By induction along the others' steps, that is
    engines/explicit/reduction.py's two conditions for every state the reduction follows X from."""
    layout, config = MATRIX[case]
    model = Protocol(layout, config)
    succ = {}

    def successors(t):
        if t not in succ:
            succ[t] = dict(model.successors(t))
        return succ[t]

    chosen = 0
    for t in _reachable(model):
        steps = successors(t)
        conditions = ample_conditions(model, t)
        for actor in ACTOR_ORDER:
            mine = {a: after for a, after in steps.items() if a.actor == actor}
            if not conditions[actor] or not mine:
                continue
            chosen += 1
            for a, at in mine.items():
                assert _observed(model, at) == _observed(model, t), (case, t, a)
            for b, bt in steps.items():
                if b.actor == actor:
                    continue
                assert ample_conditions(model, bt)[actor], (case, t, b)
                after_b = successors(bt)
                assert {a for a in after_b if a.actor == actor} == set(mine), (case, t, b)
                for a, at in mine.items():
                    assert successors(at).get(b) == after_b[a], (case, t, a, b)
    assert chosen > 0


def _reachable(model):
    init = model.init()
    seen, queue = {init}, deque([init])
    while queue:
        s = queue.popleft()
        for _action, after in model.successors(s):
            if after not in seen:
                seen.add(after)
                queue.append(after)
    return seen


def test_dead_variables_and_the_ghost_are_read_off_the_rules():
    model = Protocol(ONE, ProtocolConfig("rev_find", mrelease=True))
    dead, ghosts = compiled.dead_variables(model, PROPERTIES)
    # the history's variables (victim, mmput_by, zap_race) are constant on 6.18
    assert dead == {"unstable", "victim", "mmput_by", "zap_race"}
    assert ghosts == {"uaf": "no_use_after_free"}


def test_generated_code_folds_the_location_and_the_layout():
    """At a location where the reaper walks, the visit's reapable test is one table
    read composed from the visit sequence and the reapable flags."""
    model = Protocol(TWO, ProtocolConfig("forward"))
    code = compiled.Compiled(model, PROPERTIES, "por")
    state = list(model.init())
    state[VARIABLES.index("rp_pc")] = 5  # RP_WALK
    source, tables = code.source(code.pack(state) & code.location_mask)
    assert "layout" not in source and "lookup" not in source
    assert (0, 1, -1) in tables.values()  # forward over [shared, private]: reapable 0, 1


def test_pyops_folds_constants():
    ops = PyOps()
    p = ops.var("p")
    assert ops.And(True, p == 1, True).text == "(p == 1)"
    assert ops.And(False, p == 1) is False and ops.Or(p == 1, True) is True
    assert ops.If(p == 1, 3, 3) == 3
    assert (p + 1 - 3).affine == ("p", -2)
    assert ops.lookup((5, 6), 1) == 6 and ops.lookup((5, 6), 2) == -1


def test_cli_reduction_option(capsys):
    assert main(["verify", "bundled/tiny.maps", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["reduction"] == "por" and data["traces_shortest"] is True
    reduced = data["states"]
    assert main(["verify", "bundled/tiny.maps", "--json", "--reduction", "none"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["reduction"] == "none" and data["states"] == 1897 > reduced
