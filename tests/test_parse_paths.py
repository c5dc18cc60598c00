"""The parser's fast path (one regular-expression match per kernel-printed VMA) gives
exactly what its general path gives when every line goes through it: the same layout,
or the same error on the same line (issue 10, section 5: keep the file:line errors).
"""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from reapcheck.model.layout import LayoutError
from reapcheck.model.smaps import _Parser, _parse, _whole_file, parse_text


def line_by_line(text: str, path: str):
    """The general path alone: every line through _Parser.line."""
    parser = _Parser(path)
    for lineno, raw in enumerate(text.split("\n"), start=1):
        parser.line(raw, lineno)
    return parser.layout()


def outcome(parse, text):
    try:
        layout = parse(text, "p.smaps")
    except LayoutError as err:
        return ("error", str(err))
    return ("layout", layout)


blank = st.sampled_from([" ", " ", "  ", "\t", " \t ", "\x0b", "\xa0"])
odd_hex = st.sampled_from(["0", "ABCD", "10000000000000000", "ffffffffffffffff",
                           "0" * 20 + "4000", "1" * 18, "12x", ""])


@st.composite
def header(draw, index):
    if draw(st.integers(0, 9)):  # mostly sorted, disjoint and well formed
        span = f"{(index + 1) * 0x1000:x}-{(index + 2) * 0x1000:x}"
        perms = draw(st.sampled_from(["rw-p", "r--s", "rwxp", "---p"]))
    else:
        span = f"{draw(odd_hex)}-{draw(odd_hex)}"
        perms = draw(st.sampled_from(["rw-x", "rw-pp", "r"]))
    parts = [span, perms]
    if draw(st.integers(0, 3)):
        parts += [draw(st.sampled_from(["00000000"] * 4 + ["0" * 48, "1000", "zz"])),
                  draw(st.sampled_from(["00:00"] * 4 + ["08:01", "fd:0a", "0800"])),
                  draw(st.sampled_from(["0"] * 4 + ["42", "4x"]))]
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from(
                ["/lib/a b.so", "[heap]", "[vsyscall]", "[rollup]", "/x (deleted)",
                 "\udce9name", "[anon:x]", "/lib/c.so"])))
    out = parts[0]
    for part in parts[1:]:
        out += draw(blank) + part
    return draw(st.sampled_from(["", "", " "])) + out + draw(st.sampled_from(["", "", " ", "\r"]))


good_fields = st.sampled_from([
    "Size:                  4 kB", "KernelPageSize:        4 kB", "Rss:   8 kB",
    "MMUPageSize:           4 kB", "VmFlags: rd wr mr mw me ac ", "VmFlags: rd wr sh",
    "VmFlags:", "THPeligible:    0", "AnonHugePages:         0 kB", "Locked: 0 kB\r",
    "KernelPageSize:  16 kB", "VmFlags:\trd ex", "# comment", ""])
odd_fields = st.sampled_from([
    "KernelPageSize:  3 kB", "Rss: 8 MB", "Rss:", "Rss:8 kB", "VmFlags: RD", "_x: 1",
    "1x: 2", "Key", "dead: beef", " Size: 4 kB", "   ", "\x0c", "Size:\x0b4 kB"])
field = st.one_of(good_fields, good_fields, good_fields, odd_fields)


@st.composite
def texts(draw):
    lines = []
    for index in range(draw(st.integers(0, 6))):
        lines.append(draw(header(index)))
        lines += draw(st.lists(field, max_size=7))
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n"]))
    if text and not draw(st.integers(0, 3)):  # sometimes one random edit
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + draw(st.sampled_from(["", " ", ":", "-", "\n", "x", "0"])) + \
            text[at + 1:]
    return text


@settings(max_examples=800, deadline=None)
@given(texts())
def test_fast_path_equals_line_by_line(text):
    assert outcome(parse_text, text) == outcome(line_by_line, text)


def test_kernel_order_and_any_order_agree():
    kernel = ("1000-2000 rw-p 00000000 00:00 0\nSize: 4 kB\nKernelPageSize: 4 kB\n"
              "Rss: 4 kB\nVmFlags: rd wr\n")
    shuffled = ("1000-2000 rw-p 00000000 00:00 0\nVmFlags: rd wr\nRss: 4 kB\n"
                "Size: 4 kB\nKernelPageSize: 4 kB\n")
    a, b = parse_text(kernel, "k").vmas[0], parse_text(shuffled, "k").vmas[0]
    assert (a.flags, a.rss, a.page_size) == (b.flags, b.rss, b.page_size) == (
        frozenset({"rd", "wr"}), 4096, 4096)


KERNEL_KEYS = ["Size", "KernelPageSize", "MMUPageSize", "Rss", "Pss", "Shared_Clean",
               "Private_Dirty", "Referenced", "Anonymous", "THPeligible", "VmFlags"]
values = {"KernelPageSize": st.sampled_from(["4 kB", "4 kB", "16 kB", "3 kB", "4 MB", ""]),
          "Rss": st.sampled_from(["4 kB", "8 kB", "0 kB", "12 kB", "x kB", "1" * 30 + " kB"]),
          "VmFlags": st.sampled_from(["rd wr mr mw me ac ", "rd ex mr", "rd wr sh", "",
                                      "rd wr ht", "RD"])}


@st.composite
def kernel_texts(draw):
    """Uniform files as one kernel prints them (every VMA the same keys, in one order),
    sometimes with one line changed, added or removed: what the template path reads
    whole, and what it must hand to the line-by-line path."""
    keys = draw(st.lists(st.sampled_from(KERNEL_KEYS), max_size=6, unique=True))
    names = st.sampled_from(["", "", "/lib/a.so", "[heap]", "[vsyscall]", "[rollup]",
                             "/x (deleted) ", "\udce9"])
    lines, address = [], draw(st.integers(1, 8)) * 0x1000
    for _ in range(draw(st.integers(1, 6))):
        size = draw(st.sampled_from([0x1000, 0x3000, 0x200000, 0x400000]))
        perms = draw(st.sampled_from(["rw-p", "r-xp", "rw-s", "rw-p", "rwxx"]))
        name = draw(names)
        start, end = draw(st.sampled_from([(address, address + size)] * 6 + [
            (address + size, address), (address, 2**64), (address, address + size)]))
        lines.append(f"{start:08x}-{end:x} {perms} 00000000 00:00 0" +
                     (f"{'':<20}{name}" if name else ""))
        lines += [f"{key}:{' ' * draw(st.integers(1, 9))}"
                  f"{draw(values.get(key, st.just('0 kB')))}" for key in keys]
        address = end + draw(st.sampled_from([0, 0x1000, -0x1000 * (address > 0x2000)]))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(lines)))
        edit = draw(st.sampled_from(["drop", "add", "swap"]))
        if edit == "drop" and at < len(lines):
            del lines[at]
        elif edit == "add":
            lines.insert(at, draw(st.one_of(field, st.just("Rss: 4 kB"), st.just("Extra: 1"))))
        elif at + 1 < len(lines):
            lines[at], lines[at + 1] = lines[at + 1], lines[at]
    return "\n".join(lines) + draw(st.sampled_from(["\n", "\n", ""]))


@settings(max_examples=800, deadline=None)
@given(kernel_texts())
def test_template_paths_equal_line_by_line(text):
    """The whole-file template path (when it answers), the per-VMA template loop and
    the line-by-line path give the same layout or the same first error."""
    expected = outcome(line_by_line, text)
    assert outcome(parse_text, text) == expected
    assert outcome(_parse, text) == expected
    whole = _whole_file(text, "p.smaps") if expected[0] == "layout" else None
    assert whole is None or ("layout", whole) == expected


def test_the_whole_file_path_reads_kernel_output():
    """The bundled captures (kernel output) are read by the whole-file template path,
    not handed on; the hand-written maps (comments first) are handed on."""
    from importlib.resources import files

    folder = files("reapcheck") / "layouts"
    for path in folder.iterdir():
        text = path.read_text()
        layout = _whole_file(text, path.name)
        if path.name.endswith(".smaps"):
            assert layout is not None and layout == line_by_line(text, path.name)
        else:
            assert text.startswith("#") and layout is None
