"""Read a tracefs text trace of one run: lock contentions with their kernel stacks, classified
by lock, and mmap_lock waits. Pure text in, data out: runs anywhere, without root.

The mapping from trace events to the model, in one place:
- `lock:contention_begin` (kernel/locking/qspinlock.c, rwsem.c) followed by its stack is
  one contention; the first frame above the lock primitives names the lock:
  `__pte_offset_map_lock` is the PTE page-table lock that docs/model.md §3 calls a ptl item's
  lock (mm/pgtable-generic.c); `pmd_lock` and friends the PMD lock; the mmap_lock is the
  rwsem taken in exit_mmap(), exit_mm() or process_mrelease(); `folio_lruvec_lock*` and
  the folio-release paths the lruvec lock (mm/swap.c); the page allocator's free paths the
  zone lock (mm/page_alloc.c). Everything else is `other`.
- `lock:contention_end` of the same thread ends the wait.
- `mmap_lock:mmap_lock_start_locking` .. `mmap_lock_acquire_returned` is one mmap_lock
  acquisition; its length is the wait the protocol model's `write_lock_wait` step stands
  for when exit_mmap takes the lock for writing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

LOCK_CLASSES = ("pte", "pmd", "mmap_lock", "lruvec", "zone", "other")
ACTORS = ("exit_mmap", "reaper")

_EVENT = re.compile(r"^\s*(?P<task>.*?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+(?:\S+\s+)?"
                    r"(?P<sec>\d+)\.(?P<frac>\d+): (?P<rest>.*)$")
_FRAME = re.compile(r"^\s*=> (?P<func>\S+)")
_LOST = re.compile(r"entries-in-buffer/entries-written: (\d+)/(\d+)")
_SUFFIX = re.compile(r"(\+0x[0-9a-f]+/0x[0-9a-f]+|\.(isra|part|constprop|cold|llvm)\.?\d*)+$")

# Frames of the lock implementation itself and of tracing: skipped when naming the lock.
_PRIMITIVE = re.compile(
    r"^(trace_|__traceiter_|__bpf_trace|perf_trace_|.*queued_spin_lock_slowpath$|"
    r"_raw_(spin|read|write)_lock|do_raw_spin_lock|queued_(read|write)_lock_slowpath|"
    r"rwsem_|down_(read|write)|__down_(read|write)|__mutex_lock|mutex_lock|osq_lock|"
    r"rt_mutex|__rt_mutex|percpu_down|__percpu_down|lock_acquire)")
_OWNERS = (
    ("pte", re.compile(r"^(__pte_offset_map_lock|pte_offset_map_lock|pte_lockptr|"
                       r"zap_pte_range|zap_present_ptes)$")),
    ("pmd", re.compile(r"^(pmd_lock|__pmd_trans_huge_lock|pmd_trans_huge_lock|zap_huge_pmd|"
                       r"__split_huge_pmd|pud_lock|__pud_trans_huge_lock|zap_huge_pud)$")),
    ("mmap_lock", re.compile(r"^(exit_mmap|exit_mm|acct_collect|__do_sys_process_mrelease|"
                             r"process_mrelease|oom_reap_task_mm|__mmap_lock.*|mmap_.*lock.*)$")),
    ("lruvec", re.compile(r"^(folio_lruvec_.*|lruvec_.*|__page_cache_release|folios_put_refs|"
                          r"release_pages|__folio_batch_release|folio_batch_move_lru|"
                          r"lru_add.*|__lru_add.*|lru_note_cost.*)$")),
    ("zone", re.compile(r"^(free_pcppages_bulk|free_one_page|rmqueue_bulk|rmqueue.*|"
                        r"__rmqueue.*|__free_pages_ok|split_free_page|free_unref_folios|"
                        r"free_frozen_page_commit|free_unref_page_commit)$")),
)


class TraceFormatError(ValueError):
    """A line of a trace file that is neither an event, a stack frame nor a comment."""

    def __init__(self, path: str, line: int, message: str):
        self.path, self.line = path, line
        super().__init__(f"{path}:{line}: {message}")


@dataclass
class Contention:
    """One lock:contention_begin and its end: thread, times (ns), stack, lock class."""

    pid: int
    begin_ns: int
    flags: str
    stack: list[str] = field(default_factory=list)
    end_ns: int | None = None

    @property
    def lock_class(self) -> str:
        return classify(self.stack, self.flags)

    @property
    def wait_us(self) -> float | None:
        return None if self.end_ns is None else (self.end_ns - self.begin_ns) / 1000


@dataclass
class MmapLockWait:
    """One mmap_lock acquisition: start_locking to acquire_returned (ns)."""

    pid: int
    write: bool
    start_ns: int
    acquired_ns: int | None = None
    success: bool | None = None

    @property
    def wait_us(self) -> float | None:
        return None if self.acquired_ns is None else (self.acquired_ns - self.start_ns) / 1000


@dataclass
class Trace:
    contentions: list[Contention]
    mmap_lock: list[MmapLockWait]
    lost_events: int  # written but overwritten in the ring buffer: counts are lower bounds


def frame_name(frame: str) -> str:
    """`zap_pmd_range.isra.0+0x1c/0x80` -> `zap_pmd_range`."""
    return _SUFFIX.sub("", frame)


def classify(stack: list[str], flags: str = "SPIN") -> str:
    """The lock class of a contention from its kernel stack (innermost frame first)."""
    for frame in stack:
        name = frame_name(frame)
        if _PRIMITIVE.match(name):
            continue
        for lock_class, pattern in _OWNERS:
            if pattern.match(name):
                if lock_class == "mmap_lock" and ("SPIN" in flags or not (
                        "READ" in flags or "WRITE" in flags)):
                    return "other"  # only the rwsem taken there is mmap_lock
                return lock_class
        return "other"
    return "other"


def _ns(sec: str, frac: str) -> int:
    return int(sec) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])


def parse_trace(text: str, path: str = "<trace>") -> Trace:
    """Parse the text of a tracefs `trace` file (one run). Raises TraceFormatError."""
    contentions: list[Contention] = []
    waits: list[MmapLockWait] = []
    open_contention: dict[int, list[Contention]] = {}
    open_wait: dict[int, MmapLockWait] = {}
    stack_of: Contention | None = None  # the contention the next frames belong to
    last_on_cpu: dict[int, Contention] = {}  # a stack follows its event on the same CPU
    lost = 0
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            m = _LOST.search(line)
            if m:
                lost = int(m[2]) - int(m[1])
            continue
        frame = _FRAME.match(line)
        if frame:
            if stack_of is not None:
                stack_of.stack.append(frame["func"])
            continue
        m = _EVENT.match(line)
        if m is None:
            raise TraceFormatError(path, lineno, f"not a trace line: {line.strip()[:60]!r}")
        pid, cpu, ts, rest = int(m["pid"]), int(m["cpu"]), _ns(m["sec"], m["frac"]), m["rest"]
        event, _, body = rest.partition(": ")
        owner = last_on_cpu.pop(cpu, None)
        stack_of = owner if rest == "<stack trace>" and owner is not None \
            and owner.pid == pid and not owner.stack else None
        if event == "contention_begin":
            flags = body[body.find("(flags=") + 7:].rstrip(")") if "(flags=" in body else ""
            contention = last_on_cpu[cpu] = Contention(pid, ts, flags)
            contentions.append(contention)
            open_contention.setdefault(pid, []).append(contention)
        elif event == "contention_end":
            pending = open_contention.get(pid)
            if pending:
                pending.pop().end_ns = ts
        elif event == "mmap_lock_start_locking":
            open_wait[pid] = MmapLockWait(pid, "write=true" in body, ts)
            waits.append(open_wait[pid])
        elif event == "mmap_lock_acquire_returned":
            wait = open_wait.pop(pid, None)
            if wait is not None:
                wait.acquired_ns, wait.success = ts, "success=true" in body
    return Trace(contentions, waits, lost)


def tally(trace: Trace, actors: dict[int, str]) -> tuple[dict, int]:
    """({lock class: {actor: {"count", "wait_us"}}}, contentions of unknown threads).

    Every class and actor is present (zeros included). `actors` maps thread id to
    `exit_mmap` or `reaper`. A contention with no end is counted, without a wait.
    """
    table = {c: {a: {"count": 0, "wait_us": 0.0} for a in ACTORS} for c in LOCK_CLASSES}
    unattributed = 0
    for c in trace.contentions:
        actor = actors.get(c.pid)
        if actor is None:
            unattributed += 1
            continue
        cell = table[c.lock_class][actor]
        cell["count"] += 1
        cell["wait_us"] += c.wait_us or 0.0
    for row in table.values():
        for cell in row.values():
            cell["wait_us"] = round(cell["wait_us"], 3)
    return table, unattributed


def mmap_lock_waits(trace: Trace, actors: dict[int, str]) -> list[dict]:
    """Each mmap_lock acquisition by an actor: who, read or write, wait (µs)."""
    return [{"actor": actors[w.pid], "write": w.write,
             "wait_us": None if w.wait_us is None else round(w.wait_us, 3)}
            for w in trace.mmap_lock if w.pid in actors]
