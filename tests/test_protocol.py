"""The protocol model: the kernel's code holds every property; every seeded bug is caught
with a shortest trace whose length is counted by hand; traces replay; tampering is caught."""
from __future__ import annotations

import json

import pytest

from reapcheck.bundled import load_bundled
from reapcheck.cli import main
from reapcheck.engines.explicit.explicit import check
from reapcheck.model.protocol import MUTANTS, Protocol, ProtocolConfig
from reapcheck.properties.protocol import PROPERTIES
from reapcheck.traces import TraceError, itf_json, replay_trace, trace_json
from reapcheck.verify import verify

TINY = load_bundled("tiny.maps")  # 4 VMAs; rev_find visits 3, 2, 1, 0; VMA 1 is shared
TOP = load_bundled("top.maps")  # 3 VMAs; the last one contains ULONG_MAX


def statuses(layout, **config):
    result = verify(layout, ProtocolConfig(**config))
    return {name: s for name, s in result.statuses.items()}, result


@pytest.mark.parametrize("walk", ["forward", "rev_find"])
@pytest.mark.parametrize("layout", [TINY, TOP], ids=["tiny", "top"])
@pytest.mark.parametrize("stuck", [False, True])
def test_kernel_code_holds_every_property(layout, walk, stuck):
    found, result = statuses(layout, walk=walk, stuck_writer=stuck)
    assert result.complete
    assert set(found.values()) == {"holds"}, found


def test_kernel_code_holds_with_process_mrelease():
    found, _ = statuses(TINY, walk="rev_find", mrelease=True)
    assert set(found.values()) == {"holds"}


def test_rev_prev_skips_the_top_vma():
    """rev_prev visits [1, 0] on top.maps. Shortest run to a finished walk: the reaper alone,
    trylock, check MMF_OOM_SKIP, set MMF_UNSTABLE, two visits: 5 steps."""
    found, result = statuses(TOP, walk="rev_prev")
    assert list(result.model.seq) == [1, 0]
    assert found["walk_complete"] == found["reaped_when_attempt_succeeds"] == "violated"
    assert len(result.traces["walk_complete"]) == 5
    assert found["no_use_after_free"] == "holds"


def test_rev_prev_is_fine_below_the_top():
    found, _ = statuses(TINY, walk="rev_prev")
    assert set(found.values()) == {"holds"}


# (mutant, options, violated property, shortest trace length counted by hand on tiny.maps)
SEEDED = [
    # exit_mmap's teardown: read_lock, 4 unmap, read_unlock, set_skip, write_lock,
    # free_pgtables, 4 remove_vma, destroy_tree, write_unlock = 15; the reaper peeked
    # first (1), then trylock and set_unstable without a check (2): its walk of the
    # destroyed tree finds nothing. 18.
    ("oom_skip_check_unlocked", {}, "walk_complete", 18),
    # teardown without set_skip = 14, then trylock, check (not set yet), set_unstable: 17.
    ("oom_skip_after_unlock", {}, "walk_complete", 17),
    # page tables are freed after read_lock, 4 unmap, read_unlock, set_skip,
    # free_pgtables (8 exit steps); the reaper holds the read lock: trylock, check,
    # set_unstable, and its first unmap touches the freed page tables: 12.
    ("no_write_lock", {}, "no_use_after_free", 12),
    # both block: exit_mmap queues for the read lock, the reaper too: 2 steps, stuck.
    ("blocking_read_lock", {"stuck_writer": True}, "reaper_terminates", 2),
    # the reaper alone: trylock, check, set_unstable, 4 visits, unlock, finish: 9.
    ("no_final_oom_skip", {}, "oom_skip_set_when_reaper_done", 9),
]


@pytest.mark.parametrize("mutant, options, prop, length", SEEDED, ids=[s[0] for s in SEEDED])
def test_seeded_bug_is_caught_with_a_shortest_trace(mutant, options, prop, length):
    found, result = statuses(TINY, walk="rev_find", mutant=mutant, **options)
    assert found[prop] == "violated"
    assert len(result.traces[prop]) == length
    data = trace_json(result.model, prop, result.traces[prop], "explicit")
    assert replay_trace(json.loads(json.dumps(data)), "t").startswith("reproduced")


def test_every_mutant_is_seeded():
    assert {s[0] for s in SEEDED} == set(MUTANTS)


def test_blocking_reader_is_harmless_without_a_stuck_writer():
    found, _ = statuses(TINY, walk="rev_find", mutant="blocking_read_lock")
    assert set(found.values()) == {"holds"}


def test_stuck_writer_state_count_by_hand():
    """Stuck writer, blocking reader: Init; exit_mmap queued; reaper queued; both: 4."""
    _, result = statuses(TINY, walk="rev_find", mutant="blocking_read_lock", stuck_writer=True)
    assert (result.states, result.transitions) == (4, 4)


def test_max_states_gives_incomplete_not_holds():
    result = verify(TINY, ProtocolConfig("rev_find"), max_states=50)
    assert not result.complete
    assert set(result.statuses.values()) == {"incomplete"}


def test_progress_measure_rejects_a_cycle():
    class Looping(Protocol):
        def progress_measure(self, s):
            return 0

    with pytest.raises(AssertionError, match="does not make progress"):
        check(Looping(TINY, ProtocolConfig("rev_find")), PROPERTIES)


@pytest.fixture
def uaf_trace():
    _, result = statuses(TINY, walk="rev_find", mutant="no_write_lock")
    trace = result.traces["no_use_after_free"]
    return json.loads(json.dumps(trace_json(result.model, "no_use_after_free", trace, "explicit")))


@pytest.mark.parametrize("tamper", ["remove", "reorder", "edit_action", "edit_vma", "edit_change"])
def test_replay_rejects_tampered_traces(uaf_trace, tamper):
    steps = uaf_trace["steps"]
    if tamper == "remove":
        del steps[2]
    elif tamper == "reorder":
        steps[1], steps[8] = steps[8], steps[1]
    elif tamper == "edit_action":
        steps[-1]["action"] = "skip"
    elif tamper == "edit_vma":
        steps[-1]["vma"] = 0
    else:
        steps[0]["changes"]["readers"] = [0, 2]
    with pytest.raises(TraceError):
        replay_trace(uaf_trace, "t")


def test_replay_rejects_a_trace_that_stops_short(uaf_trace):
    del uaf_trace["steps"][-1]
    with pytest.raises(TraceError, match="still holds"):
        replay_trace(uaf_trace, "t")


def test_verify_cli_writes_json_and_itf_and_replays(tmp_path, capsys):
    out = tmp_path / "uaf.json"
    code = main(["verify", "--mutant", "no_write_lock", "--property", "no_use_after_free",
                 "--trace-out", str(out), "--json"])
    assert code == 1
    report = json.loads(capsys.readouterr().out)
    assert report["properties"]["no_use_after_free"]["status"] == "violated"
    assert report["complete"] is True and report["states"] > 0
    itf = json.loads((tmp_path / "uaf.itf.json").read_text())
    assert itf["#meta"]["format"] == "ITF"
    assert itf["states"][0]["vmas"][0]["start"] == {"#bigint": str(0x400000)}
    assert len(itf["states"]) == len(json.loads(out.read_text())["steps"]) + 1
    assert main(["replay", str(out)]) == 0
    data = json.loads(out.read_text())
    data["steps"].pop(0)
    out.write_text(json.dumps(data))
    assert main(["replay", str(out)]) == 1
    assert "step 1" in capsys.readouterr().err


def test_replay_unreadable_input_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["replay", str(bad)]) == 2
    assert main(["replay", str(tmp_path / "missing.json")]) == 2
    bad.write_text(json.dumps({"kind": "something else"}))
    assert main(["replay", str(bad)]) == 2


def test_itf_encodes_ulong_max_as_bigint():
    _, result = statuses(TOP, walk="rev_prev")
    itf = itf_json(result.model, "walk_complete", result.traces["walk_complete"])
    assert itf["states"][0]["vmas"][-1]["end"] == {"#bigint": str(2**64)}


@pytest.mark.parametrize("stuck", [False, True])
def test_failures_split_exactly_the_states_where_a_property_fails(stuck):
    """Property.failures (one condition per conjunct, for the solver) fails together with
    holds_in, in every reachable state of the model, mutants included."""
    for mutant in (None, *sorted(MUTANTS)):
        model = Protocol(TINY, ProtocolConfig("rev_find", mutant, stuck))
        seen, frontier = {model.init()}, [model.init()]
        while frontier:
            state = frontier.pop()
            for prop in PROPERTIES:
                assert any(prop.failures(model, state)) == (not prop.holds_in(model, state))
            for _, after in model.successors(state):
                if after not in seen:
                    seen.add(after)
                    frontier.append(after)
