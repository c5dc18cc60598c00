"""Issue 10, sections 1, 3 and 7 (parser kinds): inputs that are not layouts, page sizes,
and input that costs more than its size. Expected values are worked out by hand from
docs/model.md and docs/kernel.md, next to each assertion.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from reapcheck.cli import main
from reapcheck.model.layout import LayoutError
from reapcheck.model.pmd import auto_pmd_shift, resolve_pmd_shift, shift_for_page_size
from reapcheck.model.smaps import load, parse_text


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def check_bad(result, *must_contain):
    code, out, err = result
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for text in must_contain:
        assert text in err, (text, err)


def smaps_vma(start, end, page_kb=None, flags="rd wr mr mw me ac", rss_kb=None, name=""):
    """One smaps VMA as the kernel prints it (header, some counters, VmFlags)."""
    header = f"{start:08x}-{end:08x} rw-p 00000000 00:00 0"
    lines = [f"{header:<72} {name}" if name else header,
             f"Size:               {(end - start) // 1024:>4} kB"]
    if page_kb is not None:
        lines.append(f"KernelPageSize:     {page_kb:>4} kB")
    if rss_kb is not None:
        lines.append(f"Rss:                {rss_kb:>4} kB")
    lines.append(f"VmFlags: {flags}")
    return "\n".join(lines) + "\n"


# --- section 1: smaps_rollup and [vsyscall] --------------------------------------------------

ROLLUP = ("55c9706ac000-7fff1d38e000 ---p 00000000 00:00 0                          [rollup]\n"
          "Rss:                5940 kB\n")


def test_rollup_is_an_input_error_naming_the_line():
    with pytest.raises(LayoutError) as info:
        parse_text("# header\n" + ROLLUP, "smaps_rollup")
    assert (info.value.path, info.value.line) == ("smaps_rollup", 2)
    assert "summary" in info.value.message and "smaps_rollup" in info.value.message


def test_rollup_cli_exit_2(tmp_path, capsys):
    path = tmp_path / "smaps_rollup"
    path.write_text(ROLLUP)
    check_bad(run(capsys, "compare", path), f"{path}:1", "summary")
    check_bad(run(capsys, "anonymize", path), f"{path}:1", "summary")


VSYSCALL = "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"


def test_vsyscall_is_not_part_of_the_layout():
    text = ("00400000-00401000 r-xp 00000000 08:01 42 /bin/x\n"
            "VmFlags: rd ex mr mw me\n"
            + VSYSCALL + "VmFlags: ex\n")
    layout = parse_text(text, "v.smaps")
    assert [(v.start, v.end) for v in layout.vmas] == [(0x400000, 0x401000)]
    assert layout.reapable == (0,)


def test_only_vsyscall_has_no_vmas(tmp_path, capsys):
    with pytest.raises(LayoutError) as info:
        parse_text(VSYSCALL, "gate.maps")
    assert info.value.line is None and "no VMA" in info.value.message
    path = tmp_path / "gate.maps"
    path.write_text(VSYSCALL)
    check_bad(run(capsys, "collisions", path, "--order", "forward", "--granularity", "vma"),
              str(path), "no VMA")


def test_vsyscall_fields_are_still_checked():
    with pytest.raises(LayoutError) as info:
        parse_text("1000-2000 rw-p 00000000 00:00 0\n" + VSYSCALL + "VmFlags: EX\n", "v")
    assert info.value.line == 3


def test_other_special_names_stay_vmas():
    text = ("ffff0000-ffff1000 r-xp 00000000 00:00 0 [vectors]\n"
            "ffff1000-ffff2000 r--p 00000000 00:00 0 [vvar]\n"
            "ffff2000-ffff3000 r-xp 00000000 00:00 0 [vdso]\n")
    assert [v.name for v in parse_text(text, "arm").vmas] == ["[vectors]", "[vvar]", "[vdso]"]


# --- Vma.rss and Vma.page_size ---------------------------------------------------------------

def test_rss_and_page_size_in_bytes():
    text = smaps_vma(0x1000, 0x5000, page_kb=4, rss_kb=12) + smaps_vma(0x5000, 0x6000)
    a, b = parse_text(text, "r.smaps").vmas
    assert (a.rss, a.page_size) == (12 * 1024, 4096)
    assert (b.rss, b.page_size) == (None, None)  # no such lines


def test_maps_has_no_rss():
    vma = parse_text("1000-2000 rw-p 00000000 00:00 0\n", "m").vmas[0]
    assert (vma.rss, vma.page_size) == (None, None)


def test_fields_in_any_order_are_read():
    """Not the kernel's order (VmFlags first, Rss last): the general path reads them."""
    text = ("1000-2000 rw-p 00000000 00:00 0\n"
            "VmFlags: rd wr sh\n"
            "# a comment between field lines\n"
            "Rss:        8 kB\n"
            "KernelPageSize:   16 kB\n")
    vma = parse_text(text, "o.smaps").vmas[0]
    assert (vma.flags, vma.rss, vma.page_size) == (frozenset({"rd", "wr", "sh"}), 8192, 16384)


@pytest.mark.parametrize("line, words", [
    ("Rss: 4 MB", "Rss"), ("Rss: four kB", "Rss"), ("Rss: 4", "Rss"),
    ("KernelPageSize: 12 kB", "power of two"), ("KernelPageSize: 0 kB", "power of two"),
    ("Rss: " + "9" * 5000 + " kB", "Rss"),
])
def test_bad_sizes_name_the_line(line, words):
    text = "1000-2000 rw-p 00000000 00:00 0\nSize: 4 kB\n" + line + "\n"
    with pytest.raises(LayoutError) as info:
        parse_text(text, "s.smaps")
    assert info.value.line == 3
    assert words in info.value.message
    assert len(str(info.value)) < 200


# --- section 3: the PMD shift from the page size ---------------------------------------------

@pytest.mark.parametrize("page_size, shift", [
    (4096, 21),  # 12 + 9: 512 entries of 8 bytes, 2 MiB
    (16384, 25),  # 14 + 11: 2048 entries, 32 MiB
    (65536, 29),  # 16 + 13: 8192 entries, 512 MiB
])
def test_shift_for_page_size(page_size, shift):
    assert shift_for_page_size(page_size) == shift


@pytest.mark.parametrize("kb, shift", [(4, 21), (16, 25), (64, 29)])
def test_auto_shift_from_kernel_page_size(kb, shift):
    text = smaps_vma(0x100000, 0x200000, page_kb=kb) + smaps_vma(0x200000, 0x300000, page_kb=kb)
    assert auto_pmd_shift(parse_text(text, "p.smaps")) == shift


def test_auto_shift_is_21_without_page_size():
    assert auto_pmd_shift(parse_text("1000-2000 rw-p 00000000 00:00 0\n", "m.maps")) == 21
    assert auto_pmd_shift(parse_text(smaps_vma(0x1000, 0x2000), "old.smaps")) == 21


def test_mixed_page_sizes_name_the_vma_that_differs():
    text = (smaps_vma(0x100000, 0x200000, page_kb=4)  # lines 1-4
            + smaps_vma(0x200000, 0x300000, page_kb=16))  # header on line 5
    layout = parse_text(text, "mix.smaps")
    with pytest.raises(LayoutError) as info:
        auto_pmd_shift(layout)
    assert (info.value.path, info.value.line) == ("mix.smaps", 5)
    assert "mixed page sizes" in info.value.message
    assert resolve_pmd_shift(layout, 23) == 23  # an explicit shift is taken as given


def test_hugetlb_page_size_does_not_count():
    """A hugetlb VMA reports its huge page size (2048 kB), not the base page size."""
    text = (smaps_vma(0x100000, 0x200000, page_kb=4)
            + smaps_vma(0x40000000, 0x40200000, page_kb=2048, flags="rd wr mr mw me ht"))
    assert auto_pmd_shift(parse_text(text, "huge.smaps")) == 21


def two_vmas_16k(tmp_path):
    # 0x0 and 0x1ffc000 lie in one 32 MiB region (shift 25: one lock) but in the 2 MiB
    # regions 0 and 15 (shift 21: two locks).
    path = tmp_path / "arm64-16k.smaps"
    path.write_text(smaps_vma(0x4000, 0x8000, page_kb=16) +
                    smaps_vma(0x1FFC000, 0x2000000, page_kb=16))
    return path


def test_cli_uses_and_prints_the_automatic_shift(tmp_path, capsys):
    path = two_vmas_16k(tmp_path)
    code, out, err = run(capsys, "collisions", path, "--order", "reverse",
                         "--granularity", "ptl", "--json")
    assert code == 0, err
    data = json.loads(out)
    # One lock, exit (A, B), reaper (B, A): the chain (A,B) -> (B,B)... of matched pairs
    # with both indices non-decreasing is 3 long (every pair matches): 3 collisions.
    assert (data["pmd_shift"], data["max_collisions"]) == (25, 3)
    code, out, _ = run(capsys, "collisions", path, "--order", "reverse",
                       "--granularity", "ptl", "--json", "--pmd-shift", "21")
    # Two locks: A matches only (exit 0, reaper 1), B only (exit 1, reaper 0); no chain
    # holds both: 1 collision.
    assert (json.loads(out)["pmd_shift"], json.loads(out)["max_collisions"]) == (21, 1)
    code, out, _ = run(capsys, "collisions", path, "--order", "reverse", "--granularity", "ptl")
    assert "PMD shift 25" in out


def test_cli_mixed_page_sizes_exit_2_unless_shift_given(tmp_path, capsys):
    path = tmp_path / "mix.smaps"
    path.write_text(smaps_vma(0x100000, 0x200000, page_kb=4) +
                    smaps_vma(0x200000, 0x300000, page_kb=64))
    args = ("collisions", path, "--order", "forward", "--granularity", "ptl")
    check_bad(run(capsys, *args), f"{path}:5", "mixed page sizes", "--pmd-shift")
    check_bad(run(capsys, "compare", path), f"{path}:5")
    code, out, _ = run(capsys, *args, "--json", "--pmd-shift", "21")
    assert code == 0 and json.loads(out)["pmd_shift"] == 21


def test_compare_prints_the_shift(tmp_path, capsys):
    code, out, _ = run(capsys, "compare", two_vmas_16k(tmp_path))
    assert code == 0
    assert "PMD shift 25 (auto)" in out
    code, out, _ = run(capsys, "compare", "--json", two_vmas_16k(tmp_path))
    assert {entry["pmd_shift"] for entry in json.loads(out)} == {25}


def test_pmd_shift_auto_spelled_out(tmp_path, capsys):
    code, out, _ = run(capsys, "collisions", two_vmas_16k(tmp_path), "--order", "forward",
                       "--granularity", "ptl", "--pmd-shift", "auto", "--json")
    assert code == 0 and json.loads(out)["pmd_shift"] == 25


# --- section 7: input that costs more than its size ------------------------------------------

def timed_parse(text, name="t"):
    start = time.perf_counter()
    try:
        parse_text(text, name)
    except LayoutError as err:
        return time.perf_counter() - start, err
    return time.perf_counter() - start, None


def test_name_with_30000_inner_spaces_is_linear():
    name = "/a" + " " * 30000 + "b"
    seconds, err = timed_parse(f"1000-2000 rw-p 00000000 00:00 0 {name}\n")
    assert err is None and seconds < 0.5
    assert parse_text(f"1000-2000 rw-p 00000000 00:00 0 {name}\n", "t").vmas[0].name == name


@pytest.mark.parametrize("text", [
    "1000-2000 rw-p 00000000 00:00 0 " + " " * 30000 + "x y",  # spaces, then a bad tail
    "1000-2000" + " " * 30000 + "rw-p",  # header without offset: fine, 2 fields
    "1000-2000 rw-p" + " 0" * 30000,  # too many fields of the wrong shape
    "Size:" + " " * 30000 + "4 kB",  # a field before any VMA
    "a" * 100000 + ":",
    "1" * 100000 + "-",
    "1000-2000 rw-p 00000000 00:00 0\nVmFlags:" + " rd" * 30000 + " x",
])
def test_pathological_lines_are_linear(text):
    seconds, _ = timed_parse(text + "\n")
    assert seconds < 0.5


def test_million_digit_address_is_cut_in_the_error():
    text = "1000-2000 rw-p 00000000 00:00 0\n" + "f" * 1_000_000 + "-1 rw-p 0 00:00 0\n"
    with pytest.raises(LayoutError) as info:
        parse_text(text, "big.maps")
    message = str(info.value)
    assert info.value.line == 2 and "2**64" in message
    assert "1000000 hex digits" in message and len(message) < 200


def test_leading_zeros_are_not_past_2_pow_64():
    vma = parse_text("0" * 1000 + "1000-" + "0" * 1000 + "2000 rw-p 0 00:00 0\n", "z").vmas[0]
    assert (vma.start, vma.end) == (0x1000, 0x2000)


@pytest.mark.parametrize("text, line, words", [
    ("1000-2000 " + "r" * 100000 + " 0 00:00 0\n", 1, "permissions"),
    ("1000-2000 rw-p 0 00:00 0\nVmFlags: rd " + "x" * 100000 + "\n", 2, "VmFlags"),
    ("A" * 100000 + ": 4 kB\n", 1, "before any VMA"),
    ("1000-2000 rw-p 0 00:00 0\n" + "#" * 0 + "x" * 100000 + "\n", 2, "not a maps"),
])
def test_long_values_are_cut_in_errors(text, line, words):
    with pytest.raises(LayoutError) as info:
        parse_text(text, "long")
    assert info.value.line == line and words in info.value.message
    assert len(str(info.value)) < 200


def test_second_vmflags_line_is_an_error():
    text = ("1000-2000 rw-p 00000000 00:00 0\n"
            "VmFlags: rd wr\n"
            "2000-3000 rw-p 00000000 00:00 0\n"
            "Size: 4 kB\n"
            "VmFlags: rd wr\n"
            "VmFlags: rd wr sh\n")
    with pytest.raises(LayoutError) as info:
        parse_text(text, "two.smaps")
    assert info.value.line == 6
    assert "second VmFlags" in info.value.message and "line 3" in info.value.message


@pytest.mark.parametrize("key", ["Rss", "KernelPageSize"])
def test_second_rss_or_page_size_line_is_an_error(key):
    text = f"1000-2000 rw-p 00000000 00:00 0\n{key}: 4 kB\nSize: 4 kB\n{key}: 4 kB\n"
    with pytest.raises(LayoutError) as info:
        parse_text(text, "two.smaps")
    assert info.value.line == 4 and f"second {key}" in info.value.message


def test_fifo_without_writer_is_refused_at_once(tmp_path, capsys):
    fifo = tmp_path / "pipe.maps"
    os.mkfifo(fifo)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("r", run(capsys, "collisions", fifo, "--order", "forward", "--granularity", "vma")), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "reading a FIFO hung"
    check_bad(result["r"], str(fifo), "not a regular file")


def test_device_and_directory_are_refused(tmp_path):
    for path, words in (("/dev/null", "not a regular file"), (tmp_path, "directory")):
        with pytest.raises(LayoutError) as info:
            load(path)
        assert words in info.value.message


def test_proc_maps_of_this_process_is_read():
    layout = load("/proc/self/maps")
    assert len(layout) > 3  # python, its libraries, heap, stack


def test_non_utf8_name_through_the_process(tmp_path):
    path = tmp_path / "e9.maps"
    path.write_bytes(b"00400000-00401000 r-xp 00000000 08:01 42  /file/1\xe9\n")
    proc = subprocess.run([sys.executable, "-m", "reapcheck", "collisions", str(path),
                           "--order", "forward", "--granularity", "vma", "--json"],
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["max_collisions"] == 1  # one private VMA


# --- section 5: what the collisions command imports -------------------------------------------

def test_collisions_with_the_default_engine_imports_neither_z3_nor_networkx(tmp_path):
    path = tmp_path / "one.maps"
    path.write_text("1000-2000 rw-p 00000000 00:00 0\n")
    code = ("import sys; from reapcheck.cli import main; "
            f"status = main(['collisions', {str(path)!r}, '--order', 'reverse', "
            "'--granularity', 'ptl']); "
            "print(status, sorted(m for m in ('z3', 'networkx') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.splitlines()[-1] == "0 []", proc.stderr
    assert '"engine": "sparse"' not in proc.stdout  # text output, not JSON


def test_engine_auto_is_sparse(tmp_path, capsys):
    path = tmp_path / "one.maps"
    path.write_text("1000-2000 rw-p 00000000 00:00 0\n")
    code, out, _ = run(capsys, "collisions", path, "--order", "forward", "--granularity",
                       "vma", "--json")
    assert code == 0 and json.loads(out)["engine"] == "sparse"
    code, out, _ = run(capsys, "collisions", path, "--order", "forward", "--granularity",
                       "vma", "--json", "--engine", "graph")
    # one VMA, forward, vma: 1 collision; schedules of 2 + 2 steps: C(4, 2) = 6
    assert code == 0 and (json.loads(out)["max_collisions"], json.loads(out)["schedules"]) == (1, 6)


def test_graph_engine_refuses_a_huge_product(tmp_path, capsys):
    path = tmp_path / "big.maps"
    # one 1 GiB VMA: 512 page tables per walker at shift 21, (2*512+1)**2 - 512 states,
    # about 1.05 million, past the graph engine's 200,000
    path.write_text("40000000-80000000 rw-p 00000000 00:00 0\n")
    check_bad(run(capsys, "collisions", path, "--order", "reverse", "--granularity", "ptl",
                  "--engine", "graph"), str(path), "--engine sparse")


def test_parsed_vmas_equal_vmas_built_directly():
    """The parser's fast Vma constructor makes the same frozen, hashable dataclass."""
    from reapcheck.model.layout import Vma

    text = smaps_vma(0x1000, 0x3000, page_kb=4, rss_kb=8, name="/lib/x.so")
    parsed = parse_text(text, "e.smaps").vmas[0]
    built = Vma(0x1000, 0x3000, "rw-p", frozenset({"rd", "wr", "mr", "mw", "me", "ac"}),
                "/lib/x.so", 1, 8192, 4096)
    assert parsed == built and hash(parsed) == hash(built)
    with pytest.raises(AttributeError):
        parsed.start = 0  # still frozen
