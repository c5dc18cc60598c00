"""Fuzzing (issue 10, section 7): the parser and every command, in-process, on mutated
bundled layouts, traces and witnesses and on random command lines.

Over 20,000 examples in about a minute (derandomized: the same examples on every run).
Each asserts: no exception escapes `main()`; every failure is one line on stderr that is
reapcheck's own and names the input file (and the line, when the parser knows it);
every JSON printed or written parses back (strictly: no NaN); a failed command leaves
no output file and no temporary behind.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reapcheck.bundled import load_bundled
from reapcheck import collisions
from reapcheck.cli import build_parser, main
from reapcheck.model.layout import LayoutError
from reapcheck.model.smaps import format_smaps, load, parse_text

FAST = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def examples(n: int) -> int:
    """n, scaled by $REAPCHECK_FUZZ_SCALE (default 1) for quick local runs or long soaks."""
    return max(1, int(n * float(os.environ.get("REAPCHECK_FUZZ_SCALE", "1"))))


OWN_ERROR = re.compile(r"reapcheck[ :]")  # "reapcheck: FILE..." or "reapcheck CMD: ..."


def strict_json(text: str):
    def reject(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=reject)


@lru_cache(maxsize=None)
def parser():
    return build_parser()  # built once: it costs more than most commands here


def run(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv], parser())
    return code, out.getvalue(), err.getvalue()


def assert_own_failure(code, err, path=None):
    """Exit 2 (or 1 for replay): one line, reapcheck's own, naming the file."""
    assert "Traceback" not in err, err
    assert err.count("\n") == 1 and OWN_ERROR.match(err), repr(err)
    if path is not None and code == 2 and not err.startswith("reapcheck "):
        assert err.startswith(f"reapcheck: {path}"), (path, err)


def leftovers(directory) -> list[str]:
    return [n for n in os.listdir(directory) if n.endswith(".tmp")]


# --- mutated layout text ---------------------------------------------------------------------

@lru_cache(maxsize=None)
def seeds() -> tuple[bytes, ...]:
    """Small real layouts as the kernel prints them (maps and smaps)."""
    out = []
    for name in ("bundled/tiny.maps", "bundled/top.maps"):
        out.append(format_smaps(load_bundled(name)).encode())
    sleep = format_smaps(load_bundled("bundled/sleep.smaps")).encode()
    out.append(b"\n".join(sleep.split(b"\n")[:120]) + b"\n")  # the first few VMAs
    out.append(b"00400000-00401000 r-xp 00000000 08:01 42   /bin/x\n"
               b"7ffff7000000-7ffff7001000 rw-p 00000000 00:00 0\n"
               b"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]\n")
    return tuple(out)


PIECES = [b"0", b"f", b"-", b" ", b"\n", b":", b"p", b"s", b"x", b"\xe9", b"\x00", b"\t",
          b"VmFlags: ", b"rd wr ht ", b"KernelPageSize:   16 kB\n", b"Rss: 4 kB\n",
          b"[vsyscall]", b"[rollup]", b"ffffffffffffffff", b"10000000000000000",
          b"9" * 300, b" " * 200, b"#", b"Size: 4 kB\n"]


def mutate(rng: random.Random, text: bytes) -> bytes:
    """One to four edits: delete a stretch, insert a piece, replace a byte, duplicate or
    drop a line, swap two lines, truncate."""
    text = bytearray(text)
    for _ in range(rng.randint(1, 4)):
        kind, at = rng.randint(0, 5), rng.randint(0, len(text))
        if kind == 0:
            del text[at:at + rng.randint(1, 12)]
        elif kind == 1:
            text[at:at] = rng.choice(PIECES)
        elif kind == 2:
            if at < len(text):
                text[at] = rng.randint(0, 255)
        elif kind in (3, 4):
            lines = bytes(text).split(b"\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            if kind == 4:
                lines[i], lines[j] = lines[j], lines[i]
            elif rng.random() < 0.5:
                lines.insert(i, lines[i])
            else:
                del lines[i]
            text = bytearray(b"\n".join(lines))
        else:
            del text[at:]
    return bytes(text)


def mutated_layout():
    """Mutations of the seed layouts, driven by one drawn seed (cheap per example)."""
    return st.builds(lambda seed, which: mutate(random.Random(seed), seeds()[which]),
                     st.integers(0, 2**32 - 1), st.integers(0, len(seeds()) - 1))


@settings(FAST, max_examples=examples(13000))
@given(mutated_layout())
def test_parser_on_mutated_layouts(text):
    """parse: a Layout, or a LayoutError naming the file and a line inside it."""
    name = "/some/x.smaps"
    try:
        layout = parse_text(text.decode("utf-8", "surrogateescape"), name)
    except LayoutError as err:
        assert err.path == name and str(err).startswith(name)
        assert err.line is None or 1 <= err.line <= text.count(b"\n") + 1, (err.line, str(err))
        assert "\n" not in str(err) and len(str(err)) < 400
        return
    assert len(layout) >= 1
    assert all(v.start < v.end <= 2**64 for v in layout.vmas)
    assert all(a.end <= b.start for a, b in zip(layout.vmas, layout.vmas[1:]))


def walk_items(text: bytes, gran: str) -> int:
    """exit_mmap's items for this text at PMD shift 13 or more (0 if it does not parse)."""
    try:
        layout = parse_text(text.decode("utf-8", "surrogateescape"), "x")
    except LayoutError:
        return 0
    if gran == "vma":
        return len(layout)
    return sum(len(v.ptl_pages(13)) for v in layout.vmas)


@contextlib.contextmanager
def small_limits():
    """Step-by-step replay and the full form only up to 2,000 steps here (the closed-form
    check covers every witness; tests/test_witness.py covers the documented limits)."""
    with mock.patch.object(collisions, "REPLAY_LIMIT", 2000), \
            mock.patch.object(collisions, "FULL_WITNESS_LIMIT", 2000):
        yield


@settings(FAST, max_examples=examples(1800))
@given(mutated_layout(), st.sampled_from(["forward", "reverse"]),
       st.sampled_from(["vma", "ptl"]), st.sampled_from(["auto", "full", "compact"]),
       st.sampled_from([[], ["--pmd-shift", "13"], ["--pmd-shift", "auto"],
                        ["--exit-order", "reverse"], ["--engine", "graph"]]))
def test_collisions_on_mutated_layouts(text, order, gran, form, extra):
    """collisions --json: a JSON object whose witness replays to its count, or one line.

    A mutated address easily makes a VMA of 2**40 page tables: the full form and the
    graph engine (time per step) are asked for only when the walk is short."""
    if form == "full" or extra == ["--engine", "graph"]:
        if walk_items(text, gran) > 400:
            form, extra = "compact", []
    with tempfile.TemporaryDirectory() as tmp, small_limits():
        path = os.path.join(tmp, "x.smaps")
        with open(path, "wb") as f:
            f.write(text)
        code, out, err = run(["collisions", path, "--order", order, "--granularity", gran,
                              "--json", "--witness", form] + extra)
        if code != 0:
            assert code == 2 and out == ""
            assert_own_failure(code, err, path)
            return
        data = strict_json(out)
        assert data["witness_form"] in ("full", "compact")
        witness_file = os.path.join(tmp, "w.json")
        with open(witness_file, "w") as f:
            f.write(out)
        code, out, err = run(["replay", witness_file])
        assert code == 0, err
        assert leftovers(tmp) == []


@settings(FAST, max_examples=examples(1000))
@given(mutated_layout(), st.sampled_from(["compare", "iterate", "anonymize", "verify"]),
       st.booleans())
def test_other_commands_on_mutated_layouts(text, command, as_json):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.smaps")
        with open(path, "wb") as f:
            f.write(text)
        out_file = os.path.join(tmp, "out.smaps")
        argv = {"compare": ["compare", path, "--pmd-shift", "21"],
                "iterate": ["iterate", path, "--walk", "rev_find"],
                "anonymize": ["anonymize", path, "-o", out_file],
                "verify": ["verify", path, "--max-states", "40", "--mutant", "no_write_lock",
                           "--trace-out", os.path.join(tmp, "t.json")]}[command]
        if as_json and command != "anonymize":
            argv.append("--json")
        with small_limits():
            code, out, err = run(argv)
        assert code in (0, 1, 2, 3)
        if code == 2:
            assert_own_failure(code, err, path)
            assert sorted(os.listdir(tmp)) == ["x.smaps"]  # nothing written, nothing partial
            return
        assert "Traceback" not in err
        if as_json and command in ("compare", "verify"):
            strict_json(out)
        elif as_json and command == "iterate":
            for line in out.splitlines():
                strict_json(line)
        if command == "anonymize":
            load(out_file)  # what anonymize writes, reapcheck reads
        for name in os.listdir(tmp):
            if name.endswith(".json"):
                strict_json(Path(tmp, name).read_text())
        assert leftovers(tmp) == []


# --- mutated traces and witnesses -------------------------------------------------------------

@lru_cache(maxsize=None)
def base_files() -> tuple[str, str]:
    """A protocol trace and a compact collisions witness, as JSON text."""
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "t.json")
        code, _, _ = run(["verify", "--mutant", "no_write_lock", "--trace-out", trace])
        assert code == 1
        code, witness, _ = run(["collisions", "bundled/tiny.maps", "--order", "forward",
                                "--granularity", "ptl", "--pmd-shift", "13", "--json",
                                "--witness", "compact"])
        assert code == 0
        return Path(trace).read_text(), witness


def random_json(rng: random.Random, depth: int = 0):
    """A small random JSON value, often of a type or value a trace or witness has."""
    pick = rng.randint(0, 9 if depth < 2 else 6)
    if pick == 7:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if pick == 8:
        return {rng.choice(["a", "ptl", "vma", "steps", "actor"]): random_json(rng, depth + 1)}
    if pick == 9:
        return [rng.randint(0, 9), rng.randint(0, 9)]
    return [None, True, False, rng.randint(-2**70, 2**70), rng.randint(-3, 70),
            rng.choice(["", "x", "0x400000", "rw-p", "rev_find", "exit_mmap", "lock",
                        "reaper", "yes", "rd wr", "walk_complete"]),
            rng.random() * 10][pick]


def paths(value, prefix=()):
    """Every path into a JSON value, containers included."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from paths(item, prefix + (i,))


def mutate_json(rng: random.Random, text: str) -> str:
    """Replace, delete or nudge one to three values; sometimes break the text itself."""
    data = json.loads(text)
    for _ in range(rng.randint(1, 3)):
        where = rng.choice(list(paths(data)))
        if not where:
            continue
        parent = data
        for key in where[:-1]:
            parent = parent[key]
        action, value = rng.randint(0, 2), parent[where[-1]]
        if action == 0:
            parent[where[-1]] = random_json(rng)
        elif action == 1 and isinstance(parent, dict):
            del parent[where[-1]]
        elif type(value) is int:
            parent[where[-1]] = value + rng.choice([-1, 1, 2**40])
    out = json.dumps(data)
    if rng.randint(0, 9) == 0:
        at = rng.randint(0, len(out))
        out = out[:at] + rng.choice(["", "[", "}", "\"", "9" * 5000, "\x00"]) + out[at + 1:]
    return out


def mutated_json():
    return st.builds(lambda seed, which: mutate_json(random.Random(seed), base_files()[which]),
                     st.integers(0, 2**32 - 1), st.integers(0, 1))


@settings(FAST, max_examples=examples(1700))
@given(mutated_json())
def test_replay_on_mutated_traces_and_witnesses(text):
    """replay: 0, 1 naming the first wrong step or count, or 2 naming the file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.json")
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
        code, out, err = run(["replay", path])
        assert code in (0, 1, 2), (code, err)
        if code == 0:
            assert out.startswith(("reproduced", "all ")) and err == ""
        else:
            assert out == ""
            assert_own_failure(code, err, path)
            assert err.startswith(f"reapcheck: {path}")


# --- random command lines --------------------------------------------------------------------

OPTIONS = {
    "collisions": ["--order", "--granularity", "--pmd-shift", "--exit-order", "--engine",
                   "--json", "--witness"],
    "compare": ["--pmd-shift", "--exit-order", "--json"],
    "generate": ["--seed", "--size", "--gap", "--shared", "--hugetlb", "--pfnmap", "-o"],
    "anonymize": ["-o"],
    "verify": ["--walk", "--mutant", "--stuck-writer", "--max-states", "--engine", "--timeout",
               "--property", "--trace-out", "--json"],
    "replay": [],
    "iterate": ["--walk", "--json"],
    "prove": ["--timeout", "--json"],
    "report": ["--out"],
    "experiment": ["--runs", "--walkers", "--seed", "--from", "--json", "--out"],
}
VALUES = ["forward", "reverse", "vma", "ptl", "auto", "full", "compact", "graph", "sparse",
          "z3", "explicit", "rev_prev", "rev_find", "no_write_lock", "no_deadlock", "0", "-1",
          "1", "2", "13", "64", "1e999", "nan", "4k-2m", "0-64k", "x", "", "bundled/tiny.maps",
          "bundled/nope", "OUT", "OUTDIR", "EXISTING", "/dev/full", "MISSING/x", "GARBAGE"]
SLOW = {"prove", "report", "experiment"}  # run only when the command line must fail


@st.composite
def command_line(draw):
    command = draw(st.sampled_from(sorted(OPTIONS)))
    argv = [command]
    if command in ("collisions", "anonymize", "iterate", "replay", "verify", "generate"):
        argv.append(draw(st.sampled_from(VALUES)))
    for _ in range(draw(st.integers(0, 4))):
        argv.append(draw(st.sampled_from(OPTIONS[command] + ["--bogus"])))
        if draw(st.booleans()):
            argv.append(draw(st.sampled_from(VALUES)))
    return argv


def may_run(argv) -> bool:
    """Run only command lines that fail at once or finish in milliseconds: prove,
    report, experiment and z3 only when they must fail (minutes of work otherwise),
    compare (every bundled layout) likewise, verify only with --max-states."""
    if argv[0] in SLOW or argv[0] == "compare" or "z3" in argv:
        return "--bogus" in argv or argv[0] == "report" and "EXISTING" in argv
    if argv[0] == "generate" and argv[1].isdigit():
        return int(argv[1]) <= 100
    if argv[0] == "verify":
        return "--bogus" in argv or "--max-states" in argv
    return True


@settings(FAST, max_examples=examples(2500))
@given(command_line())
def test_random_command_lines(argv):
    with tempfile.TemporaryDirectory() as tmp:
        names = {"OUT": os.path.join(tmp, "out.json"), "OUTDIR": tmp,
                 "EXISTING": os.path.join(tmp, "existing"), "MISSING/x": os.path.join(tmp, "no/x"),
                 "GARBAGE": os.path.join(tmp, "garbage")}
        Path(names["EXISTING"]).write_text("keep\n")
        Path(names["GARBAGE"]).write_bytes(b"\xff{[\n")
        argv = [names.get(a, a) for a in argv]
        if not may_run(argv):
            return
        before = sorted(os.listdir(tmp))
        with small_limits():
            code, out, err = run(argv)
        assert code in (0, 1, 2, 3), (argv, code, err)
        assert "Traceback" not in err
        if code == 2:
            assert err.count("\n") == 1 and OWN_ERROR.match(err), (argv, err)
            assert sorted(os.listdir(tmp)) == before, argv  # nothing written
        if "--json" in argv and code in (0, 1, 3) and out.strip():
            if argv[0] == "iterate":
                for line in out.splitlines():
                    strict_json(line)
            else:
                strict_json(out)
        assert Path(names["EXISTING"]).read_text() == "keep\n" or "-o" in argv or "--out" in argv \
            or "--trace-out" in argv
        assert leftovers(tmp) == []
