"""The explicit engine stops in time (issue 10, section 6): --timeout, SIGINT and SIGTERM
give the partial result with `incomplete` verdicts and the states explored; progress
shows states per second and the queue."""
from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time

import pytest

from reapcheck.bundled import load_bundled
from reapcheck.cli import main
from reapcheck.engines.explicit import explicit
from reapcheck.model.protocol import Protocol, ProtocolConfig
from reapcheck.progress import Progress
from reapcheck.properties.protocol import PROPERTIES
from reapcheck.traces import replay_trace, trace_json
from reapcheck.verify import verify

TINY = load_bundled("tiny.maps")  # rev_find: 1,897 states in all (test_protocol.py)


def stop_after_polls(polls: int):
    """A progress callback that asks for a stop at its `polls`-th call, as a signal would."""
    stop, calls = explicit.StopRequest(), []

    def progress(states, rate, queue, depth):
        calls.append((states, rate, queue, depth))
        if len(calls) == polls:
            stop("SIGTERM")
    return stop, progress, calls


def test_a_stop_request_gives_incomplete_with_the_states_explored():
    """Stopped at the second poll: exactly 2 x POLL_EVERY states were explored, and in a
    breadth-first search every state found is explored or queued, so states = 512 + queue."""
    stop, progress, calls = stop_after_polls(1)
    model = Protocol(TINY, ProtocolConfig("rev_find"))
    result = explicit.check(model, PROPERTIES, progress=progress, stop=stop)
    assert result.stopped == "SIGTERM" and not result.complete
    assert result.states == 2 * explicit.POLL_EVERY + result.queue
    assert 0 < result.queue and result.states < 1897
    assert {v.status for v in result.verdicts.values()} == {"incomplete"}
    states, rate, queue, depth = calls[0]
    assert states == explicit.POLL_EVERY + queue and rate > 0 and depth > 0


def test_violations_found_before_the_stop_keep_their_traces():
    """no_write_lock (3,419 states): a stop after 10 polls (2,560 states explored) still
    has the 12-step use-after-free trace: breadth first reaches depth 12 early."""
    stop, progress, _ = stop_after_polls(10)
    model = Protocol(TINY, ProtocolConfig("rev_find", "no_write_lock"))
    result = explicit.check(model, PROPERTIES, progress=progress, stop=stop)
    assert result.stopped == "SIGTERM"
    statuses = {name: v.status for name, v in result.verdicts.items()}
    assert statuses["no_use_after_free"] == "violated"
    assert set(statuses.values()) == {"violated", "incomplete"}
    trace = result.verdicts["no_use_after_free"].trace
    assert len(trace) == 12
    data = json.loads(json.dumps(trace_json(model, "no_use_after_free", trace, "explicit")))
    assert replay_trace(data, "t").startswith("reproduced")


def test_timeout_zero_stops_at_the_first_poll():
    result = verify(TINY, ProtocolConfig("rev_find"), timeout_s=1e-9)
    assert result.stopped == "timeout" and not result.complete
    assert result.states == explicit.POLL_EVERY + result.queue
    assert set(result.statuses.values()) == {"incomplete"}


def test_timeout_large_enough_changes_nothing():
    result = verify(TINY, ProtocolConfig("rev_find"), timeout_s=600)
    assert result.complete and result.stopped is None and result.states == 1897
    assert set(result.statuses.values()) == {"holds"}


def test_cli_timeout_says_incomplete_and_why(capsys):
    long_search = ["verify", "bundled/sleep.smaps", "--mrelease", "--reduction", "none"]
    code = main(long_search + ["--timeout", "0.2"])
    out = capsys.readouterr().out
    assert code == 3
    assert "INCOMPLETE (--timeout reached after" in out and "in the queue unexplored" in out
    assert "holds" not in out
    code = main(long_search + ["--timeout", "0.2", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 3 and data["stopped"] == "timeout" and data["complete"] is False
    assert data["states"] > 0 and data["queue"] > 0
    assert {p["status"] for p in data["properties"].values()} == {"incomplete"}


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("as_json", [False, True])
def test_signals_print_the_partial_result(tmp_path, sig, code, as_json):
    """As TLC does: the verdicts so far, then exit 128 + signal number. The search is
    sleep.smaps with process_mrelease and no reduction (4 million states: long); the
    signal goes once its first progress line (after 5 s, off a terminal) shows it runs."""
    argv = [sys.executable, "-m", "reapcheck", "verify", "bundled/sleep.smaps", "--mrelease",
            "--reduction", "none"]
    argv += ["--json"] if as_json else []
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = child.stderr.readline()
    assert "states/s" in first, first
    child.send_signal(sig)
    out, err = child.communicate(timeout=60)
    assert child.returncode == code, err
    assert "Traceback" not in err
    if as_json:
        data = json.loads(out)
        assert data["stopped"] == sig.name and data["complete"] is False
        assert {p["status"] for p in data["properties"].values()} == {"incomplete"}
    else:
        reason = "interrupted (SIGINT)" if sig == signal.SIGINT else "terminated (SIGTERM)"
        assert f"INCOMPLETE ({reason}" in out


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_shows_states_per_second_and_queue():
    stream = Tty()
    progress = Progress("verify x", stream)
    progress.search(123456, 4321.5, 789, 12)
    assert "123,456 states, 4,322 states/s, queue 789, depth 12" in stream.getvalue()


@pytest.mark.parametrize("argv, words", [
    (["verify", "--property", "no_deadlock"], "--trace-out"),
    (["verify", "--engine", "z3", "--max-states", "5"], "explicit engine only"),
])
def test_options_that_would_be_ignored_exit_2(capsys, argv, words):
    start = time.perf_counter()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert time.perf_counter() - start < 5  # refused before any search
