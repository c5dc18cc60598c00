"""The Z3 proofs (src/reapcheck/prove.py and engines/z3_*.py) against docs/kernel.md and
docs/model.md.

Expected statuses come from the contract, never from the tool's output:
- docs/model.md §4: `forward` and `rev_find` never skip; `rev_prev` skips exactly a VMA that
  contains ULONG_MAX (docs/kernel.md §2: the first mas_prev() discards the range at index) and
  skips nothing when every end is at most 2**64 - 1.
- docs/model.md §3, checks by hand: granularity vma, forward: the worst case is the number of
  reapable VMAs; reverse: 1 if any VMA is reapable (so never more than one).
The differential tests check that the Z3 encodings read the same model as the explorer:
the symbolic walks against `maple.visits`, the symbolic tree against `maple.build`, the
tree axioms against concrete trees, and every witness schedule through `replay`.
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest
import z3

sys.path.insert(0, str(Path(__file__).parent))

from reapcheck import prove as prove_module  # noqa: E402
from reapcheck.collisions import worst_case  # noqa: E402
from reapcheck.engines.symbolic import z3_collisions as zc  # noqa: E402
from reapcheck.engines.symbolic import z3_maple as zm  # noqa: E402
from reapcheck.engines.explicit.schedule import replay  # noqa: E402
from reapcheck.engines.symbolic import z3_solve  # noqa: E402
from reapcheck.engines.symbolic.z3_solve import Outcome  # noqa: E402
from reapcheck.model import maple  # noqa: E402
from reapcheck.model.layout import ULONG_MAX, Layout, Vma  # noqa: E402
from reapcheck.model.smaps import parse_text  # noqa: E402
from reapcheck.model.walk_product import Action, WalkProduct  # noqa: E402
from reapcheck.model.walks import WalkConfig  # noqa: E402
from reapcheck.prove import CLAIMS, PROTOCOL_CLAIMS, iterate_json, prove  # noqa: E402
from test_maple import random_layout  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent / "results" / "results.json"
# the iterator and collision claims; the protocol claims are tests/test_protocol_proofs.py's
FIRST = tuple(name for name in CLAIMS if name not in PROTOCOL_CLAIMS)
K = 8  # the report's bound: the entries checked here are results.json's (see `result`)
TOP = 2**64
PAGE = 4096

EXPECTED = {  # (status, bound) from docs/model.md §3, §4
    "forward_visits_all": ("holds", "unbounded"),
    "rev_find_visits_all": ("holds", "unbounded"),
    "rev_prev_visits_all": ("violated", K),
    "rev_prev_visits_all_below_top": ("holds", "unbounded"),
    "reverse_one_vma_collision": ("holds", "unbounded"),
    "forward_worst_equals_reapable": ("holds", "unbounded"),
}


@pytest.fixture(scope="session")
def result():
    """prove()'s entries for FIRST at the report's K, as results.json holds them (without
    the seconds). tests/test_results_fresh.py proves them again and compares them with
    this file, so they are prove()'s output now; this file does not prove them a third
    time (they take about 70 s of CPU)."""
    proofs = json.loads(RESULTS.read_text())["iterators"]
    return {"version": proofs["version"], "k": proofs["k"],
            "claims": {name: proofs["claims"][name] for name in FIRST}}


def strip_seconds(out: dict) -> dict:
    """The output without each claim's "seconds", its only timing (report.py drops it)."""
    out = json.loads(json.dumps(out))
    for entry in out["claims"].values():
        del entry["seconds"]
    return out


def layout_of(spans, path="t", perms=None) -> Layout:
    return Layout.checked(path, [Vma(s, e, (perms or {}).get(i, "rw-p"), lineno=i + 1)
                                 for i, (s, e) in enumerate(spans)])


# -- the claims ----------------------------------------------------------------------------


def test_claim_names():
    assert FIRST == ("forward_visits_all", "rev_find_visits_all", "rev_prev_visits_all",
                      "rev_prev_visits_all_below_top", "reverse_one_vma_collision",
                      "forward_worst_equals_reapable")


def test_each_claim_has_its_expected_status(result):
    assert result["k"] == K and result["version"] == 1
    assert list(result["claims"]) == list(FIRST)
    for name, (status, bound) in EXPECTED.items():
        entry = result["claims"][name]
        assert (entry["status"], entry["bound"]) == (status, bound), name
        assert set(entry) >= {"status", "bound", "assumptions", "invariant",
                              "counterexample", "bounded", "inductive"}
        assert entry["assumptions"] and all(isinstance(a, str) for a in entry["assumptions"])
        assert isinstance(entry["invariant"], str) and entry["invariant"]
        assert entry["bounded"]["k"] == K
        if status == "holds":
            assert entry["counterexample"] is None
            assert entry["bounded"]["status"] == "holds"
            assert entry["inductive"]["status"] == "holds"
    json.dumps(result)  # data first: plain JSON


def test_only_the_below_top_claim_assumes_it(result):
    claims = result["claims"]
    assert any("ULONG_MAX" in a for a in claims["rev_prev_visits_all_below_top"]["assumptions"])
    for name in ("forward_visits_all", "rev_find_visits_all", "rev_prev_visits_all"):
        assert not any("ULONG_MAX" in a for a in claims[name]["assumptions"]), name


def test_invariants_are_stated(result):
    claims = result["claims"]
    assert "entry(p) = c - 1" in claims["forward_visits_all"]["invariant"]
    assert "entry(p) = n - c" in claims["rev_find_visits_all"]["invariant"]
    assert "mas_prev" in claims["rev_prev_visits_all_below_top"]["invariant"]
    assert "0 <= c <= 1" in claims["reverse_one_vma_collision"]["invariant"]
    forward = claims["forward_worst_equals_reapable"]["invariant"]
    assert "upper bound" in forward and "lower bound" in forward


# -- the rev_prev counterexample --------------------------------------------------------------


def test_rev_prev_counterexample_reproduces_in_the_explicit_model(result):
    """docs/kernel.md §2: vma_prev() from ULONG_MAX discards the range containing ULONG_MAX, so a
    VMA there is skipped. The counterexample must show exactly that, and maple.visits,
    fed the same layout, must skip the same VMA."""
    cex = result["claims"]["rev_prev_visits_all"]["counterexample"]
    layout = layout_of([(int(v["start"], 16), int(v["end"], 16)) for v in cex["layout"]])
    assert layout.vmas[-1].end == TOP  # the last VMA contains ULONG_MAX
    assert cex["layout"][-1]["contains_ulong_max"]
    assert maple.visits(layout, "rev_prev") == cex["visits"]
    assert maple.skipped(layout, "rev_prev") == cex["skipped"] == [len(layout) - 1]
    assert cex["expected"] == list(range(len(layout) - 1, -1, -1))
    assert maple.visits(layout, "rev_find") == cex["expected"]  # the fixed walk visits it
    reparsed = parse_text("\n".join(cex["maps"]), "cex.maps")  # the maps lines re-run
    assert maple.visits(reparsed, "rev_prev") == cex["visits"]


def test_counterexample_is_the_same_whatever_k(result):
    """Shrunk to the fewest VMAs, page-aligned, then the canonical (highest) placement:
    the top page [2**64 - 4096, 2**64)."""
    cex = result["claims"]["rev_prev_visits_all"]["counterexample"]
    assert cex["layout"] == [{"vma": 0, "start": hex(TOP - PAGE), "end": hex(TOP),
                              "contains_ulong_max": True}]
    assert cex["visits"] == [] and cex["skipped"] == [0]
    assert zm.bounded_check("rev_prev", 2).counterexample == cex


# -- collision witnesses --------------------------------------------------------------------


def witness_layout(w: dict) -> Layout:
    return Layout.checked("w", [Vma(int(v["start"], 16), int(v["end"], 16),
                                    "rw-p" if v["reapable"] else "rw-s", lineno=i + 1)
                                for i, v in enumerate(w["layout"])])


@pytest.mark.parametrize("claim,order,worst", [
    ("forward_worst_equals_reapable", "forward", lambda n: n),
    ("reverse_one_vma_collision", "reverse", lambda n: min(n, 1)),
])
def test_witnesses_replay_and_match_the_explorer(result, claim, order, worst):
    """A witness for each n = 0..K reapable VMAs: its schedule, replayed step by step on the
    concrete WalkProduct, collides worst(n) times (docs/model.md §3), and the graph explorer
    agrees that worst(n) is the maximum."""
    witnesses = result["claims"][claim]["witnesses"]
    assert [w["reapable"] for w in witnesses] == list(range(K + 1))
    for w in witnesses:
        layout = witness_layout(w)
        n = w["reapable"]
        assert len(layout.reapable) == n and w["worst"] == worst(n)
        assert w["status"] == "holds"
        config = WalkConfig(order=order, granularity="vma")
        model = WalkProduct.build(layout, config)
        names = {a.name: a for a in model.actions}
        schedule = [names[name] for name in w["schedule"]]
        assert all(isinstance(a, Action) for a in schedule)
        assert replay(model, schedule).collisions == worst(n) == w["replayed_collisions"]
        assert worst_case(layout, config, "graph").result.max_collisions == worst(n)


# -- unknown is never holds -------------------------------------------------------------------


def test_every_unknown_query_gives_unknown(monkeypatch):
    """A solver that answers unknown to every query (as on a timeout): no claim may hold."""
    def unknown(*args, **kwargs):
        return Outcome(z3.unknown, 0.0, "timeout")
    monkeypatch.setattr(zm, "check", unknown)
    monkeypatch.setattr(zc, "check", unknown)
    monkeypatch.setattr(z3_solve, "check", unknown)  # behind z3_solve.check_valid
    out = prove(k=1, only=FIRST)
    for name, entry in out["claims"].items():
        assert entry["status"] == "unknown", name
        assert entry["counterexample"] is None, name


def test_a_one_millisecond_timeout_gives_unknown():
    """Real timeouts on queries that take seconds (K = 8): unknown, never holds."""
    assert zm.bounded_check("forward", 8, timeout_s=0.001).status == "unknown"
    proof = zc.bounded_upper("reverse", 8, timeout_s=0.001)
    assert proof.status == "unknown" and "solver unknown" in proof.reason


def test_combination_rules():
    combine = prove_module._combine
    assert combine("holds", "holds", 8) == ("holds", "unbounded")
    assert combine("unknown", "holds", 8) == ("holds", "unbounded")
    assert combine("holds", "unknown", 8) == ("holds", 8)
    assert combine("unknown", "unknown", 8) == ("unknown", 8)
    assert combine("violated", None, 8) == ("violated", 8)
    with pytest.raises(prove_module.ProofConflict):
        combine("violated", "holds", 8)


# -- deliberately failing models: the checks can fail -------------------------------------------


def test_failing_models_fail():
    """Without its assumption the rev_prev invariant is not inductive; the reverse-walk
    invariant does not carry over to the forward walk; the forward lower-bound strategy
    fails on the reverse walk; BMC finds a second forward collision."""
    proof = zm.inductive_check("rev_prev", assume_below_top=False)
    assert proof.status == "unknown" and "not inductive" in proof.reason
    assert zc.reverse_at_most_one(order="forward").status == "unknown"
    assert zc.forward_reaches_reapable(order="reverse").status == "unknown"
    assert zc.bounded_upper("forward", 3, at_most=1).status == "violated"
    assert zc.bounded_upper("reverse", 3, at_most=0).status == "violated"


def test_bad_last_walk_also_proves():
    """rev_find_bad_last equals rev_find (docs/kernel.md §2: `last` is never read before mas_walk
    overwrites it), so its claim holds the same way."""
    assert zm.bounded_check("rev_find_bad_last", 2).status == "holds"
    assert zm.inductive_check("rev_find_bad_last").status == "holds"


# -- the Z3 encodings read the same model as the explorer ---------------------------------------


SEEDS = range(400)


def test_symbolic_walks_agree_with_the_explicit_model():
    """The unrolled encoding, evaluated on 400 random layouts (1..6 VMAs, at 0, at the top,
    just below it), gives every walk's exact visit sequence from model/maple.py."""
    walks = zm.SymbolicWalks(6)
    layouts = [random_layout(random.Random(seed)) for seed in SEEDS]
    assert any(lay.vmas[-1].end == TOP for lay in layouts)
    for lay in layouts:
        for walk in maple.WALKS:
            assert walks.visits(lay, walk) == maple.visits(lay, walk), (walk, lay.vmas)


def test_layout_tree_is_build():
    """LayoutTree's ranges, read at its sparse positions in order, are build()'s ranges;
    p + 1 is the next one; slot() finds the range containing an address."""
    rng = random.Random(7)
    tree = zm.LayoutTree(4)
    layouts = [random_layout(rng) for _ in range(60)]
    for lay in [x for x in layouts if len(x) <= 4]:
        solver = z3.Solver()
        solver.add(*tree.fix(lay))
        assert solver.check() == z3.sat
        m = solver.model()

        def val(term):
            return m.eval(term, model_completion=True).as_long()
        built = maple.build(lay)
        positions = tree.positions(m)
        assert len(positions) == len(built.lo)
        for j, p in enumerate(positions):
            pv = z3.BitVecVal(p, tree.width)
            assert (val(tree.lo(pv)), val(tree.hi(pv))) == (built.lo[j], built.hi[j])
            entry = val(tree.entry(pv))
            assert (None if entry == tree.null.as_long() else entry) == built.entry[j]
            if j + 1 < len(positions):
                assert val(tree.shift(pv, 1)) == positions[j + 1]
            for addr in {built.lo[j], built.hi[j], (built.lo[j] + built.hi[j]) // 2}:
                assert val(tree.slot(z3.BitVecVal(addr, 64))) == p


def axioms_hold(built: maple.MapleTree) -> bool:
    """Pin every AxiomTree function to a concrete tree and instantiate every axiom: sat
    iff all instances are true of that tree."""
    t = zm.AxiomTree("concrete")
    r = len(built.lo)
    xs = [z3.IntVal(x) for x in range(-2, r + 2)]
    pins = [t.ranges == r]
    count = 0
    for x in range(r + 1):
        pins.append(t.vcount(x) == count)
        if x < r:
            pins += [t.lo_fn(x) == built.lo[x], t.hi_fn(x) == built.hi[x],
                     t.entry_fn(x) == (-1 if built.entry[x] is None else built.entry[x])]
            count += built.entry[x] is not None
    addrs = {a for j in range(r) for a in (built.lo[j], built.hi[j], max(built.lo[j] - 1, 0),
                                           min(built.hi[j] + 1, ULONG_MAX))}
    axioms = zm.tree_axioms(t)
    for x in xs:
        axioms += zm.range_axioms(t, x)
    for a in sorted(addrs):
        term = z3.BitVecVal(a, 64)
        pins.append(t.slot_fn(term) == built.slot(a))
        axioms += zm.slot_axioms(t, term, xs)
    solver = z3.Solver()
    solver.add(*pins, *axioms)
    return solver.check() == z3.sat


def test_tree_axioms_hold_on_every_built_tree():
    """The inductive proofs quantify over trees satisfying AXIOMS; every build() result
    must be one of them (so the proof covers every layout)."""
    rng = random.Random(11)
    for _ in range(40):
        assert axioms_hold(maple.build(random_layout(rng)))
    assert axioms_hold(maple.build(layout_of([(0, TOP)])))


def test_the_order_facts_are_proven():
    tree = zm.LayoutTree(3)
    zm.unroll(tree, "rev_find", 4)
    assert tree.order_facts
    assert tree.prove_facts()[0] == "holds"


# -- iterate --json and determinism -----------------------------------------------------------


def test_iterate_json():
    """V0 [0, 4096), V1 [8192, 2**64): rev_prev discards V1 (it contains ULONG_MAX)."""
    lay = layout_of([(0, PAGE), (2 * PAGE, TOP)], path="two.maps")
    assert iterate_json(lay, "forward") == {"layout": "two.maps", "visits": [0, 1],
                                            "skipped": []}
    assert iterate_json(lay, "rev_find") == {"layout": "two.maps", "visits": [1, 0],
                                             "skipped": []}
    assert iterate_json(lay, "rev_prev") == {"layout": "two.maps", "visits": [0],
                                             "skipped": [1]}
    with pytest.raises(ValueError):
        iterate_json(lay, "reverse")


def test_seconds_are_the_only_timing_and_only_gives_the_same_entries():
    """Determinism across runs is test_results_fresh.py's: it proves the claims again (at
    the report's K, in groups) and compares them with the committed entries of an earlier
    run. Here: "seconds" is the only timing, and a claim proved alone or with others
    gets the same entry (at K = 1, where they take about a second)."""
    name = "rev_prev_visits_all"
    together = prove(k=1, only=(name, "forward_worst_equals_reapable"))
    alone = prove(k=1, only=(name,))
    assert '"seconds"' in json.dumps(together)
    assert '"seconds"' not in json.dumps(strip_seconds(together))
    assert list(alone["claims"]) == [name]
    assert strip_seconds(alone)["claims"][name] == strip_seconds(together)["claims"][name]
    assert together["claims"][name]["bound"] == 1
    with pytest.raises(ValueError, match="no such claim: nonsense"):
        prove(k=1, only=("nonsense",))
