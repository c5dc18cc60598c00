"""Recorded experiments (results/experiments/*.json, written by `experiment --out`) as the
report reads them: the records, and the few numbers the claims and section 7 quote."""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from .run import SCHEMA_VERSION
from .trace_parse import ACTORS

TIMED_CHECK = "reapcheck-timed-check"  # experiment/calibrate.py kernel_check(), not a run


def load_recorded(folder: Path) -> list[dict]:
    """Every single-walkers record in `folder`, by file name; [] when there is none.
    The timed model's check against them (timed_check.json, kind TIMED_CHECK) is skipped.
    Raises ValueError naming a file that is not such a record."""
    records = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        record = json.loads(path.read_text())
        if record.get("kind") == TIMED_CHECK:
            continue
        if record.get("version") != SCHEMA_VERSION or len(record.get("walkers", ())) != 1:
            raise ValueError(f"{path}: not a one-walkers experiment record of schema version "
                             f"{SCHEMA_VERSION}")
        record["file"] = path.name
        records.append(record)
    return records


def _pte(run: dict, key: str = "count") -> float:
    return sum(run["contentions"]["pte"][a][key] for a in ACTORS)


def facts(records: list[dict]) -> dict:
    """Per walkers mode: raced runs, PTE contentions and waits per run, how many runs had
    any, the model's ptl bound, and the lruvec and mmap_lock figures (medians)."""
    out = {}
    for record in records:
        runs = [r for r in record["runs"] if r["raced"] and "contentions" in r]
        if not runs:
            continue
        env = record["environment"]
        writes = [w["wait_us"] for r in runs for w in r["mmap_lock_waits"]
                  if w["actor"] == "exit_mmap" and w["write"] and w["wait_us"] is not None]
        out[record["walkers"][0]] = {
            "kernel": env["kernel"], "cpus": env["cpus"], "layout": record["layout"],
            "runs": len(runs),
            "pte": [int(_pte(r)) for r in runs],
            "pte_median": statistics.median(_pte(r) for r in runs),
            "pte_wait_us_median": statistics.median(_pte(r, "wait_us") for r in runs),
            "runs_with_pte": sum(1 for r in runs if _pte(r) > 0),
            "model_ptl": record["model"]["ptl"],
            "lruvec_median": statistics.median(
                sum(r["contentions"]["lruvec"][a]["count"] for a in ACTORS) for r in runs),
            "write_wait_us_median": statistics.median(writes) if writes else None,
        }
    return out
