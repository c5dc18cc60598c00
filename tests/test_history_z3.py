"""Z3 and the explicit engine agree on the kernel versions of the protocol (issue 16):
the same verdict for every property, equally long shortest traces, and Z3's traces
replay. A one-VMA layout keeps each Spacer query small. `agreement()` is the check;
benchmarks/history_z3.py runs it on every version in CASES."""
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


# Spacer needs 4 to 82 s of CPU per version (tiny as ONE is): all eight would be a
# quarter of the suite. The suite runs the oldest bug, the use-after-free of 4837fe37adff
# and the newest version with history rules; benchmarks/history_z3.py runs every CASE
# the same way (results/benchmarks/history_z3.txt).
IN_SUITE = ("4.13", "4.14", "6.1")


def agreement(kernel: str, options: dict, timeout_s: float = 300):
    """(explicit, Z3) Verifications of ONE on `kernel` with `options`."""
    config = ProtocolConfig(KERNELS[kernel].walk, kernel=kernel, **options)
    return verify(ONE, config, "explicit"), verify(ONE, config, "z3", timeout_s=timeout_s)


@pytest.mark.parametrize("kernel, options, bug", [c for c in CASES if c[0] in IN_SUITE],
                         ids=list(IN_SUITE))
def test_z3_agrees_with_the_explicit_engine(kernel, options, bug, tmp_path):
    explicit, symbolic = agreement(kernel, options)
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
