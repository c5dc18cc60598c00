"""Make a real maps/smaps capture safe to share: replace what names the machine.

File names become `/file/N` (N numbered by first appearance) and device:inode pairs
become `00:00` and N, so a layout identifies no machine. Addresses, permissions,
offsets, every smaps counter and the VmFlags line are kept byte for byte. The kernel's
own names ([heap], [stack], [vdso], ...) stay; user-chosen `[anon:...]` names do not.
The output always parses back to the same layout (tests/test_anonymize.py): a name
follows at least one blank however long the header, and bytes that are not UTF-8
(possible in names, which are replaced) become U+FFFD elsewhere.
"""
from __future__ import annotations

import re

from .model.smaps import parse_text, split_header

KERNEL_NAMES = frozenset({"[heap]", "[stack]", "[vdso]", "[vvar]", "[vvar_vclock]",
                          "[vsyscall]", "[uprobes]", "[anon]"})
# The fields of a header that split_header() accepted with offset, dev and inode: every
# quantifier possessive, so a long name or long blanks cost their length once.
_FIELDS = re.compile(r"(\S++\s++\S++\s++\S++\s++)(\S++)(\s++)(\S++)\s*+(.*+)")
NAME_COLUMN = 73  # show_map_vma pads the header to 73 columns before the name (seq_pad)


def anonymize(text: str, path: str) -> str:
    """Return `text` with file names, devices and inodes replaced (validated first)."""
    parse_text(text, path)  # refuse anything that is not a layout
    files: dict[str, int] = {}
    out = []
    for line in text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"):
        stripped = line.strip()
        header = split_header(stripped) if stripped[:1] not in ("", "#") else None
        m = _FIELDS.fullmatch(stripped) if header is not None else None
        if m is None:  # field, comment, blank, or a header without offset/dev/inode
            out.append(line)
            continue
        prefix, dev, blank, inode, name = m.groups()
        if inode.strip("0") == "" and (not name or name in KERNEL_NAMES):
            out.append(line)
            continue
        deleted = " (deleted)" if name.endswith(" (deleted)") else ""
        base = name[: -len(deleted)] if deleted else name
        number = files.setdefault(base or f"{dev}:{inode}", len(files) + 1)
        if name in KERNEL_NAMES or not name:
            new_name = name
        elif name.startswith("[anon"):
            new_name = "[anon:named]"
        else:
            new_name = f"/file/{number}{deleted}"
        new_inode = str(number) if inode.strip("0") else "0"
        head = f"{prefix}00:00{blank}{new_inode}"
        out.append(f"{head:<{NAME_COLUMN - 1}} {new_name}" if new_name else head)
    result = "\n".join(out) + "\n"
    if not result.isascii():  # undecodable bytes outside names (comments, counters)
        result = result.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return result
