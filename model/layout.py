"""A process's VMA layout: the input every model in reapcheck walks (MODEL.md section 1)."""
from __future__ import annotations

from dataclasses import dataclass

ULONG_MAX = 2**64 - 1
ADDRESS_LIMIT = 2**64  # an exclusive vm_end may equal this: the VMA then contains ULONG_MAX
PAGE_SHIFT = 12
DEFAULT_PMD_SHIFT = 21  # x86-64 and arm64 with 4 KiB pages: one PTE page table per 2 MiB

# VmFlags mnemonics (fs/proc/task_mmu.c show_smap_vma_flags) that keep a VMA from the reaper.
# __oom_reap_task_mm() skips VM_HUGETLB | VM_PFNMAP and reaps only anonymous or private VMAs.
UNREAPABLE_FLAGS = frozenset({"ht", "pf", "sh"})


class LayoutError(ValueError):
    """Bad layout input; carries the file and line so the CLI can name them."""

    def __init__(self, path: str, line: int | None, message: str):
        self.path, self.line, self.message = path, line, message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Vma:
    """One VMA, [start, end) with end exclusive, as /proc/PID/smaps shows it."""

    start: int
    end: int
    perms: str
    flags: frozenset[str] | None = None  # smaps VmFlags; None when the input had none
    name: str = ""
    lineno: int = 0
    rss: int | None = None  # resident bytes (smaps `Rss:` kB * 1024); None without an Rss line
    page_size: int | None = None  # bytes (smaps `KernelPageSize:`); None when not given

    @property
    def reapable(self) -> bool:
        """The reaper's filter (MODEL.md 1): VmFlags when known, else the private bit."""
        if self.flags is not None:
            return not (self.flags & UNREAPABLE_FLAGS)
        return self.perms[3] == "p"

    @property
    def contains_ulong_max(self) -> bool:
        return self.end == ADDRESS_LIMIT

    def ptl_pages(self, pmd_shift: int = DEFAULT_PMD_SHIFT) -> range:
        """Page-table pages (PMD indices) this VMA covers, ascending."""
        return range(self.start >> pmd_shift, ((self.end - 1) >> pmd_shift) + 1)


@dataclass(frozen=True)
class Layout:
    """VMAs in address order; index = position (MODEL.md 1)."""

    path: str
    vmas: tuple[Vma, ...]

    def __len__(self) -> int:
        return len(self.vmas)

    @property
    def reapable(self) -> tuple[int, ...]:
        """Indices of the VMAs the reaper unmaps."""
        return tuple(i for i, v in enumerate(self.vmas) if v.reapable)

    @classmethod
    def checked(cls, path: str, vmas) -> "Layout":
        """Build a layout, rejecting what no kernel could show (MODEL.md 6)."""
        vmas = tuple(vmas)
        if not vmas:
            raise LayoutError(path, None, "no VMA found (a layout needs at least one)")
        prev = None
        for vma in vmas:
            line = vma.lineno or None
            if not 0 <= vma.start < vma.end:
                raise LayoutError(path, line, f"start {vma.start:#x} is not below end {vma.end:#x}")
            if vma.end > ADDRESS_LIMIT:
                raise LayoutError(path, line, f"end {vma.end:#x} is past 2**64")
            if len(vma.perms) != 4 or vma.perms[3] not in "ps":
                raise LayoutError(path, line, f"bad permissions {vma.perms!r}")
            if prev is not None and vma.start < prev.end:
                what = "overlaps" if vma.start >= prev.start else "is below"
                raise LayoutError(
                    path, line,
                    f"VMA {vma.start:#x}-{vma.end:#x} {what} the previous one "
                    f"{prev.start:#x}-{prev.end:#x} (VMAs must be sorted and disjoint)")
            prev = vma
        return cls(path, vmas)
