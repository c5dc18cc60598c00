"""Read and write /proc/PID/maps and /proc/PID/smaps text (MODEL.md sections 1 and 6)."""
from __future__ import annotations

import re
from pathlib import Path

from .layout import ADDRESS_LIMIT, Layout, LayoutError, Vma

# start-end perms [offset dev inode [name]]   (fs/proc/task_mmu.c show_map_vma)
_HEADER = re.compile(
    r"^(?P<start>[0-9a-fA-F]+)-(?P<end>[0-9a-fA-F]+)\s+(?P<perms>\S+)"
    r"(?:\s+(?P<offset>[0-9a-fA-F]+)\s+(?P<dev>[0-9a-fA-F]+:[0-9a-fA-F]+)\s+(?P<inode>\d+)"
    r"(?:\s+(?P<name>.*?))?)?\s*$")
_FIELD = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?:\s+(?P<value>.*?))?\s*$")
_PERMS = re.compile(r"^[r-][w-][x-][ps]$")
_MNEMONIC = re.compile(r"^([a-z0-9]{2}|\?\?)$")  # "??": a set bit without a name


def parse_text(text: str, path: str) -> Layout:
    """Parse maps or smaps text; `path` only names the source in errors."""
    vmas: list[dict] = []
    # Only "\n" ends a line: the kernel escapes nothing else in file names (seq_path).
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header:
            vmas.append(_header_fields(header, path, lineno))
            continue
        field = _FIELD.match(line)
        if field is None:
            raise LayoutError(path, lineno, f"not a maps/smaps line: {raw.strip()[:60]!r}")
        if not vmas:
            raise LayoutError(path, lineno, f"smaps field {field['key']!r} before any VMA line")
        if field["key"] == "VmFlags":
            vmas[-1]["flags"] = _vmflags(field["value"] or "", path, lineno)
        elif field["key"] in ("Rss", "KernelPageSize"):
            value = (field["value"] or "").split()
            if len(value) != 2 or value[1] != "kB" or not value[0].isdigit():
                raise LayoutError(path, lineno, f"bad {field['key']} value (want e.g. '4 kB')")
            key = "rss" if field["key"] == "Rss" else "page_size"
            vmas[-1][key] = int(value[0]) * 1024
    return Layout.checked(path, (Vma(**v) for v in vmas))


def _header_fields(m: re.Match, path: str, lineno: int) -> dict:
    start, end = int(m["start"], 16), int(m["end"], 16)
    for value in (start, end):
        if value > ADDRESS_LIMIT:
            raise LayoutError(path, lineno, f"address {value:#x} is past 2**64")
    if not _PERMS.match(m["perms"]):
        raise LayoutError(path, lineno, f"bad permissions {m['perms']!r} (want e.g. 'rw-p')")
    return {"start": start, "end": end, "perms": m["perms"], "name": m["name"] or "",
            "lineno": lineno, "flags": None}


def _vmflags(value: str, path: str, lineno: int) -> frozenset[str]:
    flags = value.split()
    for flag in flags:
        if not _MNEMONIC.match(flag):
            raise LayoutError(path, lineno, f"bad VmFlags mnemonic {flag!r}")
    return frozenset(flags)


def read_text(path: str | Path, name: str) -> str:
    """A layout file's text; unreadable or non-UTF-8 files are LayoutErrors naming `name`."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise LayoutError(name, None, f"cannot read: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise LayoutError(name, line, "not UTF-8 text") from None
    return text


def load(path: str | Path, shown_as: str | None = None) -> Layout:
    """Read a layout file; errors name `shown_as` (default: the path as given)."""
    name = shown_as or str(path)
    return parse_text(read_text(path, name), name)


def format_smaps(layout: Layout) -> str:
    """Render a layout as minimal smaps text (header plus VmFlags when known)."""
    out = []
    for vma in layout.vmas:
        header = f"{vma.start:08x}-{vma.end:08x} {vma.perms} 00000000 00:00 0"
        out.append(f"{header:<73}{vma.name}".rstrip() if vma.name else header)
        if vma.flags is not None:
            out.append("VmFlags: " + " ".join(sorted(vma.flags)))
    return "\n".join(out) + "\n"
