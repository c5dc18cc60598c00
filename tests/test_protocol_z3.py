"""Z3 and the explicit explorer on the same protocol model: the agreement matrix.

The explicit engine enumerates every reachable state (breadth first); the Z3 engine never
does: Spacer invariants for `holds`, BMC for the shortest trace. Equal verdicts and equal
trace lengths on every case below are the cross-check issue 4 asks for.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import z3

from reapcheck.cli import main
from reapcheck.engines.symbolic import bmc, chc, z3_protocol
from reapcheck.model.protocol import MUTANTS, Protocol, ProtocolConfig
from reapcheck.model.smaps import load, parse_text
from reapcheck.properties.protocol import BY_NAME, PROPERTIES
from reapcheck.traces import trace_json
from reapcheck.verify import verification_json, verify

LAYOUTS = Path(__file__).resolve().parent.parent / "src" / "reapcheck" / "layouts"
ONE = parse_text("1000-2000 rw-p 00000000 00:00 0\n", "one")
# a shared file page (not reapable) below a private one
TWO = parse_text("1000-2000 rw-s 00000000 00:00 0 /f\n3000-5000 rw-p 00000000 00:00 0\n", "two")
TOP = load(LAYOUTS / "top.maps")  # the top VMA contains ULONG_MAX: rev_prev skips it
BELOW = parse_text("1000-2000 rw-p 00000000 00:00 0\n7ffff000-80000000 rw-p 0 00:00 0\n",
                   "below")  # no VMA contains ULONG_MAX: rev_prev visits all

CASES = {
    "one-kernel": (ONE, ProtocolConfig("rev_find")),
    **{f"one-{m}": (ONE, ProtocolConfig("rev_find", m, stuck_writer=m == "blocking_read_lock"))
       for m in sorted(MUTANTS)},
    "one-forward-stuck-writer": (ONE, ProtocolConfig("forward", stuck_writer=True)),
    "two-forward": (TWO, ProtocolConfig("forward")),
    "top-rev_prev": (TOP, ProtocolConfig("rev_prev")),
    "below-rev_prev": (BELOW, ProtocolConfig("rev_prev")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_z3_and_the_explorer_agree_on_every_property(case, tmp_path):
    layout, config = CASES[case]
    explicit = verify(layout, config, "explicit")
    symbolic = verify(layout, config, "z3", timeout_s=300)
    assert symbolic.statuses == explicit.statuses
    assert symbolic.complete and explicit.complete
    assert symbolic.termination["status"] == "holds"
    # every seeded bug is caught, and rev_prev exactly where a VMA contains ULONG_MAX
    caught = "violated" in symbolic.statuses.values()
    assert caught == (config.mutant is not None or case == "top-rev_prev")
    for prop in PROPERTIES:
        name = prop.name
        if explicit.statuses[name] == "holds":
            assert symbolic.notes[name]["invariant"]
            continue
        # both traces are shortest, so equally long; Z3's replays through the CLI
        assert len(symbolic.traces[name]) == len(explicit.traces[name])
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(trace_json(symbolic.model, name, symbolic.traces[name],
                                              "z3")))
        assert main(["replay", str(path)]) == 0


# -- the certificate check: an invariant is never taken on trust --------------------------

def _bad(name):
    prop = BY_NAME[name]
    return lambda m, s, ops: ops.Not(prop.holds_in(m, s, ops))


def test_check_invariant_rejects_each_kind_of_wrong_invariant():
    model = Protocol(ONE, ProtocolConfig("rev_find"))
    enc = chc.Encoding(model)
    bad = enc.state_formula(_bad("no_use_after_free"))
    ex_pc = enc.now[0].term
    assert chc.check_invariant(enc, z3.BoolVal(True), bad).startswith("safe")
    assert chc.check_invariant(enc, ex_pc == 0, bad).startswith("step")  # not closed
    assert chc.check_invariant(enc, ex_pc == 5, bad).startswith("init")
    proved = chc.prove_safe(model, _bad("no_use_after_free"), 300)
    assert proved.status == "holds"
    assert chc.check_invariant(enc, proved.formula, bad) is None


def test_a_measure_that_does_not_grow_is_not_termination():
    class Looping(Protocol):
        def progress_measure(self, s):
            return 0

    assert chc.prove_progress(Looping(ONE, ProtocolConfig("rev_find")), 300).status == "violated"
    result = z3_protocol.check_protocol(Looping(ONE, ProtocolConfig("rev_find")),
                                        [BY_NAME["reaper_terminates"]], 300)
    assert result.statuses == {"reaper_terminates": "unknown"}


def test_out_of_time_is_unknown_never_holds():
    tiny = load(LAYOUTS / "tiny.maps")
    result = verify(tiny, ProtocolConfig("rev_find"), "z3", timeout_s=0.001)
    # A fast machine may decide a property within 1 ms; what it cannot do is say holds
    # for one it did not decide, or call the run complete.
    assert "unknown" in set(result.statuses.values()) <= {"unknown", "holds"}
    assert not result.complete
    data = verification_json(result)
    assert all(p["reason_unknown"] for p in data["properties"].values()
               if p["status"] == "unknown")
    assert main(["verify", str(LAYOUTS / "tiny.maps"), "--engine", "z3",
                 "--timeout", "0.001"]) == 3


def test_bmc_finds_the_explorers_shortest_violation_at_its_exact_depth():
    """BMC alone, bounded by the explorer's trace length: found at exactly that depth."""
    config = ProtocolConfig("rev_find", "oom_skip_after_unlock")
    explicit = verify(ONE, config, "explicit")
    model = Protocol(ONE, config)
    for name, trace in explicit.traces.items():
        short = bmc.find_violation(model, _bad(name), len(trace) - 1, 120_000)
        assert (short.status, short.complete) == ("holds", False)  # nothing shorter
        found = bmc.find_violation(model, _bad(name), len(trace), 120_000)
        assert found.status == "violated" and len(found.trace) == len(trace)


def test_a_violation_without_its_trace_is_incomplete(monkeypatch):
    """Spacer shows the bug reachable, but BMC runs out of time: no `violated` without a
    trace (docs/model.md §5)."""
    def out_of_time(model, bad, depth, timeout_ms=None, **kw):
        return bmc.ViolationResult("unknown", depth, None, None, None, "timeout", 0.0, None)

    monkeypatch.setattr(z3_protocol.bmc, "find_violation", out_of_time)
    model = Protocol(ONE, ProtocolConfig("rev_find", "no_final_oom_skip"))
    result = z3_protocol.check_protocol(model, [BY_NAME["oom_skip_set_when_reaper_done"]], 300)
    assert result.statuses == {"oom_skip_set_when_reaper_done": "incomplete"}
    assert not result.traces and not result.complete
    assert result.notes["oom_skip_set_when_reaper_done"]["spacer"] == "violated"
