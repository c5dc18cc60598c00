"""results/ must be exactly what `reapcheck report` writes now (no hand edits, no stale numbers)."""
from __future__ import annotations

import filecmp
from pathlib import Path

from reapcheck.report import write_report

RESULTS = Path(__file__).resolve().parent.parent / "results"


def test_committed_results_are_fresh(tmp_path):
    """Also the determinism check: the committed copy came from an earlier run."""
    write_report(tmp_path)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written, "report wrote nothing"
    for name in written:
        assert (RESULTS / name).exists(), f"results/{name} missing: run `reapcheck report`"
        assert filecmp.cmp(tmp_path / name, RESULTS / name, shallow=False), (
            f"results/{name} is stale: run `reapcheck report` and commit it")
