"""What the victim maps: a layout's VMAs as anonymous mappings, shifted by a multiple of 1 GiB.

A shift by a multiple of 1 GiB (one PMD table's span on x86-64 with 4 KiB pages) keeps
every VMA at the same place inside its page tables, so two VMAs share a PTE page after the
shift exactly when they shared one before it (pmd_index() and pte_index() of
arch/x86/include/asm/pgtable.h see only the address bits below 30).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..model.layout import Layout, Vma

GIB = 1 << 30
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
# Mappings the kernel makes itself (install_special_mapping(), the gate area): the victim
# has its own, and userspace cannot make another.
SPECIAL_NAMES = frozenset({"[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]", "[uprobes]",
                           "[sigpage]", "[vectors]", "[sigreturn]"})
# Shared mappings that are shmem underneath, so MAP_SHARED | MAP_ANONYMOUS recreates them.
SHMEM_PREFIXES = ("/dev/zero", "/SYSV", "/memfd:", "[anon:", "[anon_shmem:")


class PlanError(ValueError):
    """The layout cannot be recreated here (too large, too much resident memory)."""


@dataclass(frozen=True)
class Mapping:
    """One VMA to recreate: source index and addresses (bytes), where it goes, what to touch."""

    index: int           # the VMA's index in the input layout
    start: int           # source address (bytes)
    end: int
    perms: str           # 'rw-p' etc., kept exactly
    shared: bool         # MAP_SHARED | MAP_ANONYMOUS (shmem) instead of MAP_PRIVATE
    resident_pages: int  # pages to touch, spread evenly over the VMA
    dontdump: bool       # MADV_DONTDUMP: keeps it from merging with an equal neighbour

    @property
    def prot(self) -> int:
        return ((PROT_READ if self.perms[0] == "r" else 0) | (PROT_WRITE if self.perms[1] == "w" else 0)
                | (PROT_EXEC if self.perms[2] == "x" else 0))


@dataclass(frozen=True)
class LeftOut:
    index: int
    start: int
    end: int
    reason: str

    def to_json(self) -> dict:
        return {"index": self.index, "start": self.start, "end": self.end, "reason": self.reason}


@dataclass(frozen=True)
class Plan:
    """The mappings to make (ascending), what was left out, and the page size (bytes)."""

    layout: Layout
    mappings: tuple[Mapping, ...]
    left_out: tuple[LeftOut, ...]
    page_size: int

    @property
    def resident_bytes(self) -> int:
        return sum(m.resident_pages for m in self.mappings) * self.page_size

    def victim_text(self, offset: int) -> str:
        """The plan as the victim script reads it: one line per mapping, hex fields."""
        return "".join(f"{m.start + offset:x} {m.end - m.start:x} {m.prot} {int(m.shared)} "
                       f"{int(m.dontdump)} {m.resident_pages:x}\n" for m in self.mappings)


def _left_out_reason(vma: Vma) -> str | None:
    flags = vma.flags or frozenset()
    if vma.name in SPECIAL_NAMES:
        return "kernel special mapping (the victim has its own)"
    if "ht" in flags:
        return "hugetlb (needs reserved huge pages)"
    if "pf" in flags or "io" in flags:
        return "PFNMAP/IO device mapping"
    shared = "sh" in flags if vma.flags is not None else vma.perms[3] == "s"
    if vma.perms[3] == "s" and not (shared and _shmem(vma.name)):
        return "shared file mapping (would need the file)"
    return None


def _shmem(name: str) -> bool:
    return name == "" or name.startswith(SHMEM_PREFIXES)


def _resident_pages(vma: Vma, page_size: int, resident: str) -> int:
    pages = (vma.end - vma.start) // page_size
    if vma.rss is not None:
        return min(pages, vma.rss // page_size)
    if resident == "none" or vma.perms[:3] == "---":
        return 0
    return pages


def make_plan(layout: Layout, page_size: int, resident: str = "all") -> Plan:
    """Recreatable VMAs of `layout` and the reasons for the rest.

    `resident` says how much of a VMA without an smaps `Rss:` line to touch: `all` (every
    page, except PROT_NONE VMAs) or `none`. Raises PlanError when an address is not a
    multiple of this kernel's page size or nothing can be recreated.
    """
    if resident not in ("all", "none"):
        raise ValueError(f"resident must be all or none, not {resident!r}")
    mappings: list[Mapping] = []
    left_out: list[LeftOut] = []
    for index, vma in enumerate(layout.vmas):
        reason = _left_out_reason(vma)
        if reason:
            left_out.append(LeftOut(index, vma.start, vma.end, reason))
            continue
        if vma.start % page_size or vma.end % page_size:
            raise PlanError(f"{layout.path}:{vma.lineno}: VMA {vma.start:#x}-{vma.end:#x} is "
                            f"not aligned to this kernel's {page_size}-byte pages")
        shared = vma.perms[3] == "s"
        prev = mappings[-1] if mappings else None
        mergeable = (prev is not None and prev.end == vma.start and prev.perms == vma.perms
                     and not shared and not prev.shared)
        mappings.append(Mapping(index, vma.start, vma.end, vma.perms, shared,
                                _resident_pages(vma, page_size, resident),
                                mergeable and not prev.dontdump))
    if not mappings:
        raise PlanError(f"{layout.path}: no VMA can be recreated ("
                        + "; ".join(sorted({lo.reason for lo in left_out})) + ")")
    return Plan(layout, tuple(mappings), tuple(left_out), page_size)


def _merged(spans) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


def gib_regions(plan: Plan) -> list[tuple[int, int]]:
    """The 1 GiB regions (in GiB units, [lo, hi)) the plan's VMAs touch, merged."""
    return _merged((m.start // GIB, -(-m.end // GIB)) for m in plan.mappings)


def choose_offset(plan: Plan, occupied: list[tuple[int, int]], min_addr: int, top: int) -> int:
    """The multiple of 1 GiB, smallest in size, that moves the plan into free address space.

    Every 1 GiB region the plan touches must, after the shift, lie in [min_addr, top)
    (vm.mmap_min_addr and the top of the victim's user address space) and share nothing
    with the victim's own VMAs (`occupied`, [start, end) pairs), each of which keeps a
    free 1 GiB on either side (room for its heap to grow). So no recreated VMA shares a
    page table, or a PMD table, with one of the victim's, which may lie between them.
    Raises PlanError when no such shift exists.
    """
    layout = gib_regions(plan)
    blocked = _merged((s // GIB - 1, -(-e // GIB) + 1) for s, e in occupied)
    low = -(-max(min_addr, 1) // GIB) - layout[0][0]   # smallest allowed shift (GiB)
    high = top // GIB - layout[-1][1]                  # largest allowed shift
    # shift k is forbidden by (a, b) and (c, d) when [a + k, b + k) meets [c, d)
    forbidden = _merged((c - b + 1, d - a) for a, b in layout for c, d in blocked)
    allowed, k = [], low
    for lo, hi in forbidden + [(high + 1, high + 2)]:
        if lo > k:
            allowed.append((k, min(lo, high + 1)))
        k = max(k, hi)
        if k > high:
            break
    candidates = [min(max(0, lo), hi - 1) for lo, hi in allowed if lo < hi]
    if not candidates:
        raise PlanError(f"{plan.layout.path}: no shift by whole GiB puts the layout's "
                        f"{sum(b - a for a, b in layout)} GiB regions in free address "
                        "space beside the victim's own mappings")
    return min(candidates, key=abs) * GIB
