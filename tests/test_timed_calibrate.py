"""Calibration of the timed model (experiment/calibrate.py): walk intervals from recorded
traces, the least-squares fit recovering known costs, and a short calibration on this
machine's kernel (skipped, saying why, where the kernel lacks what it needs)."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from reapcheck.experiment.calibrate import Walks, fit, kernel_samples, recorded_runs, walk_intervals
from reapcheck.model.layout import Layout, Vma
from reapcheck.model.walks import WalkConfig
from reapcheck.timed import build_items, simulate
from reapcheck.timed_costs import Costs, WalkerCosts
from kernel_support import kernel_missing  # noqa: E402

RECORDED = Path(__file__).parent.parent / "results" / "experiments"


def test_walk_intervals_of_recorded_runs():
    """Every raced run of the recorded opposite experiment has exit_mmap's read-locked walk
    and one reaper walk; the reaper took its read lock first (it is called at the kill)."""
    data, traces = recorded_runs(RECORDED / "opposite.json")
    raced = {r["run"] for r in data["runs"] if r["raced"]}
    seen = 0
    for header, text in traces:
        if header["run"] not in raced:
            continue
        walks = walk_intervals(text, header["actors"])
        assert walks is not None and len(walks.reapers) == 1
        assert 1_000 < walks.exit_us < 1_000_000 and 1_000 < walks.reaper_us()[0] < 1_000_000
        assert walks.reaper_delays_us()[0] < 0
        seen += 1
    assert seen == len(raced)


def _layout(pages_per_vma: int, n: int) -> Layout:
    size = pages_per_vma * 4096
    return Layout.checked("cal", [Vma(0x10000000 + i * size, 0x10000000 + (i + 1) * size,
                                      "rw-p", frozenset("rd wr mr mw me ac".split()),
                                      lineno=i + 1) for i in range(n)])


def test_fit_recovers_known_costs():
    """Durations made by the timed model itself with known costs fit back to those costs."""
    truth = Costs(WalkerCosts(0.7, 0.9), WalkerCosts(2.3, 1.5))
    samples = []
    for pages, n in ((1, 600), (64, 40), (256, 12)):
        layout = _layout(pages, n)
        exit_items, reaper_items = build_items(layout, WalkConfig("reverse", "ptl", 21))
        for mode, delay_us in (("alone", None), ("opposite", -300.0), ("opposite", 150.0)):
            walkers = [(exit_items, truth.exit_mmap, 0)]
            if delay_us is not None:
                walkers.append((reaper_items, truth.reaper, round(delay_us * 1000)))
            runs = simulate(walkers)
            reapers = () if delay_us is None else (
                (1, round(delay_us * 1000), round(delay_us * 1000) + runs[1].end_ns
                 - round(delay_us * 1000)),)
            walks = Walks(0, runs[0].end_ns, reapers)
            pte = {"exit_mmap": {"wait_us": runs[0].wait_ns / 1000},
                   "reaper": {"wait_us": runs[1].wait_ns / 1000 if delay_us is not None else 0}}
            samples.append({"shape": f"{pages}", "mode": mode, "layout": layout,
                            "walks": walks, "pmd_shift": 21, "pte": pte})
    costs, error = fit(samples)
    for got, want in ((costs.exit_mmap, truth.exit_mmap), (costs.reaper, truth.reaper)):
        assert got.c_item_us == pytest.approx(want.c_item_us, abs=0.01)
        assert got.c_page_us == pytest.approx(want.c_page_us, abs=0.01)
    assert error["exit_mmap"]["rms_relative_error"] < 0.001


_missing = kernel_missing


@pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
def test_short_calibration_on_this_kernel():
    """Two small shapes, one alone and one raced run each: every sample has exit_mmap's
    walk, the fit gives positive costs, and no tracefs instance or child is left."""
    fd = os.open("/tmp/reapcheck-tests-kernel.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as tests/test_experiment_e2e.py: one at a time
        samples, traces = kernel_samples(("synthetic:3000:4k:0", "synthetic:100:256k:0"), 1)
    finally:
        os.close(fd)
    assert {s["mode"] for s in samples} == {"alone", "opposite"}
    assert all(s["walks"].exit_us > 0 for s in samples)
    costs, _ = fit(samples)
    assert costs.exit_mmap.c_item_us + costs.exit_mmap.c_page_us > 0
    tracing = Path("/sys/kernel/tracing/instances")
    if tracing.is_dir():
        assert not [p for p in tracing.iterdir() if p.name.startswith("reapcheck-")]
