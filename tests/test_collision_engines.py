"""The collision engines against each other, against brute force, and against hand counts."""
from __future__ import annotations

import itertools
import json
import math
import random

import pytest
from conftest import random_layout
from oracle import brute_force

from reapcheck.collisions import worst_case
from reapcheck.engines.explicit import graph, sparse, witness
from reapcheck.engines.explicit.schedule import replay
from reapcheck.model.layout import Layout, Vma
from reapcheck.model.walk_product import WalkProduct
from reapcheck.model.walks import WalkConfig

MiB = 1 << 20
CONFIGS = [(order, gran, exit_order) for order in ("forward", "reverse")
           for gran in ("vma", "ptl") for exit_order in ("forward", "reverse")]


def config(order, gran, exit_order="forward", shift=13):
    return WalkConfig(order, gran, shift, exit_order)


@pytest.mark.parametrize("seed", range(40))
def test_engines_match_brute_force_on_tiny_layouts(seed):
    """Graph and sparse engines give the max found by enumerating every schedule."""
    rng = random.Random(seed)
    layout = random_layout(rng, rng.randint(1, 3), max_pages=3, max_gap=1)
    shift = rng.choice([12, 13, 14])
    for order, gran, exit_order in CONFIGS:
        model = WalkProduct.build(layout, WalkConfig(order, gran, shift, exit_order))
        if sum(map(len, model.items)) > 9:
            continue  # keep each enumeration under ~50k schedules
        expected, schedules = brute_force(layout, order, gran, shift, exit_order)
        by_graph = graph.explore(model)
        by_sparse = sparse.explore(model)
        assert by_graph.max_collisions == expected
        assert by_sparse.max_collisions == expected
        assert by_graph.schedules == schedules


@pytest.mark.parametrize("seed", range(300))
def test_sparse_matches_graph_on_random_layouts(seed):
    """Hundreds of layouts with shared page tables, zero gaps and every flag kind."""
    rng = random.Random(1000 + seed)
    layout = random_layout(rng, rng.randint(1, 9), top=(seed % 10 == 0))
    shift = rng.choice([12, 13, 14, 15])
    order, gran, exit_order = CONFIGS[seed % len(CONFIGS)]
    model = WalkProduct.build(layout, WalkConfig(order, gran, shift, exit_order))
    by_graph = graph.explore(model)
    by_sparse = sparse.explore(model)
    assert by_sparse.max_collisions == by_graph.max_collisions
    assert (by_sparse.states, by_sparse.transitions) == (by_graph.states, by_graph.transitions)
    assert replay(model, by_graph.witness).collisions == by_graph.max_collisions
    sparse_witness = list(sparse.realize(model, by_sparse.moves))
    assert replay(model, sparse_witness).collisions == by_sparse.max_collisions
    runs = witness.check(model, witness.compact_entries(model, by_sparse.moves))
    assert witness.count(runs) == by_sparse.max_collisions


@pytest.mark.parametrize("seed", range(20))
def test_vma_granularity_hand_checks(seed):
    """docs/model.md §3: vma forward = reapable VMAs; vma reverse = 1 if any is reapable."""
    rng = random.Random(5000 + seed)
    layout = random_layout(rng, rng.randint(1, 40))
    reapable = sum(1 for v in layout.vmas if v.reapable)
    fwd = worst_case(layout, config("forward", "vma"), "sparse").result.max_collisions
    rev = worst_case(layout, config("reverse", "vma"), "sparse").result.max_collisions
    assert fwd == reapable
    assert rev == min(1, reapable)


def test_vma_schedule_count_is_binomial():
    """Without mutual exclusion every interleaving of 2m and 2n steps is a schedule."""
    layout = random_layout(random.Random(7), 5)
    model = WalkProduct.build(layout, config("reverse", "vma"))
    m, n = map(len, model.items)
    assert graph.explore(model).schedules == math.comb(2 * m + 2 * n, 2 * m)


def test_two_small_vmas_under_one_lock():
    """Two reapable 4 KiB VMAs in one 2 MiB region: 3 contentions in either order.

    By hand: the reaper locks A (exit_mmap waits: 1), exit_mmap locks A (the reaper
    waits: 2), the reaper locks B (exit_mmap waits: 3). A fourth would need the last
    holder's peer to still have an item to wait for.
    """
    layout = Layout.checked("hand", [Vma(0x400000, 0x401000, "rw-p", lineno=1),
                                     Vma(0x401000, 0x402000, "rw-p", lineno=2)])
    for order in ("forward", "reverse"):
        result = worst_case(layout, WalkConfig(order, "ptl"), "graph").result
        assert result.max_collisions == 3
        assert worst_case(layout, WalkConfig(order, "vma")).result.max_collisions == (
            2 if order == "forward" else 1)


def test_vmas_in_separate_tables_collide_like_vmas():
    """One page table per VMA (2 MiB apart): ptl counts equal vma counts."""
    vmas = [Vma(i * 4 * MiB, i * 4 * MiB + 4096, "rw-p", lineno=i + 1) for i in range(1, 7)]
    layout = Layout.checked("spread", vmas)
    for order, expected in (("forward", 6), ("reverse", 1)):
        assert worst_case(layout, WalkConfig(order, "ptl")).result.max_collisions == expected


def test_one_big_vma_pages_ascend_in_both_orders():
    """A single reapable VMA over 5 page tables: both walkers sweep it low to high,
    so the worst case is 5 in either reaper order (the walk order only permutes VMAs)."""
    layout = Layout.checked("big", [Vma(0, 10 * MiB, "rw-p", lineno=1)])
    for order in ("forward", "reverse"):
        assert worst_case(layout, WalkConfig(order, "ptl")).result.max_collisions == 5


def test_no_reapable_vma_means_no_collision():
    layout = Layout.checked("shared", [Vma(0, 4096, "rw-s", lineno=1),
                                       Vma(4096, 8192, "rw-p", frozenset({"ht"}), lineno=2)])
    for order, gran in itertools.product(("forward", "reverse"), ("vma", "ptl")):
        analysis = worst_case(layout, WalkConfig(order, gran))
        assert analysis.result.max_collisions == 0
        assert all(step.actor == "exit_mmap" for step in analysis.steps())


def test_key_runs():
    assert sparse.key_runs([5, 5, 7, 5]) == [(5, 0, 1), (7, 2, 2), (5, 3, 3)]
    assert sparse.key_runs([]) == []


def test_longest_matched_chain_small_cases():
    """Longest weakly increasing chain of equal-key pairs, checked by hand."""
    chain = sparse.longest_matched_chain([1, 2, 3], [3, 2, 1])
    assert len(chain) == 1
    chain = sparse.longest_matched_chain([1, 1, 2], [1, 2, 2])
    assert len(chain) == 4  # (0,0) (1,0) (2,1) (2,2)
    assert chain == sorted(chain)
    assert sparse.longest_matched_chain([1, 2], []) == []


@pytest.mark.parametrize("seed", range(60))
def test_segment_chain_matches_per_item_chain(seed):
    """The segment algorithm (exit_mmap ascending) equals the per-item algorithm on larger
    layouts than the graph engine can take, with long VMAs (diagonals) and shared tables."""
    rng = random.Random(9000 + seed)
    layout = random_layout(rng, rng.randint(20, 120), max_pages=rng.choice([3, 12, 40]),
                           top=(seed % 7 == 0))
    order, gran = ("forward", "reverse")[seed % 2], ("vma", "ptl")[seed // 2 % 2]
    model = WalkProduct.build(layout, WalkConfig(order, gran, rng.choice([12, 13, 15])))
    exit_walk, reaper_walk = model.items
    per_item = sparse.longest_matched_chain(exit_walk.key_list(), reaper_walk.key_list())
    pieces = sparse.ascending_chain(exit_walk, reaper_walk)
    assert sum(length for *_, length, _ in pieces) == len(per_item)
    moves = sparse.staircase(pieces, len(exit_walk), len(reaper_walk))
    assert witness.count(witness.check(model, witness.compact_entries(model, moves))) == len(per_item)
    assert replay(model, sparse.realize(model, moves)).collisions == len(per_item)


@pytest.mark.parametrize("seed", range(80))
def test_witness_runs_expand_to_the_replay(seed):
    """The compact witness (steps and runs), checked in closed form and expanded, gives
    exactly the replayed steps: every step, its collision flag, the count."""
    rng = random.Random(12000 + seed)
    layout = random_layout(rng, rng.randint(1, 25), max_pages=rng.choice([2, 6]))
    order, gran, exit_order = CONFIGS[seed % len(CONFIGS)]
    model = WalkProduct.build(layout, WalkConfig(order, gran, rng.choice([12, 13, 14]), exit_order))
    moves = sparse.explore(model).moves
    replayed = replay(model, sparse.realize(model, moves)).steps
    fast = tuple(witness.expand(model, witness.check(model, witness.compact_entries(model, moves))))
    assert fast == replayed
    assert all(json.loads(s.json_text()) == s.to_json() for s in fast)


def test_exit_order_reverse_refuses_more_items_than_fit(tmp_path, capsys):
    """The per-item algorithm holds every key: over its limit it says so (exit 2) instead
    of running out of memory. The whole-address-space VMA spans 2**43 - 6 page tables
    ((0xffffffffff600fff >> 21) - (0x400000 >> 21) + 1), for each of the two walkers."""
    from reapcheck.cli import main
    path = tmp_path / "huge.maps"
    path.write_text("400000-ffffffffff601000 rw-p 00000000 00:00 0\n")
    assert main(["collisions", str(path), "--order", "reverse", "--granularity", "ptl",
                 "--exit-order", "reverse"]) == 2
    err = capsys.readouterr().err
    assert f"{2 * (2**43 - 6):,} items" in err and err.count("\n") == 1


# Plain-maps kinds for --maps-shared-rule: r--s and ---s may lack VM_SHARED (reapable under
# `writable`), rw-s must have it; VmFlags stay exact (the last two: read-only MAP_SHARED
# of a read-only file without sh, and a read-only shared anonymous mapping with sh).
SHARED_RULE_KINDS = (("r--s", None), ("---s", None), ("rw-s", None), ("rw-p", None),
                     ("r--s", "rd mr me ms"), ("r--s", "rd sh mr mw me ms"))


def _shared_rule_layout(rng, n):
    addr, vmas = rng.randrange(0, 16) * 4096, []
    for i in range(n):
        perms, flags = rng.choice(SHARED_RULE_KINDS)
        size = rng.randint(1, 4) * 4096
        vmas.append(Vma(addr, addr + size, perms,
                        None if flags is None else frozenset(flags.split()), lineno=i + 1))
        addr += size + rng.choice([0, 0, 4096])
    return Layout.checked("shared-rule", vmas, "writable")


@pytest.mark.parametrize("seed", range(30))
def test_writable_rule_engines_and_hand_checks(seed):
    """Under --maps-shared-rule writable the reaper walks exactly the VMAs the rule names
    (counted here independently), the engines agree, and docs/model.md §3's vma hand checks
    hold: forward = number of reapable VMAs, reverse = 1."""
    rng = random.Random(9000 + seed)
    layout = _shared_rule_layout(rng, rng.randint(1, 8))
    mine = [i for i, v in enumerate(layout.vmas)
            if (not {"ht", "pf", "sh"} & v.flags if v.flags is not None
                else v.perms[3] == "p" or v.perms[1] != "w")]
    assert list(layout.reapable) == mine
    fwd = worst_case(layout, config("forward", "vma"), "sparse").result.max_collisions
    rev = worst_case(layout, config("reverse", "vma"), "sparse").result.max_collisions
    assert (fwd, rev) == (len(mine), min(1, len(mine)))
    for order, gran, exit_order in CONFIGS:
        model = WalkProduct.build(layout, WalkConfig(order, gran, 13, exit_order))
        assert list(model.items[1].vmas) == sorted(mine, reverse=order == "reverse")
        assert sparse.explore(model).max_collisions == graph.explore(model).max_collisions


@pytest.mark.parametrize("seed", range(120))
def test_closed_form_chains_equal_the_fenwick_chain(seed):
    """sorted_chain (reaper forward) and descending_chain (reaper reverse) give exactly
    ascending_chain's pieces, ties included, on layouts with many VMAs per page table
    (one-page VMAs, small shifts), long VMAs, gaps and a VMA at the top."""
    rng = random.Random(31000 + seed)
    layout = random_layout(rng, rng.randint(1, 150), max_pages=rng.choice([1, 2, 5, 40]),
                           max_gap=rng.choice([0, 1, 3]), top=(seed % 9 == 0))
    for order, closed_form in (("forward", sparse.sorted_chain),
                               ("reverse", sparse.descending_chain)):
        for gran in ("vma", "ptl"):
            model = WalkProduct.build(layout, WalkConfig(order, gran, rng.choice([12, 13, 14, 16])))
            assert closed_form(*model.items) == sparse.ascending_chain(*model.items)


@pytest.mark.parametrize("seed", range(10))
def test_collision_stepper_is_is_collision(seed):
    """The replay's stepper (someone_waits kept from the step before) answers what
    is_collision answers, for consecutive steps and for pairs out of sequence."""
    from reapcheck.properties.collisions import collision_stepper, is_collision

    rng = random.Random(seed)
    layout = random_layout(rng, rng.randint(1, 4), max_pages=3, max_gap=1)
    for order, gran, exit_order in CONFIGS:
        model = WalkProduct.build(layout, config(order, gran, exit_order, rng.choice([12, 13])))
        step = collision_stepper(model)
        state, pairs = model.init(), []
        while model.enabled(state):
            after = model.update(state, rng.choice(model.enabled(state)))
            pairs.append((state, after))
            state = after
        pairs += rng.sample(pairs, len(pairs))  # out of order: nothing carried over wrongly
        assert [step(b, a) for b, a in pairs] == [bool(is_collision(model, b, a))
                                                  for b, a in pairs]
