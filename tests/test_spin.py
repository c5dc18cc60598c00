"""SPIN as a third opinion (issue 14): the Promela exports, checked by SPIN, against
reapcheck's own engines.

- every configuration of the Z3 agreement matrix (tests/test_protocol_z3.py): SPIN's
  verdict equals the explicit engine's for all seven properties;
- 30 random small layouts (tests/conftest.py) x both orders x both granularities: W from
  `reapcheck.collisions` is reached (B = W - 1 refuted) and never exceeded (B = W proved);
- the state count: with -DNOREDUCE, pan's states are reapcheck's + 1 (and the relation
  when `spin -a` hides the write-only `unstable`), on small cases and on sleep.smaps;
- a mutant's SPIN trail converts to a trace JSON that `reapcheck replay` accepts;
- bad command lines: one line naming the option or file, exit 2, nothing written.

Each export is compiled once; compiling is most of the cost (gcc -O0 about 0.4 s CPU,
tcc 0.02 s: the two matrices use tcc when it is installed, the rest gcc); pan runs are
milliseconds. Without spin or gcc the SPIN tests skip with the reason.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import random_layout
from test_protocol_z3 import CASES

from reapcheck import __version__
from reapcheck.bundled import load_bundled
from reapcheck.cli import main
from reapcheck.collisions import summary_json, worst_case
from reapcheck.model.protocol import Protocol, ProtocolConfig
from reapcheck.model.smaps import parse_text
from reapcheck.model.walks import GRANULARITIES, ORDERS, WalkConfig
from reapcheck.promela import export_collisions, export_protocol, read_meta
from reapcheck.spin import (agreement, check_protocol, check_worst_case, compile_export,
                            fast_compiler, missing_tools, projected_states,
                            state_count_relation)
from reapcheck.verify import verify

RESULTS = Path(__file__).resolve().parent.parent / "results" / "results.json"
MISSING = missing_tools()
needs_spin = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
LAYOUT_COUNT = 30
CC = fast_compiler()  # tcc when installed (20x faster to compile), else gcc
ONE = parse_text("1000-2000 rw-p 00000000 00:00 0\n", "one")


# -- the protocol: same verdicts -----------------------------------------------------------

@needs_spin
@pytest.mark.parametrize("case", sorted(CASES))
def test_spin_gives_the_explorers_verdict_for_every_property(case, tmp_path):
    layout, config = CASES[case]
    spin = check_protocol(layout, config, tmp_path, cc=CC)
    explicit = verify(layout, config, "explicit")
    assert spin.run.complete
    assert spin.statuses == explicit.statuses


@needs_spin
def test_the_issues_example_and_the_headers_commands(tmp_path):
    """`reapcheck export bundled/sleep.smaps --format promela --protocol --walk rev_find
    -o m.pml`, checked with exactly the commands its header prints, gives reapcheck
    verify's verdicts (as recorded in results/results.json: the explorer takes 8 s)."""
    model = tmp_path / "m.pml"
    assert main(["export", "bundled/sleep.smaps", "--format", "promela", "--protocol",
                 "--walk", "rev_find", "-o", str(model)]) == 0
    text = model.read_text()
    assert f"reapcheck {__version__}" in text
    assert ("reapcheck export bundled/sleep.smaps --format promela --protocol --walk "
            f"rev_find -o {model}") in text
    commands = [line.strip(" *").split("  (")[0].strip() for line in text.splitlines()
                if line.startswith((" *   spin", " *   gcc", " *   ./pan"))]
    assert commands[0] == f"spin -a {model.name}" and commands[1].startswith("gcc")
    full = next(c for c in commands if c.endswith("-c0"))
    for command in (f"spin -a {model.name}", commands[1], full):
        done = subprocess.run(command.split(), cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    recorded = next(r for r in json.loads(RESULTS.read_text())["protocol"]
                    if (r["layout"], r["walk"], r["mutant"], r["stuck_writer"], r["mrelease"])
                    == ("bundled/sleep.smaps", "rev_find", None, False, False))
    assert set(recorded["properties"].values()) == {"holds"}
    assert "errors: 0" in done.stdout and "assertion violated" not in done.stdout


# -- the protocol: state counts ------------------------------------------------------------

@needs_spin
@pytest.mark.parametrize("mrelease", [False, True], ids=["two-actors", "mrelease"])
def test_state_count_relation_without_partial_order_reduction(mrelease, tmp_path):
    """pan -DNOREDUCE stores reapcheck's distinct states + 1 (the start state before
    init's atomic start-up) with `spin -o2 -a`. Plain `spin -a` hides variables no
    statement reads: without process_mrelease that is `unstable` (MMF_UNSTABLE is only
    ever set to 1), which merges states differing only there; process_mrelease reads it
    (it keeps the flag when it skips), so with it nothing is hidden."""
    config = ProtocolConfig("rev_find", mrelease=mrelease)
    explicit = verify(ONE, config, "explicit")
    assert set(explicit.statuses.values()) == {"holds"}
    write_only = export_protocol(ONE, config).write_only
    # the history's variables (victim, mmput_by, zap_race) are constant on 6.18
    history = ("victim", "mmput_by", "zap_race")
    assert write_only == (history if mrelease else ("unstable", *history))
    kept = check_protocol(ONE, config, tmp_path / "o2", noreduce=True, keep_write_only=True)
    assert (kept.run.states, kept.run.transitions) == state_count_relation(
        explicit.states, explicit.transitions, True)
    if set(write_only) - set(history):  # constants hidden merge nothing
        hidden = check_protocol(ONE, config, tmp_path / "a", noreduce=True)
        projected = projected_states(Protocol(ONE, config), write_only)
        assert projected < explicit.states  # the hiding merges states
        assert hidden.run.states == state_count_relation(
            explicit.states, explicit.transitions, False, projected)[0]


@needs_spin
def test_state_count_relation_on_sleep_smaps(tmp_path):
    """The same relation on a real layout (42 VMAs), against the recorded explicit run."""
    recorded = next(r for r in json.loads(RESULTS.read_text())["protocol"]
                    if (r["layout"], r["walk"], r["mutant"], r["stuck_writer"], r["mrelease"])
                    == ("bundled/sleep.smaps", "rev_find", None, False, False))
    spin = check_protocol(load_bundled("bundled/sleep.smaps"), ProtocolConfig("rev_find"),
                          tmp_path, noreduce=True, keep_write_only=True)
    assert (spin.run.states, spin.run.transitions) == state_count_relation(
        recorded["states"], recorded["transitions"], True)


# -- the protocol: a trail back to a reapcheck trace --------------------------------------

@needs_spin
def test_a_mutants_trail_becomes_a_trace_that_replay_accepts(tmp_path, capsys):
    model = tmp_path / "uaf.pml"
    assert main(["export", "bundled/tiny.maps", "--format", "promela", "--protocol",
                 "--mutant", "no_write_lock", "-o", str(model)]) == 0
    meta = read_meta(model.read_text(), str(model))
    compiled = compile_export(export_protocol(load_bundled("bundled/tiny.maps"),
                                              ProtocolConfig(**meta["config"])),
                              tmp_path, "uaf.pml")
    run = compiled.run()  # stops at the first violation and writes uaf.pml.trail
    assert run.errors == 1 and run.trail is not None
    trace = tmp_path / "trace.json"
    assert main(["import-trail", str(model), "-o", str(trace)]) == 0
    data = json.loads(trace.read_text())
    assert data["engine"] == "spin" and data["property"] in run.output
    assert main(["replay", str(trace)]) == 0
    assert "reproduced" in capsys.readouterr().out
    # a trail that is not a run of this model: the step is named, exit 1
    lines = model.read_text().splitlines()
    unmap = next(i for i, line in enumerate(lines) if line.endswith("/* action ReaperUnmap */"))
    lines[unmap] = lines[unmap].replace("ReaperUnmap", "ExitDestroyTree")
    model.write_text("\n".join(lines) + "\n")
    assert main(["import-trail", str(model), "-o", str(tmp_path / "bad.json")]) == 1
    assert "is not enabled" in capsys.readouterr().err
    assert not (tmp_path / "bad.json").exists()
    model.write_text("\n".join(lines).replace("ExitDestroyTree */", "ReaperUnmap */", 1)
                     + "\n")
    _malformed_inputs_are_exit_2_named(model, run.trail, tmp_path, capsys)


def _malformed_inputs_are_exit_2_named(model, trail, tmp_path, capsys):
    """Malformed input is exit 2 naming the file and line; a well-formed trail that stops
    early is exit 1 (README: 1 = does not replay). A SPIN trail is one STEP:PROC:TRANS
    line of integers per step (pan's format), so a line of text cannot be one."""
    steps = Path(trail).read_text().splitlines()
    garbage = tmp_path / "garbage.trail"
    garbage.write_text("\n".join(steps[:3] + ["this is not a trail"] + steps[3:]) + "\n")
    assert main(["import-trail", str(model), str(garbage)]) == 2
    err = capsys.readouterr().err
    assert f"{garbage}:4: not a SPIN trail line" in err and len(err.splitlines()) == 1
    cut = tmp_path / "cut.trail"  # cut in the middle of a line: `12:2` is not a step
    cut.write_text("\n".join(steps[:11]) + "\n" + steps[11].rsplit(":", 1)[0] + "\n")
    assert main(["import-trail", str(model), str(cut)]) == 2
    assert f"{cut}:12: not a SPIN trail line" in capsys.readouterr().err
    empty = tmp_path / "empty.trail"
    empty.write_text("")
    assert main(["import-trail", str(model), str(empty)]) == 2
    assert f"{empty}: not a SPIN trail" in capsys.readouterr().err
    early = tmp_path / "early.trail"  # whole lines, but before the violation: exit 1
    early.write_text("\n".join(steps[:len(steps) // 2]) + "\n")
    assert main(["import-trail", str(model), str(early)]) == 1
    assert "without a property's assertion" in capsys.readouterr().err
    # a model spin cannot read: one line naming the user's file and spin's line
    broken = tmp_path / "broken.pml"
    text = model.read_text()
    broken.write_text(text + "/* a comment cut short\n")
    (tmp_path / "broken.pml.trail").write_text(Path(trail).read_text())
    assert main(["import-trail", str(broken)]) == 2
    err = capsys.readouterr().err
    last = len(text.splitlines()) + 1  # the line the unterminated comment starts on
    assert err == f"reapcheck: {broken}:{last}: spin -t cannot read the model: " \
                  "unterminated comment\n"
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("init {"))
    broken.write_text("\n".join(lines[:at] + ["init { x = ; }"] + lines[at:]) + "\n")
    assert main(["import-trail", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"reapcheck: {broken}:{at + 1}: spin -t cannot read the model: ")
    assert len(err.splitlines()) == 1 and "model.pml" not in err


# -- collisions: W refuted at W - 1 and proved at W ----------------------------------------

def _layout(index: int):
    rng = random.Random(1400 + index)
    return random_layout(rng, rng.randint(1, 6), top=index % 10 == 9), rng.choice((13, 14))


@needs_spin
@pytest.mark.parametrize("index", range(LAYOUT_COUNT))
def test_spin_establishes_reapchecks_worst_case(index, tmp_path):
    layout, shift = _layout(index)
    for order in ORDERS:
        for granularity in GRANULARITIES:
            config = WalkConfig(order, granularity, shift)
            worst = worst_case(layout, config).result.max_collisions
            got = check_worst_case(layout, config, worst, tmp_path / f"{order}-{granularity}",
                                   cc=CC)
            assert got.within, f"SPIN finds more than {worst} collisions ({config})"
            assert got.reached, f"SPIN finds no schedule with {worst} collisions ({config})"


@needs_spin
def test_the_export_with_bound_w_minus_1_is_refuted(tmp_path):
    """The literal reading: `--bound W-1` gives a file whose assertion SPIN breaks."""
    layout = load_bundled("bundled/tiny.maps")
    config = WalkConfig("forward", "vma")
    worst = worst_case(layout, config).result.max_collisions
    assert worst == 3
    model = tmp_path / "c.pml"
    assert main(["export", "bundled/tiny.maps", "--format", "promela", "--collisions",
                 "--order", "forward", "--granularity", "vma", "--bound", str(worst - 1),
                 "-o", str(model)]) == 0
    compiled = compile_export(export_collisions(layout, config, worst - 1), tmp_path, "c.pml")
    run = compiled.run()
    assert run.errors == 1 and f"collisions<={worst - 1}" in run.output.replace(" ", "")


def test_the_default_bound_is_reapchecks_worst_case(tmp_path):
    model = tmp_path / "c.pml"
    assert main(["export", "bundled/sleep.smaps", "--format", "promela", "--collisions",
                 "--order", "reverse", "--granularity", "ptl", "-o", str(model)]) == 0
    meta = read_meta(model.read_text(), str(model))
    analysis = worst_case(load_bundled("bundled/sleep.smaps"), WalkConfig("reverse", "ptl"))
    assert meta["bound"] == analysis.result.max_collisions == 41
    assert "ltl within_bound { [] (collisions <= 41) }" in model.read_text()
    assert "reapcheck collisions' worst case W" in model.read_text()


# -- the report's question ------------------------------------------------------------------

@needs_spin
def test_agreement_per_protocol_row_and_worst_case():
    tiny = load_bundled("bundled/tiny.maps")
    config = ProtocolConfig("rev_find", "no_final_oom_skip")
    row = {"layout": "bundled/tiny.maps", **config.to_json(),
           "properties": verify(tiny, config).statuses}
    right, other = (summary_json(worst_case(tiny, WalkConfig("reverse", g)))
                    for g in GRANULARITIES)
    wrong = dict(other, max_collisions=other["max_collisions"] + 1)  # never reached
    big = dict(right, states=10**9)
    got = agreement([row], [right, wrong, big], load_bundled)
    assert got["available"] and got["reason"] is None
    assert [r["agrees"] for r in got["protocol"]] == [True]
    assert got["protocol"][0]["spin"] == row["properties"]
    assert [r["agrees"] for r in got["collisions"]] == [True, False, None]
    assert got["collisions"][1]["spin"] == {"within_bound": True, "reaches_bound": False}
    assert "not run" in got["collisions"][2]["note"]


def test_the_reports_worst_case_sentence_names_the_rows_spin_did_not_confirm():
    """Section 3's table has no spin column: the sentence under it names each row SPIN
    did not run (or disagreed on), by layout, granularity and order."""
    from reapcheck.report import _collision_label, _spin_summary

    rows = [{"layout": "bundled/a.smaps", "granularity": g, "order": o, "spin": w}
            for (g, o), w in zip([("vma", "forward"), ("vma", "reverse"), ("ptl", "forward")],
                                 ["agrees", "not run: too big", "DISAGREES"])]
    text = _spin_summary({"spin": {"available": True}}, "worst case", rows, _collision_label)
    assert text.endswith("agrees on 1 of 3 worst case rows, DISAGREES on 1 (a.smaps ptl "
                         "forward); the others not run: too big (a.smaps vma reverse).")


# -- the lock's name per kernel version --------------------------------------------------------

@pytest.mark.parametrize("kernel, lock, unlock", [
    ("4.13", "mmap_sem", "up_write()"), ("4.14", "mmap_sem", "up_write()"),
    ("4.17", "mmap_sem", "up_write()"), ("5.17-rc", "mmap_lock", "mmap_write_unlock()"),
    ("6.1", "mmap_lock", "mmap_write_unlock()"), ("6.18", "mmap_lock", "mmap_write_unlock()"),
])
def test_the_export_names_the_lock_as_the_kernel_version_did(kernel, lock, unlock, tmp_path):
    """mm->mmap_sem became mmap_lock in 5.8 (da1c55f1b272; docs/kernel.md §13): a 4.x
    export never says mmap_lock, a 5.17 or later one never says mmap_sem."""
    out = tmp_path / "m.pml"
    assert main(["export", "bundled/tiny.maps", "--format", "promela", "--protocol",
                 "--kernel", kernel, "--stuck-writer", "-o", str(out)]) == 0
    text = out.read_text()
    other = {"mmap_sem": "mmap_lock", "mmap_lock": "mmap_sem"}[lock]
    assert f"a stuck writer and {lock}." in text.splitlines()[1]
    assert f"took {lock} for writing" in text and f"never calls {unlock}" in text
    assert other not in text


# -- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, says", [
    (["--protocol", "--order", "forward"], "--order only apply to --collisions"),
    (["--collisions", "--granularity", "vma", "--order", "forward", "--mutant",
      "no_write_lock"], "--mutant only apply to --protocol"),
    (["--collisions", "--order", "forward"], "--collisions needs --granularity"),
    (["--collisions", "--order", "forward", "--granularity", "vma", "--bound", "-1"],
     "--bound"),
    (["--protocol", "--collisions"], "not allowed with argument"),
    (["--protocol", "--format", "tla"], "--format"),
    (["--collisions", "--order", "forward", "--granularity", "vma", "--stuck-writer"],
     "--stuck-writer only apply to --protocol"),
])
def test_bad_options_are_one_line_exit_2_nothing_written(argv, says, tmp_path, capsys):
    out = tmp_path / "m.pml"
    argv = ["export", "bundled/tiny.maps", *(["--format", "promela"] if "--format" not in argv
                                            else []), *argv, "-o", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_walk_too_long_for_an_array_is_refused(tmp_path, capsys):
    """One VMA of 1 TiB is 524,288 page tables at PMD shift 21: more than ITEM_LIMIT."""
    big = tmp_path / "big.maps"
    big.write_text("10000000000-20000000000 rw-p 00000000 00:00 0\n")
    out = tmp_path / "m.pml"
    assert main(["export", str(big), "--format", "promela", "--collisions", "--order",
                 "reverse", "--granularity", "ptl", "--bound", "1", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "524,288 items" in err and "granularity vma" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_bad_files_are_named(tmp_path, capsys):
    assert main(["export", "bundled/tiny.maps", "--format", "promela", "--protocol", "-o",
                 str(tmp_path / "missing" / "m.pml")]) == 2
    assert str(tmp_path / "missing") in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nope.maps"), "--format", "promela",
                 "--protocol"]) == 2
    assert "nope.maps" in capsys.readouterr().err
    plain = tmp_path / "plain.pml"
    plain.write_text("active proctype p() { skip }\n")
    assert main(["import-trail", str(plain)]) == 2
    assert "not a reapcheck Promela export" in capsys.readouterr().err
    model = tmp_path / "m.pml"
    assert main(["export", "bundled/tiny.maps", "--format", "promela", "--protocol",
                 "-o", str(model)]) == 0
    assert main(["import-trail", str(model)]) == 2  # no trail written yet
    assert "m.pml.trail" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pml", "plain.pml"]


# -- random command lines: 0 with a file, or one line and exit 2 with nothing written ----------

EXPORT_OPTIONS = ["--format", "--protocol", "--collisions", "--walk", "--mutant",
                  "--stuck-writer", "--mrelease", "--order", "--granularity", "--bound",
                  "--pmd-shift", "--exit-order", "--maps-shared-rule", "-o", "--bogus"]
EXPORT_BASES = [["--format", "promela", "--protocol"],
                ["--format", "promela", "--collisions", "--order", "reverse", "--granularity",
                 "ptl"]]
EXPORT_VALUES = ["promela", "tla", "forward", "reverse", "vma", "ptl", "rev_prev", "no_write_lock",
                 "0", "-1", "3", "13", "auto", "x", "", "private", "OUT", "OUTDIR", "MISSING/x"]


@settings(deadline=None, derandomize=True, database=None, max_examples=300,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXPORT_BASES),
       st.lists(st.tuples(st.sampled_from(EXPORT_OPTIONS),
                          st.one_of(st.none(), st.sampled_from(EXPORT_VALUES))), max_size=2),
       st.sampled_from(["bundled/tiny.maps", "bundled/tiny.maps", "bundled/nope", "GARBAGE"]))
def test_random_export_command_lines(base, options, layout):
    """A valid command line (either model) plus up to 2 random options and values."""
    import contextlib
    import io
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        names = {"OUT": os.path.join(tmp, "m.pml"), "OUTDIR": tmp,
                 "MISSING/x": os.path.join(tmp, "no", "x"), "GARBAGE": os.path.join(tmp, "g")}
        Path(names["GARBAGE"]).write_bytes(b"\xff{[\n")
        argv = ["export", names.get(layout, layout), *base]
        for option, value in options:
            argv += [option] + ([] if value is None else [names.get(value, value)])
        before = sorted(os.listdir(tmp))
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out), \
                contextlib.chdir(tmp):  # a relative -o lands in tmp too
            code = main(argv)
        assert code in (0, 2), (argv, code, err.getvalue())
        if code == 2:
            assert err.getvalue().count("\n") == 1 and "Traceback" not in err.getvalue(), argv
            assert err.getvalue().startswith("reapcheck"), argv
            assert sorted(os.listdir(tmp)) == before, argv
        else:
            target = argv[len(argv) - 1 - argv[::-1].index("-o") + 1] if "-o" in argv else None
            written = (Path(tmp) / target).read_text() if target else out.getvalue()
            assert read_meta(written, "out")["kind"] == "reapcheck-promela"


@needs_spin
def test_the_accept_label_warning_is_harmless_as_the_header_says(tmp_path):
    """One VMA: each walker enters it once, so the worst case is one collision (both
    inside it at once). The header's commands (-DSAFETY, no -a) print SPIN's warning
    about accept labels; with -a (compiled without -DSAFETY) the verdicts are the same:
    B = 1 proved, reaching B shown, so nothing hid behind the warning."""
    export = export_collisions(ONE, WalkConfig("reverse", "vma", 21, "forward"), 1, "c.pml")
    assert "`warning: never claim + accept labels requires -a flag to fully" in export.text
    assert "is expected and harmless with these commands" in export.text
    safety = compile_export(export, tmp_path, "c.pml")
    proved, reached = safety.run(), safety.run(("-N", "reaches_bound"))
    assert "accept labels requires -a flag" in proved.output
    assert (proved.errors, reached.errors) == (0, 1)
    subprocess.run(["gcc", "-O0", "-o", "pana", "pan.c"], cwd=tmp_path, check=True)
    for claim, errors in (("within_bound", 0), ("reaches_bound", 1)):
        out = subprocess.run(["./pana", "-a", f"-m{export.depth}", "-N", claim],
                             cwd=tmp_path, capture_output=True, text=True).stdout
        assert f"errors: {errors}" in out, out
