"""The experiment's trace parser and lock classifier, on traces recorded on this kernel.

Expected numbers are counted by hand from the files in tests/data/experiment/ (each
contention's stack read, each wait the difference of two printed timestamps).
"""
import gzip
import json
from pathlib import Path

import pytest

from reapcheck.experiment import command
from reapcheck.experiment.run import Experiment, analyse_run, summarize
from reapcheck.experiment.trace_parse import (TraceFormatError, classify, frame_name,
                                              mmap_lock_waits, parse_trace, tally)

DATA = Path(__file__).parent / "data" / "experiment"
CROSSING_ACTORS = {15245: "exit_mmap", 15193: "reaper"}
CLASSES_ACTORS = {15193: "reaper", 15199: "exit_mmap", 15311: "exit_mmap"}


def _cell(table, lock, actor):
    return table[lock][actor]["count"], table[lock][actor]["wait_us"]


def test_crossing_run_counts_by_hand():
    """One real `opposite` run: the walkers meet in one page table and take turns on its
    lock five times (exit_mmap 3, reaper 2), exit_mmap then waits for mmap_lock, and a
    timer softirq contends on a runqueue lock (other)."""
    trace = parse_trace((DATA / "opposite-crossing.trace").read_text())
    table, foreign = tally(trace, CROSSING_ACTORS)
    assert foreign == 0 and trace.lost_events == 0
    assert _cell(table, "pte", "exit_mmap") == (3, 23 + 6 + 4)
    assert _cell(table, "pte", "reaper") == (2, 19 + 3)
    assert _cell(table, "mmap_lock", "exit_mmap") == (1, 24328)  # 1563.046878 - .022550
    assert _cell(table, "other", "exit_mmap") == (1, 30)
    assert _cell(table, "mmap_lock", "reaper") == (0, 0)
    assert sum(cell["count"] for row in table.values() for cell in row.values()) == 7


def test_crossing_run_mmap_lock_waits_by_hand():
    waits = mmap_lock_waits(parse_trace((DATA / "opposite-crossing.trace").read_text()),
                            CROSSING_ACTORS)
    assert [(w["actor"], w["write"], w["wait_us"]) for w in waits] == [
        ("reaper", False, 2), ("exit_mmap", False, 4), ("exit_mmap", False, 1),
        ("exit_mmap", False, 1), ("exit_mmap", False, 28), ("exit_mmap", True, 24345)]


def test_classes_lruvec_zone_unmatched_foreign_lost():
    trace = parse_trace((DATA / "classes.trace").read_text())
    table, foreign = tally(trace, CLASSES_ACTORS)
    assert _cell(table, "lruvec", "reaper") == (1, 22)
    assert _cell(table, "lruvec", "exit_mmap") == (1, 29)
    assert _cell(table, "zone", "reaper") == (1, 28)
    assert _cell(table, "zone", "exit_mmap") == (1, 0)  # no contention_end: no wait
    assert foreign == 1  # the idle task's interrupt
    assert trace.lost_events == 2
    run = analyse_run({"actors": {str(k): v for k, v in CLASSES_ACTORS.items()}},
                      (DATA / "classes.trace").read_text())
    assert run["unmatched"] == 1 and run["foreign_contentions"] == 1


@pytest.mark.parametrize("stack, flags, expected", [
    # mm/huge_memory.c: zap_huge_pmd() -> __pmd_trans_huge_lock() -> pmd_lock()
    (["__pv_queued_spin_lock_slowpath", "_raw_spin_lock", "__pmd_trans_huge_lock",
      "zap_huge_pmd", "zap_pmd_range.isra.0"], "SPIN", "pmd"),
    (["queued_spin_lock_slowpath", "_raw_spin_lock", "__pte_offset_map_lock+0x9a/0x110",
      "zap_pte_range"], "SPIN", "pte"),
    # exit_mmap's own mmap_read_lock(): a rwsem, READ
    (["rwsem_down_read_slowpath", "down_read", "exit_mmap"], "READ", "mmap_lock"),
    # i_mmap_rwsem in free_pgtables() is a rwsem too, but not mmap_lock
    (["rwsem_down_write_slowpath", "down_write", "unlink_file_vma_batch_process",
      "free_pgtables", "exit_mmap"], "WRITE", "other"),
    # tasklist_lock (an rwlock: SPIN|WRITE) in do_exit is not mmap_lock
    (["queued_write_lock_slowpath", "exit_mm"], "SPIN|WRITE", "other"),
    ([], "SPIN", "other"),
])
def test_classify(stack, flags, expected):
    assert classify(stack, flags) == expected


def test_frame_name_strips_compiler_suffixes_and_offsets():
    assert frame_name("zap_pmd_range.isra.0") == "zap_pmd_range"
    assert frame_name("__page_cache_release.part.0") == "__page_cache_release"
    assert frame_name("__pte_offset_map_lock+0x9a/0x110") == "__pte_offset_map_lock"


def test_bad_line_names_file_and_line():
    with pytest.raises(TraceFormatError, match=r"t\.trace:2: not a trace line"):
        parse_trace("# tracer: nop\nthis is not ftrace output\n", "t.trace")


def test_summary_median_and_max_over_raced_runs():
    def run(pte, raced=True):
        table = {c: {a: {"count": 0, "wait_us": 0.0} for a in ("exit_mmap", "reaper")}
                 for c in ("pte", "pmd", "mmap_lock", "lruvec", "zone", "other")}
        table["pte"]["reaper"] = {"count": pte, "wait_us": 2.0 * pte}
        return {"raced": raced, "exit_ms": 10.0 + pte, "contentions": table,
                "releases": [{"ms": 5.0, "error": None}], "mmap_lock_waits": []}
    summary = summarize([run(1), run(4), run(10), run(99, raced=False)])
    assert summary["raced"] == 3 and summary["runs"] == 4
    assert summary["contentions"]["pte"]["reaper"]["count"] == {"median": 4, "max": 10}
    assert summary["contentions"]["pte"]["reaper"]["wait_us"] == {"median": 8.0, "max": 20.0}
    assert summary["exit_ms"] == {"median": 14.0, "max": 20.0}


def test_recorded_experiment_reclassifies_without_root(tmp_path):
    """--out keeps the raw traces; --from classifies them again to the same numbers."""
    text = (DATA / "opposite-crossing.trace").read_text()
    header = {"run": 1, "walkers": "opposite",
              "actors": {str(k): v for k, v in CROSSING_ACTORS.items()}}
    run = {"walkers": "opposite", "raced": True, "exit_ms": 1.0, "run": 1,
           "releases": [{"tid": 15193, "ms": 1.0, "error": None}],
           "model": {"ptl": 4, "vma": 1}, **header, **analyse_run(header, text)}
    run["verdict"] = "violation"  # deliberately stale: --from must recompute it
    data = {"version": 1, "environment": {"kernel": "6.18", "machine": "x86_64", "cpus": 2,
                                          "page_size": 4096},
            "layout": "x", "walkers": ["opposite"],
            "options": {"runs": 1, "resident": "all", "trace": True},
            "recreation": {"vmas": 1, "recreated": 1, "resident_bytes": 4096, "left_out": []},
            "model": {"ptl": 4, "vma": 1}, "runs": [run], "summary": {}, "verdict": "x"}
    out = tmp_path / "rec.json"
    command.save(Experiment(data, [(header, text)]), str(out))
    assert json.loads(out.read_text())["runs"][0]["contentions"]["pte"]["exit_mmap"]["count"] == 3
    assert gzip.decompress((tmp_path / "rec.trace.gz").read_bytes()).decode().count(
        "contention_begin") == text.count("contention_begin")
    again = command.reclassify(str(out))
    assert again["runs"][0]["verdict"] == "violation"  # 5 PTE contentions > ptl bound 4
    assert again["verdict"] == "violation"
    run["model"]["ptl"] = data["model"]["ptl"] = 5
    command.save(Experiment(data, [(header, text)]), str(out))
    assert command.reclassify(str(out))["verdict"] == "conforms"


def test_lost_events_make_a_run_incomplete_unless_already_a_violation():
    from reapcheck.experiment.run import verdict_of
    run = analyse_run({"actors": {"15245": "exit_mmap", "15193": "reaper"}},
                      (DATA / "opposite-crossing.trace").read_text())
    run["raced"] = True
    assert verdict_of(run, {"ptl": 5}) == "conforms"
    assert verdict_of(run, {"ptl": 4}) == "violation"
    run["lost_events"] = 3
    assert verdict_of(run, {"ptl": 5}) == "incomplete"  # 5 is only a lower bound now
    assert verdict_of(run, {"ptl": 4}) == "violation"   # a lower bound above it still is
    assert verdict_of({**run, "raced": False}, {"ptl": 5}) == "no_race"
