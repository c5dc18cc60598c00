"""Bad input and output paths (issue 10, section 7): one line naming the file, exit 2,
nothing partial written; replay checks a trace's shape before using it; the honest
message when no trace can be written."""
from __future__ import annotations

import json
import os
import time
from types import SimpleNamespace

import pytest

from reapcheck import cli, outputs
from reapcheck.cli import main


def one_line_error(capsys, argv, *, code=2):
    assert main([str(a) for a in argv]) == code
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return out, err


# --- writing files -------------------------------------------------------------------------

def test_write_files_is_all_or_nothing(tmp_path, monkeypatch):
    real = outputs._write_temporary

    def failing(path, text):
        if path.endswith(".itf.json"):
            raise OSError(28, "No space left on device", path)
        return real(path, text)

    monkeypatch.setattr(outputs, "_write_temporary", failing)
    with pytest.raises(OSError) as err:
        outputs.write_files([(str(tmp_path / "t.json"), "{}"), (str(tmp_path / "t.itf.json"), "{}")])
    assert err.value.filename == str(tmp_path / "t.itf.json")
    assert os.listdir(tmp_path) == []  # neither file, no temporary left


def test_trace_out_twin_failing_writes_neither(tmp_path, monkeypatch, capsys):
    real = outputs._write_temporary

    def failing(path, text):
        if path.endswith(".itf.json"):
            raise OSError(28, "No space left on device", path)
        return real(path, text)

    monkeypatch.setattr(outputs, "_write_temporary", failing)
    _, err = one_line_error(capsys, ["verify", "--mutant", "no_write_lock",
                                     "--trace-out", tmp_path / "t.json"])
    assert err == f"reapcheck: {tmp_path / 't.itf.json'}: No space left on device\n"
    assert os.listdir(tmp_path) == []


def test_trace_out_twin_that_is_a_directory_fails_before_work(tmp_path, capsys):
    (tmp_path / "t.itf.json").mkdir()
    start = time.perf_counter()
    _, err = one_line_error(capsys, ["verify", "bundled/sleep.smaps", "--mutant", "no_write_lock",
                                     "--trace-out", tmp_path / "t.json"])
    assert time.perf_counter() - start < 3  # sleep.smaps takes seconds to search
    assert err.startswith(f"reapcheck: {tmp_path / 't.itf.json'}: ")
    assert sorted(os.listdir(tmp_path)) == ["t.itf.json"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_trace_out_dev_full_names_the_file(capsys):
    _, err = one_line_error(capsys, ["verify", "--mutant", "no_write_lock", "--trace-out", "/dev/full"])
    assert err.startswith("reapcheck: /dev/full")  # /dev/full: ENOSPC, or its twin: EACCES
    assert not os.path.exists("/dev/full.itf.json")
    assert not [n for n in os.listdir("/dev") if n.startswith(".full.itf.json.")]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_generate_to_dev_full_names_the_file(capsys):
    _, err = one_line_error(capsys, ["generate", "10", "-o", "/dev/full"])
    assert err == "reapcheck: /dev/full: No space left on device\n"


@pytest.mark.parametrize("command", [["generate", "10"], ["anonymize", "bundled/tiny.maps"]])
def test_output_into_a_missing_directory_or_a_directory(tmp_path, capsys, command):
    target = tmp_path / "no" / "x.smaps"
    _, err = one_line_error(capsys, command + ["-o", target])
    assert err.startswith(f"reapcheck: {target}: ")
    _, err = one_line_error(capsys, command + ["-o", tmp_path])
    assert err == f"reapcheck: {tmp_path}: Is a directory\n"
    assert os.listdir(tmp_path) == []


def test_report_out_existing_file_fails_before_work(tmp_path, capsys):
    existing = tmp_path / "results"
    existing.write_text("keep me\n")
    start = time.perf_counter()
    _, err = one_line_error(capsys, ["report", "--out", existing])
    assert time.perf_counter() - start < 2  # the report itself takes minutes
    assert err == f"reapcheck: {existing}: exists and is not a directory\n"
    assert existing.read_text() == "keep me\n"


def test_generate_writes_whole_file(tmp_path, capsys):
    target = tmp_path / "g.smaps"
    assert main(["generate", "5", "-o", str(target)]) == 0
    assert target.read_text().count("VmFlags:") == 5
    assert os.listdir(tmp_path) == ["g.smaps"]


# --- the honest message ----------------------------------------------------------------------

def fake(statuses):
    return SimpleNamespace(statuses=statuses, traces={})


@pytest.mark.parametrize("statuses, name, expected", [
    ({"a": "unknown", "b": "unknown"}, None, "no violation found; 2 properties unknown"),
    ({"a": "holds", "b": "unknown", "c": "incomplete"}, None,
     "no violation found; 1 property unknown, 1 property incomplete"),
    ({"a": "holds", "b": "holds"}, None, "no property is violated"),
    ({"a": "holds", "b": "unknown"}, "a", "a holds"),
    ({"a": "holds", "b": "unknown"}, "b", "b is unknown"),
])
def test_no_trace_reason(statuses, name, expected):
    assert cli._no_trace_reason(fake(statuses), name) == expected


def test_z3_all_unknown_says_so(tmp_path, capsys, monkeypatch):
    # Every solver call gives up, as a timeout makes it do. A short --timeout alone is a
    # race: on a fast machine one property was decided within 10 ms (CI, stop 18).
    import z3
    monkeypatch.setattr(z3.Solver, "check", lambda self, *a, **k: z3.unknown)
    code = main(["verify", "--engine", "z3", "--timeout", "5", "--trace-out",
                 str(tmp_path / "z.json")])
    err = capsys.readouterr().err
    assert code == 3
    assert "reapcheck: no violation found; 7 properties unknown: no trace written" in err
    assert os.listdir(tmp_path) == []


# --- replay: the trace's shape first ---------------------------------------------------------

@pytest.fixture
def trace_file(tmp_path, capsys):
    path = tmp_path / "t.json"
    assert main(["verify", "--mutant", "no_write_lock", "--trace-out", str(path)]) == 1
    capsys.readouterr()
    return path


@pytest.mark.parametrize("edit, key", [
    (lambda d: d.__setitem__("steps", 5), "trace.steps: want a list, not 5"),
    (lambda d: d.__setitem__("steps", None), "trace.steps: want a list, not null"),
    (lambda d: d.__setitem__("property", []), "trace.property: want one of"),
    (lambda d: d["config"].__setitem__("stuck_writer", "yes"),
     'trace.config.stuck_writer: want true or false, not "yes"'),
    (lambda d: d["config"].__setitem__("mrelease", 1), "trace.config.mrelease: want true or false"),
    (lambda d: d["config"].__setitem__("fast", True), "trace.config.fast: unknown key"),
    (lambda d: d["config"].__setitem__("walk", "sideways"), "trace.config.walk: want one of"),
    (lambda d: d["layout"]["vmas"][0].__setitem__("flags", "rd wr"),
     'trace.layout.vmas[0].flags: want a list or null, not "rd wr"'),
    (lambda d: d["layout"]["vmas"][0].__setitem__("start", "zz"),
     "trace.layout.vmas[0].start: want a hex address"),
    (lambda d: d["layout"]["vmas"][0].__setitem__("perms", "rwxq"),
     "trace.layout.vmas[0].perms: want permissions like rw-p"),
    (lambda d: d["steps"][3].__setitem__("actor", 7), "trace.steps[3].actor: want a string, not 7"),
    (lambda d: d["steps"][0].__setitem__("changes", {"readers": [0]}),
     "trace.steps[0].changes.readers: want [old, new] integers"),
    (lambda d: d.pop("layout"), "trace.layout: missing"),
    (lambda d: d.__setitem__("version", 2), "trace.version: want 1, not 2"),
])
def test_replay_names_the_wrong_key(trace_file, capsys, edit, key):
    data = json.loads(trace_file.read_text())
    edit(data)
    trace_file.write_text(json.dumps(data))
    _, err = one_line_error(capsys, ["replay", trace_file])
    assert err.startswith(f"reapcheck: {trace_file}: malformed trace: {key}"), err


@pytest.mark.parametrize("text, message", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("9" * 5000, "an integer with too many digits"),
    ("{\n  \"kind\": \n}", "not a JSON trace: Expecting value"),
    ("[]", 'malformed trace: trace: want a JSON object, not []'),
    ("", "not a JSON trace"),
])
def test_replay_unparsable_text(tmp_path, capsys, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    _, err = one_line_error(capsys, ["replay", path])
    assert err.startswith(f"reapcheck: {path}") and message in err, err


def test_replay_json_error_names_the_line(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text("{\n  \"kind\": \n}")
    _, err = one_line_error(capsys, ["replay", path])
    assert err.startswith(f"reapcheck: {path}:3: ")


def test_replay_refuses_a_fifo(tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    _, err = one_line_error(capsys, ["replay", fifo])
    assert "not a regular file" in err
