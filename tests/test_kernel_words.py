"""Traces in kernel words (issue 11): one table in model/protocol.py (KERNEL_WORDS)
names every action, phase and variable; text outputs read from it, JSON and ITF keep
the raw variables.

The expected wordings below are written by hand from the kernel code each step stands
for (mm/mmap.c exit_mmap(), mm/oom_kill.c oom_reap_task() and __oom_reap_task_mm()),
not copied from the tool's output.
"""
from __future__ import annotations

import json
import re
from collections import deque

import pytest

from reapcheck.cli import main
from reapcheck.model.layout import Layout, Vma
from reapcheck.model.protocol import (KERNEL_WORDS, MUTANTS, PC_ACTOR, PROTOCOL_WALKS,
                                      VARIABLES, Protocol, ProtocolConfig)
from reapcheck.traces import condition_words, itf_json, render_steps, trace_steps
from reapcheck.verify import verify

PAGE = 4096
RAW = re.compile(r"\b(ex_pc|rp_pc|mr_pc|ex_pos|rp_pos|mr_pos|rp_gone|mr_gone|rp_missed|"
                 r"mr_missed|rp_attempt|uaf|READ|UNMAP|SET_SKIP|WALK|TRY|CHECK|FINAL|"
                 r"[A-Z][a-z]+[A-Z][A-Za-z]+)\b|->")  # pc names, variables, ExitUnmap


def layout(*reapable: bool) -> Layout:
    vmas = [Vma(0x400000 + 2 * i * PAGE, 0x400000 + (2 * i + 1) * PAGE,
                "rw-p" if r else "rw-s", None, lineno=i + 1) for i, r in enumerate(reapable)]
    return Layout.checked("hand", vmas)


CONFIGS = ([ProtocolConfig("rev_find", m) for m in [None, *MUTANTS]]
           + [ProtocolConfig("rev_find", m, stuck_writer=True) for m in [None, *MUTANTS]]
           + [ProtocolConfig(w, None, mrelease=True) for w in PROTOCOL_WALKS]
           + [ProtocolConfig("rev_find", "no_write_lock", mrelease=True)])


def test_every_action_phase_and_variable_has_words():
    for config in CONFIGS:
        model = Protocol(layout(True), config)
        for action in model.actions:
            words = KERNEL_WORDS["actions"][action.actor, action.verb]
            if isinstance(words, dict):
                assert None in words  # the words for the action alone
            assert model.action_words(action)
    for var, actor in PC_ACTOR.items():
        assert var in VARIABLES and actor in ("exit_mmap", "reaper", "mrelease")
    from reapcheck.model import protocol as p
    assert sorted(KERNEL_WORDS["ex_pc"]) == list(range(p.EX_DONE + 1))
    assert sorted(KERNEL_WORDS["rp_pc"]) == list(range(p.RP_DONE + 1))
    assert sorted(KERNEL_WORDS["mr_pc"]) == list(range(p.MR_DONE + 1))
    assert sorted(KERNEL_WORDS["writer"]) == [p.WRITER_NONE, p.WRITER_EXIT, p.WRITER_STUCK]
    assert set(KERNEL_WORDS["variables"]) == set(VARIABLES)
    assert set(KERNEL_WORDS["flags"]) <= set(VARIABLES)
    for mutant, actor, verb in KERNEL_WORDS["mutants"]:
        assert mutant in MUTANTS and (actor, verb) in KERNEL_WORDS["actions"]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.walk}-{c.mutant}-"
                         f"{'stuck' if c.stuck_writer else ''}{'mr' if c.mrelease else ''}")
def test_every_reachable_step_has_words_and_no_raw_names(config):
    """Every transition of the whole state graph (two VMAs, one not reapable): a
    branching action names the phase it entered explicitly, and no words are raw."""
    model = Protocol(layout(True, False), config)
    seen, queue = {model.init()}, deque([model.init()])
    while queue:
        state = queue.popleft()
        for action, after in model.successors(state):
            words = model.describe(action, state, after)
            assert words and not RAW.search(words), (action, words)
            branches = KERNEL_WORDS["actions"][action.actor, action.verb]
            if isinstance(branches, dict) and (config.mutant, action.actor,
                                               action.verb) not in KERNEL_WORDS["mutants"]:
                pc = next(v for v, a in PC_ACTOR.items() if a == action.actor)
                assert after[VARIABLES.index(pc)] in branches, (action, after)
            if after not in seen:
                seen.add(after)
                queue.append(after)


def uaf_trace():
    model_layout = Layout.checked("four", [Vma(0x400000 + 2 * i * PAGE,
                                               0x400000 + (2 * i + 1) * PAGE, "rw-p", None,
                                               lineno=i + 1) for i in range(4)])
    result = verify(model_layout, ProtocolConfig("rev_find", "no_write_lock"))
    return result.model, result.traces["no_use_after_free"]


# The shortest use-after-free of mutant no_write_lock (exit_mmap frees without the write
# lock): exit_mmap unmaps everything under the read lock, the reaper's trylock succeeds
# once it is dropped, and the reaper's walk starts after free_pgtables().
UAF_WORDS = """\
  1. exit_mmap: mmap_read_lock() taken; unmap_vmas() begins
  2. exit_mmap: unmap_vmas(): VMA 0 unmapped
  3. exit_mmap: unmap_vmas(): VMA 1 unmapped
  4. exit_mmap: unmap_vmas(): VMA 2 unmapped
  5. exit_mmap: unmap_vmas(): VMA 3 unmapped
  6. exit_mmap: unmap_vmas() done; mmap_read_unlock()
  7. reaper:    mmap_read_trylock() succeeds
  8. reaper:    MMF_OOM_SKIP clear, goes on to reap
  9. exit_mmap: set_bit(MMF_OOM_SKIP); goes on to free without mmap_write_lock()
 10. exit_mmap: free_pgtables(): the page tables are freed
 11. reaper:    set_bit(MMF_UNSTABLE); the VMA walk begins
 12. reaper:    unmaps VMA 3 (unmap_page_range()); USE AFTER FREE: it touches a
                VMA, page table or tree exit_mmap freed"""


def test_hand_written_words_of_the_use_after_free():
    model, trace = uaf_trace()
    assert render_steps(trace_steps(model, trace)) == UAF_WORDS


def test_json_and_itf_keep_the_raw_variables_and_add_the_words():
    model, trace = uaf_trace()
    steps = trace_steps(model, trace)
    assert steps[0]["changes"] == {"ex_pc": [0, 2], "readers": [0, 1]}
    assert steps[0]["kernel"] == "mmap_read_lock() taken; unmap_vmas() begins"
    assert steps[-1]["changes"]["uaf"] == [0, 1]
    itf = itf_json(model, "no_use_after_free", trace)
    assert "ex_pc" in itf["vars"] and "kernel" in itf["vars"]
    assert itf["states"][0]["kernel"] == "the initial state"
    assert itf["states"][7]["kernel"] == "reaper: mmap_read_trylock() succeeds"
    assert itf["states"][7]["rp_pc"] == 3  # RP_CHECK, raw


def test_reaper_gives_up_on_oom_skip_and_retries_in_words():
    """The reaper finds MMF_OOM_SKIP set under the lock; and a trylock that fails while
    exit_mmap holds the write lock, then sleeps and retries."""
    from reapcheck.model.action import Action
    from reapcheck.model import protocol as p
    model = Protocol(layout(True), ProtocolConfig("rev_find"))
    v = dict(zip(VARIABLES, model.init()))
    v.update(rp_pc=p.RP_CHECK, oom_skip=1, readers=1)
    before = tuple(v[n] for n in VARIABLES)
    check = Action("reaper", "check_oom_skip")
    assert model.describe(check, before, model.update(before, check)) == \
        "MMF_OOM_SKIP set, gives up"
    v.update(rp_pc=p.RP_TRY, oom_skip=1, readers=0, writer=p.WRITER_EXIT, ex_pc=p.EX_FREE_PGT)
    before = tuple(v[n] for n in VARIABLES)
    fail = Action("reaper", "trylock_fail")
    assert model.describe(fail, before, model.update(before, fail)) == (
        "mmap_read_trylock() fails: mmap_lock is held for writing or a waiter is queued; "
        "attempt 1 of 10 failed: sleeps HZ/10, tries again")
    v.update(rp_attempt=9)
    before = tuple(v[n] for n in VARIABLES)
    assert model.describe(fail, before, model.update(before, fail)).endswith(
        "attempt 10 of 10 failed: gives up")


@pytest.mark.parametrize("raw, words", [
    ("Not(rp_pc == 5)", "[the reaper not at the VMA walk]"),
    ("rp_pc == 5", "[the reaper at the VMA walk]"),
    ("And(Or(Not(rp_pc == 5), Not(ex_pc >= 7)), Not(uaf >= 1))",
     "And(Or([the reaper not at the VMA walk], "
     "[exit_mmap at or before the wait in mmap_write_lock()]), "
     "[no reaper touched freed memory])"),
    ("Or(Not(oom_skip <= 0), Not(rp_pc >= 8))",
     "Or([MMF_OOM_SKIP set], [the reaper at or before "
     "oom_reap_task()'s final set_bit(MMF_OOM_SKIP)])"),
    ("Not(ex_pc >= 12)", "[exit_mmap in any phase]"),
    ("writer == 2", "[the stuck thread holds mmap_lock for writing]"),
    ("Not(readers >= 1)", "[mmap_lock's readers = 0]"),
    ("Not(waiters <= -1)", "[mmap_lock's queued waiters: any (a type bound)]"),
    ("rp_pos + -1*ex_pos <= 0",
     "rp_pos + -1*ex_pos <= 0 (where ex_pos: exit_mmap's next VMA to unmap or free; "
     "rp_pos: the reaper's position in its walk)"),
])
def test_conditions_in_kernel_words(raw, words):
    assert condition_words(raw) == words


def test_verify_text_speaks_kernel_json_stays_raw(capsys):
    assert main(["verify", "--mutant", "no_write_lock"]) == 1
    out = capsys.readouterr().out
    traces = out[out.index("shortest trace"):]
    assert not RAW.search(traces), RAW.search(traces)
    assert "reaper:    unmaps VMA 3 (unmap_page_range()); USE AFTER FREE" in traces
    assert main(["verify", "--mutant", "no_write_lock", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    step = data["properties"]["no_use_after_free"]["trace"][0]
    assert step["changes"]["ex_pc"] == [0, 2] and step["name"] == "ExitReadLock"
    assert step["kernel"].startswith("mmap_read_lock() taken")


def test_replay_prints_the_words_and_names_a_bad_step_in_them(tmp_path, capsys):
    path = tmp_path / "t.json"
    assert main(["verify", "--mutant", "no_write_lock", "--trace-out", str(path)]) == 1
    capsys.readouterr()
    assert main(["replay", str(path)]) == 0
    out = capsys.readouterr().out
    assert out == ("reproduced: no_use_after_free is violated after 12 legal steps:\n"
                   + UAF_WORDS + "\n")
    data = json.loads(path.read_text())
    data["steps"].pop(6)  # the reaper's trylock: its MMF_OOM_SKIP test cannot come first
    path.write_text(json.dumps(data))
    assert main(["replay", str(path)]) == 1
    assert capsys.readouterr().err.endswith(
        "step 7 (reaper check_oom_skip: tests MMF_OOM_SKIP under mmap_lock) is not enabled "
        "here\n")
