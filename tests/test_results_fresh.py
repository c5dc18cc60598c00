"""results/ must be exactly what `reapcheck report` writes now (no hand edits, no stale numbers).

The work is split so that the workers share it: the iterators section (`prove()` at the
report's K, the minutes-long part) is recomputed and compared in the groups prove()
computes together; every file is then regenerated from the committed iterators section
and compared byte for byte. Together they cover everything `reapcheck report` computes.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from reapcheck.prove import CLAIMS, ITERATOR_CLAIMS, PROTOCOL_CLAIMS
from reapcheck.report import proof_data, write_report
from reapcheck.spin import missing_tools

RESULTS = Path(__file__).resolve().parent.parent / "results"
MEASUREMENTS = ("benchmarks", "experiments")  # recorded measurements: not regenerated


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] not in MEASUREMENTS}


def _committed_proofs() -> dict:
    """The committed iterators section, its claims in CLAIMS order as prove() gives them
    (results.json is written with sorted keys)."""
    proofs = json.loads((RESULTS / "results.json").read_text())["iterators"]
    claims = proofs["claims"]
    return {**proofs, "claims": {name: claims[name] for name in CLAIMS if name in claims}}


def _groups() -> dict[str, tuple[str, ...]]:
    """The claims in the groups prove() computes together: the four iterator claims share
    their K-VMA tree's order facts, and each protocol configuration's seven claims one
    proof; the two collision claims stand alone."""
    groups = {"iterators": tuple(ITERATOR_CLAIMS)}
    for name in CLAIMS:
        if name in PROTOCOL_CLAIMS:
            _, config = PROTOCOL_CLAIMS[name]
            key = "protocol_" + "_".join(
                [config.walk] + ["mrelease"] * config.mrelease
                + ["stuck_writer"] * config.stuck_writer)
            groups[key] = groups.get(key, ()) + (name,)
        elif name not in ITERATOR_CLAIMS:
            groups[name] = (name,)
    return groups


GROUPS = _groups()


def test_the_groups_cover_every_claim_once():
    names = [name for group in GROUPS.values() for name in group]
    assert sorted(names) == sorted(CLAIMS) and len(names) == len(set(names))


@pytest.mark.parametrize("group", GROUPS)
def test_committed_proof_is_fresh(group):
    claims = GROUPS[group]
    fresh, committed = proof_data(only=claims), _committed_proofs()
    assert {k: v for k, v in fresh.items() if k != "claims"} == \
        {k: v for k, v in committed.items() if k != "claims"}
    assert sorted(committed["claims"]) == sorted(CLAIMS), "run `reapcheck report`"  # sort_keys
    for claim in claims:
        assert fresh["claims"][claim] == committed["claims"][claim], \
            f"results.json's proof of {claim} is stale: run `reapcheck report`"


@pytest.mark.skipif(missing_tools() is not None, reason=f"results/ carry SPIN's cross-check, "
                    f"and this machine cannot run it: {missing_tools()}")
def test_committed_results_are_fresh(tmp_path):
    """Also the determinism check: the committed copy came from an earlier run."""
    write_report(tmp_path, experiments=RESULTS / "experiments", proofs=_committed_proofs())
    fresh, committed = _files(tmp_path), _files(RESULTS)
    assert fresh, "report wrote nothing"
    assert sorted(fresh) == sorted(committed), "run `reapcheck report` and commit results/"
    for name, content in fresh.items():
        assert content == committed[name], f"results/{name} is stale: run `reapcheck report`"
