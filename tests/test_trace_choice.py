"""`verify --trace-out`: which violated property's trace is written (issue 11).

Expected values are written by hand from the seeded bugs (README "The protocol model"):
no_write_lock on bundled/tiny.maps breaks walk_complete, reaped_when_attempt_succeeds
and no_use_after_free; blocking_read_lock with a stuck writer breaks no_deadlock and
reaper_terminates. The default is the most severe: use-after-free, deadlock,
termination, then the rest.
"""
from __future__ import annotations

import json

from reapcheck.cli import main
from reapcheck.properties.protocol import BY_SEVERITY, PROPERTIES


def verify(capsys, *argv):
    code = main(["verify", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_severity_order_is_uaf_deadlock_termination_then_the_rest():
    names = [p.name for p in BY_SEVERITY]
    assert names[:3] == ["no_use_after_free", "no_deadlock", "reaper_terminates"]
    assert sorted(names) == sorted(p.name for p in PROPERTIES)
    rest = [p.name for p in PROPERTIES if p.name not in names[:3]]
    assert names[3:] == rest


def test_default_trace_is_the_use_after_free(tmp_path, capsys):
    path = tmp_path / "uaf.json"
    code, out, err = verify(capsys, "--mutant", "no_write_lock", "--trace-out", path, "--json")
    assert code == 1, err
    written = json.loads(out)["trace_out"]
    assert written == {"file": str(path), "itf": str(tmp_path / "uaf.itf.json"),
                       "property": "no_use_after_free", "chosen_by": "severity",
                       "other_violated": ["walk_complete", "reaped_when_attempt_succeeds"]}
    trace = json.loads(path.read_text())
    assert trace["property"] == "no_use_after_free"
    assert trace["steps"][-1]["changes"]["uaf"] == [0, 1]


def test_text_output_names_the_trace_and_the_others(tmp_path, capsys):
    path = tmp_path / "uaf.json"
    code, out, _ = verify(capsys, "--mutant", "no_write_lock", "--trace-out", path)
    assert code == 1
    tail = out[out.index("trace written to"):]
    assert (f"trace written to {path} (and {tmp_path / 'uaf.itf.json'}; ITF: the Informal "
            "Trace Format of Apalache/Quint)") in tail
    assert "no_use_after_free, the most severe violation" in tail
    assert "also violated: walk_complete, reaped_when_attempt_succeeds" in tail


def test_deadlock_before_termination(tmp_path, capsys):
    path = tmp_path / "d.json"
    code, out, err = verify(capsys, "--mutant", "blocking_read_lock", "--stuck-writer",
                            "--trace-out", path, "--json")
    assert code == 1, err
    written = json.loads(out)["trace_out"]
    assert (written["property"], written["other_violated"]) == ("no_deadlock",
                                                                ["reaper_terminates"])
    assert json.loads(path.read_text())["property"] == "no_deadlock"


def test_property_still_picks_one(tmp_path, capsys):
    path = tmp_path / "w.json"
    code, out, _ = verify(capsys, "--mutant", "no_write_lock", "--property", "walk_complete",
                          "--trace-out", path, "--json")
    assert code == 1
    written = json.loads(out)["trace_out"]
    assert (written["property"], written["chosen_by"]) == ("walk_complete", "--property")
    assert written["other_violated"] == ["no_use_after_free", "reaped_when_attempt_succeeds"]
    assert json.loads(path.read_text())["property"] == "walk_complete"


def test_property_that_holds_writes_nothing_but_lists_the_violated(tmp_path, capsys):
    path = tmp_path / "n.json"
    code, out, err = verify(capsys, "--mutant", "no_write_lock", "--property", "no_deadlock",
                            "--trace-out", path)
    assert code == 1
    assert "no_deadlock holds: no trace written" in err
    assert "also violated: no_use_after_free, walk_complete, reaped_when_attempt_succeeds" in out
    assert not path.exists()
