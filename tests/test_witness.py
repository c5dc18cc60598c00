"""Compact witnesses (engines/explicit/witness.py): runs checked in closed form against step replay,
their JSON, and the issue-10 layouts whose page tables do not fit in memory.

The runs here are built by a compressor written in this file from replayed steps of
random legal schedules (not only the engine's), so the closed forms are also tested
where the other actor holds a lock during a run.
"""
from __future__ import annotations

import io
import json
import random
import time

import pytest
from conftest import random_layout

from reapcheck import collisions
from reapcheck.cli import main
from reapcheck.collisions import worst_case, write_json
from reapcheck.engines.explicit import sparse, witness
from reapcheck.engines.explicit.schedule import IllegalStep, replay
from reapcheck.model.layout import Layout, Vma
from reapcheck.model.walk_product import WalkProduct
from reapcheck.model.walks import WalkConfig

ACTORS = ("exit_mmap", "reaper")


def random_schedule(model, rng):
    """A random complete schedule; the mover keeps going with probability 0.8 (long runs)."""
    state, actions, who = model.init(), [], 0
    while True:
        enabled = model.enabled(state)
        if not enabled:
            return actions
        mine = [a for a in enabled if a.actor == ACTORS[who]]
        if not mine or rng.random() > 0.8:
            mine = enabled
        action = rng.choice(mine)
        who = ACTORS.index(action.actor)
        actions.append(action)
        state = model.update(state, action)


def compress(model, steps, rng):
    """Entries for replayed `steps`: maximal runs where the step pattern allows, each
    kept with probability 3/4 (else plain steps)."""
    ptl = model.exclusive
    walks = model.items
    out, s, inside = [], 0, [None, None]  # vma: item index each actor is inside
    pos = [0, 0]  # items finished per actor

    def plain(step):
        who = ACTORS.index(step.actor)
        verb = 0 if step.action in ("enter", "lock") else 1
        out.append(("step", who, verb, step.vma, step.ptl))
        if verb == 1:
            pos[who] += 1

    while s < len(steps):
        a = steps[s]
        who = ACTORS.index(a.actor)
        if ptl:
            # both-run: E lock x, E unlock x, R lock x, R unlock x, same VMA, x ascending
            n = 0
            while s + 4 * n + 3 < len(steps):
                quad = steps[s + 4 * n: s + 4 * n + 4]
                want = [("exit_mmap", "lock"), ("exit_mmap", "unlock"), ("reaper", "lock"),
                        ("reaper", "unlock")]
                if ([(q.actor, q.action) for q in quad] != want
                        or {(q.vma, q.ptl) for q in quad} != {(a.vma, a.ptl + n)}):
                    break
                n += 1
            if n >= 1 and rng.random() < 0.75:
                out.append(("both", a.vma, a.ptl, a.ptl + n - 1))
                pos[0] += n
                pos[1] += n
                s += 4 * n
                continue
            n = 0
            while s + 2 * n + 1 < len(steps):
                pair = steps[s + 2 * n: s + 2 * n + 2]
                if ([(q.actor, q.action) for q in pair] != [(a.actor, "lock"), (a.actor, "unlock")]
                        or {(q.vma, q.ptl) for q in pair} != {(a.vma, a.ptl + n)}):
                    break
                n += 1
            if n >= 1 and rng.random() < 0.75:
                out.append(("run", who, a.vma, a.ptl, a.ptl + n - 1))
                pos[who] += n
                s += 2 * n
                continue
            plain(a)
            s += 1
            continue
        # vma: (leave, enter next) pairs of one actor, a last lone leave only at its end
        n, t = 0, s
        while t < len(steps) and steps[t].actor == a.actor and steps[t].action == "leave":
            item = inside[who] + n if inside[who] is not None else None
            if item is None:
                break
            if item + 1 < len(walks[who]):
                if t + 1 >= len(steps) or (steps[t + 1].actor, steps[t + 1].action) != (a.actor, "enter"):
                    break
                t += 2
            else:
                t += 1
            n += 1
        if n >= 1 and rng.random() < 0.75:
            i = inside[who]
            out.append(("vrun", who, i, i + n - 1))
            inside[who] = i + n if i + n < len(walks[who]) else None
            pos[who] += n
            s = t
            continue
        if a.action == "enter":
            inside[who] = pos[who]
        elif a.action == "leave":
            inside[who] = None
        plain(a)
        s += 1
    return out


def test_runs_of_random_schedules_equal_their_replay():
    """500 random schedules, compressed: closed forms = replay, for every kind of run,
    with and without a collision, with the other actor at a corner or holding a lock."""
    seen = set()
    for seed in range(500):
        rng = random.Random(31000 + seed)
        layout = random_layout(rng, rng.randint(1, 8), max_pages=rng.choice([2, 5, 9]))
        gran = ("vma", "ptl")[seed % 2]
        order, exit_order = rng.choice(["forward", "reverse"]), rng.choice(["forward", "reverse"])
        config = WalkConfig(order, gran, rng.choice([12, 13, 14]), exit_order)
        model = WalkProduct.build(layout, config)
        replayed = replay(model, random_schedule(model, rng))
        entries = compress(model, replayed.steps, rng)
        checked = list(witness.check(model, entries))
        assert tuple(witness.expand(model, checked)) == replayed.steps, (seed, config)
        assert witness.count(checked) == replayed.collisions
        want = [i + 1 for i, s in enumerate(replayed.steps) if s.collision]
        assert witness.collision_steps(checked, 5) == want[:5]
        # the printed form parses back to the same entries
        text = "[" + ", ".join(witness.json_texts(model, checked)) + "]"
        assert witness.entries_from_json(model, json.loads(text)) == entries
        done = 0
        for entry, steps, hits in checked:
            if entry[0] == "run":  # where was the other actor: at a corner or inside?
                other = replayed.steps[done - 1] if done else None
                held = other is not None and other.actor != ACTORS[entry[1]] and other.action == "lock"
                seen.add(("run", held, bool(hits)))
            else:
                seen.add((entry[0], len(hits)))
            done += steps
    assert {("run", False, False), ("run", False, True), ("run", True, True),
            ("vrun", 0), ("vrun", 1), ("both", 1), ("both", 2), ("step", 1)} <= seen


@pytest.mark.parametrize("seed", range(40))
def test_one_pass_check_of_the_engine_staircase_equals_the_general_check(seed):
    rng = random.Random(47000 + seed)
    layout = random_layout(rng, rng.randint(1, 30), max_pages=rng.choice([2, 6, 20]),
                           top=(seed % 9 == 0))
    config = WalkConfig(("forward", "reverse")[seed % 2], ("ptl", "vma")[seed // 2 % 2],
                        rng.choice([12, 13, 14]), ("forward", "reverse")[seed // 4 % 2])
    model = WalkProduct.build(layout, config)
    result = sparse.explore(model)
    general = list(witness.check(model, witness.compact_entries(model, result.moves)))
    assert list(witness.checked_stair(model, result.moves)) == general
    assert witness.count(general) == result.max_collisions
    assert tuple(witness.expand(model, general)) == replay(model, sparse.realize(model, result.moves)).steps


def test_a_run_through_a_held_lock_is_illegal():
    """Two 4 KiB VMAs in one 2 MiB page table (0): while exit_mmap holds lock 0 the
    reaper cannot lock it."""
    layout = Layout.checked("two", [Vma(0x1000, 0x2000, "rw-p", lineno=1),
                                    Vma(0x3000, 0x4000, "rw-p", lineno=2)])
    model = WalkProduct.build(layout, WalkConfig("forward", "ptl"))
    entries = [("step", 0, 0, 0, 0), ("run", 1, 0, 0, 0)]
    with pytest.raises(IllegalStep, match="held by the other actor"):
        list(witness.check(model, entries))
    with pytest.raises(IllegalStep, match="before both walkers are done"):
        list(witness.check(model, [("run", 0, 0, 0, 0)]))
    with pytest.raises(IllegalStep, match="page tables 1..1"):
        list(witness.check(model, [("run", 0, 0, 1, 1)]))


WHOLE = "400000-ffffffffff601000 rw-p 00000000 00:00 0\n"
# Page tables (2 MiB each) of [0x400000, 0xffffffffff601000): 0x400000 >> 21 = 2 up to
# 0xffffffffff600fff >> 21 = 2**43 - 5, so 2**43 - 6 items per walker. One reapable VMA,
# swept low to high by both actors: every page table collides once (as with the 5 page
# tables of test_one_big_vma_pages_ascend_in_both_orders), in either reaper order.
WHOLE_ITEMS = 2**43 - 6


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_whole_address_space_vma_is_compact_and_fast(tmp_path, capsys, order):
    path = tmp_path / "whole.maps"
    path.write_text(WHOLE)
    start = time.perf_counter()
    assert main(["collisions", str(path), "--order", order, "--granularity", "ptl", "--json"]) == 0
    assert time.perf_counter() - start < 10
    data = json.loads(capsys.readouterr().out)
    assert data["exit_items"] == data["reaper_items"] == WHOLE_ITEMS
    assert data["max_collisions"] == WHOLE_ITEMS
    assert data["witness_form"] == "compact"
    assert data["witness_steps"] == 4 * WHOLE_ITEMS
    assert len(data["witness"]) < 10
    assert sum(e.get("steps", 1) for e in data["witness"]) == 4 * WHOLE_ITEMS
    assert sum(e.get("collisions", e.get("collision", 0)) for e in data["witness"]) == WHOLE_ITEMS
    layout = Layout.checked("whole", [Vma(0x400000, 0xffffffffff601000, "rw-p", lineno=1)])
    model = WalkProduct.build(layout, WalkConfig(order, "ptl"))
    checked = list(witness.check(model, witness.entries_from_json(model, data["witness"])))
    assert witness.count(checked) == WHOLE_ITEMS
    # lockstep: exit_mmap locks a page table (the reaper, before it, waits), unlocks,
    # the reaper locks and unlocks it: exit_mmap's locks are steps 1, 5, 9, ...
    assert witness.collision_steps(checked, 4) == [1, 5, 9, 13]
    assert main(["collisions", str(path), "--order", order, "--granularity", "ptl"]) == 0
    text = capsys.readouterr().out
    assert f"worst case:  {WHOLE_ITEMS} collisions" in text
    assert "collisions at steps 1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45, ..." in text


def test_vma_run_hand_case():
    """Three private VMAs, reaper reverse at granularity vma: the witness has exit_mmap
    run through VMAs 0..1 into 2 while the reaper sits in VMA 2: one collision, at the
    enter of VMA 2 (docs/model.md §3: reverse, vma -> 1)."""
    layout = Layout.checked("three", [Vma(i << 22, (i << 22) + 4096, "rw-p", lineno=i + 1)
                                      for i in range(3)])
    analysis = worst_case(layout, WalkConfig("reverse", "vma"))
    assert analysis.result.max_collisions == 1
    out = io.StringIO()
    write_json(analysis, out, "compact")
    data = json.loads(out.getvalue())
    assert data["witness_form"] == "compact" and data["witness_steps"] == 12
    steps = list(analysis.steps())
    assert sum(s.collision for s in steps) == 1
    checked = witness.check(analysis.model, witness.entries_from_json(analysis.model, data["witness"]))
    assert witness.count(checked) == 1


def one_vma(tmp_path, tables):
    """A maps file with one private VMA over `tables` 2 MiB page tables."""
    path = tmp_path / f"v{tables}.maps"
    path.write_text(f"0-{tables << 21:x} rw-p 00000000 00:00 0\n")
    return path


@pytest.mark.parametrize("tables", [2047, 2048, 2049, 4096])
def test_full_json_parses_at_chunk_boundaries(tmp_path, capsys, tables):
    """One VMA of n page tables: 4n steps, so 2048 tables fill exactly one 8,192-step
    chunk (the writer once ended such a list with '}, ]}')."""
    path = one_vma(tmp_path, tables)
    assert main(["collisions", str(path), "--order", "reverse", "--granularity", "ptl",
                 "--json", "--witness", "full"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["witness_form"] == "full"
    assert len(data["witness"]) == 4 * tables == data["witness_steps"]
    assert sum(s["collision"] for s in data["witness"]) == data["max_collisions"] == tables


@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("form", ["full", "compact"])
def test_any_chunk_size_gives_valid_json(monkeypatch, chunk, form):
    layout = random_layout(random.Random(chunk), 6, max_pages=4)
    analysis = worst_case(layout, WalkConfig("forward", "ptl", 13))
    monkeypatch.setattr(collisions, "JSON_CHUNK", chunk)
    out = io.StringIO()
    write_json(analysis, out, form)
    data = json.loads(out.getvalue())
    assert data["witness_form"] == form
    model = analysis.model
    checked = witness.check(model, witness.entries_from_json(model, data["witness"]))
    assert witness.count(checked) == analysis.result.max_collisions


def test_auto_form_switches_at_the_documented_size(tmp_path, capsys):
    """FULL_WITNESS_LIMIT = 100,000 steps: 25,000 page tables (100,000 steps) is full,
    25,001 is compact."""
    assert collisions.FULL_WITNESS_LIMIT == 100_000
    for tables, form in ((25_000, "full"), (25_001, "compact")):
        assert main(["collisions", str(one_vma(tmp_path, tables)), "--order", "forward",
                     "--granularity", "ptl", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["witness_form"] == form
        assert data["witness_steps"] == 4 * tables


def test_staircase_is_run_length_encoded():
    # pieces: 3 matched pairs down column 0 from row 0, then a diagonal of 4 from (5, 2)
    stair = sparse.staircase([(0, 0, 3, False), (5, 2, 4, True)], 10, 8)
    assert stair == ((0, 5), (1, 2), (2, 3), (0, 2), (1, 3))
    assert sum(n * (2 if k == 2 else 1) for k, n in stair) == 18


@pytest.mark.parametrize("form", ["full", "compact"])
@pytest.mark.parametrize("order, gran", [("forward", "ptl"), ("reverse", "ptl"),
                                         ("forward", "vma"), ("reverse", "vma")])
def test_replay_accepts_both_witness_forms(tmp_path, capsys, form, order, gran):
    out = tmp_path / "w.json"
    assert main(["collisions", "bundled/sleep.smaps", "--order", order, "--granularity", gran,
                 "--json", "--witness", form]) == 0
    out.write_text(capsys.readouterr().out)
    data = json.loads(out.read_text())
    assert main(["replay", str(out)]) == 0
    assert capsys.readouterr().out.startswith(
        f"reproduced: the {form} witness ({len(data['witness'])} entries) reaches "
        f"{data['max_collisions']} collision{'' if data['max_collisions'] == 1 else 's'} in "
        f"{data['witness_steps']} legal steps")


def test_replay_rejects_a_tampered_compact_witness(tmp_path, capsys):
    path = tmp_path / "whole.maps"
    path.write_text(WHOLE)
    assert main(["collisions", str(path), "--order", "forward", "--granularity", "ptl", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    both = next(i for i, e in enumerate(data["witness"]) if "actors" in e)
    cases = {
        "claims": lambda d: d["witness"][both].__setitem__("collisions", 1),
        "total": lambda d: d.__setitem__("max_collisions", WHOLE_ITEMS + 1),
        "illegal": lambda d: d["witness"][both]["ptl"].__setitem__(0, 4),
        "short": lambda d: d["witness"].pop(),
    }
    for name, edit in cases.items():
        copy = json.loads(json.dumps(data))
        edit(copy)
        out = tmp_path / f"{name}.json"
        out.write_text(json.dumps(copy))
        assert main(["replay", str(out)]) == 1, name
        err = capsys.readouterr().err
        assert err.startswith(f"reapcheck: {out}: ") and err.count("\n") == 1
    copy = json.loads(json.dumps(data))
    copy["witness"][both]["ptl"] = "3..9"
    out = tmp_path / "malformed.json"
    out.write_text(json.dumps(copy))
    assert main(["replay", str(out)]) == 2
    assert f"witness entry {both + 1}: \"ptl\" must be [first, last]" in capsys.readouterr().err
