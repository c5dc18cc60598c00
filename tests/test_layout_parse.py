"""Parsing /proc/PID/maps and /proc/PID/smaps text (docs/model.md §1, §6).

Every expected value here is written out by hand from the contract; nothing is derived
from the parser's own output.
"""
from __future__ import annotations

import pytest

from reapcheck.model.layout import ADDRESS_LIMIT, LayoutError, Vma
from reapcheck.model.smaps import load, parse_text

# --- well-formed input ------------------------------------------------------------------

MAPS = """\
555555554000-555555556000 r--p 00000000 08:02 1311                       /usr/bin/sleep
555555556000-55555555a000 r-xp 00002000 08:02 1311                       /usr/bin/sleep
55555555a000-55555555c000 rw-s 00000000 00:01 77                         /dev/zero (deleted)
55555555c000-55555557d000 rw-p 00000000 00:00 0                          [heap]
7ffff7fc1000-7ffff7fc5000 r--p 00000000 00:00 0
7ffff7fc5000-7ffff7fc6000 rw-p 00000000 00:00 0                          /tmp/a file with spaces
"""


def test_plain_maps_fields_names_and_linenos():
    layout = parse_text(MAPS, "x.maps")
    assert layout.path == "x.maps"
    assert len(layout) == 6
    first = layout.vmas[0]
    assert (first.start, first.end, first.perms) == (0x555555554000, 0x555555556000, "r--p")
    assert first.name == "/usr/bin/sleep"
    assert first.flags is None
    assert [v.lineno for v in layout.vmas] == [1, 2, 3, 4, 5, 6]
    assert layout.vmas[2].name == "/dev/zero (deleted)"
    assert layout.vmas[3].name == "[heap]"
    assert layout.vmas[4].name == ""  # anonymous, no name field at all
    assert layout.vmas[5].name == "/tmp/a file with spaces"


def test_plain_maps_reapable_is_the_private_bit():
    layout = parse_text(MAPS, "x.maps")
    assert [v.reapable for v in layout.vmas] == [True, True, False, True, True, True]
    assert layout.reapable == (0, 1, 3, 4, 5)


def test_adjacent_vmas_and_uppercase_hex_are_accepted():
    layout = parse_text("1000-2000 rw-p 00000000 00:00 0\n"
                        "2000-3ABC rw-p 00000000 00:00 0\n", "a.maps")
    assert [(v.start, v.end) for v in layout.vmas] == [(0x1000, 0x2000), (0x2000, 0x3ABC)]


def test_comments_and_blank_lines_are_skipped_but_counted():
    text = ("# captured by hand\n"
            "\n"
            "1000-2000 rw-p 00000000 00:00 0\n"
            "   \n"
            "# another\n"
            "5000-6000 r--s 00000000 00:00 0\n")
    layout = parse_text(text, "c.maps")
    assert [v.lineno for v in layout.vmas] == [3, 6]
    assert [v.reapable for v in layout.vmas] == [True, False]


SMAPS = """\
00400000-00401000 r-xp 00000000 08:02 42                                 /bin/true
Size:                  4 kB
Rss:                   4 kB
VmFlags: rd ex mr mw me dw
00401000-00402000 rw-s 00000000 00:05 7                                  /dev/shm/x
Size:                  4 kB
VmFlags: rd wr sh mr mw me ms
00402000-00403000 rw-p 00000000 00:00 0
Size:                  4 kB
VmFlags: rd wr mr mw me ht
00403000-00404000 rw-p 00000000 00:00 0
VmFlags: rd wr mr mw me io pf
00404000-00405000 rw-p 00000000 00:00 0                                  [heap]
Size:                  4 kB
KernelPageSize:        4 kB
VmFlags: rd wr mr mw me ac
"""


def test_smaps_vmflags_belong_to_the_vma_above():
    layout = parse_text(SMAPS, "x.smaps")
    assert len(layout) == 5
    assert [v.lineno for v in layout.vmas] == [1, 5, 8, 11, 13]
    assert layout.vmas[0].flags == frozenset({"rd", "ex", "mr", "mw", "me", "dw"})
    assert layout.vmas[1].flags == frozenset({"rd", "wr", "sh", "mr", "mw", "me", "ms"})
    assert layout.vmas[2].flags == frozenset({"rd", "wr", "mr", "mw", "me", "ht"})
    assert layout.vmas[3].flags == frozenset({"rd", "wr", "mr", "mw", "me", "io", "pf"})
    assert layout.vmas[4].flags == frozenset({"rd", "wr", "mr", "mw", "me", "ac"})
    assert layout.vmas[4].name == "[heap]"


def test_smaps_reapable_iff_none_of_ht_pf_sh():
    layout = parse_text(SMAPS, "x.smaps")
    # private file, shared, hugetlb (perms say private!), pfnmap (perms say private!), anon
    assert [v.reapable for v in layout.vmas] == [True, False, False, False, True]
    assert layout.reapable == (0, 4)


def test_vmflags_override_the_permission_bit():
    """With VmFlags the 4th perm char does not matter; only ht, pf and sh do."""
    text = ("1000-2000 rw-s 00000000 00:00 0\n"  # 's' in perms, but no 'sh' flag
            "VmFlags: rd wr mr mw me\n"
            "2000-3000 rw-p 00000000 00:00 0\n"
            "VmFlags: rd wr mr mw me sh\n")
    layout = parse_text(text, "o.smaps")
    assert [v.reapable for v in layout.vmas] == [True, False]


def test_smaps_vma_without_vmflags_falls_back_to_perms():
    text = ("1000-2000 rw-p 00000000 00:00 0\n"
            "Size:                  4 kB\n"
            "VmFlags: rd wr mr mw me sh\n"  # flags say shared: not reapable
            "2000-3000 rw-s 00000000 00:00 0\n"
            "Size:                  4 kB\n"  # no VmFlags: perms 's' -> not reapable
            "3000-4000 rw-p 00000000 00:00 0\n"
            "Size:                  4 kB\n")  # no VmFlags: perms 'p' -> reapable
    layout = parse_text(text, "old.smaps")
    assert [v.flags is None for v in layout.vmas] == [False, True, True]
    assert [v.reapable for v in layout.vmas] == [False, False, True]


def test_empty_vmflags_line_means_no_flags_reapable():
    layout = parse_text("1000-2000 rw-s 00000000 00:00 0\nVmFlags:\n", "e.smaps")
    assert layout.vmas[0].flags == frozenset()
    assert layout.vmas[0].reapable


def test_end_at_2_pow_64_is_accepted_and_contains_ulong_max():
    text = ("ffffffffff5ff000-ffffffffff600000 --xp 00000000 00:00 0\n"
            "fffffffffffff000-10000000000000000 rw-p 00000000 00:00 0\n")
    layout = parse_text(text, "top.maps")
    assert layout.vmas[1].end == 2**64 == ADDRESS_LIMIT
    assert layout.vmas[1].contains_ulong_max
    assert not layout.vmas[0].contains_ulong_max
    # the very last page-table page: (2**64 - 1) >> 21 = 2**43 - 1
    assert list(layout.vmas[1].ptl_pages()) == [2**43 - 1]


def test_whole_address_space_vma():
    layout = parse_text("0-10000000000000000 rw-p 00000000 00:00 0\n", "all.maps")
    vma = layout.vmas[0]
    assert (vma.start, vma.end) == (0, 2**64)
    assert vma.contains_ulong_max
    assert len(vma.ptl_pages(63)) == 2  # pages 0 and 1 of 2**63 bytes each


def test_crlf_line_endings():
    layout = parse_text("1000-2000 rw-p 00000000 00:00 0\r\n"
                        "VmFlags: rd wr sh\r\n", "dos.smaps")
    assert layout.vmas[0].flags == frozenset({"rd", "wr", "sh"})


def test_load_reads_a_file_and_names_it(tmp_path):
    f = tmp_path / "l.smaps"
    f.write_text(SMAPS)
    layout = load(f)
    assert layout.path == str(f)
    assert len(layout) == 5
    assert load(f, shown_as="bundled/l.smaps").path == "bundled/l.smaps"


# --- Vma.ptl_pages ------------------------------------------------------------------------

@pytest.mark.parametrize("start, end, shift, pages", [
    # [0x1ff000, 0x201000) straddles the 2 MiB boundary: 0x1ff000 >> 21 = 0, 0x200fff >> 21 = 1
    (0x1ff000, 0x201000, 21, [0, 1]),
    # one page exactly at the start of region 1
    (0x200000, 0x201000, 21, [1]),
    # a full 2 MiB region, end exclusive: 0x3fffff >> 21 = 1, not 2
    (0x200000, 0x400000, 21, [1]),
    # one byte past it reaches region 2
    (0x200000, 0x400001, 21, [1, 2]),
    # shift 12: one page table per 4 KiB page: 0x1000..0x3fff -> pages 1, 2, 3
    (0x1000, 0x4000, 12, [1, 2, 3]),
    # shift 13: 8 KiB per page table: 0x1000 >> 13 = 0, 0x4fff >> 13 = 2
    (0x1000, 0x5000, 13, [0, 1, 2]),
    # 1 GiB region crossing at shift 30: 0x3fff0000 >> 30 = 0, 0x4000ffff >> 30 = 1
    (0x3FFF0000, 0x40010000, 30, [0, 1]),
])
def test_ptl_pages_hand_computed(start, end, shift, pages):
    vma = Vma(start, end, "rw-p")
    assert list(vma.ptl_pages(shift)) == pages


def test_ptl_pages_default_shift_is_21():
    assert list(Vma(0x1FF000, 0x201000, "rw-p").ptl_pages()) == [0, 1]
    assert list(Vma(0x7F0000000000, 0x7F0000001000, "rw-p").ptl_pages()) == [0x7F0000000000 >> 21]


# --- bad input (docs/model.md §6) ---------------------------------------------------------

GOOD = "1000-2000 rw-p 00000000 00:00 0\n"


@pytest.mark.parametrize("text, line, words", [
    pytest.param(GOOD + "hello world\n", 2, "not a maps", id="malformed-line"),
    pytest.param(GOOD + "1000-2000\n", 2, "not a maps", id="header-without-perms"),
    pytest.param(GOOD + "0x3000-0x4000 rw-p 00000000 00:00 0\n", 2, "not a maps",
                 id="0x-prefix"),
    pytest.param(GOOD + "3000-4000 rw-p 00000000 00:00\n", 2, "not a maps",
                 id="missing-inode"),
    pytest.param(GOOD + "3000-4000 rw-p 0000 00:00 0\nVmFlags rd\n", 3, "not a maps",
                 id="field-without-colon"),
    pytest.param("# c\n5000-6000 rw-p 00000000 00:00 0\n1000-2000 rw-p 00000000 00:00 0\n",
                 3, "sorted", id="unsorted"),
    pytest.param(GOOD + "1800-3000 rw-p 00000000 00:00 0\n", 2, "overlaps", id="overlapping"),
    pytest.param(GOOD + "1000-3000 rw-p 00000000 00:00 0\n", 2, "overlaps",
                 id="same-start"),
    pytest.param(GOOD + "1000-2000 rw-p 00000000 00:00 0\n", 2, "overlaps", id="duplicate"),
    pytest.param(GOOD + "\n\n5000-4000 rw-p 00000000 00:00 0\n", 4, "not below",
                 id="start-after-end"),
    pytest.param(GOOD + "5000-5000 rw-p 00000000 00:00 0\n", 2, "not below",
                 id="start-equals-end"),
    pytest.param(GOOD + "ffffffffffff0000-10000000000001000 rw-p 00000000 00:00 0\n", 2,
                 "2**64", id="end-past-2**64"),
    pytest.param(GOOD + "10000000000000000-10000000000001000 rw-p 00000000 00:00 0\n", 2,
                 "2**64", id="start-and-end-past-2**64"),
    pytest.param(GOOD + "3000-fffffffffffffffffff rw-p 00000000 00:00 0\n", 2, "2**64",
                 id="end-far-past-2**64"),
    pytest.param(GOOD + "3000-4000 rwxq 00000000 00:00 0\n", 2, "permissions",
                 id="perms-4th-char"),
    pytest.param(GOOD + "3000-4000 rw-pp 00000000 00:00 0\n", 2, "permissions",
                 id="perms-too-long"),
    pytest.param(GOOD + "3000-4000 rw- 00000000 00:00 0\n", 2, "permissions",
                 id="perms-too-short"),
    pytest.param(GOOD + "3000-4000 wr-p 00000000 00:00 0\n", 2, "permissions",
                 id="perms-order"),
    pytest.param(GOOD + "VmFlags: rd WR\n", 2, "VmFlags", id="vmflags-uppercase"),
    pytest.param(GOOD + "Size: 4 kB\nVmFlags: rd w mr\n", 3, "VmFlags", id="vmflags-short"),
    pytest.param(GOOD + "VmFlags: rd wrx\n", 2, "VmFlags", id="vmflags-long"),
    pytest.param("Size:                  4 kB\n" + GOOD, 1, "before any VMA",
                 id="field-before-vma"),
    pytest.param("# header\n\nVmFlags: rd wr\n" + GOOD, 3, "before any VMA",
                 id="vmflags-before-vma"),
])
def test_bad_input_names_file_and_line(text, line, words):
    with pytest.raises(LayoutError) as info:
        parse_text(text, "bad.smaps")
    err = info.value
    assert err.path == "bad.smaps"
    assert err.line == line
    assert words in err.message
    assert str(err).startswith(f"bad.smaps:{line}: ")


@pytest.mark.parametrize("text", ["", "\n\n   \n", "# only a comment\n", "# a\n\n# b\n"],
                         ids=["empty", "blank", "comment-only", "comments-and-blanks"])
def test_no_vma_is_an_error_without_line(text):
    with pytest.raises(LayoutError) as info:
        parse_text(text, "empty.maps")
    assert info.value.path == "empty.maps"
    assert info.value.line is None
    assert "no VMA" in info.value.message
    assert str(info.value).startswith("empty.maps: ")


def test_load_empty_file(tmp_path):
    f = tmp_path / "empty.maps"
    f.write_bytes(b"")
    with pytest.raises(LayoutError) as info:
        load(f)
    assert info.value.path == str(f)
    assert info.value.line is None


def test_load_non_utf8_name_is_read_as_bytes(tmp_path):
    """The kernel prints a file name's bytes as they are (issue 10, 7): latin-1 e-acute."""
    f = tmp_path / "latin1.maps"
    f.write_bytes(b"1000-2000 rw-p 00000000 00:00 0\n"
                  b"# fine\n"
                  b"3000-4000 rw-p 00000000 08:02 9 /tmp/caf\xe9\n")
    layout = load(f)
    assert [(v.start, v.end, v.lineno) for v in layout.vmas] == [(0x1000, 0x2000, 1),
                                                                  (0x3000, 0x4000, 3)]
    assert layout.vmas[1].name.encode("utf-8", "surrogateescape") == b"/tmp/caf\xe9"


def test_load_non_utf8_bytes_outside_a_name_name_the_line(tmp_path):
    f = tmp_path / "bin.maps"
    f.write_bytes(b"\xff\xfe1000-2000 rw-p 00000000 00:00 0\n")
    with pytest.raises(LayoutError) as info:
        load(f, shown_as="shown.maps")
    assert (info.value.path, info.value.line) == ("shown.maps", 1)
    assert "not a maps/smaps line" in info.value.message


def test_load_missing_file(tmp_path):
    missing = tmp_path / "nope.maps"
    with pytest.raises(LayoutError) as info:
        load(missing)
    assert info.value.path == str(missing)
    assert info.value.line is None


@pytest.mark.parametrize("text, line", [
    (GOOD + "3000-4000 rw-p 00000000 00:00 0\n# c\n2000-2800 rw-p 00000000 00:00 0\n", 4),
    ("1000-2000 rw-p 00000000 00:00 0\nSize: 4 kB\nVmFlags: rd\n"
     "1800-2800 rw-p 00000000 00:00 0\nVmFlags: rd\n", 4),
])
def test_order_errors_point_at_the_offending_header(text, line):
    """In smaps the error is on the later VMA's header line, not on its field lines."""
    with pytest.raises(LayoutError) as info:
        parse_text(text, "o.smaps")
    assert info.value.line == line


def test_first_error_wins():
    text = GOOD + "junk\n0500-0600 rw-p 00000000 00:00 0\n"
    with pytest.raises(LayoutError) as info:
        parse_text(text, "f.maps")
    assert info.value.line == 2


# --- line splitting: only "\n" ends a line in /proc/PID/maps --------------------------------
# The kernel prints a mapped file's path with seq_file_path(m, file, "\n"): only newline is
# escaped (as \012); every other byte of the name is printed as is. str.splitlines() also
# splits on \r, \v, \f, \x1c-\x1e, \x85, \u2028 and \u2029, so a legal file name holding
# one of those breaks the header line in two, and every later line number shifts by one.

def test_file_name_with_form_feed_is_one_line():
    text = "1000-2000 rw-p 00000000 08:02 5 /tmp/a\x0cb\n"
    layout = parse_text(text, "ff.maps")
    assert layout.vmas[0].name == "/tmp/a\x0cb"


def test_line_numbers_count_only_newlines():
    text = GOOD + "\x0c\n" + "bogus\n"  # line 2 is a form-feed page break, line 3 is bad
    with pytest.raises(LayoutError) as info:
        parse_text(text, "ff.maps")
    assert info.value.line == 3


def test_unknown_flag_mnemonic_from_the_kernel_is_accepted():
    layout = parse_text("1000-2000 rw-p 00000000 00:00 0\n"
                        "VmFlags: rd wr mr mw me ac ?? \n", "new-kernel.smaps")
    assert layout.vmas[0].reapable  # none of ht, pf, sh


# --- plain maps `s` is VM_MAYSHARE: --maps-shared-rule (docs/model.md §1) --------------------

SHARED_KINDS_MAPS = """\
00400000-00401000 r--s 00000000 08:02 11                                 /ro-file
00600000-00601000 rw-s 00000000 08:02 12                                 /rw-file
00800000-00801000 rw-p 00000000 00:00 0
00a00000-00a01000 ---s 00000000 08:02 13                                 /none-file
"""

# A read-only MAP_SHARED file mapping without VM_SHARED (no sh, no mw: do_mmap() cleared
# VM_SHARED and VM_MAYWRITE), and a read-only shared anonymous one that keeps sh.
SHARED_KINDS_SMAPS = """\
00400000-00401000 r--s 00000000 08:02 11                                 /ro-file
VmFlags: rd mr me ms
00600000-00601000 r--s 00000000 00:01 5                                  /dev/zero (deleted)
VmFlags: rd sh mr mw me ms
"""


def test_maps_shared_rule_private_is_the_default():
    layout = parse_text(SHARED_KINDS_MAPS, "x.maps")
    assert layout.maps_shared_rule == "private"
    assert layout.reapable == (2,)  # only the p VMA (docs/model.md §1)
    assert layout.reapable_rule == "private"
    assert [v.reapable for v in layout.vmas] == [False, False, True, False]


def test_maps_shared_rule_writable_counts_s_without_w():
    layout = parse_text(SHARED_KINDS_MAPS, "x.maps").with_maps_shared_rule("writable")
    # r--s and ---s: may lack VM_SHARED, counted; rw-s must have VM_SHARED: never counted
    assert layout.reapable == (0, 2, 3)
    assert layout.reapable_rule == "writable"
    assert [layout.is_reapable(v) for v in layout.vmas] == [True, False, True, True]
    assert [v.reapable_under("writable") for v in layout.vmas] == [True, False, True, True]
    assert [v.reapable_under("private") for v in layout.vmas] == [False, False, True, False]
    # the VMAs themselves are the same; only the layout's rule differs
    assert layout.vmas == parse_text(SHARED_KINDS_MAPS, "x.maps").vmas


def test_maps_shared_rule_never_changes_vmflags():
    for rule in ("private", "writable"):
        layout = parse_text(SHARED_KINDS_SMAPS, "x.smaps").with_maps_shared_rule(rule)
        assert layout.reapable == (0,), rule  # sh decides, exactly, under either rule
        assert layout.reapable_rule == "vmflags"
        assert layout.plain_vmas == 0


def test_maps_shared_rule_mixed_file_names_both():
    text = SHARED_KINDS_SMAPS + "00800000-00801000 r--s 00000000 08:02 14  /plain\n"
    layout = parse_text(text, "x.smaps")
    assert layout.plain_vmas == 1
    assert layout.reapable == (0,) and layout.reapable_rule == "vmflags+private"
    layout = layout.with_maps_shared_rule("writable")
    assert layout.reapable == (0, 2) and layout.reapable_rule == "vmflags+writable"


def test_maps_shared_rule_unknown_value_is_refused():
    layout = parse_text(SHARED_KINDS_MAPS, "x.maps")
    with pytest.raises(ValueError, match="maps_shared_rule"):
        layout.with_maps_shared_rule("shared")


def test_not_a_maps_line_is_quoted_to_40_characters():
    """README and docs/model.md §6: a bad value is quoted to 40 characters, with its length."""
    with pytest.raises(LayoutError) as info:
        parse_text("1000-2000 rw-p 00000000 00:00 0\n" + "x" * 100 + "\n", "long.maps")
    assert info.value.line == 2
    assert info.value.message == "not a maps/smaps line: '" + "x" * 40 + "'... (100 characters)"


def _gzip(data):
    import gzip

    return gzip.compress(data, mtime=0)


def _xz(data):
    import lzma

    return lzma.compress(data)


@pytest.mark.parametrize("data, line", [
    (_gzip(b"1000-2000 rw-p 00000000 00:00 0\n" * 50), 1),
    (_xz(b"1000-2000 rw-p 00000000 00:00 0\n" * 50), 1),
    (b"1000-2000 rw-p 00000000 00:00 0\nab\x00cd\n", 2),  # a NUL: never in maps text
    (b"1000-2000 rw-p 00000000 00:00 0\n" + bytes(range(0x80, 0x100)) + b"\n", 2),
    ("1000-2000 rw-p 00000000 00:00 0\n".encode("utf-16"), 1),  # NULs between the characters
])
def test_binary_input_is_named_as_such(tmp_path, data, line):
    f = tmp_path / "capture.maps"
    f.write_bytes(data)
    with pytest.raises(LayoutError) as info:
        load(f, shown_as="shown.maps")
    assert (info.value.path, info.value.line) == ("shown.maps", line)
    assert info.value.message.startswith("binary file, not text")
    assert "\n" not in str(info.value)
