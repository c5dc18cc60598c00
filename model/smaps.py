"""Read and write /proc/PID/maps and /proc/PID/smaps text (docs/model.md §1, §6).

Linear in the input, with no backtracking: every regular expression here uses only
possessive quantifiers. The common case, one VMA as the kernel prints it (show_map_vma
and show_smap in fs/proc/task_mmu.c: a header line, then `Key:   value` lines with
`KernelPageSize`, `Rss` and `VmFlags` in that order, each at most once), is one match of
_VMA_BLOCK. Faster still, one kernel prints every VMA with the same keys in the same
order, so the keys of the first VMA make a template (`_template`, keys as literals).
`_whole_file` reads a file that the template covers with one findall, checks each
distinct value once and makes the VMAs column by column; anything else (a line
outside the template, a value to check further or reject) goes to `_parse`, which
reads one VMA at a time: the template of the last VMA's keys, else _VMA_BLOCK, else
runs of field lines, then one line at a time through `_Parser.line`, which gives the
exact file:line error. `load` gives `_whole_file` an ASCII file's bytes, undecoded
(the same patterns for bytes, \\s spelled out as str's ASCII whitespace; only distinct
values, names and permissions are decoded): decoding 48 MB costs about as much again
as reading it. Only the values of `KernelPageSize:`, `Rss:` and `VmFlags:`
are used; other field lines are checked for shape only. Only "\\n" ends a line:
seq_file_path() escapes nothing else.
"""
from __future__ import annotations

import os
import re
import stat
from functools import lru_cache, partial
from itertools import compress, repeat
from operator import itemgetter
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from .gc_pause import cyclic_gc_paused
from .layout import ADDRESS_LIMIT, Layout, LayoutError, Vma

_BLOCK_KEYS = ("KernelPageSize", "Rss", "VmFlags")  # the order show_smap() prints them in
GATE_AREA = "[vsyscall]"  # x86-64's gate VMA: printed, not in the maple tree (docs/model.md §1)
ROLLUP = "[rollup]"  # /proc/PID/smaps_rollup: one summary line, not a layout (docs/model.md §1)

# A field line: `Key:` then nothing, or a blank and the rest of the line.
_FIELD = r"[A-Za-z_][A-Za-z0-9_]*+:(?:[ \t][^\n]*+)?+\n"
_FIELD_RUN = re.compile(f"(?:{_FIELD})++")
# A header line (the shape of split_header(); a blank is any whitespace but "\n").
_HEADER = (r"([0-9a-fA-F]++)-([0-9a-fA-F]++)[^\S\n]++(\S++)"
           r"(?:[^\S\n]++[0-9a-fA-F]++[^\S\n]++[0-9a-fA-F]++:[0-9a-fA-F]++[^\S\n]++[0-9]++"
           r"(?:[^\S\n]++([^\n]*+))?+)?+[^\S\n]*+(?:\n|\Z)")
_OTHERS = f"(?:(?!KernelPageSize:|Rss:|VmFlags:){_FIELD})*+"
_VMA_BLOCK = re.compile(_HEADER + "".join(
    f"{_OTHERS}(?:{key}:((?:[ \t][^\n]*+)?+)\n)?+" for key in _BLOCK_KEYS) + _OTHERS)
# The same, for the bytes of an ASCII file (`load`): \s spelled out as the ASCII
# characters str's \s matches, so that both read ASCII text alike.
_ASCII_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # str.isspace() below 128


def _bytes_pattern(pattern: str) -> re.Pattern:
    """`pattern` (a str pattern of this module) for bytes, matching ASCII alike."""
    return re.compile(pattern.replace(r"[^\S\n]", r"[ \t\r\x0b\x0c\x1c-\x1f]")
                      .replace(r"(\S++)", r"([^ \t\n\r\x0b\x0c\x1c-\x1f]++)").encode("ascii"))


_VMA_BLOCK_BYTES = _bytes_pattern(_VMA_BLOCK.pattern)
_READ_FIELD = re.compile(r"\n(VmFlags|Rss|KernelPageSize):([^\n]*+)")  # the values used
_KEY_AT_LINE_START = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*+):", re.MULTILINE)
_KEY_AT_LINE_START_BYTES = re.compile(rb"^([A-Za-z_][A-Za-z0-9_]*+):", re.MULTILINE)
_TEMPLATE_KEYS_MAX = 64  # a VMA with more field lines makes no template
_TEMPLATES_PER_FILE = 8  # key sets tried per file; the kernel prints one
_FIELD_SLOT = {"VmFlags": "flags", "Rss": "rss", "KernelPageSize": "page_size"}  # Vma field
_HEX = "0123456789abcdefABCDEF"
_MNEMONIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_PERMS = frozenset(r + w + x + s for r in "r-" for w in "w-" for x in "x-" for s in "ps")
_MAX_ADDRESS_DIGITS = 17  # 2**64 = 0x10000000000000000
_MAX_KB_DIGITS = 20  # a 64-bit count of kB; keeps int() far from its digit limit
_NEW = object()  # a cache miss
QUOTE_LIMIT = 40  # characters of a bad value quoted in an error message


def quote(text: str, limit: int = QUOTE_LIMIT) -> str:
    """repr(text), cut to `limit` characters (with the full length) when longer."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


_COMPRESSED = re.compile("\x1f\udc8b|BZh[1-9]1AY&SY|\udcfd7zXZ|\\(\udcb5/\udcfd")  # gzip bzip2 xz zstd
_NOT_TEXT = re.compile("[\x00-\x08\x0e-\x1f\x7f\udc80-\udcff]")  # controls, undecodable bytes


def _looks_binary(line: str) -> bool:
    """Whether a line that is no maps/smaps line is binary data rather than text: a NUL,
    a compressor's magic at its start, or a quarter or more of its characters control
    characters or bytes that are not UTF-8 (surrogate escapes). A stray byte or two in
    a line of text (b"\\xff\\xfe1000-2000 ...") stays "not a maps/smaps line"."""
    if "\x00" in line or _COMPRESSED.match(line):
        return True
    return len(_NOT_TEXT.findall(line)) * 4 >= max(1, len(line))


def _is_hex(text: str) -> bool:
    return bool(text) and not text.strip(_HEX)


def _is_decimal(text: str) -> bool:
    return text.isascii() and text.isdigit()


def split_header(line: str) -> tuple[str, str, str, str] | None:
    """(start, end, perms, name) of a stripped maps header line, else None.

    Shape (show_map_vma): `start-end perms [offset major:minor inode [name]]`, fields
    separated by whitespace; the name keeps its inner whitespace. No value is checked.
    """
    parts = line.split(None, 5)
    if len(parts) not in (2, 5, 6):
        return None
    start, dash, end = parts[0].partition("-")
    if not (dash and _is_hex(start) and _is_hex(end)):
        return None
    if len(parts) > 2:
        major, colon, minor = parts[3].partition(":")
        if not (_is_hex(parts[2]) and colon and _is_hex(major) and _is_hex(minor)
                and _is_decimal(parts[4])):
            return None
    return start, end, parts[1], parts[5].rstrip() if len(parts) == 6 else ""


def _vma_maker():
    """A constructor for Vma that fills its __dict__ in one step (3x faster than the
    frozen dataclass's __init__, which sets each field through object.__setattr__).
    Checked against Vma(...) once; any difference (slots, new fields without a default,
    __post_init__) falls back to Vma itself."""
    new, set_attribute = object.__new__, object.__setattr__

    def make(start, end, perms, flags, name, lineno, rss, page_size):
        vma = new(Vma)
        set_attribute(vma, "__dict__", {
            "start": start, "end": end, "perms": perms, "flags": flags, "name": name,
            "lineno": lineno, "rss": rss, "page_size": page_size})
        return vma

    probe = (1, 2, "rw-p", frozenset({"rd"}), "x", 3, 4096, 8192)
    try:
        same = make(*probe) == Vma(*probe) and vars(make(*probe)) == vars(Vma(*probe))
    except (TypeError, AttributeError):
        same = False
    return make if same and not hasattr(Vma, "__post_init__") else Vma


_make_vma = _vma_maker()


class _Parser:
    """The VMAs read so far (kept ones in `vmas`; `current` may be a dropped gate VMA)
    and caches of the field values already checked."""

    def __init__(self, path: str):
        self.path = path
        self.vmas: list[Vma] = []
        self.current: Vma | None = None
        self.kept = False  # whether `current` is in `vmas`
        # Values seen before: VmFlags text -> set, and "  4 kB" -> 4096 per field (few
        # distinct); None (no such line) -> None.
        self.flag_sets: dict[str | None, frozenset[str] | None] = {None: None}
        self.sizes: dict[str, dict[str | None, int | None]] = {
            "rss": {None: None}, "page_size": {None: None}}

    def error(self, lineno: int | None, message: str) -> LayoutError:
        return LayoutError(self.path, lineno, message)

    def add(self, vma: Vma) -> None:
        """A new VMA; [vsyscall] is read (its fields too) but not kept (docs/model.md §1)."""
        self.current, self.kept = vma, vma.name != GATE_AREA
        if self.kept:
            self.vmas.append(vma)

    def line(self, raw: str, lineno: int) -> None:
        """One line that is not part of a field run: header, comment, blank or error."""
        line = raw.strip()
        if not line or line[0] == "#":
            return
        header = split_header(line)
        if header is not None:
            self.header(*header, lineno)
            return
        key, colon, rest = line.partition(":")
        if not (colon and key.isascii() and key.isidentifier()
                and (not rest or rest[0].isspace())):
            if _looks_binary(raw):
                raise self.error(lineno, "binary file, not text (a layout is the text of "
                                 "/proc/PID/maps or smaps; a compressed capture must be "
                                 "decompressed first)")
            raise self.error(lineno, f"not a maps/smaps line: {quote(line)}")
        self.field(key, rest, lineno)

    def header(self, start: str, end: str, perms: str, name: str, lineno: int) -> None:
        first, last = self.address(start, lineno), self.address(end, lineno)
        if perms not in _PERMS:
            raise self.error(lineno, f"bad permissions {quote(perms)} (want e.g. 'rw-p')")
        if name == ROLLUP:
            raise self.error(lineno, "a [rollup] line: this is /proc/PID/smaps_rollup, a "
                             "summary of the whole process, not a layout (use smaps or maps)")
        self.add(_make_vma(first, last, perms, None, name, lineno, None, None))

    def address(self, digits: str, lineno: int) -> int:
        if len(digits) > _MAX_ADDRESS_DIGITS:
            significant = digits.lstrip("0")
            if len(significant) > _MAX_ADDRESS_DIGITS:
                shown = "0x" + significant[:24].lower()
                raise self.error(lineno, f"address {shown}... ({len(significant)} hex digits) "
                                 "is past 2**64")
        value = int(digits, 16)
        if value > ADDRESS_LIMIT:
            raise self.error(lineno, f"address {value:#x} is past 2**64")
        return value

    def field(self, key: str, value: str, lineno: int) -> None:
        """A `Key: value` line of the current VMA; only _FIELD_SLOT keys are read."""
        vma = self.current
        if vma is None:
            raise self.error(lineno, f"smaps field {quote(key)} before any VMA line")
        slot = _FIELD_SLOT.get(key)
        if slot is None:
            return
        if getattr(vma, slot) is not None:
            raise self.error(lineno, f"a second {key} line for the VMA at line {vma.lineno}")
        if slot == "flags":
            known = self.flag_sets.get(value)
            known = self.vmflags(value, lineno) if known is None else known
        else:
            known = self.sizes[slot][value] = self.kilobytes(key, value, lineno)
        self.current = replace(vma, **{slot: known})
        if self.kept:
            self.vmas[-1] = self.current

    def vmflags(self, value: str, lineno: int) -> frozenset[str]:
        flags = value.split()
        for flag in flags:
            if flag != "??" and (len(flag) != 2 or not _MNEMONIC_CHARS.issuperset(flag)):
                raise self.error(lineno, f"bad VmFlags mnemonic {quote(flag)}")
        self.flag_sets[value] = result = frozenset(flags)
        return result

    def kilobytes(self, key: str, value: str, lineno: int) -> int:
        """`N kB` in bytes; a page size must be a power of two."""
        words = value.split()
        if (len(words) != 2 or words[1] != "kB" or not _is_decimal(words[0])
                or len(words[0]) > _MAX_KB_DIGITS):
            raise self.error(lineno, f"bad {key} value {quote(value.strip())} (want e.g. '4 kB')")
        size = int(words[0]) * 1024
        if key == "KernelPageSize" and (size == 0 or size & (size - 1)):
            raise self.error(lineno, f"KernelPageSize {words[0]} kB is not a power of two")
        return size

    def run(self, text: str, start: int, end: int, lineno: int) -> None:
        """Field lines text[start:end] (each ended by "\\n"), the first at `lineno`."""
        if self.current is None:
            raise self.error(lineno, "smaps field "
                             f"{quote(text[start:text.index(':', start)])} before any VMA line")
        for found in _READ_FIELD.finditer(text, start - 1, end):  # start - 1: the "\\n" before
            self.field(found[1], found[2], lineno + text.count("\n", start, found.start() + 1))

    def block_fields(self, block: re.Match, text: str, pos: int, lineno: int) -> None:
        """The _BLOCK_KEYS lines of one _VMA_BLOCK match that starts at `pos`, `lineno`."""
        for group, key in enumerate(_BLOCK_KEYS, start=5):
            if block[group] is not None:
                self.field(key, block[group], lineno + text.count("\n", pos, block.start(group)))

    def layout(self) -> Layout:
        if not self.vmas and self.current is not None:
            raise self.error(None, f"no VMA found ({GATE_AREA} is the gate area, not a VMA "
                             "of the mm; a layout needs at least one)")
        return Layout.checked(self.path, self.vmas)


class _Template(NamedTuple):
    """The patterns for VMAs whose field lines have exactly `keys`, in that order."""

    keys: tuple[str, ...]
    match: object  # match(text, pos): the header as _HEADER, then one `Key:` line per
    # key, each of _FIELD's shape; its groups: start, end, perms, name, then the values
    # of the _BLOCK_KEYS present, in the order of `keys`
    values: itemgetter  # values(m.groups()) = (start, end, perms, name, then the
    # _BLOCK_KEYS values in _BLOCK_KEYS order, None for a key not in `keys`)
    fields: tuple[tuple[int, str, int], ...]  # (line offset from the header, key, index
    # in _BLOCK_KEYS) of the _BLOCK_KEYS present, in line order
    lines: int  # lines of one match
    tiling: re.Pattern  # `match`'s pattern (but each key outside _BLOCK_KEYS with a
    # value, as kernels print them: a few percent faster) or one line: findall covers
    # any text; a VMA it does not cover goes to the line-by-line path


@lru_cache(maxsize=16)
def _template(keys: tuple[str, ...]) -> _Template | None:
    """The template of `keys`; None when they name a block key twice (an error, which
    the general path reports) or are too many."""
    if len(keys) > _TEMPLATE_KEYS_MAX or any(keys.count(key) > 1 for key in _BLOCK_KEYS):
        return None
    parts, index, tiles = [_HEADER], {}, [_HEADER]
    for key in keys:
        if key in _BLOCK_KEYS:
            index[key] = 4 + len(index)  # after the header's 4 groups
            parts.append(f"{key}:((?:[ \\t][^\\n]*+)?+)\\n")
            tiles.append(parts[-1])
        else:
            parts.append(f"{key}:(?:[ \\t][^\\n]*+)?+\\n")
            tiles.append(f"{key}:[ \\t][^\\n]*+\\n")  # a value: what kernels print
    pattern = "".join(parts)
    never = "((?!))?+"  # a group that never matches: the value of a key not in `keys`
    values = itemgetter(0, 1, 2, 3, *(index.get(key, 4 + len(index)) for key in _BLOCK_KEYS))
    fields = tuple(sorted((keys.index(key) + 1, key, _BLOCK_KEYS.index(key)) for key in index))
    return _Template(keys, re.compile(pattern + never).match, values, fields, len(keys) + 1,
                     re.compile(f"(?:{''.join(tiles)})|([^\\n]*+\\n?+)"))


@lru_cache(maxsize=16)
def _bytes_tiling(keys: tuple[str, ...]) -> re.Pattern:
    """_template(keys).tiling for the bytes of an ASCII file."""
    return _bytes_pattern(_template(keys).tiling.pattern)


def _keys_of(block: re.Match, text: str | bytes) -> tuple[str, ...]:
    """The keys of the field lines of one _VMA_BLOCK(_BYTES) match, in order."""
    binary = isinstance(text, bytes)
    header_end = text.find(b"\n" if binary else "\n", block.start(), block.end()) + 1 \
        or block.end()
    if binary:
        return tuple(key.decode("ascii") for key in
                     _KEY_AT_LINE_START_BYTES.findall(text, header_end, block.end()))
    return tuple(_KEY_AT_LINE_START.findall(text, header_end, block.end()))


def parse_text(text: str, path: str) -> Layout:
    """Parse maps or smaps text; `path` only names the source in errors."""
    with cyclic_gc_paused():  # no cycles are made: see model/gc_pause.py
        layout = _whole_file(text, path)
        return _parse(text, path) if layout is None else layout


def _whole_file(text: str | bytes, path: str) -> Layout | None:
    """The layout of a file whose every VMA has the first VMA's keys (what one kernel
    prints), read with one findall of that template, each distinct value checked once.
    None for anything else: a line the template does not cover, a value or header that
    the line-by-line path checks further or rejects; `_parse` then reads the file and
    gives the first error by line. The VMAs are those `_parse` makes.

    `text` may also be the bytes of an ASCII file (`load`: no decoding of the whole
    file; the patterns match ASCII bytes as they match the same text, and only the
    distinct values, names and permissions are decoded)."""
    binary = isinstance(text, bytes)
    first = (_VMA_BLOCK_BYTES if binary else _VMA_BLOCK).match(text)
    made = None if first is None else _template(_keys_of(first, text))
    if made is None:
        return None
    rows = (_bytes_tiling(made.keys) if binary else made.tiling).findall(text)
    if rows and not rows[-1][0]:
        rows.pop()  # findall's empty match at the end of the text
    if not rows or any(map(itemgetter(-1), rows)):  # a line outside the template
        return None
    columns = list(zip(*rows))
    starts, ends, perms = columns[:3]
    if binary:
        perms, names = (_ascii(column) for column in (perms, columns[3]))
        names = list(map(str.rstrip, names))
        columns[4:] = map(_ascii, columns[4:])
    else:
        names = list(map(str.rstrip, columns[3]))
    if (max(map(len, starts)) > 16 or max(map(len, ends)) > 16
            or not _PERMS.issuperset(perms) or ROLLUP in names):
        return None
    found = [key for key in made.keys if key in _BLOCK_KEYS]
    raw = {key: columns[4 + i] for i, key in enumerate(found)}  # key -> its values
    checker = _Parser(path)
    try:
        flags, rss, page_size = (_decoded(raw.get("VmFlags"), checker.vmflags),
                                 _decoded(raw.get("Rss"), partial(checker.kilobytes, "Rss")),
                                 _decoded(raw.get("KernelPageSize"),
                                          partial(checker.kilobytes, "KernelPageSize")))
    except LayoutError:
        return None
    firsts, lasts = list(map(int, starts, repeat(16))), list(map(int, ends, repeat(16)))
    vmas = list(map(_make_vma, firsts, lasts, perms, flags, names,
                    range(1, len(rows) * made.lines + 1, made.lines), rss, page_size))
    if GATE_AREA in names:  # read and checked, not kept (docs/model.md §1)
        kept = [name != GATE_AREA for name in names]
        vmas, firsts, lasts = (list(compress(column, kept)) for column in (vmas, firsts, lasts))
    return Layout.checked(path, vmas, bounds=(firsts, lasts)) if vmas else None


def _ascii(values) -> list[str]:
    """ASCII bytes values as str, each distinct one decoded once."""
    known = {value: value.decode("ascii") for value in set(values)}
    return list(map(known.__getitem__, values))


def _decoded(values, decode):
    """Each of `values` decoded (distinct ones once: decode(value, None)), or Nones
    for a key that is not there."""
    if values is None:
        return repeat(None)
    known = {value: decode(value, None) for value in set(values)}
    return map(known.__getitem__, values)


def _parse(text: str, path: str) -> Layout:
    parser = _Parser(path)
    vma_block, field_run, make = _VMA_BLOCK.match, _FIELD_RUN.match, _make_vma
    append, count, perms_ok, new = parser.vmas.append, text.count, _PERMS, _NEW
    flag_sets, rss_sizes, page_sizes = (parser.flag_sets, parser.sizes["rss"],
                                        parser.sizes["page_size"])
    template = values = fields = block_lines = None  # a VMA's keys (_template)
    templates_left = _TEMPLATES_PER_FILE
    pos, lineno, size = 0, 1, len(text)
    while pos < size:
        block = template(text, pos) if template is not None else None
        if block is not None:  # the common case: a VMA with the last VMA's keys
            start, end, perms, name, page, rss, flags = values(block.groups())
            lines = block_lines
        else:
            block = vma_block(text, pos)
            if block is None:  # anything but a header: a field run, or one line
                run = field_run(text, pos)
                if run is not None:
                    end = run.end()
                    parser.run(text, pos, end, lineno)
                else:
                    end = text.find("\n", pos) + 1 or size
                    parser.line(text[pos:end].rstrip("\n"), lineno)
                lineno += text.count("\n", pos, end)
                pos = end
                continue
            if templates_left:  # this VMA's keys, expected next (a few sets per file:
                templates_left -= 1  # each costs a compile)
                made = _template(_keys_of(block, text))
                template, values, fields, block_lines = made[1:5] if made else (None,) * 4
            start, end, perms, name, page, rss, flags = block.groups()
            lines = None
        name = name.rstrip() if name else ""
        flag_set, rss_size, page_size = (flag_sets.get(flags, new), rss_sizes.get(rss, new),
                                         page_sizes.get(page, new))
        if (len(start) > 16 or len(end) > 16 or perms not in perms_ok or name == ROLLUP
                or flag_set is new or rss_size is new or page_size is new):  # rare: checks,
            parser.header(start, end, perms, name, lineno)  # errors, values not seen before
            if lines is None:
                parser.block_fields(block, text, pos, lineno)
            else:
                raw = (page, rss, flags)
                for offset, key, slot in fields:
                    parser.field(key, raw[slot], lineno + offset)
        else:
            parser.current = vma = make(int(start, 16), int(end, 16), perms, flag_set, name,
                                        lineno, rss_size, page_size)
            parser.kept = kept = name != GATE_AREA
            if kept:
                append(vma)
        end = block.end()
        lineno += lines if lines is not None else count("\n", pos, end)
        pos = end
    return parser.layout()


def read_text(path: str | Path, name: str) -> str:
    """A layout file's text; errors are LayoutErrors naming `name` (see read_bytes).
    Bytes that are not UTF-8 (the kernel prints file names as they are) decode with
    surrogateescape, so names survive and can be written back byte for byte."""
    return read_bytes(path, name).decode("utf-8", "surrogateescape")


def read_bytes(path: str | Path, name: str) -> bytes:
    """A layout file's bytes; errors are LayoutErrors naming `name`.

    Only regular files are read (every /proc/PID/maps and smaps is one): a FIFO, device
    or directory is refused before any read, so a FIFO without a writer cannot hang.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise LayoutError(name, None, f"cannot read: {err.strerror or err}") from None
    try:
        kind = os.fstat(fd).st_mode
        if not stat.S_ISREG(kind):
            what = "a directory" if stat.S_ISDIR(kind) else "not a regular file"
            raise LayoutError(name, None, f"cannot read: {what} (a layout is a maps or "
                              "smaps file)")
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read()
    except OSError as err:
        raise LayoutError(name, None, f"cannot read: {err.strerror or err}") from None
    finally:
        os.close(fd)
    return data


def load(path: str | Path, shown_as: str | None = None) -> Layout:
    """Read a layout file; errors name `shown_as` (default: the path as given)."""
    name = shown_as or str(path)
    data = read_bytes(path, name)
    if data.isascii():  # what the kernel prints but for file names: read as bytes
        with cyclic_gc_paused():
            layout = _whole_file(data, name)
        if layout is not None:
            return layout
    return parse_text(data.decode("utf-8", "surrogateescape"), name)


def header_line(start: int, end: int, perms: str, rest: str, name: str) -> str:
    """A maps header: `rest` is `offset dev inode`; the name starts at column 74 as the
    kernel pads it (seq_pad), and always after at least one blank."""
    header = f"{start:08x}-{end:08x} {perms} {rest}"
    return f"{header:<72} {name}" if name else header


def format_smaps(layout: Layout) -> str:
    """Render a layout as minimal smaps text: header, Rss and KernelPageSize when known,
    VmFlags when known."""
    out = []
    for vma in layout.vmas:
        out.append(header_line(vma.start, vma.end, vma.perms, "00000000 00:00 0", vma.name))
        if vma.rss is not None:
            out.append(f"Rss:            {vma.rss // 1024:>8} kB")
        if vma.page_size is not None:
            out.append(f"KernelPageSize: {vma.page_size // 1024:>8} kB")
        if vma.flags is not None:
            out.append("VmFlags: " + " ".join(sorted(vma.flags)))
    return "\n".join(out) + "\n"
