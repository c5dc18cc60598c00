"""results/ must be exactly what `reapcheck report` writes now (no hand edits, no stale numbers)."""
from __future__ import annotations

from pathlib import Path

from reapcheck.report import write_report

RESULTS = Path(__file__).resolve().parent.parent / "results"
MEASUREMENTS = ("benchmarks", "experiments")  # recorded measurements: not regenerated


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] not in MEASUREMENTS}


def test_committed_results_are_fresh(tmp_path):
    """Also the determinism check: the committed copy came from an earlier run."""
    write_report(tmp_path, experiments=RESULTS / "experiments")
    fresh, committed = _files(tmp_path), _files(RESULTS)
    assert fresh, "report wrote nothing"
    assert sorted(fresh) == sorted(committed), "run `reapcheck report` and commit results/"
    for name, content in fresh.items():
        assert content == committed[name], f"results/{name} is stale: run `reapcheck report`"
