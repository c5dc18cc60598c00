"""The victim process: started, given its plan, read back, and always killed in the end."""
from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from ..model.layout import Layout
from ..model.smaps import parse_text
from .plan import GIB, Plan, PlanError, choose_offset, gib_regions

SCRIPT = Path(__file__).with_name("victim_script.py")
ADDR_NO_RANDOMIZE = 0x0040000  # include/uapi/linux/personality.h


class VictimError(RuntimeError):
    """The victim could not recreate the layout (a mapping failed, or it died)."""


def _victim_setup(cpu: int):
    """In the child before exec: no address randomization (the same address space every
    run, so the read-back layout and the model's answer for it repeat), bound to `cpu`,
    and SCHED_BATCH, so that waking to die does not preempt a reaper sharing that CPU
    (sched(7): batch threads cause no wakeup preemption) before it has found the mm."""
    def setup():
        ctypes.CDLL(None).personality(ADDR_NO_RANDOMIZE)
        os.sched_setaffinity(0, {cpu})
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    return setup


def _occupied(maps_text: str) -> tuple[list[tuple[int, int]], int]:
    """The victim's VMAs up to its [stack], and the stack's end: the top of its user
    address space (what lies above, x86-64's [vsyscall], is not user memory)."""
    spans = []
    for line in maps_text.splitlines():
        addresses = line.split(" ", 1)[0]
        start, _, end = addresses.partition("-")
        spans.append((int(start, 16), int(end, 16)))
        if line.endswith("[stack]"):
            break
    return spans, spans[-1][1]


_LAYOUT_LINES = re.compile(r"^(?:[0-9a-f]+-[0-9a-f]+ .*|VmFlags:.*)$", re.M)


def layout_signature(smaps_text: str) -> str:
    """What of an smaps text the model reads: the VMA lines and their VmFlags (counters
    such as Rss may change from run to run without changing the layout)."""
    return "\n".join(_LAYOUT_LINES.findall(smaps_text))


class Victim:
    """`with Victim(plan) as v:` a child that has mapped the plan; killed and reaped on exit.

    With `threads`, the victim starts that many more threads, which wait: exit_mmap()
    then runs in whichever of them exits last (kernel/exit.c exit_mm() -> mmput()).
    After entry: `v.pid`, `v.tids` (every thread), `v.offset` (bytes added to every source address, a multiple of
    1 GiB), `v.layout` (its /proc/PID/smaps read back, the layout the model runs on) and
    `v.recreated` (indices into v.layout of the plan's VMAs, in plan order).
    Raises PlanError when no place fits, VictimError when mapping fails. `seen` maps
    layout_signature() to layouts already parsed and checked (shared between runs).
    """

    def __init__(self, plan: Plan, cpu: int, threads: int = 0, seen: dict | None = None):
        self.plan, self.cpu, self.threads = plan, cpu, threads
        self.seen = {} if seen is None else seen
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Victim":
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(SCRIPT)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            preexec_fn=_victim_setup(self.cpu), close_fds=True)
        try:
            self._setup()
        except BaseException:
            self.kill()
            raise
        return self

    def _setup(self) -> None:
        self.pid = self.proc.pid
        self._expect("started")
        maps = Path(f"/proc/{self.pid}/maps").read_text()
        min_addr = int(Path("/proc/sys/vm/mmap_min_addr").read_text())
        occupied, top = _occupied(maps)
        self.offset = choose_offset(self.plan, occupied, min_addr, top)
        self.proc.stdin.write(f"{len(self.plan.mappings)} {self.threads}\n")
        self.proc.stdin.write(self.plan.victim_text(self.offset))
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().split()
        if reply[:1] != ["ready"]:
            raise VictimError(self._failure(reply))
        self.tids = sorted(int(t) for t in os.listdir(f"/proc/{self.pid}/task"))
        self.smaps_text = Path(f"/proc/{self.pid}/smaps").read_text()
        key = layout_signature(self.smaps_text)
        if key not in self.seen:  # runs repeat the same layout: parse and check it once
            layout = parse_text(self.smaps_text, "victim smaps")
            self.seen[key] = (layout, self._find_recreated(layout))
        self.layout, self.recreated = self.seen[key]

    def _expect(self, word: str) -> None:
        line = self.proc.stdout.readline().strip()
        if line != word:
            raise VictimError(f"the victim did not start (said {line!r}, "
                              f"exit status {self.proc.poll()})")

    def _failure(self, reply: list[str]) -> str:
        if len(reply) == 3 and reply[0] == "error":
            mapping = self.plan.mappings[int(reply[1]) - 1]
            err = int(reply[2])
            return (f"{self.plan.layout.path}:{self.plan.layout.vmas[mapping.index].lineno}: "
                    f"the victim could not map {mapping.start + self.offset:#x}-"
                    f"{mapping.end + self.offset:#x} ({os.strerror(err)})")
        try:
            status = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            status = "none: still running"
        return (f"the victim failed before it was ready (it said {' '.join(reply)[:60]!r}; "
                f"exit status {status})")

    def _find_recreated(self, layout: Layout) -> list[int]:
        starts = {v.start: i for i, v in enumerate(layout.vmas)}
        found = []
        for m in self.plan.mappings:
            index = starts.get(m.start + self.offset)
            vma = layout.vmas[index] if index is not None else None
            if vma is None or vma.end != m.end + self.offset or vma.perms != m.perms:
                raise VictimError(
                    f"{self.plan.layout.path}:{self.plan.layout.vmas[m.index].lineno}: the "
                    f"victim's VMA at {m.start + self.offset:#x} does not read back as "
                    f"{m.perms} of {m.end - m.start} bytes (merged or split by the kernel)")
            found.append(index)
        regions = [(a * GIB + self.offset, b * GIB + self.offset) for a, b in gib_regions(self.plan)]
        inside = sum(1 for v in layout.vmas if any(a <= v.start < b for a, b in regions))
        if inside != len(found):
            raise VictimError(f"{inside} VMAs read back where {len(found)} were mapped")
        return found

    def kill(self) -> None:
        """SIGKILL (if still alive) and reap; safe to call twice."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def __exit__(self, *exc) -> None:
        self.kill()


__all__ = ["Victim", "VictimError", "PlanError"]
