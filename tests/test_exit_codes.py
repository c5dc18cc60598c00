"""One exit-code scheme for every command (README "Exit status", issue 11): 0 as
expected, 1 violated, 2 bad input, 3 incomplete or unknown, 4 internal error.

Every code is produced by a real case whose verdict is known without the tool: the seeded
bug no_write_lock breaks no_use_after_free (README "The protocol model"); the kernel's
rev_find walk on bundled/tiny.maps keeps every property; rev_prev skips a VMA that
contains ULONG_MAX, so prove's rev_prev_visits_all is expected to be violated and every
other claim to hold for any number of VMAs (docs/model.md §3, §4).
"""
from __future__ import annotations

import copy
import json
from importlib.metadata import version

import pytest

from reapcheck import prove as prove_module
from reapcheck.cli import main

MAPS = "400000-401000 r-xp 00000000 08:01 1 /bin/x\n7ffd0000-7ffd1000 rw-p 00000000 00:00 0 [stack]\n"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def maps(tmp_path):
    path = tmp_path / "two.maps"
    path.write_text(MAPS)
    return path


def test_version_from_package_metadata(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"reapcheck {version('reapcheck')}\n"


@pytest.mark.parametrize("argv, code", [
    (["verify"], 0),  # rev_find on tiny.maps: every property holds
    (["verify", "--mutant", "no_write_lock"], 1),
    (["verify", "--max-states", "10"], 3),  # stopped: incomplete
    (["verify", "bundled/none.maps"], 2),
    (["verify", "--walk", "backwards"], 2),
])
def test_verify(capsys, argv, code):
    assert run(capsys, *argv)[0] == code


def test_replay(tmp_path, capsys):
    trace = tmp_path / "t.json"
    assert run(capsys, "verify", "--mutant", "no_write_lock", "--trace-out", trace)[0] == 1
    assert run(capsys, "replay", trace)[0] == 0  # reproduced: as expected
    data = json.loads(trace.read_text())
    data["steps"] = data["steps"][1:]  # a tampered trace: an illegal first step
    trace.write_text(json.dumps(data))
    assert run(capsys, "replay", trace)[0] == 1
    trace.write_text("{not json")
    assert run(capsys, "replay", trace)[0] == 2


def test_collisions_compare_iterate(capsys, maps, tmp_path):
    assert run(capsys, "collisions", maps, "--order", "reverse", "--granularity", "vma")[0] == 0
    assert run(capsys, "collisions", tmp_path / "missing.maps", "--order", "reverse",
               "--granularity", "vma")[0] == 2
    assert run(capsys, "compare", maps)[0] == 0
    unsorted = tmp_path / "unsorted.maps"
    unsorted.write_text("".join(reversed(MAPS.splitlines(keepends=True))))
    assert run(capsys, "compare", unsorted)[0] == 2
    # rev_prev skips top.maps's VMA at ULONG_MAX; iterate reports it and exits 0
    assert run(capsys, "iterate", "bundled/top.maps", "--walk", "rev_prev")[0] == 0
    assert run(capsys, "iterate", unsorted, "--walk", "rev_prev")[0] == 2


def test_generate_anonymize_report(capsys, maps, tmp_path):
    assert run(capsys, "generate", "3", "-o", tmp_path / "g.smaps")[0] == 0
    assert run(capsys, "generate", "0")[0] == 2
    assert run(capsys, "anonymize", maps)[0] == 0
    assert run(capsys, "anonymize", tmp_path / "missing.maps")[0] == 2
    assert run(capsys, "report", "--out", tmp_path / "no" / "such" / "dir")[0] == 2


def test_experiment_from_a_recorded_run(capsys, tmp_path):
    from pathlib import Path

    recorded = Path(__file__).parent.parent / "results" / "experiments" / "opposite.json"
    if not recorded.exists():
        pytest.skip("no recorded experiment")
    assert run(capsys, "experiment", "--from", recorded)[0] == 0  # conforms
    assert run(capsys, "experiment", "--from", tmp_path / "missing.json")[0] == 2


# --- prove: violated is expected only for rev_prev_visits_all ---------------------------------

@pytest.fixture(scope="session")
def proved():
    """prove()'s real output for the six named claims and one protocol claim, as
    results.json holds it at K = 8 (tests/test_results_fresh.py proves it again and
    compares), each claim with the "seconds" prove() gives it; the other 55 protocol
    claims are read the same way (tests/test_protocol_proofs.py)."""
    import json
    from pathlib import Path

    proofs = json.loads((Path(__file__).parent.parent / "results" / "results.json")
                        .read_text())["iterators"]
    names = (*prove_module.CLAIMS[:6], "protocol_no_use_after_free_rev_find")
    return {**proofs, "claims": {name: {**proofs["claims"][name], "seconds": 1.0}
                                 for name in names}}


@pytest.fixture
def cli_prove(monkeypatch, proved):
    """`reapcheck prove` on that real result (proving it again takes minutes)."""
    def fake(timeout_s=None, progress=None, **_):
        return copy.deepcopy(proved)
    monkeypatch.setattr(prove_module, "prove", fake)


def test_prove_as_expected_exits_0(capsys, cli_prove, proved):
    assert proved["claims"]["rev_prev_visits_all"]["status"] == "violated"
    code, out, _ = run(capsys, "prove")
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("rev_prev_visits_all "))
    assert "violated: expected" in line
    assert "skips VMA 0" in out and "contains ULONG_MAX" in out  # counterexample in words
    code, out, _ = run(capsys, "prove", "--json")
    claims = json.loads(out)["claims"]
    assert code == 0
    assert {c["verdict"] for c in claims.values()} == {"expected"}
    assert claims["rev_prev_visits_all"]["expected"] == "violated"
    assert claims["forward_visits_all"]["expected"] == "holds"


def test_prove_unexpected_verdict_exits_1(capsys, cli_prove, monkeypatch):
    # the same real result, judged as if the rev_prev claim were believed to hold
    monkeypatch.setitem(prove_module.EXPECTED, "rev_prev_visits_all", "holds")
    code, out, _ = run(capsys, "prove", "--json")
    assert code == 1
    assert json.loads(out)["claims"]["rev_prev_visits_all"]["verdict"] == "unexpected"


def test_prove_unknown_exits_3(capsys, monkeypatch):
    real = prove_module.prove
    monkeypatch.setattr(prove_module, "prove",
                        lambda timeout_s=None, progress=None, **_: real(
                            timeout_s=0.001, k=2, only=("forward_visits_all",
                                                        "protocol_no_deadlock_rev_find")))
    code, out, _ = run(capsys, "prove", "--json")
    assert code == 3
    assert "incomplete" in {c["verdict"] for c in json.loads(out)["claims"].values()}


def _result(**statuses):
    return {"claims": {name: {"status": s, "bound": b} for name, (s, b) in statuses.items()}}


def test_prove_exit_status_table():
    fine = dict.fromkeys(prove_module.CLAIMS, ("holds", "unbounded"))
    fine["rev_prev_visits_all"] = ("violated", 8)
    assert prove_module.exit_status(_result(**fine)) == 0
    # a proof of the claim known to fail is as unexpected as a violation of another
    assert prove_module.exit_status(_result(**{**fine, "rev_prev_visits_all":
                                               ("holds", "unbounded")})) == 1
    assert prove_module.exit_status(_result(**{**fine, "forward_visits_all":
                                               ("violated", 8)})) == 1
    # holds for up to K VMAs only, or unknown: incomplete; unexpected wins over incomplete
    assert prove_module.exit_status(_result(**{**fine, "forward_visits_all": ("holds", 8)})) == 3
    assert prove_module.exit_status(_result(**{**fine, "forward_visits_all":
                                               ("unknown", 8)})) == 3
    assert prove_module.exit_status(_result(**{**fine, "forward_visits_all": ("unknown", 8),
                                               "rev_find_visits_all": ("violated", 8)})) == 1


def test_internal_error_exits_4_not_1(capsys, monkeypatch):
    from reapcheck.model import maple  # cli.py imports it inside cmd_iterate

    def broken(*_):
        raise RuntimeError("injected fault")
    monkeypatch.setattr(maple, "visits", broken)
    code, _, err = run(capsys, "iterate", "bundled/tiny.maps", "--walk", "forward")
    assert code == 4
    assert "RuntimeError: injected fault" in err and "internal error" in err


def test_replay_finds_a_relative_layout_beside_the_witness(capsys, maps, tmp_path,
                                                           monkeypatch):
    """`collisions --json` writes the layout path it was given; the witness replays
    (exit 0) in its own directory, so it must from any other directory too; a layout that
    is in neither place is bad input (2), naming the witness file and the layout."""
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "collisions", maps.name, "--order", "reverse",
                       "--granularity", "vma", "--json")
    assert code == 0
    witness = tmp_path / "w.json"
    witness.write_text(out)
    assert run(capsys, "replay", "w.json")[0] == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, _ = run(capsys, "replay", witness)
    assert code == 0 and out.startswith("reproduced")
    gone = tmp_path / "gone.json"
    gone.write_text(witness.read_text().replace(f'"{maps.name}"', '"nope.maps"'))
    code, _, err = run(capsys, "replay", gone)
    assert code == 2 and len(err.splitlines()) == 1
    assert f"{gone}: names layout nope.maps, which cannot be read" in err


def test_reduction_with_z3_is_refused(capsys):
    """--reduction chooses the explicit search; z3 has none, as --max-states (exit 2)."""
    code, out, err = run(capsys, "verify", "--engine", "z3", "--reduction", "none")
    assert code == 2 and out == "" and "--reduction" in err and err.count("\n") == 1
