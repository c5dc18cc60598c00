"""Text outputs a reader sees first (issue 11): the witness around its first collisions
in kernel words, the compare table's legend, huge counts as orders of magnitude, and
progress on stderr (non-terminal rate, --quiet)."""
from __future__ import annotations

import io
import json
import random
import time
from decimal import Decimal

import pytest
from conftest import random_layout
from test_witness import compress, random_schedule

from reapcheck import progress as progress_module
from reapcheck.cli import build_parser, main
from reapcheck.engines.explicit import witness
from reapcheck.engines.explicit.schedule import replay
from reapcheck.model.layout import Layout, Vma
from reapcheck.model.walk_product import WalkProduct
from reapcheck.model.walks import WalkConfig
from reapcheck.progress import FIRST_LINE_S, LINE_EVERY_S, Progress
from reapcheck.render import compare_legend, count_text
from reapcheck.witness_text import shown_steps, snippet

EXIT, REAPER = 0, 1


# --- the witness around its first collisions ---------------------------------------------

def three_vmas() -> Layout:
    """VMA 0 in page table 2, VMA 1 over page tables 2 and 3, VMA 2 in page table 4
    (PMD shift 21: page table = address >> 21); all private, so all reapable."""
    return Layout.checked("hand", [Vma(0x400000, 0x401000, "rw-p", lineno=1),
                                   Vma(0x402000, 0x601000, "rw-p", lineno=2),
                                   Vma(0x800000, 0x801000, "rw-p", lineno=3)])


def test_snippet_of_a_hand_worked_ptl_schedule():
    """exit_mmap walks (0,2) (1,2) (1,3) (2,4); the reaper, reverse, (2,4) (1,2) (1,3) (0,2).
    The schedule, worked by hand (docs/model.md §3, ptl):
      1 R lock (2,4)   2 E lock (0,2)   3 R unlock (2,4): R's next is pt 2, held by E: C1
      4 E unlock (0,2)
      5..12 both-run over VMA 1, pt 2..3: 5 E lock 2 (R, before pt 2, waits: C2),
            6 E unlock, 7 R lock 2, 8 R unlock, 9 E lock 3 (R before pt 3 waits: C3),
            10 E unlock, 11 R lock 3, 12 R unlock
      13, 14 R locks, unlocks (0,2);  15, 16 E locks, unlocks (2,4).
    Shown: 2 steps before and 1 after each of the 3 collisions: steps 1..10, then ...
    """
    model = WalkProduct.build(three_vmas(), WalkConfig("reverse", "ptl", 21))
    entries = [("step", REAPER, 0, 2, 4), ("step", EXIT, 0, 0, 2), ("step", REAPER, 1, 2, 4),
               ("step", EXIT, 1, 0, 2), ("both", 1, 2, 3), ("run", REAPER, 0, 2, 2),
               ("run", EXIT, 2, 4, 4)]
    checked = list(witness.check(model, entries))
    assert witness.collision_steps(checked, 5) == [3, 5, 9]
    assert snippet(model, iter(checked), 16) == [
        "first collisions (PTE lock: the page-table lock zap_pte_range() takes with",
        "pte_offset_map_lock(); page table = address >> 21):",
        "  step  1: reaper locks the PTE lock of VMA 2, page table 4",
        "  step  2: exit_mmap locks the PTE lock of VMA 0, page table 2",
        "  step  3: reaper unlocks the PTE lock of VMA 2, page table 4",
        "           collision 1: reaper waits for its next lock (VMA 1, page table 2),",
        "             held by exit_mmap (VMA 0)",
        "  step  4: exit_mmap unlocks the PTE lock of VMA 0, page table 2",
        "  step  5: exit_mmap locks the PTE lock of VMA 1, page table 2",
        "           collision 2: reaper waits: this lock is its next (for VMA 1)",
        "  step  6: exit_mmap unlocks the PTE lock of VMA 1, page table 2",
        "  step  7: reaper locks the PTE lock of VMA 1, page table 2",
        "  step  8: reaper unlocks the PTE lock of VMA 1, page table 2",
        "  step  9: exit_mmap locks the PTE lock of VMA 1, page table 3",
        "           collision 3: reaper waits: this lock is its next (for VMA 1)",
        "  step 10: exit_mmap unlocks the PTE lock of VMA 1, page table 3",
        "  ...",
    ]


def test_snippet_of_a_hand_worked_vma_schedule():
    """Granularity vma, reaper reverse: 1 E enters 0, 2 R enters 2, then E's run leaves 0
    (3), enters 1 (4), leaves 1 (5), enters 2 (6: R is inside 2: the one collision),
    E leaves 2 (7), R's run leaves 2 (8), enters 1, leaves 1, enters 0, leaves 0 (12)."""
    model = WalkProduct.build(three_vmas(), WalkConfig("reverse", "vma", 21))
    entries = [("step", EXIT, 0, 0, None), ("step", REAPER, 0, 2, None), ("vrun", EXIT, 0, 1),
               ("vrun", EXIT, 2, 2), ("vrun", REAPER, 0, 2)]
    checked = list(witness.check(model, entries))
    assert snippet(model, iter(checked), 12) == [
        "first collisions (inside a VMA: exit_mmap's unmap_vmas() or the reaper's",
        "__oom_reap_task_mm() is unmapping it):",
        "  ...",
        "  step 4: exit_mmap enters VMA 1",
        "  step 5: exit_mmap leaves VMA 1",
        "  step 6: exit_mmap enters VMA 2",
        "          collision 1: reaper is inside VMA 2 too",
        "  step 7: exit_mmap leaves VMA 2",
        "  ...",
    ]


def test_no_collision_no_snippet():
    layout = Layout.checked("shared", [Vma(0x400000, 0x401000, "rw-s", lineno=1)])
    model = WalkProduct.build(layout, WalkConfig("reverse", "ptl", 21))
    entries = [("run", EXIT, 0, 2, 2)]
    assert snippet(model, witness.check(model, entries), 2) == []


def test_shown_steps_equal_the_replayed_steps_on_random_compressed_schedules():
    """Every step of 300 random schedules, located from the runs (never expanded), equals
    the step-by-step replay: actor, action, VMA, page table, positions, collision number."""
    kinds, collided = set(), 0
    for seed in range(300):
        rng = random.Random(47000 + seed)
        layout = random_layout(rng, rng.randint(1, 7), max_pages=rng.choice([2, 5, 9]))
        config = WalkConfig(rng.choice(["forward", "reverse"]), ("vma", "ptl")[seed % 2],
                            rng.choice([12, 13, 14]), rng.choice(["forward", "reverse"]))
        model = WalkProduct.build(layout, config)
        actions = random_schedule(model, rng)
        replayed = replay(model, actions)
        entries = compress(model, replayed.steps, rng)
        kinds.update(entry[0] for entry in entries)
        checked = list(witness.check(model, entries))
        total = len(replayed.steps)
        shown = shown_steps(model, iter(checked), collisions=total + 1, before=total,
                            after=total)
        want, state, number = [], model.init(), 0
        for action, step in zip(actions, replayed.steps):
            if step.collision:
                number += 1
            want.append((step.actor, step.action, step.vma, step.ptl, state,
                         number if step.collision else None))
            state = model.update(state, action)
        got = [(("exit_mmap", "reaper")[s.actor], model.actions[2 * s.actor + s.verb].verb,
                s.vma, s.ptl, s.before, s.collision) for s in shown]
        if number == 0:  # no collision: nothing to show
            assert shown == [], seed
            continue
        collided += 1
        assert [s.number for s in shown] == list(range(1, total + 1)), seed
        assert got == want, (seed, config)
    assert kinds == {"step", "run", "both", "vrun"} and collided > 100


def test_snippet_stops_early_on_a_whole_address_space_vma(capsys, tmp_path):
    """2**43 page tables, a compact witness: the text shows steps 1..10 at once."""
    path = tmp_path / "whole.maps"
    path.write_text("00400000-ffffffffff601000 rw-p 00000000 00:00 0\n")
    start = time.perf_counter()
    assert main(["collisions", str(path), "--order", "reverse", "--granularity", "ptl"]) == 0
    assert time.perf_counter() - start < 10
    out = capsys.readouterr().out.splitlines()
    first = out.index("  step  1: exit_mmap locks the PTE lock of VMA 0, page table 2")
    assert out[first:first + 6] == [
        "  step  1: exit_mmap locks the PTE lock of VMA 0, page table 2",
        "           collision 1: reaper waits: this lock is its next (for VMA 0)",
        "  step  2: exit_mmap unlocks the PTE lock of VMA 0, page table 2",
        "  step  3: reaper locks the PTE lock of VMA 0, page table 2",
        "  step  4: reaper unlocks the PTE lock of VMA 0, page table 2",
        "  step  5: exit_mmap locks the PTE lock of VMA 0, page table 3",
    ]
    assert out[-1] == "  ..." and "step 10:" in out[-2]
    assert "about 10^26 states (3.1e26)" in "\n".join(out)
    assert max(map(len, out[out.index(out[first]) - 2:])) <= 80


# --- the compare table's legend ----------------------------------------------------------

def test_compare_prints_a_legend(capsys):
    assert main(["compare", "bundled/tiny.maps"]) == 0
    out = capsys.readouterr().out
    legend = out[out.index("collision (properties/collisions.py"):]
    words = " ".join(legend.split())
    assert "vma = a step into a state where both walkers are inside the same VMA" in words
    assert ("ptl = a step from a state where no walker waits into one where a walker waits "
            "for a page-table (PTE) lock the other holds") in words
    assert "reduction = forward / reverse" in words
    assert "all = reverse is 0 and forward is not; - = both are 0" in words
    assert all(len(line) <= 80 for line in legend.splitlines())


def test_legend_names_exit_order():
    assert "exit_mmap walks downward" in " ".join(compare_legend("reverse").split())


# --- huge counts -------------------------------------------------------------------------

def magnitude_by_decimal(n: int) -> str:
    """The expected text, from the decimal module's own rounding (half even)."""
    mantissa, exponent = f"{Decimal(n):.1e}".split("e")
    return f"about 10^{int(exponent)} schedules ({mantissa}e{int(exponent)})"


@pytest.mark.parametrize("n", [10**15, 10**15 + 1, 4 * 10**399 + 10**398 + 7,
                               10**400 - 1, 415 * 10**397, 425 * 10**397, 95 * 10**398,
                               2**1330 + 12345])
def test_huge_count_is_an_order_of_magnitude(n):
    assert count_text(n, "schedules") == magnitude_by_decimal(n)


def test_random_huge_counts():
    rng = random.Random(11)
    for _ in range(500):
        n = rng.randrange(10**15, 10**rng.randint(16, 600))
        assert count_text(n, "schedules") == magnitude_by_decimal(n)


def test_small_counts_stay_exact():
    assert count_text(0, "schedules") == "0 schedules"
    assert count_text(3003, "schedules") == "3,003 schedules"
    assert count_text(10**15 - 1, "states") == "999,999,999,999,999 states"


def test_schedule_count_text_and_json(capsys):
    """bundled/sleep.smaps with the graph engine: a 49-digit schedule count."""
    argv = ["collisions", "bundled/sleep.smaps", "--order", "forward", "--granularity",
            "vma", "--engine", "graph"]
    assert main(argv + ["--json"]) == 0
    exact = json.loads(capsys.readouterr().out)["schedules"]
    assert type(exact) is int and exact >= 10**40
    assert main(argv) == 0
    assert f"{magnitude_by_decimal(exact)}\n" in capsys.readouterr().out


# --- progress ----------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_progress_off_a_terminal_one_line_every_ten_seconds():
    stream, clock = io.StringIO(), Clock()
    progress = Progress("collisions x", stream, clock=clock)
    assert not progress.tty
    for tick in range(1, 131):  # a report every half second for 65 s
        clock.now = 100.0 + tick / 2
        progress(tick, 130)
    progress.close()
    lines = stream.getvalue().splitlines()
    seconds = [int(line.rsplit("(", 1)[1].removesuffix(" s)")) for line in lines]
    assert seconds == [5, 15, 25, 35, 45, 55, 65]
    assert FIRST_LINE_S == 5 and LINE_EVERY_S == 10
    assert lines[0] == "reapcheck: collisions x: 10/130 (8%) (5 s)"
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()


def test_progress_off_a_terminal_says_nothing_for_a_short_run():
    stream, clock = io.StringIO(), Clock()
    progress = Progress("x", stream, clock=clock)
    for tick in range(49):
        clock.now = 100.0 + tick / 10
        progress(tick, 49)
        progress.search(tick, 1.0, 0, 0)
    assert stream.getvalue() == ""


def test_stages_share_the_clock():
    """report and compare run many short parts: one line every 10 s over all of them."""
    stream, clock = io.StringIO(), Clock()
    progress = Progress("report", stream, clock=clock)
    for part in range(30):
        clock.now = 100.0 + 2 * part
        stage = progress.stage(f"part {part}")
        clock.now += 1
        stage(1, 2)
        stage.close()
    assert [line.split(":")[1].strip() for line in stream.getvalue().splitlines()] == [
        "part 2", "part 7", "part 12", "part 17", "part 22", "part 27"]  # at 5, 15, ... 55 s


def test_progress_on_a_terminal_redraws():
    stream, clock = io.StringIO(), Clock()
    progress = Progress("x", stream, clock=clock, tty=True)
    progress(1, 4)
    clock.now += 0.05
    progress(2, 4)  # too soon
    clock.now += 0.1
    progress(3, 4)
    progress.close()
    assert stream.getvalue() == "\rx: 1/4 (25%)\x1b[K\rx: 3/4 (75%)\x1b[K\r\x1b[K"


@pytest.mark.parametrize("tty", [False, True])
def test_quiet_silences_progress(tty):
    stream, clock = io.StringIO(), Clock()
    progress = Progress("x", stream, quiet=True, clock=clock, tty=tty)
    for tick in range(100):
        clock.now += 1
        progress(tick, 100)
        progress.stage("y").search(tick, 1.0, 0, 0)
    progress.close()
    assert stream.getvalue() == ""


@pytest.mark.parametrize("argv", [
    ["collisions", "L", "--order", "forward", "--granularity", "vma"], ["compare"],
    ["verify"], ["prove"], ["report"], ["experiment"]])
def test_every_long_command_takes_quiet(argv):
    parser = build_parser()
    assert parser.parse_args(argv + ["--quiet"]).quiet is True
    assert parser.parse_args(argv).quiet is False


@pytest.mark.parametrize("argv", [
    ["collisions", "{big}", "--order", "forward", "--granularity", "ptl", "--exit-order",
     "reverse"],  # the chain search (exit_mmap forward has a closed form: no progress)
    ["compare", "bundled/tiny.maps"],  # stages print too
    ["verify", "bundled/tiny.maps"]])
def test_cli_progress_off_a_terminal_and_quiet(capsys, monkeypatch, tmp_path, argv):
    """stderr is not a terminal here: with the delays at 0, every report is a line;
    --quiet leaves stderr empty."""
    big = tmp_path / "big.maps"  # 5,000 one-page VMAs, a page apart
    big.write_text("".join(f"{0x400000 + 0x2000 * i:x}-{0x401000 + 0x2000 * i:x} rw-p "
                           "00000000 00:00 0\n" for i in range(5_000)))
    argv = [arg.format(big=big) for arg in argv]
    monkeypatch.setattr(progress_module, "FIRST_LINE_S", 0.0)
    monkeypatch.setattr(progress_module, "LINE_EVERY_S", 0.0)
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    # big.maps is plain maps: its warning (tests/test_input_warnings.py) is not progress
    progress = [line for line in err.splitlines() if ": warning: " not in line]
    assert progress and all(line.startswith("reapcheck: ") and line.endswith(" s)")
                            for line in progress)
    assert main(argv + ["--quiet"]) == 0  # silences progress, not warnings
    assert all(": warning: " in line for line in capsys.readouterr().err.splitlines())


# --- long layouts: short headers, complete JSON; singular and plural ---------------------

def test_verify_and_promela_headers_stay_short_on_10000_vmas(capsys, tmp_path):
    """`generate 10000` makes 10,000 VMAs; rev_find visits every VMA from the top (the
    kernel's reverse walk, docs/model.md §3), so the header says so in a few words
    instead of 10,000 indices; the JSON and the Promela array keep every index."""
    smaps = tmp_path / "big.smaps"
    assert main(["generate", "10000", "--seed", "1", "-o", str(smaps)]) == 0
    assert main(["verify", str(smaps), "--max-states", "200"]) == 3  # incomplete
    head = capsys.readouterr().out.splitlines()[0]
    assert "walk rev_find visits all 10,000 VMAs, top down;" in head
    assert len(head) - len(str(smaps)) < 100
    assert main(["verify", str(smaps), "--max-states", "200", "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["visits"] == list(range(9999, -1, -1))
    pml = tmp_path / "big.pml"
    assert main(["export", str(smaps), "--format", "promela", "--protocol", "-o",
                 str(pml)]) == 0
    text = pml.read_text()
    header = text[:text.index(" */")]
    assert len(header) < 6000  # was the whole layout: 1.6 MB of JSON for these VMAs
    assert "visits all 10,000 VMAs, top down" in header
    from reapcheck.promela import read_meta
    assert len(read_meta(text, str(pml))["layout"]["vmas"]) == 10000
    fills = [line.strip() for line in text.splitlines()
             if line.strip().startswith("visit_seq[")]  # the model's data: every index
    assert fills == [f"visit_seq[{i}] = {9999 - i};" for i in range(10000)]


def test_one_collision_is_singular(capsys, tmp_path):
    """One VMA: each walker enters it once, so the worst case is exactly one collision
    (both inside it at once), at one step."""
    one = tmp_path / "one.maps"
    one.write_text("1000-2000 rw-p 00000000 00:00 0\n")
    assert main(["collisions", str(one), "--order", "reverse", "--granularity", "vma"]) == 0
    out = capsys.readouterr().out
    assert "worst case:  1 collision over all schedules" in out
    assert "; collision at step " in out and "1 collisions" not in out
    assert "1 VMAs" not in out and "one.maps: 1 VMA, 1 reapable" in out
    witness = tmp_path / "w.json"
    assert main(["collisions", str(one), "--order", "reverse", "--granularity", "vma",
                 "--json"]) == 0
    witness.write_text(capsys.readouterr().out)
    assert main(["replay", str(witness)]) == 0
    out = capsys.readouterr().out
    assert " reaches 1 collision in " in out and "1 collisions" not in out


def test_count_text_singular():
    assert count_text(1, "states") == "1 state"
    assert count_text(1, "schedules") == "1 schedule"
