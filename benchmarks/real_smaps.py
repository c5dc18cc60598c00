"""A live 65,530-VMA smaps: a child process maps as many anonymous VMAs as
vm.max_map_count allows, its /proc/PID/smaps is read, and the child is killed and reaped.

For benchmarks/parse.py (issue 10, section 5: "a real 65,530-VMA smaps"): the capture is
made on every run, never committed (about 48 MB). Two shapes:

- `one-page`: every VMA one page, like the issue's 65,021-VMA capture;
- `mixed`: VMA sizes drawn (seeded) from 1 page to 16 MiB, so many VMAs span page tables.

The child (`python -I -S -c CHILD`, standard library only) maps one region with
MAP_NORESERVE, writes one byte in each VMA-to-be (resident pages, as a real process
has), then mprotect()s every other chunk read-only, from the top down, so that the
neighbours differ and the kernel cannot merge them. It stops when mprotect() fails with
ENOMEM (the map count is at vm.max_map_count) or a few VMAs before it, so the child's
own allocations still succeed. The parent reads the smaps, kills the child with SIGKILL
and waits for it: no child outlives capture(), on any exit path.

    python benchmarks/real_smaps.py one-page|mixed OUT.smaps   # write one capture
"""
from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys

# The child: argv = shape, seed, margin. Prints "ready VMAS" once mapped, then waits for
# its stdin to close (or SIGKILL). It dies with its parent (PR_SET_PDEATHSIG).
CHILD = r"""
import ctypes, os, random, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
shape, seed, margin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
page = os.sysconf("SC_PAGE_SIZE")
limit = int(open("/proc/sys/vm/max_map_count").read())
have = sum(1 for _ in open("/proc/self/maps"))
want = limit - have - margin  # new VMAs: one region split into `want` chunks
rng = random.Random(seed)
def pages():
    if shape == "one-page":
        return 1
    r = rng.random()  # mostly small, some large: like a real heap of mappings
    return (1 if r < 0.5 else rng.randint(2, 16) if r < 0.85 else
            rng.randint(17, 512) if r < 0.99 else rng.randint(513, 4096))
sizes = [pages() for _ in range(want)]
total = sum(sizes) * page
base = libc.mmap(None, total, 3, 0x02 | 0x20 | 0x4000, -1, 0)  # rw, private anon, noreserve
if base in (None, ctypes.c_void_p(-1).value):
    print("error mmap", ctypes.get_errno(), flush=True)
    sys.exit(1)
starts, at = [], base
for n in sizes:
    starts.append(at)
    ctypes.memset(at, 1, 1)  # one resident page per VMA
    at += n * page
made = 1
for i in range(len(sizes) - 2, -1, -2):  # chunk i read-only: splits off i + 1 and i
    if libc.mprotect(starts[i], sizes[i] * page, 1):
        break
    made += 2 if i else 1
print("ready", made, flush=True)
sys.stdin.read()
"""

MARGIN = 8  # map entries left for the child's own allocations after the split


def skip_reason() -> str | None:
    """Why no live capture can be made here, or None."""
    if not sys.platform.startswith("linux"):
        return "not Linux (needs /proc/PID/smaps)"
    if os.geteuid() != 0:
        return "not root (the benchmark's live capture runs as root only)"
    if not os.path.exists("/proc/sys/vm/max_map_count"):
        return "no /proc/sys/vm/max_map_count"
    return None


def capture(shape: str, out_path: str, seed: int = 1) -> dict:
    """Write the child's smaps to out_path; what was captured (VMAs, kernel, limit)."""
    child = subprocess.Popen([sys.executable, "-I", "-S", "-c", CHILD, shape, str(seed),
                              str(MARGIN)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        line = child.stdout.readline().split()
        if not line or line[0] != "ready":
            raise RuntimeError(f"capture child ({shape}): {' '.join(line) or 'no answer'}")
        with open(f"/proc/{child.pid}/smaps", "rb") as smaps, open(out_path, "wb") as out:
            out.write(smaps.read())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdin.close()
        child.stdout.close()
    with open(out_path, "rb") as f:
        text = f.read()
    firsts = (line.split(b" ", 1)[0] for line in text.split(b"\n"))
    vmas = sum(1 for first in firsts if b"-" in first and b":" not in first)  # header lines
    with open("/proc/sys/vm/max_map_count") as f:
        limit = int(f.read())
    return {"shape": shape, "vmas": vmas, "split": int(line[1]), "kernel": platform.release(),
            "max_map_count": limit, "bytes": len(text)}


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("one-page", "mixed"):
        print(__doc__.rstrip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    reason = skip_reason()
    if reason:
        print(f"benchmarks/real_smaps.py: skipped: {reason}", file=sys.stderr)
        return 0
    print(capture(sys.argv[1], sys.argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
