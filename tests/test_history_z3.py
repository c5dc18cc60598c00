"""Z3 and the explicit engine agree on every kernel version of the protocol (issue 16):
the same verdict for every property, equally long shortest traces, and Z3's traces
replay. A one-VMA layout keeps each Spacer query small."""
from __future__ import annotations

import json

import pytest

from reapcheck.cli import main
from reapcheck.model.kernels import KERNELS
from reapcheck.model.protocol import ProtocolConfig
from reapcheck.model.smaps import parse_text
from reapcheck.traces import trace_json
from reapcheck.verify import verify

ONE = parse_text("1000-2000 rw-p 00000000 00:00 0\n", "one")

# (kernel, options, the violated property and its length counted by hand on ONE, or None)
CASES = [
    # the OOM kill, the last mmput(), trylock, mmget_not_zero() fails, up_read,
    # MMF_OOM_SKIP: 6
    ("4.13", {}, ("no_premature_oom_skip", 6)),
    # the kill, another task's mmput(), trylock, MMF_OOM_SKIP clear, MMF_UNSTABLE,
    # exit_mmap unmaps the one VMA, MMF_OOM_SKIP, free_pgtables(), the reaper's zap: 9
    ("4.14", {}, ("no_use_after_free", 9)),
    ("4.15", {}, None),
    # the kill, the mmput(), VM_LOCKED cleared, trylock, MMF_OOM_SKIP clear,
    # MMF_UNSTABLE, the zap: 7
    ("4.16", {"mlocked": (0,)}, ("no_munlock_zap_race", 7)),
    ("4.17", {"mlocked": (0,)}, None),
    # SIGKILL, the mmput(), mmap_write_lock, unmap, free_pgtables, remove_vma,
    # mmap_write_unlock; process_mrelease: lock, MMF_OOM_SKIP clear, the visit: 10
    ("5.17-rc", {"mrelease": True}, ("no_use_after_free", 10)),
    ("5.17", {"mrelease": True}, None),
    ("6.1", {}, None),
]


@pytest.mark.parametrize("kernel, options, bug", CASES, ids=[c[0] for c in CASES])
def test_z3_agrees_with_the_explicit_engine_on_every_version(kernel, options, bug, tmp_path):
    config = ProtocolConfig(KERNELS[kernel].walk, kernel=kernel, **options)
    explicit = verify(ONE, config, "explicit")
    symbolic = verify(ONE, config, "z3", timeout_s=300)
    assert symbolic.complete and explicit.complete
    assert symbolic.statuses == explicit.statuses
    assert symbolic.termination["status"] == "holds"
    violated = {n for n, s in explicit.statuses.items() if s == "violated"}
    assert violated == ({bug[0]} if bug else set())
    for name in violated:
        assert len(symbolic.traces[name]) == len(explicit.traces[name]) == bug[1]
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(trace_json(symbolic.model, name, symbolic.traces[name],
                                              "z3")))
        assert main(["replay", str(path)]) == 0
