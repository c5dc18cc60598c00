"""`reapcheck experiment --timed-check DIR`: the timed model against recorded experiments,
no kernel needed (experiment/timed_check.py)."""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from reapcheck.cli import main

RECORDED = Path(__file__).resolve().parent.parent / "results" / "experiments"
COMMITTED = json.loads((RECORDED / "timed_check.json").read_text())


def _one_run(tmp_path: Path, number: int) -> Path:
    """results/experiments/opposite.json cut to run `number`, its trace with it."""
    data = json.loads((RECORDED / "opposite.json").read_text())
    data["runs"] = [r for r in data["runs"] if r["run"] == number]
    (tmp_path / "opposite.json").write_text(json.dumps(data))
    keep, out = False, []
    for line in gzip.open(RECORDED / "opposite.trace.gz", "rt").read().split("\n"):
        if line.startswith("# reapcheck-run "):
            keep = json.loads(line[len("# reapcheck-run "):])["run"] == number
        if keep:
            out.append(line)
    with gzip.open(tmp_path / "opposite.trace.gz", "wt") as f:
        f.write("\n".join(out))
    return data["runs"][0]


def test_one_recorded_run_against_the_model(tmp_path, capsys):
    run = _one_run(tmp_path, 3)
    assert main(["experiment", "--timed-check", str(tmp_path)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["kind"] == "reapcheck-timed-check" and list(got["modes"]) == ["opposite"]
    row, = got["modes"]["opposite"]["runs"]
    # measured: the recorded run's own PTE-lock contention tally, read here directly
    pte = run["contentions"]["pte"]
    assert row["measured"]["contentions"] == sum(c["count"] for c in pte.values())
    assert row["measured"]["wait_us"] == round(sum(c["wait_us"] for c in pte.values()), 1)
    # the model's side: the same run in the committed check of all ten runs
    committed = next(r for r in COMMITTED["modes"]["opposite"]["runs"] if r["run"] == 3)
    assert row == committed
    assert got["costs"] == COMMITTED["costs"]


@pytest.mark.parametrize("setup, args, message", [
    (None, ["--timed-check", "{d}/none"], "needs a directory of recorded experiments"),
    (None, ["--timed-check", "{d}"], "no recorded experiment here"),
    ("json", ["--timed-check", "{d}"], "missing: the raw traces of same.json"),
    ("both", ["--timed-check", "{d}"], "not a well-formed recorded experiment"),
    ("trace", ["--timed-check", "{d}"], "not a well-formed recorded experiment"),
    ("gzip", ["--timed-check", "{d}"], "a recorded trace cannot be read"),
    (None, ["--costs", "{d}/c.json"], "--costs: is read by --timed-check only"),
    (None, ["--timed-check", "{d}", "--walkers", "same"], "--walkers would have no effect"),
    (None, ["--timed-check", "{d}", "--costs", "{d}/none.json"], "none.json"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, setup, args, message):
    if setup in ("json", "both", "gzip"):
        (tmp_path / "same.json").write_text('{"layout": 1}')
    if setup in ("both", "trace"):
        with gzip.open(tmp_path / "same.trace.gz", "wt") as f:
            f.write("# reapcheck-run {\"run\": 1}\nnot a trace")
    if setup == "trace":
        (tmp_path / "same.json").write_text("[]")
    if setup == "gzip":
        (tmp_path / "same.trace.gz").write_bytes(b"not gzip")
    before = sorted(os.listdir(tmp_path))
    out = tmp_path / "out.json"
    code = main(["experiment", *[a.format(d=tmp_path) for a in args], "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == before
