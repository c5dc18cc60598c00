"""`reapcheck experiment` end to end on this machine's kernel, and its bad-input paths.

The end-to-end test needs root, tracefs with the lock and mmap_lock events, and
process_mrelease(); CI machines have them (Linux 6.18), elsewhere it skips and says why.
"""
import fcntl
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reapcheck.cli import main



@pytest.fixture(autouse=True)
def one_experiment_at_a_time():
    """Test workers wait for each other here: the experiment refuses to start while another
    holds its machine-wide lock (run.LOCK_FILE), and these tests run it for real."""
    fd = os.open("/tmp/reapcheck-tests-kernel.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
from reapcheck.experiment import run as run_mod
from reapcheck.experiment.race import has_process_mrelease
from reapcheck.experiment.tracefs import find_tracefs, fingerprint, unmount
from kernel_support import kernel_missing  # noqa: E402


_missing = kernel_missing


def _children() -> list[int]:
    """This process's children, except the helpers Python's multiprocessing keeps for the
    whole process (the resource tracker, the forkserver) once an earlier test in the
    same xdist worker used it (Dask, the Z3 engine's forked queries)."""
    me = str(os.getpid())
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if fields[1] == me and b"multiprocessing" not in cmdline:
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
def test_experiment_end_to_end(tmp_path, capsys):
    root, mounted = find_tracefs()
    before = fingerprint(root)
    out = tmp_path / "e.json"
    try:
        status = main(["experiment", "synthetic:20000:4k:0", "--runs", "3", "--out", str(out),
                       "--json"])
    finally:
        after = fingerprint(root)
        if mounted:
            unmount(root)
    printed = json.loads(capsys.readouterr().out)
    assert status == 0, printed["verdict"]
    assert after == before  # tracing state as found, no instance left
    assert not re.search(r"reapcheck-", after["instances"])
    assert _children() == []  # no victim, no second releaser left
    record = json.loads(out.read_text())
    assert record == printed and record["version"] == 1
    assert record["walkers"] == ["opposite", "same"]
    raw = gzip.decompress(out.with_suffix(".trace.gz").read_bytes()).decode()
    runs_text = raw.split("# reapcheck-run ")[1:]
    traced = [r for r in record["runs"] if "contentions" in r]
    assert len(runs_text) == len(traced) >= 6
    for run, part in zip(traced, runs_text):
        assert sum(r["walkers"] == run["walkers"] for r in record["runs"] if r["raced"]) == 3
        # every contention of an actor's thread is counted once, in one class
        pids = "|".join(run["actors"])
        begins = len(re.findall(rf"-(?:{pids})\s+\[\d+\].*contention_begin", part))
        assert sum(c["count"] for row in run["contentions"].values()
                   for c in row.values()) == begins
        assert run["lost_events"] == 0
        pte = sum(run["contentions"]["pte"][a]["count"] for a in ("exit_mmap", "reaper"))
        assert pte <= run["model"]["ptl"]
        assert run["verdict"] in ("conforms", "no_race")
        assert len(run["releases"]) == (1 if run["walkers"] == "opposite" else 2)
    # the same layout in both modes: opposite's worst case is at most same's
    assert record["model"]["opposite"]["ptl"] <= record["model"]["same"]["ptl"]


@pytest.mark.parametrize("argv, message", [
    (["experiment", "--runs", "0"], "must be at least 1"),
    (["experiment", "synthetic:lots"], "synthetic:lots"),
    (["experiment", "synthetic:10:4k:0:9"], "synthetic:N"),
    (["experiment", "--walkers", "sideways"], "invalid choice"),
    (["experiment", "--max-resident", "lots"], "bad size"),
    (["experiment", "--victim-threads", "-1"], "between 0 and 100"),
    (["experiment", "--from", "/nonexistent/e.json"], "/nonexistent/e.json"),
    (["experiment", "--out", "/nonexistent/dir/e.json"], "/nonexistent/dir/e.json"),
])
def test_bad_options_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (the experiment checks it first)")
def test_second_experiment_is_refused(tmp_path, monkeypatch, capsys):
    lock = tmp_path / "lock"
    monkeypatch.setattr(run_mod, "LOCK_FILE", lock)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"4242\n")
        assert main(["experiment", "synthetic:10:4k:0", "--runs", "1", "--no-trace"]) == 2
    finally:
        os.close(fd)
    assert "another reapcheck experiment is running (pid 4242" in capsys.readouterr().err


def test_resident_cap_refuses_before_any_victim(capsys):
    if os.geteuid() != 0 or len(os.sched_getaffinity(0)) < 2 or not has_process_mrelease():
        pytest.skip("the preflight checks come first: needs root, two CPUs, process_mrelease")
    assert main(["experiment", "synthetic:100:1m:0", "--max-resident", "10m"]) == 2
    err = capsys.readouterr().err
    assert "100 MiB resident, above the limit of 10 MiB" in err
    assert _children() == []


def _scripts_alive() -> list[int]:
    """Victims and second releasers anywhere on the machine (they may be reparented)."""
    alive = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes()
        except OSError:
            continue
        if b"victim_script.py" in text or b"releaser_script.py" in text:
            alive.append(int(cmdline.parent.name))
    return alive


@pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_experiment_cleans_up(signum):
    """Ctrl-C or SIGTERM in the middle of a traced run: no victim, no instance left."""
    root, mounted = find_tracefs()
    before = fingerprint(root)
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from reapcheck.cli import main; sys.exit(main())",
         "experiment", "synthetic:20000:4k:0", "--runs", "50"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        instance = root / "instances" / f"reapcheck-{proc.pid}"
        deadline = time.monotonic() + 60
        while not instance.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert instance.exists(), ("the experiment never started a traced run: exit "
                                   f"{proc.poll()}, {proc.stderr.read() if proc.poll() is not None else ''}")
        proc.send_signal(signum)
        assert proc.wait(timeout=60) == 130
        assert "interrupted" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        after = fingerprint(root)
        if mounted:
            unmount(root)
    assert after == before
    assert _scripts_alive() == []


RECORDED = Path(__file__).resolve().parent.parent / "results" / "experiments" / "opposite.json"


def _tampered(tmp_path, change) -> str:
    data = json.loads(RECORDED.read_text())
    change(data)
    out = tmp_path / "t.json"
    out.write_text(json.dumps(data))
    (tmp_path / "t.trace.gz").write_bytes(RECORDED.with_suffix(".trace.gz").read_bytes())
    return str(out)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("walkers"), "missing key 'walkers'"),
    (lambda d: d.__setitem__("runs", "abc"), "not a well-formed recorded experiment"),
    (lambda d: d.__setitem__("walkers", ["bogus"]), "walkers must be"),
    (lambda d: d["runs"].append({**d["runs"][0], "run": 99}), "no trace of run(s) [99]"),
])
def test_from_refuses_what_it_cannot_classify(tmp_path, capsys, change, message):
    assert main(["experiment", "--from", _tampered(tmp_path, change)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_from_reclassifies_the_recorded_run_to_the_same_numbers(capsys):
    assert main(["experiment", "--from", str(RECORDED), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    recorded = json.loads(RECORDED.read_text())
    assert [r["contentions"] for r in again["runs"]] == [r["contentions"] for r in
                                                          recorded["runs"]]
    assert again["summary"] == recorded["summary"]


@pytest.mark.parametrize("argv, message", [
    (["--from", "x.json", "--out", "y.json"], "--out would have no effect"),
    (["--from", "x.json", "--walkers", "same"], "--walkers would have no effect"),
    (["synthetic:1000000:4k:0"], "exceed vm.max_map_count"),
    (["synthetic:abc"], "N must be a number of VMAs"),
    (["--victim-threads", "101"], "between 0 and 100"),
    (["--out", "/dev/null"], "--out needs a regular file"),
    (["--out", ""], "--out: an empty path"),
])
def test_more_bad_options(argv, message, capsys):
    assert main(["experiment", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize("twin, message", [
    (None, "t.trace.gz: missing: the raw traces of t.json (written beside it by --out)"),
    (b"not gzip", "t.trace.gz: not the gzip traces of a recorded experiment"),
])
def test_from_names_the_missing_or_broken_trace_file(tmp_path, capsys, twin, message):
    (tmp_path / "t.json").write_text(RECORDED.read_text())
    if twin is not None:
        (tmp_path / "t.trace.gz").write_bytes(twin)
    assert main(["experiment", "--from", str(tmp_path / "t.json")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Errno" not in err
