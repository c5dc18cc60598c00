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

    @property
    def span(self) -> tuple[int, int]:
        """[lowest start, highest end) of the mappings, widened to whole GiB."""
        low = self.mappings[0].start // GIB * GIB
        high = -(-self.mappings[-1].end // GIB) * GIB
        return low, high

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


def choose_offset(plan: Plan, occupied: list[tuple[int, int]], min_addr: int) -> int:
    """The multiple of 1 GiB, smallest in size, that moves the plan into free address space.

    `occupied` is the victim's own VMAs as [start, end) pairs. Each keeps a free 1 GiB on
    both sides (room for its heap to grow), so no recreated VMA shares a page table, or
    a PMD table, with one of the victim's.
    Addresses below `min_addr` (vm.mmap_min_addr) are not usable; nothing goes above the
    victim's highest VMA (its stack, near the top of the user address space). Raises
    PlanError when no such place exists.
    """
    low, high = plan.span
    size = high - low
    regions = sorted((s // GIB * GIB - GIB, -(-e // GIB) * GIB + GIB) for s, e in occupied)
    best = None
    floor = -(-max(min_addr, 1) // GIB) * GIB
    for start, end in regions:
        if start - floor >= size:  # the free gap [floor, start)
            # as close to the layout's own place as the gap allows
            place = min(max(low, floor), start - size)
            if best is None or abs(place - low) < abs(best - low):
                best = place
        floor = max(floor, end)
    if best is None:
        raise PlanError(f"{plan.layout.path}: the layout spans {size / GIB:.0f} GiB; no free "
                        "part of the victim's address space is that large")
    return best - low
