"""The timed model (issue 12): hand-computed cases, the fast sweep against the plain
simulation, the worst case of `collisions` as a bound at every delay, and the command."""
from __future__ import annotations

import json
import random

import pytest

from conftest import random_layout
from reapcheck import bundled
from reapcheck.cli import load_layout, main
from reapcheck.collisions import worst_case
from reapcheck.model.layout import Layout, Vma
from reapcheck.model.pmd import resolve_pmd_shift
from reapcheck.model.walks import ORDERS, WalkConfig
from reapcheck.timed import Sweep, build_items, simulate, timed, timed_orders
from reapcheck.timed_costs import Costs, WalkerCosts

PAGE = 4096
MIB2 = 2 << 20


def layout_of(*spans) -> Layout:
    """Private anonymous VMAs (maps lines: every page resident by default)."""
    return Layout.checked("hand", [Vma(a, b, "rw-p", frozenset("rd wr mr mw me ac".split()),
                                       lineno=i + 1) for i, (a, b) in enumerate(spans)])


def at(layout, order, costs, delay_us):
    """(contentions, wait µs, end µs) per walker, from both implementations (they agree)."""
    cfg = WalkConfig(order, "ptl", 21)
    exit_items, reaper_items = build_items(layout, cfg)
    ref = simulate([(exit_items, costs.exit_mmap, 0),
                    (reaper_items, costs.reaper, round(delay_us * 1000))])
    fast = Sweep(exit_items, reaper_items, costs).run(delay_us)
    plain = (tuple(r.contentions for r in ref), tuple(r.wait_ns / 1000 for r in ref),
             tuple(r.end_ns / 1000 for r in ref))
    assert plain == (fast.contentions, fast.wait_us, fast.end_us)
    return plain


# One page, one lock: exit_mmap 1 + 3 µs (emptied: 1), the reaper 2 + 4 µs (emptied: 2).
ONE = Costs(WalkerCosts(1, 3), WalkerCosts(2, 4))


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("delay, expected", [
    (0, ((0, 1), (0, 4), (4, 6))),  # equal start: exit_mmap first; the reaper waits 4 µs
    (1, ((0, 1), (0, 3), (4, 6))),  # the reaper waits for the rest of exit_mmap's item
    (4, ((0, 0), (0, 0), (4, 6))),  # asks at the very release: no wait, the page is gone
    (-1, ((1, 0), (5, 0), (6, 5))),  # the reaper first: exit_mmap waits 5 µs, then 1 µs
    (-7, ((0, 0), (0, 0), (1, -1))),  # the reaper done before exit_mmap starts
    (9, ((0, 0), (0, 0), (4, 11))),  # exit_mmap done before the reaper starts
])
def test_one_lock_by_hand(order, delay, expected):
    layout = layout_of((0x1000, 0x2000))
    assert at(layout, order, ONE, delay) == expected


SAME = Costs(WalkerCosts(1, 1), WalkerCosts(1, 1))  # 2 µs a page, 1 µs once emptied


def test_two_vmas_sharing_a_page_table_forward():
    """exit_mmap VMA 0 [0, 2); the reaper waits 2, VMA 0 emptied [2, 3); exit_mmap waits 1
    for the lock, VMA 1 [3, 5); the reaper waits 2, VMA 1 emptied [5, 6)."""
    layout = layout_of((0x1000, 0x2000), (0x2000, 0x3000))
    assert at(layout, "forward", SAME, 0) == ((1, 2), (1, 4), (5, 6))


def test_two_vmas_sharing_a_page_table_reverse():
    """exit_mmap VMA 0 [0, 2); the reaper waits 2 for VMA 1 [2, 4); exit_mmap waits 2, VMA
    1 emptied [4, 5); the reaper waits 1, VMA 0 emptied [5, 6)."""
    layout = layout_of((0x1000, 0x2000), (0x2000, 0x3000))
    assert at(layout, "reverse", SAME, 0) == ((1, 2), (2, 3), (5, 6))


def test_no_shared_page_tables_reverse_at_most_one():
    """One VMA per page table: the walks cross once, so the reverse order contends at most
    once at any delay. (A VMA over several page tables is walked upward by both, so a
    reaper entering it behind exit_mmap follows it table by table: not this case.)"""
    rng = random.Random(5)
    for _ in range(20):
        spans, table = [], rng.randrange(1, 50)
        for _ in range(rng.randint(1, 30)):
            lo = table * MIB2 + rng.randrange(0, 256) * PAGE
            spans.append((lo, lo + rng.randint(1, 256) * PAGE))
            table += rng.randint(1, 3)
        layout = layout_of(*spans)
        costs = Costs(WalkerCosts(rng.uniform(0.1, 2), rng.uniform(0, 1)),
                      WalkerCosts(rng.uniform(0.1, 2), rng.uniform(0, 1)))
        result = timed(layout, WalkConfig("reverse", "ptl", 21), costs, n_delays=300)
        assert max(p.total_contentions for p in result.points) <= 1


def _random_costs(rng):
    return Costs(WalkerCosts(rng.choice([0, 0.5, 1, 3]), rng.choice([0, 0.5, 2])),
                 WalkerCosts(rng.choice([0.5, 1, 2, 5]), rng.choice([0, 1, 3])))


def test_sweep_equals_simulation():
    """The fast sweep (jumps, lockstep in closed form, memo across delays) gives exactly
    what the plain event loop gives, delay by delay."""
    rng = random.Random(7)
    for _ in range(40):
        layout = random_layout(rng, rng.randint(1, 60), max_pages=rng.choice([3, 20]),
                               max_gap=rng.choice([0, 3, 600]))
        cfg = WalkConfig(rng.choice(ORDERS), "ptl", rng.choice([12, 13, 14, 21]),
                         rng.choice(ORDERS))
        costs = _random_costs(rng)
        exit_items, reaper_items = build_items(layout, cfg, rng.choice([0, 0.3, 1]))
        sweep = Sweep(exit_items, reaper_items, costs)
        a, b = sweep.alone_ns
        for d in range(-b - 1000, a + 1000, (a + b + 2000) // 8):
            ref = simulate([(exit_items, costs.exit_mmap, 0), (reaper_items, costs.reaper, d)])
            got = sweep.run(d / 1000)
            assert got.contentions == tuple(r.contentions for r in ref)
            assert got.wait_us == tuple(r.wait_ns / 1000 for r in ref)
            assert got.end_us == tuple(r.end_ns / 1000 for r in ref)


def test_never_above_the_worst_case_random():
    """No delay gives more contentions than the worst case over all schedules (the timed
    run is one schedule of the ptl model), on 300 random layouts, every order pair."""
    rng = random.Random(11)
    for _ in range(300):
        layout = random_layout(rng, rng.randint(1, 16), max_pages=rng.choice([3, 8]))
        cfg = WalkConfig(rng.choice(ORDERS), "ptl", rng.choice([12, 13, 14]),
                         rng.choice(ORDERS))
        bound = worst_case(layout, cfg, "sparse").result.max_collisions
        result = timed(layout, cfg, _random_costs(rng), n_delays=40,
                       resident=rng.choice([0, 1]))
        assert max(p.total_contentions for p in result.points) <= bound


@pytest.mark.parametrize("name", bundled.names())
def test_never_above_the_worst_case_bundled(name):
    layout = load_layout(name)
    shift = resolve_pmd_shift(layout, None)
    for exit_order in ORDERS:
        results = timed_orders(layout, WalkConfig("reverse", "ptl", shift, exit_order),
                               Costs(WalkerCosts(0.3, 0.2), WalkerCosts(0.5, 0.3)), n_delays=60)
        for r in results:
            bound = worst_case(layout, r.config, "sparse").result.max_collisions
            assert r.summary()["max_contentions"] <= bound


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_schema(capsys):
    code, out, err = run(capsys, "timed", "bundled/sleep.smaps", "--order", "forward", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["version"] == 1 and data["order"] == "forward"
    s = data["summary"]
    assert {"max_contentions", "mean_contentions", "mean_wait_us",
            "share_with_contention"} <= set(s)
    assert 0 <= s["share_with_contention"] <= 1
    assert s["max_contentions"] >= s["mean_contentions"] >= 0
    curves = data["orders"]["forward"]["curves"]
    assert len(curves["delay_us"]) == len(curves["contentions"]) == 200


def test_text_has_both_orders_and_a_plot(capsys):
    code, out, _ = run(capsys, "timed", "bundled/tiny.maps", "--delays=-30us:30us:25")
    assert code == 0
    assert "reaper forward" in out and "reaper reverse" in out and "+----" in out


@pytest.mark.parametrize("argv, message", [
    (("--delays", "1:2"), "A:B:N"),
    (("--delay", "soon"), "not a delay"),
    (("--delay", "1", "--delays", "0:1:2"), "not allowed"),
    (("--resident", "2"), "fraction"),
    (("--costs", "{missing}"), "No such file"),
    (("--costs", "{bad}"), "c_page_us"),
    (("--costs", "{notjson}"), "not JSON"),
])
def test_bad_input_one_line_exit_2(capsys, tmp_path, argv, message):
    bad, notjson = tmp_path / "bad.json", tmp_path / "notjson.json"
    bad.write_text('{"exit_mmap": {"c_item_us": 1, "c_page_us": "x"}, '
                   '"reaper": {"c_item_us": 1, "c_page_us": 1}}')
    notjson.write_text("costs")
    argv = [a.format(missing=tmp_path / "none.json", bad=bad, notjson=notjson) for a in argv]
    code, out, err = run(capsys, "timed", "bundled/tiny.maps", *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


def test_compare_timed(capsys):
    code, out, _ = run(capsys, "compare", "bundled/tiny.maps", "--timed", "--json", "--quiet")
    assert code == 0
    ptl = [x for x in json.loads(out) if x["granularity"] == "ptl"]
    assert len(ptl) == 2 and all("share_with_contention" in x["timed"] for x in ptl)
    code, _, err = run(capsys, "compare", "bundled/tiny.maps", "--costs", "x.json")
    assert code == 2 and "--timed" in err


def test_text_gives_every_cost_in_microseconds(capsys, tmp_path):
    """Both walkers' costs carry their unit (µs per item, µs per page), and one delay's
    line follows from them by hand: one resident page under one lock, exit_mmap 1.5 +
    2.5 = 4 µs from 0; the reaper asks at 1 µs, waits 3 µs, then pays 3.5 µs for the
    emptied item (c_item only) and ends at 7.5 µs."""
    costs = tmp_path / "costs.json"
    costs.write_text(json.dumps({"exit_mmap": {"c_item_us": 1.5, "c_page_us": 2.5},
                                 "reaper": {"c_item_us": 3.5, "c_page_us": 4.75}}))
    layout = tmp_path / "one.maps"
    layout.write_text("00001000-00002000 rw-p 00000000 00:00 0\n")
    code, out, _ = run(capsys, "timed", layout, "--costs", costs, "--order", "reverse",
                       "--delay", "1")
    assert code == 0
    assert ("exit_mmap 1.5 µs per item + 2.5 µs per page; "
            "reaper 3.5 µs per item + 4.75 µs per page") in out
    assert ("at delay 1.0 µs: 1 contentions (exit_mmap 0, reaper 1), wait 3.0 µs; "
            "exit_mmap ends at 4.0 µs, the reaper at 7.5 µs") in out


def test_report_check_lines_give_the_medians_beside_their_ratio():
    """The report's kernel check names both medians, not only their ratio: 80 measured
    against 200 predicted is 0.4 (within 3x), 1,500 µs against 6 ms is 0.25 (not)."""
    from reapcheck.report_timed import check_lines

    check = {"opposite": {"median": {"measured": {"contentions": 80.0, "wait_us": 1500.0},
                                     "predicted": {"contentions": 200.0, "wait_us": 6000.0}},
                          "measured_over_predicted": {"contentions": 0.4, "wait_us": 0.25},
                          "within_factor_3": {"contentions": True, "wait_us": False}}}
    assert check_lines(check) == [
        "opposite: median PTE-lock contentions 80 measured / 200 predicted (0.4), "
        "wait 1.50 ms / 6.00 ms (0.25), NOT within a factor of 3"]


def _one_vma_costs(tmp_path):
    """One resident page under one lock: exit_mmap alone 1.5 + 2.5 = 4 µs, the reaper
    alone 3.5 + 4.75 = 8.25 µs, so the overlap window is -8.25 µs .. 4 µs (open)."""
    costs = tmp_path / "costs.json"
    costs.write_text(json.dumps({"exit_mmap": {"c_item_us": 1.5, "c_page_us": 2.5},
                                 "reaper": {"c_item_us": 3.5, "c_page_us": 4.75}}))
    layout = tmp_path / "one.maps"
    layout.write_text("00001000-00002000 rw-p 00000000 00:00 0\n")
    return layout, costs


def test_no_delay_in_the_window_has_no_mean(capsys, tmp_path):
    """A delay of 100 µs is past the window's end (4 µs): no delay to average over, so
    the means and the share are undefined (null, n/a), not 0; the max over the delays
    given is 0 (no overlap)."""
    layout, costs = _one_vma_costs(tmp_path)
    code, out, _ = run(capsys, "timed", layout, "--costs", costs, "--order", "reverse",
                       "--delay", "100", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["orders"]["reverse"]["window_us"] == [-8.25, 4.0]
    assert {k: data["summary"][k] for k in ("delays", "delays_in_window", "max_contentions",
                                            "mean_contentions", "mean_wait_us",
                                            "share_with_contention")} == {
        "delays": 1, "delays_in_window": 0, "max_contentions": 0, "mean_contentions": None,
        "mean_wait_us": None, "share_with_contention": None}
    for argv in ((layout, "--costs", costs, "--delay", "100"),
                 ("bundled/tiny.maps", "--delays=-10s:-9s:3")):  # tiny's window is < 1 ms
        code, out, _ = run(capsys, "timed", *argv)
        assert code == 0
        assert out.count("no delay in the overlap window") == 2  # both orders
        assert "share with contention n/a" in out
        assert "mean 0.0" not in out and "at 0% of the delays" not in out


@pytest.mark.parametrize("share, text", [
    (None, "n/a"), (0.0, "0%"), (1.0, "100%"), (0.5, "50%"),
    (199 / 200, "99.5%"),  # one delay of 200 without contention: not 100%
    (1 / 200, "0.5%"),  # one of 200 with: not 0%
    (0.004, "0.4%"), (0.9999, "99.99%"), (0.996, "99.6%"), (0.25, "25%"),
])
def test_share_is_never_rounded_onto_0_or_100(share, text):
    from reapcheck.timed_command import share_text

    assert share_text(share) == text


def test_summary_share_is_never_rounded_onto_0_or_1():
    """k of n to 4 decimals, except that 199,999 of 200,000 (0.999995) and 1 of 200,000
    (0.000005) keep their digits: rounded they would read as all and none."""
    from reapcheck.timed import _share

    assert _share(199, 200) == 0.995 and _share(1, 3) == 0.3333
    assert _share(199_999, 200_000) == 0.999995 and _share(1, 200_000) == 0.000005
    assert _share(0, 7) == 0 and _share(7, 7) == 1


def test_plot_marks_small_counts_in_the_lowest_row():
    """Peak 56 over 8 rows: the rows are 7 apart (row k from 56 (k - 0.5) / 8), so 1 and
    3 contentions reach no row by the thresholds; the lowest row still marks them, and
    only the zero column stays blank."""
    from types import SimpleNamespace

    from reapcheck.timed_command import plot

    points = [SimpleNamespace(delay_us=float(i), total_contentions=c)
              for i, c in enumerate((0, 1, 3, 56))]
    rows = plot(SimpleNamespace(points=points), width=4, height=8)
    assert rows[0] == "56 |   #"
    assert rows[1:7] == ["   |   #"] * 6
    assert rows[7] == " 0 | ###"


def test_java_reverse_share_is_not_shown_as_100_when_a_delay_has_none(capsys):
    """The text's share is the count of delays in the window with contention over their
    number, read off the JSON curves; when one of them has none it is below 100%."""
    code, out, _ = run(capsys, "timed", "bundled/java.smaps", "--order", "reverse", "--json")
    data = json.loads(out)["orders"]["reverse"]
    lo, hi = data["window_us"]
    inside = [c for d, c in zip(data["curves"]["delay_us"], data["curves"]["contentions"])
              if lo < d < hi]
    with_some = sum(1 for c in inside if c)
    code, text, _ = run(capsys, "timed", "bundled/java.smaps", "--order", "reverse")
    assert code == 0
    if with_some < len(inside):
        assert "at 100% of the delays" not in text
    from reapcheck.timed_command import share_text
    assert f"some contention at {share_text(with_some / len(inside))} of the delays" in text


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_costs_that_are_not_a_regular_file_are_refused_at_once(capsys, tmp_path, kind):
    """A FIFO without a writer would block open() or read() forever; it is refused, as a
    layout is, one line, exit 2, worded as timed's other option errors."""
    import os
    import threading

    path = {"directory": tmp_path, "device": "/dev/null"}.get(kind, tmp_path / "pipe.json")
    if kind == "fifo":
        os.mkfifo(path)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault(
        "r", run(capsys, "timed", "bundled/tiny.maps", "--costs", path)), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "reading --costs hung"
    code, out, err = result["r"]
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith(f"reapcheck timed: {path}: cannot read: ")
    assert ("a directory" if kind == "directory" else "not a regular file") in err


def test_costs_loader_refuses_a_fifo_for_every_command(tmp_path):
    """load_costs itself refuses it, so experiment --timed-check --costs does too."""
    import os

    from reapcheck.timed_costs import CostsError, load_costs

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(CostsError, match="not a regular file"):
        load_costs(str(fifo))


def test_cost_file_errors_start_as_timed_errors_do(capsys, tmp_path):
    notjson = tmp_path / "notjson.json"
    notjson.write_text("costs")
    _, _, option_err = run(capsys, "timed", "bundled/tiny.maps", "--delay", "soon")
    code, _, err = run(capsys, "timed", "bundled/tiny.maps", "--costs", notjson)
    assert code == 2 and option_err.startswith("reapcheck timed: ")
    assert err.startswith(f"reapcheck timed: {notjson}: not JSON")
