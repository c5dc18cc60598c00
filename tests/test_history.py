"""The protocol as each kernel version had it (issue 16; docs/model.md §9, docs/kernel.md
§12): every historical race is found from the pre-fix rules, with a shortest trace that
replays and tells the fix's changelog story, and the fixed rules hold.

Every expected length below is counted by hand from the changelog's interleaving (the
comment above each case), never copied from the tool's output.
"""
from __future__ import annotations

import json

import pytest

from reapcheck.bundled import load_bundled
from reapcheck.cli import main
from reapcheck.engines.explicit import compiled
from reapcheck.model.kernels import DEFAULT_KERNEL, KERNELS, kernel_named
from reapcheck.model.protocol import Protocol, ProtocolConfig
from reapcheck.model.smaps import parse_text
from reapcheck.properties.protocol import HISTORY_PROPERTIES, PROPERTIES, properties_for
from reapcheck.traces import replay_trace, trace_json
from reapcheck.verify import verify

TINY = load_bundled("tiny.maps")  # 4 VMAs; forward visits 0, 1, 2, 3; VMA 1 is shared


def check(kernel, layout=TINY, mrelease=False, mlocked=()):
    walk = KERNELS[kernel].walk
    config = ProtocolConfig(walk, mrelease=mrelease, kernel=kernel, mlocked=mlocked)
    result = verify(layout, config, reduction="none")
    assert result.complete
    return result


def steps(result, prop):
    return [(action.actor, action.verb) for action, _, _ in result.traces[prop]]


def in_order(sequence, wanted) -> bool:
    """`wanted` occurs in `sequence` as a subsequence (same order, gaps allowed)."""
    it = iter(sequence)
    return all(step in it for step in wanted)


EX, RP, MR = "exit_mmap", "reaper", "mrelease"

# (kernel, options, violated property, hand-counted length, the changelog's steps in order)
BUGS = [
    # 4.13, the mm_users pinning: the OOM kill (1), the last mmput() (mm_users -> 0,
    # __mmput() stuck in exit_aio(): no exit_mmap step follows) (1); the reaper:
    # down_read_trylock (1), mmget_not_zero() fails (1), up_read (1), MMF_OOM_SKIP (1):
    # 6 steps, nothing unmapped by anyone.
    ("4.13", {}, "no_premature_oom_skip", 6,
     [(EX, "last_mmput_victim"), (RP, "trylock"), (RP, "pin_fail"), (RP, "set_oom_skip")]),
    # 4837fe37adff: the OOM kill (1); another task does the last mmput() (1); the
    # reaper takes the read lock and finds MMF_OOM_SKIP clear (2); exit_mmap unmaps the
    # 4 VMAs (4), sets MMF_OOM_SKIP (1), skips the barrier (current is not the victim)
    # and frees the page tables (1); the reaper sets MMF_UNSTABLE (1) and zaps VMA 0 on
    # freed page tables (1): 12.
    ("4.14", {}, "no_use_after_free", 12,
     [(EX, "last_mmput_other"), (RP, "trylock"), (RP, "check_oom_skip"),
      (EX, "set_oom_skip"), (EX, "free_pgtables"), (RP, "unmap")]),
    # 27ae357fa82b (CVE-2018-1000200), VMA 0 mlocked: the OOM kill (1), the last
    # mmput() (1), munlock clears VM_LOCKED on VMA 0 (1); the reaper: trylock, MMF_OOM_SKIP
    # clear, MMF_UNSTABLE (3), and VMA 0, no longer VM_LOCKED, is zapped while munlock
    # walks it (1): 7. The same on 4.14, 4.15 and 4.16.
    *[(k, {"mlocked": (0,)}, "no_munlock_zap_race", 7,
       [(EX, "munlock_clear"), (RP, "trylock"), (RP, "check_oom_skip"), (RP, "unmap")])
      for k in ("4.14", "4.15", "4.16")],
    # the 5.17-rc use-after-free (syzbot): the task only SIGKILLed (1); the last mmput()
    # (1); mmap_write_lock (1), unmap 4 (4), free_pgtables (1), remove_vma 4 (4),
    # mmap_write_unlock (1), with mm->mmap left pointing at the freed VMAs and no
    # MMF_OOM_SKIP; process_mrelease(): read lock (1), MMF_OOM_SKIP clear (1), visits the
    # freed VMA 0 (1): 16.
    ("5.17-rc", {"mrelease": True}, "no_use_after_free", 16,
     [(RP, "sigkill"), (EX, "remove_vma"), (EX, "write_unlock"), (MR, "read_lock"),
      (MR, "check_oom_skip"), (MR, "unmap")]),
]


@pytest.mark.parametrize("kernel, options, prop, length, story", BUGS,
                         ids=[f"{b[0]}-{b[2]}" for b in BUGS])
def test_each_historical_race_is_found_with_the_changelogs_trace(kernel, options, prop,
                                                                   length, story):
    result = check(kernel, **options)
    assert result.statuses[prop] == "violated"
    assert len(result.traces[prop]) == length
    assert in_order(steps(result, prop), story), steps(result, prop)
    data = json.loads(json.dumps(trace_json(result.model, prop, result.traces[prop],
                                            "explicit")))
    assert data["config"]["kernel"] == kernel
    assert replay_trace(data, "t").startswith(f"reproduced: {prop} is violated")


def test_the_4_14_trace_never_takes_the_barrier():
    """tsk_is_oom_victim(current) is false for the other task: no down_write()."""
    result = check("4.14")
    assert (EX, "write_lock") not in steps(result, "no_use_after_free")
    assert (EX, "write_lock_wait") not in steps(result, "no_use_after_free")


def test_the_5_17_rc_trace_never_sets_oom_skip():
    result = check("5.17-rc", mrelease=True)
    assert (EX, "set_oom_skip") not in steps(result, "no_use_after_free")


def test_the_munlock_race_zaps_the_vma_munlock_is_walking():
    result = check("4.16", mlocked=(0,))
    trace = result.traces["no_munlock_zap_race"]
    cleared = next(result.model.touched_vma(b, a) for a, b, _ in trace
                   if a.verb == "munlock_clear")
    zapped = result.model.touched_vma(trace[-1][1], trace[-1][0])
    assert cleared == zapped == 0


# (kernel, options): every property holds on the fixed code, on the same layouts
FIXED = [
    ("4.15", {}),  # 4837fe37adff: mm_is_oom_victim(mm) guards the barrier
    ("4.17", {"mlocked": (0,)}),  # 27ae357fa82b: reap, MMF_OOM_SKIP, barrier, then munlock
    ("5.17", {"mrelease": True}),  # mm->mmap = NULL before mmap_write_unlock()
    ("5.17", {"mrelease": True, "mlocked": (0,)}),
    ("6.1", {"mrelease": True, "mlocked": (0,)}),  # drop oom code from exit_mmap
    ("6.1", {}),
]


@pytest.mark.parametrize("kernel, options", FIXED, ids=[f"{k}-{sorted(o)}" for k, o in FIXED])
def test_fixed_versions_hold_every_property(kernel, options):
    result = check(kernel, **options)
    assert set(result.statuses.values()) == {"holds"}, result.statuses
    assert set(result.statuses) == {p.name for p in PROPERTIES + HISTORY_PROPERTIES}


def test_each_fix_holds_the_property_its_bug_broke():
    """The property the bug broke holds from the fixing version on (4.13's fix,
    212925802454 in 4.14, brought the next bug: 4.14 holds no_premature_oom_skip but not
    no_use_after_free)."""
    assert check("4.14").statuses["no_premature_oom_skip"] == "holds"
    assert check("4.15").statuses["no_use_after_free"] == "holds"
    assert check("4.17", mlocked=(0,)).statuses["no_munlock_zap_race"] == "holds"
    assert check("5.17", mrelease=True).statuses["no_use_after_free"] == "holds"


@pytest.mark.parametrize("mrelease", [False, True])
def test_the_history_properties_hold_on_today_s_kernel(mrelease):
    """On 6.18 they are not checked by default (properties_for); they hold there."""
    model = Protocol(TINY, ProtocolConfig("rev_find", mrelease=mrelease, mlocked=(0, 2)))
    result = compiled.check(model, PROPERTIES + HISTORY_PROPERTIES, "none")
    assert result.complete
    assert {n: v.status for n, v in result.verdicts.items()} == dict.fromkeys(
        [p.name for p in PROPERTIES + HISTORY_PROPERTIES], "holds")
    assert properties_for(ProtocolConfig()) == PROPERTIES


def test_the_smaps_lo_flag_is_vm_locked():
    text = ("00400000-00401000 rw-p 00000000 00:00 0\nVmFlags: rd wr mr mw me ac lo\n"
            "00600000-00601000 rw-p 00000000 00:00 0\nVmFlags: rd wr mr mw me ac\n")
    layout = parse_text(text, "locked.smaps")
    result = check("4.16", layout=layout)
    assert result.model.mlocked == (0,)
    assert result.statuses["no_munlock_zap_race"] == "violated"
    assert check("4.17", layout=layout).statuses["no_munlock_zap_race"] == "holds"


def test_config_checks_its_kernel():
    assert ProtocolConfig().kernel == DEFAULT_KERNEL
    assert ProtocolConfig("forward", kernel="5.17-rc3").kernel == "5.17-rc"
    assert kernel_named("4.14").barrier_guard == "current"
    for bad in [dict(kernel="4.12"), dict(kernel="4.14"),  # 4.14 walks forward
                dict(walk="forward", kernel="4.14", mutant="no_write_lock"),
                dict(walk="forward", kernel="4.16", mrelease=True),
                dict(walk="forward", kernel="4.16", mlocked=(-1,))]:
        with pytest.raises(ValueError):
            ProtocolConfig(**bad)
    with pytest.raises(ValueError, match="mlocked VMA 7"):
        Protocol(TINY, ProtocolConfig("forward", kernel="4.16", mlocked=(7,)))
    with pytest.raises(ValueError, match="partial-order"):
        verify(TINY, ProtocolConfig("forward", kernel="4.15"), reduction="por")


def test_today_s_config_json_is_unchanged():
    assert ProtocolConfig().to_json() == {"walk": "rev_find", "mutant": None,
                                          "stuck_writer": False, "mrelease": False}


def test_cli(tmp_path, capsys):
    assert main(["verify", "bundled/tiny.maps", "--kernel", "4.14", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "kernel 4.14" in out and "another task holding an mm reference" in out
    assert main(["verify", "bundled/tiny.maps", "--kernel", "4.15", "--quiet"]) == 0
    trace = tmp_path / "t.json"
    assert main(["verify", "--kernel", "4.16", "--mlocked", "0", "--quiet", "--property",
                 "no_munlock_zap_race", "--trace-out", str(trace)]) == 1
    capsys.readouterr()
    assert main(["replay", str(trace)]) == 0
    assert "MUNLOCK RACE" in capsys.readouterr().out
    for bad in (["--kernel", "3.0"], ["--kernel", "4.14", "--walk", "rev_find"],
                ["--kernel", "4.14", "--reduction", "por"], ["--kernel", "4.14", "--mrelease"],
                ["--kernel", "4.16", "--mlocked", "9"], ["--kernel", "4.16", "--mlocked", "x"],
                ["--property", "no_munlock_zap_race", "--trace-out", str(tmp_path / "u.json")]):
        assert main(["verify", "bundled/tiny.maps", "--quiet", *bad]) == 2, bad
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err


def test_history_rows_are_computed_and_match_the_hand_counts():
    from reapcheck.history import HISTORY, history_rows, rediscovered

    rows = history_rows()
    assert [r["version"] for r in rows] == [race.version for race in HISTORY]
    # the hand counts of BUGS above, for the version each row checks
    hand = {(k, p): n for k, _, p, n, _ in BUGS}
    for row in rows:
        assert row["verdict"] == "violated"
        assert row["trace_length"] == hand[row["version"], row["property"]]
        assert row["fixed_verdict"] == "holds"
    # 4.13's fix (4.14) brought the next bug; the other fixed versions hold everything
    assert [r["fixed_holds_all"] for r in rows] == [False, True, True, True]
    assert rediscovered(rows)
    assert not rediscovered([{**rows[0], "fixed_verdict": "violated"}])


# -- SPIN on the historical exports (skips without spin or gcc) -------------------------

def _spin_cases():
    seen = []
    for kernel, options, *_ in BUGS + [(k, o) for k, o in FIXED]:
        if (kernel, options) not in seen:
            seen.append((kernel, options))
    return seen


@pytest.mark.parametrize("kernel, options", _spin_cases(),
                         ids=[f"{k}-{sorted(o)}" for k, o in _spin_cases()])
def test_spin_gives_the_explorers_verdicts_on_every_version(kernel, options, tmp_path):
    from reapcheck.spin import check_protocol, missing_tools

    if missing_tools() is not None:
        pytest.skip(missing_tools())
    config = ProtocolConfig(KERNELS[kernel].walk, kernel=kernel, **options)
    spin = check_protocol(TINY, config, tmp_path)
    assert spin.run.complete
    assert spin.statuses == check(kernel, **options).statuses


def test_a_historical_trail_replays(tmp_path, capsys):
    from reapcheck.spin import missing_tools

    if missing_tools() is not None:
        pytest.skip(missing_tools())
    import subprocess

    model = tmp_path / "m.pml"
    assert main(["export", "bundled/tiny.maps", "--format", "promela", "--protocol",
                 "--kernel", "4.14", "-o", str(model)]) == 0
    text = model.read_text()
    assert "kernel 4.14" in text and "0=MMPUT" in text and "all nine hold" in text
    subprocess.run(["spin", "-a", "m.pml"], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["gcc", "-O2", "-DSAFETY", "-o", "pan", "pan.c"], cwd=tmp_path, check=True,
                   capture_output=True)
    run = subprocess.run(["./pan", "-m2000", "-w20"], cwd=tmp_path, capture_output=True,
                         text=True)
    assert "assertion violated no_use_after_free" in run.stdout
    trace = tmp_path / "trace.json"
    assert main(["import-trail", str(model), "-o", str(trace)]) == 0
    assert json.loads(trace.read_text())["config"]["kernel"] == "4.14"
    assert main(["replay", str(trace)]) == 0
    assert "reproduced: no_use_after_free" in capsys.readouterr().out


def test_the_report_sections_and_the_claim(tmp_path):
    """The report's history table (REPORT.md and report.html) and the ledger's line,
    from computed rows (the report itself is regenerated by `reapcheck report`)."""
    from reapcheck.claims import history_claim
    from reapcheck.history import history_markdown, history_rows
    from reapcheck.html_report import render_html

    rows = history_rows()
    text = "\n".join(history_markdown(rows, lambda t: t))
    assert "| 4.14 " in text and "4837fe37adff" in text and "4.15: holds" in text
    assert "--mlocked 0" in text and "--mrelease" in text
    page = render_html({"version": 2, "history": rows})
    assert '<section id="history"' in page and "no_munlock_zap_race" in page
    assert render_html({"version": 2, "history": rows}) == page  # deterministic
    claim = history_claim(rows)
    assert claim["verdict"] == "true" and len(claim["evidence"]) == len(rows)
    assert history_claim([{**rows[1], "verdict": "holds"}])["verdict"] == "not confirmed"


@pytest.mark.parametrize("kernel", [k for k, v in KERNELS.items() if v.historical])
def test_every_historical_step_has_words_and_no_raw_names(kernel):
    """Every transition of the whole state graph (two VMAs, one mlocked, one shared; with
    process_mrelease where the kernel has it) is told in kernel words."""
    from collections import deque

    from test_kernel_words import RAW

    layout = parse_text("1000-2000 rw-p 00000000 00:00 0\n3000-4000 rw-s 00000000 00:00 0 /f\n",
                        "two")
    config = ProtocolConfig("forward", kernel=kernel, mrelease=KERNELS[kernel].mrelease,
                            mlocked=(0,))
    model = Protocol(layout, config)
    assert type(model).__name__ == "HistoricalProtocol"
    seen, queue = {model.init()}, deque([model.init()])
    while queue:
        state = queue.popleft()
        for action, after in model.successors(state):
            words = model.describe(action, state, after)
            assert words and not RAW.search(words) and "None" not in words, (action, words)
            assert model.action_words(action)
            if after not in seen:
                seen.add(after)
                queue.append(after)
    assert len(seen) > 10


def test_export_options(tmp_path, capsys):
    out = tmp_path / "m.pml"
    for bad in (["--protocol", "--kernel", "4.14", "--walk", "rev_find"],
                ["--protocol", "--kernel", "9.9"],
                ["--protocol", "--kernel", "4.16", "--mlocked", "4"],
                ["--collisions", "--order", "forward", "--granularity", "vma", "--kernel",
                 "4.14"]):
        assert main(["export", "bundled/tiny.maps", "--format", "promela", *bad,
                     "-o", str(out)]) == 2, bad
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
        assert not out.exists()
    assert main(["export", "bundled/tiny.maps", "--format", "promela", "--protocol",
                 "--kernel", "4.16", "--mlocked", "0", "-o", str(out)]) == 0
    assert "--kernel 4.16 --mlocked 0" in out.read_text()


def test_kernel_and_mlocked_errors_have_the_command_prefix(tmp_path, capsys):
    out = tmp_path / "m.pml"
    for command, extra in (("verify", ["--quiet"]),
                           ("export", ["--format", "promela", "--protocol", "-o", str(out)])):
        for bad in (["--kernel", "4.12"], ["--kernel", "4.16", "--mlocked", "9"]):
            assert main([command, "bundled/tiny.maps", *bad, *extra]) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and err[0].startswith(f"reapcheck {command}: --"), err
    assert not out.exists()
