"""Make a real maps/smaps capture safe to share: replace what names the machine.

File names become `/file/N` (N numbered by first appearance) and device:inode pairs
become `00:00` and N, so a layout identifies no machine. Addresses, permissions,
offsets, every smaps counter and the VmFlags line are kept byte for byte. The kernel's
own names ([heap], [stack], [vdso], ...) stay; user-chosen `[anon:...]` names do not.
"""
from __future__ import annotations

import re

from .model.smaps import parse_text

KERNEL_NAMES = frozenset({"[heap]", "[stack]", "[vdso]", "[vvar]", "[vvar_vclock]",
                          "[vsyscall]", "[uprobes]", "[anon]"})
_HEADER = re.compile(
    r"^(?P<range>[0-9a-fA-F]+-[0-9a-fA-F]+\s+\S{4}\s+[0-9a-fA-F]+\s+)"
    r"(?P<dev>[0-9a-fA-F]+:[0-9a-fA-F]+)(?P<sp>\s+)(?P<inode>\d+)(?P<rest>.*)$")


def anonymize(text: str, path: str) -> str:
    """Return `text` with file names, devices and inodes replaced (validated first)."""
    parse_text(text, path)  # refuse anything that is not a layout
    files: dict[str, int] = {}
    out = []
    for line in text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"):
        m = _HEADER.match(line.strip())
        if m is None:
            out.append(line)
            continue
        name = m["rest"].strip()
        if m["inode"] == "0" and (not name or name in KERNEL_NAMES):
            out.append(line)
            continue
        deleted = " (deleted)" if name.endswith(" (deleted)") else ""
        base = name[: -len(deleted)] if deleted else name
        number = files.setdefault(base or f"{m['dev']}:{m['inode']}", len(files) + 1)
        if name in KERNEL_NAMES or not name:
            new_name = name
        elif name.startswith("[anon"):
            new_name = "[anon:named]"
        else:
            new_name = f"/file/{number}{deleted}"
        inode = str(number) if m["inode"] != "0" else "0"
        header = f"{m['range']}00:00{m['sp']}{inode}"
        out.append(f"{header:<73}{new_name}".rstrip() if not new_name else f"{header:<73}{new_name}")
    return "\n".join(out) + "\n"
