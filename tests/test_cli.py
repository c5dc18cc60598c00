"""The `reapcheck` command line, run in-process through cli.main() and, for the real exit
status and stderr, through `python -m reapcheck`.

Witnesses are re-executed here by a mini-simulator written straight from
docs/model.md §3 (`Walker`, `replay_witness`, `brute_max` below); it shares no code with
reapcheck. Expected maxima are computed by hand, with the reasoning next to each one.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from reapcheck.cli import main

KiB, MiB = 1 << 10, 1 << 20
ACTORS = ("exit_mmap", "reaper")


# --- layouts written by hand ------------------------------------------------------------

def write_layout(path: Path, vmas) -> Path:
    """vmas: (start, end, perms, vmflags or None). smaps when any VMA has VmFlags."""
    lines = []
    for start, end, perms, flags in vmas:
        lines.append(f"{start:x}-{end:x} {perms} 00000000 00:00 0")
        if flags is not None:
            lines.append("Size:               4 kB")
            lines.append(f"VmFlags: {flags}")
    path.write_text("\n".join(lines) + "\n")
    return path


def spec_of(vmas):
    """(start, end, reapable) per VMA, by docs/model.md §1 (written independently of reapcheck)."""
    out = []
    for start, end, perms, flags in vmas:
        if flags is not None:
            ok = not ({"ht", "pf", "sh"} & set(flags.split()))
        else:
            ok = perms[3] == "p"
        out.append((start, end, ok))
    return out


PRIV, SHARED = ("rw-p", None), ("rw-s", None)
ANON = ("rw-p", "rd wr mr mw me ac")
HUGE = ("rw-p", "rd wr mr mw me ht")  # private perms, but hugetlb: not reapable
PFN = ("rw-p", "rd wr mr mw me io pf")  # not reapable
SHM = ("rw-s", "rd wr sh mr mw me ms")  # not reapable


def V(start, size, kind):
    return (start, start + size, kind[0], kind[1])


# --- the independent mini-simulator (docs/model.md §3) ------------------------------------

def walker_items(spec, order, granularity, shift, exit_order="forward"):
    """Items of (exit_mmap, reaper): (vma index, ptl page or None); pages ascending."""
    def expand(indices):
        items = []
        for i in indices:
            if granularity == "vma":
                items.append((i, None))
            else:
                start, end, _ = spec[i]
                for page in range(start >> shift, ((end - 1) >> shift) + 1):
                    items.append((i, page))
        return items

    every = list(range(len(spec)))
    reapable = [i for i, (_, _, ok) in enumerate(spec) if ok]
    if exit_order == "reverse":
        every.reverse()
    if order == "reverse":
        reapable.reverse()
    return expand(every), expand(reapable)


class Model:
    """Positions: ("before", k), ("inside", k), ("done", None)."""

    def __init__(self, items, granularity):
        self.items = items  # per actor
        self.gran = granularity

    def start(self):
        return tuple(self.norm(a, ("before", 0)) for a in range(2))

    def norm(self, actor, pos):
        if pos[0] == "before" and pos[1] == len(self.items[actor]):
            return ("done", None)
        return pos

    def key(self, actor, k):
        vma, page = self.items[actor][k]
        return vma if self.gran == "vma" else page

    def held(self, state, actor):
        phase, k = state[actor]
        return self.key(actor, k) if phase == "inside" else None

    def wants(self, state, actor):
        phase, k = state[actor]
        return self.key(actor, k) if phase == "before" else None

    def step(self, state, actor):
        """The state after `actor`'s next step, and whether it is an acquire; None if not allowed."""
        phase, k = state[actor]
        if phase == "done":
            return None
        if phase == "inside":
            new = self.norm(actor, ("before", k + 1))
        else:
            if self.gran == "ptl" and self.held(state, 1 - actor) == self.key(actor, k):
                return None  # cannot acquire a lock the other one holds
            new = ("inside", k)
        return tuple(new if a == actor else state[a] for a in range(2))

    def someone_waits(self, state):
        return any(self.wants(state, a) is not None
                   and self.wants(state, a) == self.held(state, 1 - a) for a in range(2))

    def collision(self, before, after):
        if self.gran == "vma":
            a, b = after
            return (a[0] == b[0] == "inside"
                    and self.items[0][a[1]][0] == self.items[1][b[1]][0])
        return not self.someone_waits(before) and self.someone_waits(after)

    def done(self, state):
        return all(p[0] == "done" for p in state)


def replay_witness(model, witness):
    """Re-execute a witness step by step; return its collision count."""
    enter, leave = ("enter", "leave") if model.gran == "vma" else ("lock", "unlock")
    state = model.start()
    collisions = 0
    for n, step in enumerate(witness):
        actor = ACTORS.index(step["actor"])
        phase, k = state[actor]
        assert phase != "done", f"step {n}: {step['actor']} already done"
        expected_action = enter if phase == "before" else leave
        assert step["action"] == expected_action, f"step {n}: {step}"
        vma, page = model.items[actor][k]
        assert step["vma"] == vma, f"step {n}: {step}"
        if model.gran == "ptl":
            assert step["ptl"] == page, f"step {n}: {step}"
        else:
            assert "ptl" not in step or step["ptl"] is None
        after = model.step(state, actor)
        assert after is not None, f"step {n}: {step} is not allowed in {state}"
        hit = model.collision(state, after)
        assert step["collision"] == hit, f"step {n}: {step}, recounted {hit}"
        collisions += hit
        state = after
    assert model.done(state), f"witness ends in {state}"
    return collisions


def brute_max(model):
    """Max collisions over every schedule (memoised over the position grid)."""
    @lru_cache(maxsize=None)
    def best(state):
        if model.done(state):
            return 0
        options = []
        for actor in range(2):
            after = model.step(state, actor)
            if after is not None:
                options.append(model.collision(state, after) + best(after))
        assert options, f"stuck in {state}"
        return max(options)

    return best(model.start())


# --- running the CLI ---------------------------------------------------------------------------

def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def collisions_json(capsys, path, order, gran, *extra):
    code, out, err = run(capsys, "collisions", path, "--order", order,
                         "--granularity", gran, "--json", *extra)
    assert code == 0, err
    assert out.count("\n") == 1  # one JSON object on one line
    return json.loads(out)


def check_witness(data, vmas, order, gran, shift=21, exit_order="forward"):
    spec = spec_of(vmas)
    model = Model(walker_items(spec, order, gran, shift, exit_order), gran)
    recount = replay_witness(model, data["witness"])
    assert recount == data["max_collisions"]
    return model


REQUIRED_KEYS = {"max_collisions", "vmas", "reapable", "order", "granularity", "witness"}


# Hand layouts. "far" VMAs sit in different 2 MiB regions, so each has its own PTE lock.
FAR3 = [V(0x1000, 4 * KiB, PRIV), V(0x400000, 4 * KiB, ANON), V(0x800000, 8 * KiB, PRIV),
        V(0xC00000, 4 * KiB, SHARED)]
SAME2 = [V(0x1000, 4 * KiB, PRIV), V(0x3000, 4 * KiB, PRIV)]
SAME3_MID_SHARED = [V(0x1000, 4 * KiB, ANON), V(0x2000, 4 * KiB, SHM), V(0x3000, 4 * KiB, ANON)]
STRADDLE = [V(0x1FF000, 8 * KiB, PRIV), V(0x201000, 4 * KiB, PRIV)]
FLAGGED = [V(0x1000, 4 * KiB, HUGE), V(0x400000, 4 * KiB, PFN), V(0x800000, 4 * KiB, SHM),
           V(0xC00000, 4 * KiB, ANON), V(0x1000000, 4 * KiB, SHARED)]
NONE_REAPABLE = [V(0x1000, 4 * KiB, SHARED), V(0x400000, 4 * KiB, HUGE)]
TOP = [V(0x1000, 4 * KiB, PRIV), (2**64 - 0x2000, 2**64, "rw-p", None)]

# (name, vmas, reapable count, {(order, granularity): max at PMD shift 21})
HAND_CASES = [
    # vma: forward = number of reapable VMAs (3), reverse = 1 (docs/model.md §3 hand checks).
    # ptl: every reapable VMA has its own lock, so ptl is the vma answer again: forward,
    # exit_mmap and the reaper hand over lock by lock (3); reverse, the reaper's lock
    # sequence 2,4,0 (in 2 MiB units) meets exit_mmap's 0,2,4,6 in only one increasing
    # pair, so 1.
    ("far3", FAR3, 3, {("forward", "vma"): 3, ("reverse", "vma"): 1,
                       ("forward", "ptl"): 3, ("reverse", "ptl"): 1}),
    # Two reapable 4 KiB VMAs in one 2 MiB region share one lock. Every acquire of that
    # lock makes the other actor wait unless the other is already done, and the last of
    # the 2 + 2 acquires always finds the other done: 2 + 2 - 1 = 3, in both orders.
    ("same2", SAME2, 2, {("forward", "vma"): 2, ("reverse", "vma"): 1,
                         ("forward", "ptl"): 3, ("reverse", "ptl"): 3}),
    # Same lock for all three; exit_mmap has 3 items, the reaper 2 (the middle one is
    # VM_SHARED): 3 + 2 - 1 = 4 acquires that find the other actor waiting, both orders.
    ("same3", SAME3_MID_SHARED, 2, {("forward", "vma"): 2, ("reverse", "vma"): 1,
                                    ("forward", "ptl"): 4, ("reverse", "ptl"): 4}),
    # VMA 0 = [0x1ff000, 0x201000) spans page tables 0 and 1; VMA 1 is in page table 1.
    # exit_mmap's items (VMA, ptl): e0 = (0,0), e1 = (0,1), e2 = (1,1). A collision is an
    # acquire that finds the other actor before an item with the same lock, so:
    # - the last acquire overall never collides (the other actor is done), and
    # - of the two lock-0 acquires the second never collides (the other is past lock 0).
    # Forward, the reaper has r0, r1, r2 = e0, e1, e2: at most 6 - 2 = 4, reached by
    # E:e0! R:r0 E:e1! R:r1! E:e2! R:r2 ("!" = the other actor now waits).
    # Reverse, the reaper has r0 = (1,1), r1 = (0,0), r2 = (0,1). If the first lock-0
    # acquire collides, the reaper did r0 while exit_mmap still wanted lock 0, so r0's
    # acquire did not collide either: at most 6 - 3 = 3 in every case, reached by
    # E:e0 E:e1! R:r0! R:r1 E:e2! R:r2. (brute_max below confirms both.)
    ("straddle", STRADDLE, 2, {("forward", "vma"): 2, ("reverse", "vma"): 1,
                               ("forward", "ptl"): 4, ("reverse", "ptl"): 3}),
    # VmFlags decide: hugetlb, pfnmap and shared are skipped although three of them have
    # private perms; only the "ac" VMA is reapable. One reapable VMA, own lock: 1 everywhere.
    ("flagged", FLAGGED, 1, {("forward", "vma"): 1, ("reverse", "vma"): 1,
                             ("forward", "ptl"): 1, ("reverse", "ptl"): 1}),
    # The reaper has nothing to do: no collision in any mode.
    ("none", NONE_REAPABLE, 0, {("forward", "vma"): 0, ("reverse", "vma"): 0,
                                ("forward", "ptl"): 0, ("reverse", "ptl"): 0}),
    # The last VMA ends at 2**64 (contains ULONG_MAX); the two are 2**64 apart in locks.
    ("top", TOP, 2, {("forward", "vma"): 2, ("reverse", "vma"): 1,
                     ("forward", "ptl"): 2, ("reverse", "ptl"): 1}),
]


@pytest.mark.parametrize("name, vmas, reapable, expected", HAND_CASES,
                         ids=[c[0] for c in HAND_CASES])
def test_collisions_json_hand_cases(tmp_path, capsys, name, vmas, reapable, expected):
    path = write_layout(tmp_path / f"{name}.smaps", vmas)
    spec = spec_of(vmas)
    for (order, gran), want in expected.items():
        data = collisions_json(capsys, path, order, gran)
        assert REQUIRED_KEYS <= data.keys()
        assert data["order"] == order
        assert data["granularity"] == gran
        assert data["vmas"] == len(vmas)
        assert data["reapable"] == reapable
        assert data["max_collisions"] == want, (order, gran)
        model = check_witness(data, vmas, order, gran)
        assert brute_max(model) == want, (order, gran)  # the hand count, by exhaustion
        # every step is one step of one actor: 2 per item per actor
        assert len(data["witness"]) == 2 * (len(model.items[0]) + len(model.items[1]))
    # vma hand checks of docs/model.md §3, straight from the reapable count
    assert expected[("forward", "vma")] == reapable
    assert expected[("reverse", "vma")] == min(reapable, 1)
    assert reapable == sum(ok for _, _, ok in spec)


@pytest.mark.parametrize("engine", ["graph", "sparse"])
def test_engines_give_same_answer_and_valid_witness(tmp_path, capsys, engine):
    path = write_layout(tmp_path / "s.smaps", STRADDLE + [V(0x202000, 4 * KiB, SHM)])
    vmas = STRADDLE + [V(0x202000, 4 * KiB, SHM)]
    for order in ("forward", "reverse"):
        data = collisions_json(capsys, path, order, "ptl", "--engine", engine)
        model = check_witness(data, vmas, order, "ptl")
        assert data["max_collisions"] == brute_max(model)


@pytest.mark.parametrize("seed", range(12))
def test_random_small_layouts_against_brute_force(tmp_path, capsys, seed):
    """Witness replay and exhaustive maximum on small random layouts, every option mix."""
    rng = random.Random(seed)
    kinds = [PRIV, SHARED, ANON, HUGE, PFN, SHM]
    addr = rng.randrange(0, 8) * 4 * KiB
    vmas = []
    for _ in range(rng.randint(1, 5)):
        size = rng.randint(1, 4) * 4 * KiB
        vmas.append(V(addr, size, rng.choice(kinds)))
        addr += size + rng.choice([0, 0, 4 * KiB, 12 * KiB])
    path = write_layout(tmp_path / "r.smaps", vmas)
    shift = rng.choice([12, 13, 14, 21])
    for order in ("forward", "reverse"):
        for gran in ("vma", "ptl"):
            exit_order = rng.choice(["forward", "reverse"])
            data = collisions_json(capsys, path, order, gran, "--pmd-shift", shift,
                                   "--exit-order", exit_order)
            model = check_witness(data, vmas, order, gran, shift, exit_order)
            assert data["max_collisions"] == brute_max(model), (order, gran, shift, exit_order)


def test_pmd_shift_changes_the_ptl_answer(tmp_path, capsys):
    # [0x1000, 0x2000) and [0x3000, 0x4000).
    # Shift 21: both in page table 0 -> one shared lock -> 2 + 2 - 1 = 3 in both orders.
    # Shift 13 (8 KiB per table): 0x1000 >> 13 = 0 and 0x3000 >> 13 = 1 -> two locks, so
    # ptl behaves like vma: forward 2, reverse 1.
    # Shift 14 (16 KiB per table): 0x1000 >> 14 = 0 = 0x3000 >> 14 -> shared again: 3.
    path = write_layout(tmp_path / "two.maps", SAME2)
    expected = {21: (3, 3), 13: (2, 1), 12: (2, 1), 14: (3, 3)}
    for shift, (fwd, rev) in expected.items():
        for order, want in (("forward", fwd), ("reverse", rev)):
            data = collisions_json(capsys, path, order, "ptl", "--pmd-shift", shift)
            assert data["max_collisions"] == want, (shift, order)
            if "pmd_shift" in data:
                assert data["pmd_shift"] == shift
            check_witness(data, SAME2, order, "ptl", shift)
            # the ptl key of each step is the address >> shift
            pages = {s["ptl"] for s in data["witness"]}
            assert pages == {0x1000 >> shift, 0x3000 >> shift}


def test_pmd_shift_does_not_change_vma_answer(tmp_path, capsys):
    path = write_layout(tmp_path / "two.maps", SAME2)
    for shift in (12, 21, 63):
        assert collisions_json(capsys, path, "forward", "vma",
                               "--pmd-shift", shift)["max_collisions"] == 2


MAPS_WARNING = ("is a plain maps file: maps cannot show VmFlags pf (VM_PFNMAP) or ht "
                "(VM_HUGETLB), so the reapable count may differ from the same process's "
                "smaps (e.g. [vvar] is pf); smaps is exact")


def test_collisions_text_output(tmp_path, capsys):
    path = write_layout(tmp_path / "two.maps", SAME2)
    code, out, err = run(capsys, "collisions", path, "--order", "reverse", "--granularity", "ptl")
    assert code == 0
    assert str(path) in out
    assert "3" in out
    assert err == f"reapcheck: warning: {path} {MAPS_WARNING}\n"  # plain maps: no pf/ht


def test_collisions_bundled(capsys):
    data = collisions_json(capsys, "bundled/sleep.smaps", "reverse", "vma")
    assert data["vmas"] == 42  # 43 header lines in the file, less [vsyscall] (README table)
    assert data["max_collisions"] == (1 if data["reapable"] else 0)
    data = collisions_json(capsys, "bundled/sleep.smaps", "forward", "vma")
    assert data["max_collisions"] == data["reapable"]


def test_collisions_bundled_unknown_is_exit_2(capsys):
    code, out, err = run(capsys, "collisions", "bundled/nope.smaps", "--order", "forward",
                         "--granularity", "vma")
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert "bundled/nope.smaps" in err


# --- compare ---------------------------------------------------------------------------------

def test_compare_two_files_table(tmp_path, capsys):
    a = write_layout(tmp_path / "alpha.smaps", FAR3)
    b = write_layout(tmp_path / "beta.maps", SAME2)
    code, out, err = run(capsys, "compare", a, b)
    assert code == 0, err
    assert "alpha.smaps" in out and "beta.maps" in out
    # one row per layout and granularity
    assert sum("alpha.smaps" in line for line in out.splitlines()) == 2
    assert sum("beta.maps" in line for line in out.splitlines()) == 2


def test_compare_json_four_entries_per_layout(tmp_path, capsys):
    a = write_layout(tmp_path / "alpha.smaps", FAR3)
    b = write_layout(tmp_path / "beta.maps", SAME2)
    code, out, err = run(capsys, "compare", a, b, "--json")
    assert code == 0, err
    entries = json.loads(out)
    assert isinstance(entries, list) and len(entries) == 8
    expected = {("alpha.smaps", "forward", "vma"): 3, ("alpha.smaps", "reverse", "vma"): 1,
                ("alpha.smaps", "forward", "ptl"): 3, ("alpha.smaps", "reverse", "ptl"): 1,
                ("beta.maps", "forward", "vma"): 2, ("beta.maps", "reverse", "vma"): 1,
                ("beta.maps", "forward", "ptl"): 3, ("beta.maps", "reverse", "ptl"): 3}
    got = {}
    for e in entries:
        assert {"max_collisions", "vmas", "reapable", "order", "granularity"} <= e.keys()
        got[(Path(e["layout"]).name, e["order"], e["granularity"])] = e["max_collisions"]
    assert got == expected


def test_no_arguments_compares_bundled_layouts(capsys):
    code, out, err = run(capsys)
    assert code == 0, err
    assert "bundled/" in out
    for name in ("sleep.smaps", "java.smaps", "python-threads.smaps"):
        assert "bundled/" + name in out


# --- bad input: exit 2, one line on stderr naming the file (and line), nothing on stdout -----

def check_bad(code, out, err, *must_contain):
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for text in must_contain:
        assert text in err, (text, err)


COLLIDE = ("--order", "forward", "--granularity", "vma")


@pytest.mark.parametrize("text, line", [
    ("1000-2000 rw-p 00000000 00:00 0\nthis is not maps\n", 2),
    ("# c\n5000-6000 rw-p 00000000 00:00 0\n1000-2000 rw-p 00000000 00:00 0\n", 3),
    ("1000-3000 rw-p 00000000 00:00 0\nVmFlags: rd\n2000-4000 rw-p 00000000 00:00 0\n", 3),
    ("1000-2000 rw-p 00000000 00:00 0\n3000-3000 rw-p 00000000 00:00 0\n", 2),
    ("1000-2000 rw-p 00000000 00:00 0\nffff0000-10000000000001000 rw-p 0 00:00 0\n", 2),
    ("1000-2000 rw-x 00000000 00:00 0\n", 1),
    ("1000-2000 rw-p 00000000 00:00 0\nVmFlags: RD\n", 2),
], ids=["malformed", "unsorted", "overlapping", "empty-vma", "past-2**64", "perms", "vmflags"])
@pytest.mark.parametrize("command", ["collisions", "compare"])
def test_bad_layout_exit_2_names_file_and_line(tmp_path, capsys, text, line, command):
    path = tmp_path / "bad.maps"
    path.write_text(text)
    argv = ("collisions", path) + COLLIDE if command == "collisions" else ("compare", path)
    check_bad(*run(capsys, *argv), f"{path}:{line}")


def test_compare_checks_every_input_before_work(tmp_path, capsys):
    good = write_layout(tmp_path / "good.maps", SAME2)
    bad = tmp_path / "bad.maps"
    bad.write_text("junk\n")
    check_bad(*run(capsys, "compare", good, bad), f"{bad}:1")


@pytest.mark.parametrize("content", ["", "\n\n", "# nothing here\n"],
                         ids=["empty", "blank", "comment-only"])
def test_empty_layout_exit_2(tmp_path, capsys, content):
    path = tmp_path / "empty.maps"
    path.write_text(content)
    check_bad(*run(capsys, "collisions", path, *COLLIDE), str(path))


def test_non_utf8_file_name_is_read(tmp_path, capsys):
    """The kernel prints names as bytes; a name does not change the model (issue 10, 7)."""
    path = tmp_path / "bin.maps"
    path.write_bytes(b"1000-2000 rw-p 00000000 00:00 0\n2000-3000 rw-p 0 00:00 0 /\xff\n")
    data = collisions_json(capsys, path, "forward", "vma")
    assert (data["vmas"], data["max_collisions"]) == (2, 2)  # two private VMAs, forward


def test_missing_file_exit_2(tmp_path, capsys):
    path = tmp_path / "missing.maps"
    check_bad(*run(capsys, "collisions", path, *COLLIDE), str(path))


def test_directory_as_layout_exit_2(tmp_path, capsys):
    check_bad(*run(capsys, "collisions", tmp_path, *COLLIDE), str(tmp_path))


@pytest.mark.parametrize("args, words", [
    (("--order", "sideways", "--granularity", "vma"), ["--order", "sideways"]),
    (("--order", "forward", "--granularity", "page"), ["--granularity", "page"]),
    (("--order", "forward", "--granularity", "ptl", "--pmd-shift", "5"), ["--pmd-shift", "5"]),
    (("--order", "forward", "--granularity", "ptl", "--pmd-shift", "64"), ["--pmd-shift", "64"]),
    (("--order", "forward", "--granularity", "ptl", "--pmd-shift", "x"), ["--pmd-shift", "x"]),
    (("--order", "forward", "--granularity", "vma", "--exit-order", "up"), ["--exit-order"]),
    (("--order", "forward", "--granularity", "vma", "--engine", "z3x"), ["--engine"]),
    (("--granularity", "vma"), ["--order"]),
    (("--order", "forward"), ["--granularity"]),
], ids=["order", "granularity", "pmd-shift-5", "pmd-shift-64", "pmd-shift-x", "exit-order",
        "engine", "missing-order", "missing-granularity"])
def test_bad_options_exit_2(tmp_path, capsys, args, words):
    path = write_layout(tmp_path / "ok.maps", SAME2)
    check_bad(*run(capsys, "collisions", path, *args), *words)


def test_unknown_command_and_missing_layout_exit_2(capsys):
    check_bad(*run(capsys, "frobnicate"), "frobnicate")
    check_bad(*run(capsys, "collisions", *COLLIDE), "layout")


def test_pmd_shift_bounds_accepted(tmp_path, capsys):
    path = write_layout(tmp_path / "ok.maps", SAME2)
    for shift in (12, 63):
        assert collisions_json(capsys, path, "forward", "ptl", "--pmd-shift", shift)


# --- real process: exit status and stderr --------------------------------------------------

def run_process(*argv, cwd=None):
    return subprocess.run([sys.executable, "-m", "reapcheck", *map(str, argv)],
                          capture_output=True, text=True, timeout=60, cwd=cwd)


def test_process_ok_json(tmp_path):
    path = write_layout(tmp_path / "two.maps", SAME2)
    proc = run_process("collisions", path, "--order", "reverse", "--granularity", "ptl",
                       "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["max_collisions"] == 3
    assert "Traceback" not in proc.stderr


def test_process_bad_layout_exit_2(tmp_path):
    path = tmp_path / "bad.maps"
    path.write_text("1000-2000 rw-p 00000000 00:00 0\n0800-0900 rw-p 00000000 00:00 0\n")
    proc = run_process("collisions", path, *COLLIDE)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert f"{path}:2" in proc.stderr


def test_process_bad_option_exit_2(tmp_path):
    path = write_layout(tmp_path / "two.maps", SAME2)
    proc = run_process("collisions", path, "--order", "sideways", "--granularity", "vma")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_process_missing_file_exit_2(tmp_path):
    proc = run_process("collisions", tmp_path / "nope.maps", *COLLIDE)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# --- generate --------------------------------------------------------------------------------

def test_generate_writes_a_layout_collisions_accepts(tmp_path, capsys):
    out = tmp_path / "g.smaps"
    code, stdout, err = run(capsys, "generate", 50, "--seed", 3, "-o", out)
    assert code == 0, err
    assert stdout == ""
    assert out.exists()
    data = collisions_json(capsys, out, "reverse", "vma")
    assert data["vmas"] == 50
    assert data["max_collisions"] == (1 if data["reapable"] else 0)
    data = collisions_json(capsys, out, "forward", "vma")
    assert data["max_collisions"] == data["reapable"]
    data = collisions_json(capsys, out, "reverse", "ptl", "--engine", "sparse")
    assert data["vmas"] == 50


def test_generate_same_seed_same_bytes(tmp_path, capsys):
    a, b, c = tmp_path / "a.smaps", tmp_path / "b.smaps", tmp_path / "c.smaps"
    assert run(capsys, "generate", 50, "--seed", 3, "-o", a)[0] == 0
    assert run(capsys, "generate", 50, "--seed", 3, "-o", b)[0] == 0
    assert run(capsys, "generate", 50, "--seed", 4, "-o", c)[0] == 0
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    code, stdout, _ = run(capsys, "generate", 50, "--seed", 3)  # stdout: the same text
    assert code == 0
    assert stdout == a.read_text()


def test_generate_size_option(tmp_path, capsys):
    out = tmp_path / "s.smaps"
    assert run(capsys, "generate", 5, "--size", "4k", "--gap", "0", "-o", out)[0] == 0
    data = collisions_json(capsys, out, "forward", "vma")
    assert data["vmas"] == 5


@pytest.mark.parametrize("args, words", [
    (("generate", 0), ["generate"]),
    (("generate", -3), []),
    (("generate", 5, "--size", "1k"), ["generate"]),
    (("generate", 5, "--size", "2m-4k"), ["generate"]),
    (("generate", 5, "--size", "big"), ["big"]),
    (("generate", 5, "--shared", 0.9, "--hugetlb", 0.9), ["generate"]),
    (("generate", "many"), ["many"]),
], ids=["zero", "negative", "size-1k", "size-range-reversed", "size-word", "fractions",
        "not-int"])
def test_generate_bad_exit_2_and_writes_nothing(tmp_path, capsys, args, words):
    out = tmp_path / "never.smaps"
    check_bad(*run(capsys, *args, "-o", out), *words)
    assert not out.exists()


def test_generate_unwritable_output_exit_2(tmp_path, capsys):
    out = tmp_path / "no-such-dir" / "g.smaps"
    check_bad(*run(capsys, "generate", 5, "-o", out), str(out.parent.name))


# --- anonymize -------------------------------------------------------------------------------

CAPTURE_LINES = [
    ("55d0a0000000-55d0a0001000 r--p 00000000 08:02 1234567"
     "                    /home/alice/bin/secret-tool", True),
    ("Size:                  4 kB", False),
    ("Rss:                   4 kB", False),
    ("VmFlags: rd mr mw me dw sd", False),
    ("55d0a0001000-55d0a0003000 r-xp 00001000 08:02 1234567"
     "                    /home/alice/bin/secret-tool", True),
    ("Size:                  8 kB", False),
    ("VmFlags: rd ex mr mw me dw sd", False),
    ("7f0000000000-7f0000100000 rw-s 00000000 00:05 99"
     "                         /dev/shm/alice private (deleted)", True),
    ("Size:               1024 kB", False),
    ("VmFlags: rd wr sh mr mw me ms sd", False),
    ("7f0000100000-7f0000102000 r--p 00000000 08:02 555"
     "                        /usr/lib/libc.so.6", True),
    ("VmFlags: rd mr mw me sd", False),
    ("7f0000102000-7f0000103000 rw-p 00000000 00:00 0"
     "                          [heap]", False),
    ("VmFlags: rd wr mr mw me ac sd", False),
    ("7f0000103000-7f0000104000 rw-p 00000000 00:00 0", False),
    ("VmFlags: rd wr mr mw me ac sd", False),
]
SECRETS = ("alice", "secret-tool", "libc", "/dev/shm", "08:02", "1234567")


def test_anonymize_replaces_file_names_only(tmp_path, capsys):
    src = tmp_path / "capture.smaps"
    src.write_text("\n".join(line for line, _ in CAPTURE_LINES) + "\n")
    code, out, err = run(capsys, "anonymize", src)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == len(CAPTURE_LINES)
    for secret in SECRETS:
        assert secret not in out
    names = []
    for (orig, is_file), new in zip(CAPTURE_LINES, lines):
        if orig[0].isdigit() or orig[0] in "abcdef":  # a header
            o, n = orig.split(), new.split()
            assert n[:3] == o[:3]  # addresses, perms, offset
            if is_file:
                name = new[new.index("/file/"):]
                names.append(name)
            else:
                assert new == orig  # kernel names and anonymous VMAs kept byte for byte
        else:
            assert new == orig  # Size, Rss and VmFlags lines unchanged
    # the same file gets the same number; "(deleted)" is kept
    assert names == ["/file/1", "/file/1", "/file/2 (deleted)", "/file/3"]

    # the result is still the same layout
    dst = tmp_path / "anon.smaps"
    code, _, _ = run(capsys, "anonymize", src, "-o", dst)
    assert code == 0
    assert dst.read_text() == out
    before = collisions_json(capsys, src, "forward", "ptl")
    after = collisions_json(capsys, dst, "forward", "ptl")
    for key in ("max_collisions", "vmas", "reapable", "witness"):
        assert before[key] == after[key]


def test_anonymize_malformed_exit_2_and_no_output(tmp_path, capsys):
    src = tmp_path / "bad.smaps"
    src.write_text("55d0a0000000-55d0a0001000 r--p 00000000 08:02 1 /home/alice/x\n"
                   "this is not a maps line /home/alice/y\n")
    out = tmp_path / "out.smaps"
    check_bad(*run(capsys, "anonymize", src, "-o", out), f"{src}:2")
    assert not out.exists()
    check_bad(*run(capsys, "anonymize", src), f"{src}:2")  # to stdout: nothing either


def test_anonymize_missing_file_exit_2(tmp_path, capsys):
    out = tmp_path / "out.smaps"
    check_bad(*run(capsys, "anonymize", tmp_path / "missing.maps", "-o", out), "missing.maps")
    assert not out.exists()


def test_anonymize_indented_header_does_not_leak(tmp_path, capsys):
    src = tmp_path / "indented.maps"
    src.write_text(" 1000-2000 r--p 00000000 08:02 123 /home/alice/secret.so\n")
    code, out, err = run(capsys, "anonymize", src)
    # either refuse the file, or replace the name; never print it
    assert "alice" not in out


# --- a reader that goes away (reapcheck ... | head) -----------------------------------------

class _ClosedPipe:
    """A stdout whose reader has exited: every write raises EPIPE, like `| head -c 10`."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")

    def isatty(self):
        return False


def test_closed_stdout_is_not_an_error(tmp_path, capsys, monkeypatch):
    path = write_layout(tmp_path / "two.maps", SAME2)
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    code = main(["collisions", str(path), "--order", "forward", "--granularity", "vma",
                 "--json"])
    err = capsys.readouterr().err
    assert "Broken pipe" not in err
    assert code == 0


@pytest.mark.parametrize("value", ["0", "-5", "soon", "nan", "inf"])
def test_verify_bad_timeout_exit_2(capsys, value):
    check_bad(*run(capsys, "verify", "bundled/tiny.maps", "--engine", "z3", "--timeout", value),
              "--timeout", value)


# --- plain maps `s` and --maps-shared-rule (docs/model.md §1; docs/kernel.md §9) ------------

def spec_by_rule(vmas, rule):
    """(start, end, reapable) per VMA: VmFlags exact; without them `p`, and under
    `writable` also an `s` without `w` (written independently of reapcheck)."""
    out = []
    for start, end, perms, flags in vmas:
        if flags is not None:
            ok = not ({"ht", "pf", "sh"} & set(flags.split()))
        else:
            ok = perms[3] == "p" or (rule == "writable" and perms[1] != "w")
        out.append((start, end, ok))
    return out


RO_SHARED = ("r--s", None)  # MAP_SHARED of a file opened read-only: VM_MAYSHARE only
# One VMA of each kind, each in its own 2 MiB region (its own PTE lock at shift 21):
# VMA 0 r--s, VMA 1 rw-s, VMA 2 rw-p.
SHARED_KINDS = [V(0x400000, 4 * KiB, RO_SHARED), V(0x600000, 4 * KiB, SHARED),
                V(0x800000, 4 * KiB, PRIV)]
# The same three kinds in one 2 MiB region: one lock for all.
SHARED_KINDS_ONE_LOCK = [V(0x1000, 4 * KiB, RO_SHARED), V(0x2000, 4 * KiB, SHARED),
                         V(0x3000, 4 * KiB, PRIV)]

# rule -> (reapable VMAs, {(order, granularity): worst case}) for SHARED_KINDS.
# private (docs/model.md §1): only rw-p, so the reaper has 1 item; writable: r--s and rw-p (rw-s
# must have VM_SHARED), 2 items. vma, by docs/model.md §3's hand checks: forward = number of
# reapable VMAs, reverse = 1. ptl: every VMA has its own lock, so the same numbers.
SHARED_KINDS_EXPECTED = {
    "private": ([2], {("forward", "vma"): 1, ("reverse", "vma"): 1,
                      ("forward", "ptl"): 1, ("reverse", "ptl"): 1}),
    "writable": ([0, 2], {("forward", "vma"): 2, ("reverse", "vma"): 1,
                          ("forward", "ptl"): 2, ("reverse", "ptl"): 1}),
}


@pytest.mark.parametrize("rule", ["private", "writable", None])
def test_maps_shared_rule_hand_counts(tmp_path, capsys, rule):
    path = write_layout(tmp_path / "kinds.maps", SHARED_KINDS)
    effective = rule or "private"  # no option: docs/model.md §1's rule
    reapable, expected = SHARED_KINDS_EXPECTED[effective]
    assert [i for i, (_, _, ok) in enumerate(spec_by_rule(SHARED_KINDS, effective))
            if ok] == reapable
    extra = () if rule is None else ("--maps-shared-rule", rule)
    for (order, gran), want in expected.items():
        data = collisions_json(capsys, path, order, gran, *extra)
        assert data["reapable"] == len(reapable)
        assert (data["exit_items"], data["reaper_items"]) == (3, len(reapable))
        assert data["reapable_rule"] == data["maps_shared_rule"] == effective
        assert data["max_collisions"] == want, (rule, order, gran)
        model = Model(walker_items(spec_by_rule(SHARED_KINDS, effective), order, gran, 21),
                      gran)
        assert [vma for vma, _ in model.items[1]] == sorted(reapable,
                                                            reverse=order == "reverse")
        assert replay_witness(model, data["witness"]) == want
        assert brute_max(model) == want
    assert expected[("forward", "vma")] == len(reapable)  # docs/model.md §3
    assert expected[("reverse", "vma")] == 1


@pytest.mark.parametrize("rule, want", [("private", 3), ("writable", 4)])
def test_maps_shared_rule_one_lock_ptl(tmp_path, capsys, rule, want):
    # One lock for all: exit_mmap has 3 items, the reaper 1 (private) or 2 (writable).
    # As for same3 above, every acquire but the very last finds the other actor waiting
    # or makes it wait: 3 + 1 - 1 = 3 and 3 + 2 - 1 = 4, in both orders.
    path = write_layout(tmp_path / "kinds1.maps", SHARED_KINDS_ONE_LOCK)
    for order in ("forward", "reverse"):
        data = collisions_json(capsys, path, order, "ptl", "--maps-shared-rule", rule)
        assert data["max_collisions"] == want
        model = Model(walker_items(spec_by_rule(SHARED_KINDS_ONE_LOCK, rule), order,
                                   "ptl", 21), "ptl")
        assert replay_witness(model, data["witness"]) == want == brute_max(model)


def test_maps_shared_rule_in_text_outputs(tmp_path, capsys):
    path = write_layout(tmp_path / "kinds.maps", SHARED_KINDS)
    code, out, err = run(capsys, "collisions", path, *COLLIDE, "--maps-shared-rule", "writable")
    assert code == 0 and err == f"reapcheck: warning: {path} {MAPS_WARNING}\n"
    assert "3 VMAs, 2 reapable" in out
    assert "reapable by: writable: plain maps: p, or s without w" in out
    code, out, err = run(capsys, "compare", path)
    assert code == 0 and err == f"reapcheck: warning: {path} {MAPS_WARNING}\n"
    rows = [line.split() for line in out.splitlines() if str(path) in line]
    assert [r[1:4] for r in rows] == [["3", "1", "private"]] * 2
    assert "reapable by: private = plain maps: 4th permission character p" in out
    code, out, err = run(capsys, "compare", path, "--maps-shared-rule", "writable")
    rows = [line.split() for line in out.splitlines() if str(path) in line]
    assert [r[1:] for r in rows] == [["3", "2", "writable", "vma", "2", "1", "2.0x"],
                                     ["3", "2", "writable", "ptl", "2", "1", "2.0x"]]
    assert "reapable by: writable = " in out


def test_compare_json_says_which_rule(tmp_path, capsys):
    maps = write_layout(tmp_path / "kinds.maps", SHARED_KINDS)
    smaps = write_layout(tmp_path / "far3.smaps", FAR3)  # mixed: VmFlags on one VMA only
    exact = write_layout(tmp_path / "flagged.smaps", FLAGGED[:4])  # VmFlags on every VMA
    code, out, err = run(capsys, "compare", maps, smaps, exact, "--json",
                         "--maps-shared-rule", "writable")
    assert code == 0
    rules = {(Path(e["layout"]).name, e["reapable"], e["reapable_rule"], e["maps_shared_rule"])
             for e in json.loads(out)}
    assert rules == {("kinds.maps", 2, "writable", "writable"),
                     ("far3.smaps", 3, "vmflags+writable", "writable"),
                     ("flagged.smaps", 1, "vmflags", "writable")}
    # the rule changes nothing for flagged.smaps: said once, on stderr (the other two
    # lines: kinds.maps and far3.smaps lack VmFlags, tests/test_input_warnings.py)
    rule = [line for line in err.splitlines() if "--maps-shared-rule" in line]
    assert len(rule) == 1 and "flagged.smaps" in rule[0]
    assert "kinds.maps" not in rule[0] and "far3.smaps" not in rule[0]


@pytest.mark.parametrize("command", ["collisions", "compare", "verify"])
def test_maps_shared_rule_without_effect_warns(tmp_path, capsys, command):
    path = write_layout(tmp_path / "flagged.smaps", FLAGGED[:4])
    argv = {"collisions": ("collisions", path) + COLLIDE + ("--json",),
            "compare": ("compare", path, "--json"),
            "verify": ("verify", path, "--json")}[command]
    code, plain, err = run(capsys, *argv)
    assert code == 0 and err == ""
    for rule in ("private", "writable"):
        code, out, err = run(capsys, *argv, "--maps-shared-rule", rule)
        assert code == 0
        assert err.splitlines() == [f"reapcheck: warning: --maps-shared-rule {rule} has no "
                                    f"effect on {path}: every VMA has VmFlags (smaps sh is "
                                    "exact)"]
        assert out.replace(f'"maps_shared_rule": "{rule}"', '"maps_shared_rule": "private"') \
            == plain


@pytest.mark.parametrize("command", ["collisions", "compare", "verify"])
@pytest.mark.parametrize("value", ["shared", "", "PRIVATE"])
def test_maps_shared_rule_bad_value_exit_2(tmp_path, capsys, command, value):
    path = write_layout(tmp_path / "kinds.maps", SHARED_KINDS)
    argv = (command, path) + (COLLIDE if command == "collisions" else ())
    check_bad(*run(capsys, *argv, "--maps-shared-rule", value), "--maps-shared-rule")


def test_maps_shared_rule_replay(tmp_path, capsys):
    path = write_layout(tmp_path / "kinds.maps", SHARED_KINDS)
    data = collisions_json(capsys, path, "forward", "vma", "--maps-shared-rule", "writable")
    good = tmp_path / "w.json"
    good.write_text(json.dumps(data))
    code, out, err = run(capsys, "replay", good)
    assert code == 0 and "reaches 2 collisions" in out, err
    # the same witness judged by the default rule: the reaper has one VMA, not two
    del data["maps_shared_rule"]
    bad = tmp_path / "w2.json"
    bad.write_text(json.dumps(data))
    code, out, err = run(capsys, "replay", bad)
    assert code == 1 and "1 reapable VMAs (private rule)" in err and "says 2" in err


def test_maps_shared_rule_reaches_verify(tmp_path, capsys):
    path = write_layout(tmp_path / "kinds.maps", SHARED_KINDS)
    for rule, reapable in (("private", [2]), ("writable", [0, 2])):
        code, out, err = run(capsys, "verify", path, "--json", "--maps-shared-rule", rule)
        assert code == 0, err
        data = json.loads(out)
        assert (data["reapable"], data["reapable_rule"]) == (reapable, rule)
        assert all(p["status"] == "holds" for p in data["properties"].values())
    # a counterexample trace carries the rule, and replays under it
    trace = tmp_path / "t.json"
    code, out, err = run(capsys, "verify", path, "--mutant", "no_write_lock",
                         "--maps-shared-rule", "writable", "--trace-out", trace)
    assert code == 1, err
    assert json.loads(trace.read_text())["layout"]["maps_shared_rule"] == "writable"
    code, out, err = run(capsys, "replay", trace)
    assert code == 0 and out.startswith("reproduced"), err


# --- an empty output path is a mistake, on every command that writes ---------------------

@pytest.mark.parametrize("argv, option", [
    (["verify", "bundled/tiny.maps", "--trace-out", ""], "--trace-out"),
    (["export", "bundled/tiny.maps", "--format", "promela", "--protocol", "-o", ""], "--out"),
    (["generate", "10", "-o", ""], "--out"),
    (["anonymize", "bundled/tiny.maps", "-o", ""], "--out"),
    (["report", "--out", ""], "--out"),
])
def test_an_empty_output_path_exits_2(capsys, tmp_path, monkeypatch, argv, option):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err == f"reapcheck {argv[0]}: {option}: an empty path\n"
    assert list(tmp_path.iterdir()) == []


def test_anonymize_reads_bundled_layouts_as_every_command_does(capsys, tmp_path):
    out = tmp_path / "a.smaps"
    assert run(capsys, "anonymize", "bundled/sleep.smaps", "-o", str(out))[0] == 0
    # already anonymized: the same VMAs as the bundled layout, the same worst case
    opts = ("--order", "forward", "--granularity", "ptl", "--json", "--witness", "compact")
    code, text, _ = run(capsys, "collisions", str(out), *opts)
    code2, bundled, _ = run(capsys, "collisions", "bundled/sleep.smaps", *opts)
    assert code == code2 == 0
    assert json.loads(text)["max_collisions"] == json.loads(bundled)["max_collisions"]
    code, _, err = run(capsys, "anonymize", "bundled/none.smaps")
    assert code == 2 and "no such bundled layout" in err


@pytest.mark.parametrize("count", ["99999999999", "1000001", "0"])
def test_generate_refuses_a_count_above_the_cap(tmp_path, capsys, count):
    out = tmp_path / "x.smaps"
    assert main(["generate", count, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and not out.exists()
    assert err[-1].startswith("reapcheck generate: argument vmas: 1 to 1,000,000 VMAs"), err


# --- start-up: each command imports what it uses (issue 10 section 5) -------------------

HEAVY = ("z3", "networkx", "tabulate", "reapcheck.verify", "reapcheck.model.protocol",
         "reapcheck.export_command", "reapcheck.experiment.options", "reapcheck.sweep_command",
         "reapcheck.timed_command", "reapcheck.timed", "reapcheck.engines.explicit.compiled")


@pytest.mark.parametrize("argv", [
    ["collisions", "{maps}", "--order", "reverse", "--granularity", "ptl"],
    ["collisions", "{maps}", "--order", "forward", "--granularity", "vma", "--json"],
    ["generate", "3", "--seed", "1"],
    ["compare", "{maps}", "--json"]])
def test_light_commands_import_no_heavy_module(tmp_path, argv):
    """collisions, generate and compare (without --timed) run without importing the
    modules only other commands use (cli.py adds a subcommand's options when it is
    parsed): the process start-up is most of a small layout's answer."""
    maps = tmp_path / "one.maps"
    maps.write_text("1000-2000 rw-p 00000000 00:00 0\n")
    argv = [arg.format(maps=maps) for arg in argv]
    code = ("import io, sys; from reapcheck.cli import main; sys.stdout = io.StringIO(); "
            f"status = main({argv!r}); sys.stdout = sys.__stdout__; "
            f"print(status, sorted(m for m in {HEAVY!r} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.splitlines()[-1] == "0 []", proc.stderr


def test_a_parser_used_for_one_command_then_another_is_the_whole_parser(capsys):
    """The lazily completed parser (one subcommand's options first, the rest later) prints
    the same help, in the same order, as one that added every subcommand at once."""
    from reapcheck.cli import build_parser

    whole = build_parser().format_help()
    parser = build_parser()
    assert parser.parse_args(["generate", "2"]).vmas == 2
    assert parser.parse_args(["iterate", "x", "--walk", "forward"]).walk == "forward"
    assert parser.format_help() == whole
    assert whole.index("{collisions,compare,timed,generate,anonymize,verify,replay,iterate,"
                       "prove,experiment,export,import-trail,sweep,report}") > 0
    for argv in (["nosuch"], ["collisions", "x", "--order", "sideways", "--granularity", "vma"]):
        assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("reapcheck: argument command: invalid choice: 'nosuch' "
                             "(choose from 'collisions', 'compare', 'timed',")
    assert err[1] == ("reapcheck collisions: argument --order: invalid choice: 'sideways' "
                      "(choose from 'forward', 'reverse')")
