"""Warnings on stderr where the input misleads (issue 11).

- A plain maps file cannot show VmFlags: maps' `[vvar]` line reads `r--p`, reapable by
  the plain-maps rule, while its smaps VmFlags carry `pf` (VM_PFNMAP), which the reaper
  skips. The same VMAs give 2 reapable from maps and 1 from smaps below.
- /proc/self/..., /proc/thread-self/... and /proc/<our pid>/... are reapcheck's own process.
"""
from __future__ import annotations

import json
import os

import pytest

from reapcheck.cli import main

VVAR_MAPS = ("7ffd0000-7ffd1000 rw-p 00000000 00:00 0 [stack]\n"
             "7ffd2000-7ffd6000 r--p 00000000 00:00 0 [vvar]\n")
VVAR_SMAPS = ("7ffd0000-7ffd1000 rw-p 00000000 00:00 0 [stack]\n"
              "VmFlags: rd wr mr mw me gd ac\n"
              "7ffd2000-7ffd6000 r--p 00000000 00:00 0 [vvar]\n"
              "VmFlags: rd mr pf io de dd\n")
COLLIDE = ("--order", "forward", "--granularity", "vma")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def pair(tmp_path):
    maps, smaps = tmp_path / "p.maps", tmp_path / "p.smaps"
    maps.write_text(VVAR_MAPS)
    smaps.write_text(VVAR_SMAPS)
    return maps, smaps


@pytest.mark.parametrize("argv", [("collisions", "{f}") + COLLIDE + ("--json",),
                                  ("compare", "{f}", "--json"),
                                  ("verify", "{f}", "--json")])
def test_maps_warns_and_smaps_does_not(capsys, pair, argv):
    maps, smaps = pair
    reapable = {}
    for path in (maps, smaps):
        code, out, err = run(capsys, *[a.format(f=path) for a in argv])
        assert code == 0, err
        data = json.loads(out)
        entry = data[0] if isinstance(data, list) else data
        reapable[path.suffix] = entry["reapable"]
        if path == maps:
            assert err.count("\n") == 1 and err.startswith(f"reapcheck: warning: {maps} ")
            assert "plain maps file" in err and "pf" in err and "ht" in err
            assert "[vvar]" in err
        else:
            assert err == ""
    # the disagreement the warning is about: [vvar] is reapable only by the maps rule
    count = {k: v if isinstance(v, int) else len(v) for k, v in reapable.items()}
    assert count == {".maps": 2, ".smaps": 1}


def test_smaps_with_some_vmflags_missing_says_how_many(capsys, tmp_path):
    path = tmp_path / "old.smaps"
    path.write_text(VVAR_SMAPS.replace("VmFlags: rd mr pf io de dd\n", ""))
    code, _, err = run(capsys, "collisions", path, *COLLIDE)
    assert code == 0
    assert f"{path} has 1 of 2 VMAs without a VmFlags line" in err


def test_bundled_maps_and_iterate_do_not_warn(capsys, pair):
    assert run(capsys, "verify")[2] == ""  # bundled/tiny.maps: documented in the README
    assert run(capsys, "iterate", pair[0], "--walk", "rev_find")[2] == ""  # every VMA


def test_bad_input_stays_one_line(capsys, tmp_path, pair):
    code, _, err = run(capsys, "verify", pair[0], "--trace-out", tmp_path / "no" / "t.json")
    assert code == 2 and err.count("\n") == 1 and "warning" not in err


@pytest.mark.parametrize("path", ["/proc/self/maps", "/proc/thread-self/maps",
                                  "/proc/{pid}/smaps"])
def test_own_process_warns(capsys, path):
    path = path.format(pid=os.getpid())  # formatted here: xdist workers have their own
    code, _, err = run(capsys, "iterate", path, "--walk", "forward")
    assert code == 0
    assert err == (f"reapcheck: warning: {path} belongs to reapcheck's own process (pid "
                   f"{os.getpid()}), not to the process you may mean: give /proc/PID/"
                   f"{os.path.basename(path)} of that process\n")


def test_own_process_through_a_link_and_in_anonymize(capsys, tmp_path):
    link = tmp_path / "mine.smaps"
    link.symlink_to("/proc/self/smaps")
    code, _, err = run(capsys, "anonymize", link)
    assert code == 0 and "belongs to reapcheck's own process" in err


def test_other_process_does_not_warn_as_own(capsys):
    if not os.path.exists("/proc/1/maps") or not os.access("/proc/1/maps", os.R_OK):
        pytest.skip("cannot read /proc/1/maps")
    code, _, err = run(capsys, "iterate", "/proc/1/maps", "--walk", "forward")
    assert "own process" not in err
