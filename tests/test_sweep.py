"""`reapcheck sweep` (issue 15): Dask results against each check run alone, bad layouts as
lines, --resume after a killed client, the missing extra and bad options.

One 2-worker LocalCluster for the module (starting one costs seconds of CPU); the sweeps
reach it with --scheduler, the same code path as a remote cluster. Every expected number
comes from running `reapcheck collisions`, `timed` or `verify` alone in this process.
"""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

distributed = pytest.importorskip("distributed")

from reapcheck import bundled  # noqa: E402
from reapcheck.cli import main  # noqa: E402
from reapcheck.sweep import LINES_PER_TASK  # noqa: E402
from reapcheck.sweep_run import QUIET_CLUSTER, SweepProgress, read_done  # noqa: E402
from reapcheck.sweep_summary import distribution, factor, summarize  # noqa: E402

ORDERS, GRANULARITIES = ("forward", "reverse"), ("vma", "ptl")


@pytest.fixture(scope="module")
def scheduler():
    import logging

    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):  # a dead worker's
        cluster = distributed.LocalCluster(  # task: retried once, then failed (below)
            n_workers=2, threads_per_worker=1, processes=True, silence_logs=logging.ERROR,
            **QUIET_CLUSTER)
    yield cluster.scheduler_address
    cluster.close()


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def generated(folder, count: int, vmas=lambda i: 3 + 7 * i % 40) -> list[str]:
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(count):
        path = str(folder / f"g{i:03d}.smaps")
        assert main(["generate", str(vmas(i)), "--seed", str(i), "-o", path]) == 0
        paths.append(path)
    return paths


def lines_of(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def collisions_alone(capsys, path: str) -> dict:
    """(order, granularity) -> max_collisions from `reapcheck collisions --json`."""
    expected = {}
    for order in ORDERS:
        for gran in GRANULARITIES:
            code, out, _ = run(capsys, "collisions", path, "--order", order, "--granularity",
                               gran, "--json", "--witness", "compact", "--quiet")
            assert code == 0
            expected[(order, gran)] = json.loads(out)["max_collisions"]
    return expected


def test_collisions_equal_each_layout_alone(capsys, tmp_path, scheduler):
    paths = generated(tmp_path / "gen", 50) + bundled.names()
    out = tmp_path / "sweep.jsonl"
    code, text, _ = run(capsys, "sweep", str(tmp_path / "gen"), *bundled.names(),
                        "--scheduler", scheduler, "--checks", "collisions",
                        "--out", str(out), "--quiet")
    assert code == 0, text
    got = {}
    for line in lines_of(out):
        key = (line["layout"], line["order"], line["granularity"])
        assert line["check"] == "collisions" and key not in got
        got[key] = line["max_collisions"]
    expected = {(path, order, gran): n for path in paths
                for (order, gran), n in collisions_alone(capsys, path).items()}
    assert got == expected
    assert f"layouts: {len(paths)}" in text


def test_bad_layout_is_a_line_and_the_rest_complete(capsys, tmp_path, scheduler):
    good = generated(tmp_path / "set", 3)
    bad = tmp_path / "set" / "zbad.smaps"
    bad.write_text("00400000-00401000 r-xp 00000000 00:00 0  /bin/x\nnot a line\n")
    out = tmp_path / "sweep.jsonl"
    code, text, _ = run(capsys, "sweep", str(tmp_path / "set"), "--scheduler", scheduler,
                        "--max-states", "500", "--out", str(out), "--quiet")
    assert code == 3  # a failed task, and incomplete verdicts
    lines = lines_of(out)
    errors = [line for line in lines if "error" in line]
    assert sorted(line["check"] for line in errors) == ["collisions", "timed", "verify"]
    for line in errors:
        assert line["layout"] == str(bad) and set(line) == {"layout", "check", "error"}
        assert line["error"].startswith(f"{bad}:2: ")  # the file and its bad line
        assert "\n" not in line["error"]
    code, _, err = run(capsys, "collisions", str(bad), "--order", "forward",
                       "--granularity", "vma")
    assert code == 2 and err.strip() == f"reapcheck: {errors[0]['error']}"
    for path in good:  # every other task complete, and equal to the check alone
        mine = [line for line in lines if line["layout"] == path]
        assert len(mine) == sum(LINES_PER_TASK.values())
        assert {(line["order"], line["granularity"]): line["max_collisions"]
                for line in mine if line["check"] == "collisions"} == collisions_alone(capsys, path)
        for order in ORDERS:
            code, alone, _ = run(capsys, "timed", path, "--order", order, "--json")
            summary = json.loads(alone)["summary"]
            line = next(x for x in mine if x["check"] == "timed" and x["order"] == order)
            assert {k: line[k] for k in summary} == summary
        code, alone, _ = run(capsys, "verify", path, "--walk", "rev_find", "--max-states",
                             "500", "--json", "--quiet")
        verdicts = {name: p["status"] for name, p in json.loads(alone)["properties"].items()}
        line = next(x for x in mine if x["check"] == "verify")
        assert line["properties"] == verdicts
        assert "holds" not in verdicts.values() or line["complete"]  # never holds when cut
    assert "layouts: 4 (1 with a failed task: 3 error lines)" in text


def test_resume_after_the_client_is_killed(capsys, tmp_path, scheduler):
    paths = generated(tmp_path / "big", 16, vmas=lambda i: 250 + 10 * i)
    out = tmp_path / "sweep.jsonl"
    argv = ["sweep", str(tmp_path / "big"), "--scheduler", scheduler, "--checks",
            "collisions", "--out", str(out), "--quiet"]
    child = subprocess.Popen([sys.executable, "-m", "reapcheck", *argv],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 8:  # two tasks or more
            break
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    before = out.read_bytes()
    done = {(x["layout"], x["check"]) for x in read_done(str(out), truncate=False)}
    assert 2 <= len(done) < len(paths), "the client was not killed halfway"
    code, _, err = run(capsys, *argv, "--resume")
    assert code == 0
    assert f"{len(done)} tasks already in {out}, {len(paths) - len(done)} run now" in err
    kept = b"".join(before.splitlines(keepends=True)[:4 * len(done)])  # the whole tasks
    assert out.read_bytes().startswith(kept)  # kept as they were, then the rest
    lines = lines_of(out)
    keys = [(x["layout"], x["order"], x["granularity"]) for x in lines]
    assert len(keys) == len(set(keys)) == 4 * len(paths)  # each task exactly once
    assert {k[0] for k in keys} == set(paths)


def test_failed_tasks_after_retries(tmp_path, scheduler):
    """A task that raises is retried (`retries`), one that kills its worker is retried
    by the scheduler (allowed-failures, 1 here); then each is one failed line."""
    from reapcheck.sweep_run import run as sweep_run

    attempts = tmp_path / "attempts"
    attempts.mkdir()

    def task(path, check, options):
        (attempts / f"{path}-{os.getpid()}-{time.monotonic_ns()}").touch()
        if path == "raises":
            raise RuntimeError("a bug\nsecond line")
        if path == "dies":
            os._exit(1)
        return [{"layout": path, "check": check, "ok": True}]

    out = tmp_path / "s.jsonl"
    with distributed.Client(scheduler) as client:  # the worker that dies alone: tasks
        lines = sweep_run([("fine", "verify"), ("raises", "verify")],  # beside it would be
                          str(out), {}, client=client, retries=2, quiet=True, task=task)
        lines += sweep_run([("dies", "verify")], str(out), {}, client=client,  # suspects too
                           retries=2, quiet=True, task=task)
    assert sorted(map(json.dumps, lines)) == sorted(map(json.dumps, lines_of(out)))
    by = {line["layout"]: line for line in lines}
    assert by["fine"] == {"layout": "fine", "check": "verify", "ok": True}
    assert by["raises"] == {"layout": "raises", "check": "verify",
                            "error": "task failed: RuntimeError: a bug"}
    assert by["dies"]["error"].startswith("task failed: KilledWorker: ")
    tries = [p.name.split("-")[0] for p in attempts.iterdir()]
    assert tries.count("raises") == 3 and tries.count("dies") == 2


def test_read_done_drops_a_cut_short_task(tmp_path):
    out = tmp_path / "s.jsonl"
    whole = [{"layout": "a", "check": "verify", "properties": {}},
             {"layout": "b", "check": "collisions", "error": "b:1: bad"}]
    part = [{"layout": "c", "check": "collisions", "order": "forward",
             "granularity": "vma", "max_collisions": 1}]
    text = "".join(json.dumps(x) + "\n" for x in whole + part)
    out.write_text(text + '{"layout": "c", "che')
    assert read_done(str(out)) == whole
    assert out.read_text() == "".join(json.dumps(x) + "\n" for x in whole)
    out.write_text("\n" + text)  # a line that is no result, before the last
    code = main(["sweep", "bundled/tiny.maps", "--out", str(out), "--resume", "--quiet"])
    assert code == 2


@pytest.mark.parametrize("text, line", [
    ("hello world\n", 1), ('{"a": 1}\n', 1), ("hello world", 1),
    ('{"layout": "a", "check": "verify", "properties": {}}\n[1, 2]\n', 2)])
def test_resume_refuses_a_whole_last_line_that_is_no_result(capsys, tmp_path, text, line):
    out = tmp_path / "s.jsonl"
    out.write_text(text)
    code, stdout, err = run(capsys, "sweep", "bundled/tiny.maps", "--out", str(out),
                            "--resume", "--quiet")
    assert code == 2 and stdout == "" and out.read_text() == text  # nothing written
    assert err.strip().splitlines() == [f"reapcheck: {out}:{line}: not a sweep result line "
                                        "(a JSON object with layout and check)"]


def test_progress_off_a_terminal_is_a_line_every_10_s_after_5_s():
    import io

    now = [0.0]
    stream = io.StringIO()
    bar = SweepProgress(36, stream=stream, clock=lambda: now[0], tty=False)
    for i in range(36):  # a task every 2.6 s: 94 s in all
        now[0] = 2.6 * (i + 1)
        bar.update()
    bar.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "reapcheck: sweep: 2/36 (6%) (5 s)" and len(lines) == 9, lines
    quiet = io.StringIO()
    bar = SweepProgress(3, quiet=True, stream=quiet, clock=lambda: 100.0, tty=False)
    bar.update()
    assert quiet.getvalue() == ""


def test_workers_start_ignoring_sigint_and_sigterm_closes_the_cluster(tmp_path, monkeypatch):
    from reapcheck import sweep_run

    seen = {}

    class Cluster:  # stands for LocalCluster: records what its workers would inherit
        def __init__(self, **kwargs):
            seen["sigint"] = signal.getsignal(signal.SIGINT)

        def close(self):
            seen["closed"] = True

    class Client:
        def __init__(self, cluster):
            self.cluster = cluster

        def close(self):
            pass

    monkeypatch.setattr(distributed, "LocalCluster", Cluster)
    monkeypatch.setattr(distributed, "Client", Client)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)

    def killed(*args, **kwargs):  # the sweep gets SIGTERM while it runs
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)
        raise AssertionError("SIGTERM did not stop the sweep")

    monkeypatch.setattr(sweep_run, "run", killed)
    with pytest.raises(SystemExit) as stopped:
        main(["sweep", "bundled/tiny.maps", "--workers", "1", "--quiet", "--out",
              str(tmp_path / "s.jsonl")])
    assert stopped.value.code == 143 and seen == {"sigint": signal.SIG_IGN, "closed": True}
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_without_dask_exit_2(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    out = tmp_path / "s.jsonl"
    code, text, err = run(capsys, "sweep", "bundled/tiny.maps", "--out", str(out))
    assert code == 2 and text == ""
    assert err == "reapcheck: reapcheck sweep needs Dask: pip install 'reapcheck[sweep]'\n"
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["T", "--workers", "0"], "--workers: must be at least 1, not 0"),
    (["T", "--checks", "collisions,nope"], "not a check: 'nope'"),
    (["T", "--max-states", "0"], "--max-states: must be at least 1"),
    (["T", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "--workers sizes the local"),
    (["T", "--workers", "99999"], "--workers: at most"),
    (["T", "--scheduler", "garbage"], "--scheduler: not a Dask scheduler address: 'garbage'"),
    (["T", "--scheduler", "tcp://host:99999"], "not a Dask scheduler address"),
    (["T", "--scheduler", "tcp://host:"], "not a Dask scheduler address"),
    (["T", "--out", "{tmp}/no/such/dir/s.jsonl"], "no such directory"),
    (["T", "--out", "{tmp}/ro/s.jsonl"], "Permission denied"),
    (["T", "--out", "{tmp}"], "Is a directory"),
    (["{tmp}/missing.smaps"], "missing.smaps: no such file, directory or glob match"),
    (["bundled/nope.maps"], "bundled/nope.maps: no such bundled layout"),
    (["{tmp}/empty"], "no maps or smaps file found"),
    (["{tmp}/*.nothing"], "no such file, directory or glob match"),
])
def test_bad_options_exit_2_nothing_written(capsys, tmp_path, argv, message):
    (tmp_path / "ro").mkdir(mode=0o500)
    (tmp_path / "empty").mkdir()
    if os.geteuid() == 0 and "/ro/" in " ".join(argv):
        pytest.skip("root can write into a read-only directory")
    argv = [a.replace("{tmp}", str(tmp_path)).replace("T", "bundled/tiny.maps")
            if a in ("T",) or "{tmp}" in a else a for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "s.jsonl")]
    before = sorted(tmp_path.rglob("*"))
    code, text, err = run(capsys, "sweep", *argv)
    assert code == 2 and text == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_summary_by_hand():
    d = distribution(list(range(1, 11)))
    assert (d["min"], d["median"], d["p90"], d["max"]) == (1, 5.5, 9, 10)
    assert distribution([7])["p90"] == 7 and distribution([])["median"] is None
    assert factor(6, 3) == 2 and factor(5, 0) == math.inf and factor(0, 0) is None
    lines = [{"layout": name, "check": "collisions", "order": order, "granularity": "ptl",
              "max_collisions": n}
             for name, f, r in (("a", 10, 5), ("b", 4, 0), ("c", 0, 0)) for order, n in
             (("forward", f), ("reverse", r))]
    lines.append({"layout": "d", "check": "verify", "properties": {"p": "holds", "q": "violated"}})
    s = summarize(lines)
    assert s["layouts"] == 4 and s["properties"]["violated"] == 1
    assert s["collisions"]["ptl"]["reduction"]["n"] == 2  # c has no factor
    assert s["collisions"]["ptl"]["reduction"]["max"] == math.inf
    assert s["collisions"]["ptl"]["forward"]["median"] == 4
