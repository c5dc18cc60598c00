"""A process's VMA layout: the input every model in reapcheck walks (docs/model.md §1)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from operator import le, lt

ULONG_MAX = 2**64 - 1
ADDRESS_LIMIT = 2**64  # an exclusive vm_end may equal this: the VMA then contains ULONG_MAX
PAGE_SHIFT = 12
DEFAULT_PMD_SHIFT = 21  # x86-64 and arm64 with 4 KiB pages: one PTE page table per 2 MiB

# VmFlags mnemonics (fs/proc/task_mmu.c show_smap_vma_flags) that keep a VMA from the reaper.
# __oom_reap_task_mm() skips VM_HUGETLB | VM_PFNMAP and reaps only anonymous or private VMAs.
UNREAPABLE_FLAGS = frozenset({"ht", "pf", "sh"})

# How a VMA without VmFlags (a plain maps line) is judged; its 4th permission character
# `s` is VM_MAYSHARE, not the VM_SHARED the reaper tests (docs/kernel.md §9; the choice:
# docs/model.md §1).
#   private  (docs/model.md §1, the default): reapable iff the 4th character is `p`.
#   writable: also an `s` VMA without `w`: a writable shared mapping has VM_SHARED, a
#             read-only one may lack it (do_mmap() clears VM_SHARED when the file is not
#             open for writing), so it is counted as the reaper's.
MAPS_SHARED_RULES = ("private", "writable")
_PERMS = frozenset(r + w + x + s for r in "r-" for w in "w-" for x in "x-" for s in "ps")
DEFAULT_MAPS_SHARED_RULE = "private"


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
        """The reaper's filter (docs/model.md §1): VmFlags when known, else the private bit.
        A layout read with another plain-maps rule answers by `Layout.is_reapable`."""
        return self.reapable_under(DEFAULT_MAPS_SHARED_RULE)

    def reapable_under(self, maps_shared_rule: str) -> bool:
        """The reaper's filter: VmFlags when known (exact, whatever the rule), else the
        plain-maps rule (MAPS_SHARED_RULES)."""
        if self.flags is not None:
            return not (self.flags & UNREAPABLE_FLAGS)
        if maps_shared_rule == "writable":
            return self.perms[3] == "p" or self.perms[1] != "w"
        return self.perms[3] == "p"

    @property
    def contains_ulong_max(self) -> bool:
        return self.end == ADDRESS_LIMIT

    def ptl_pages(self, pmd_shift: int = DEFAULT_PMD_SHIFT) -> range:
        """Page-table pages (PMD indices) this VMA covers, ascending."""
        return range(self.start >> pmd_shift, ((self.end - 1) >> pmd_shift) + 1)


@dataclass(frozen=True)
class Layout:
    """VMAs in address order; index = position (docs/model.md §1)."""

    path: str
    vmas: tuple[Vma, ...]
    maps_shared_rule: str = DEFAULT_MAPS_SHARED_RULE  # for VMAs without VmFlags only

    def __post_init__(self):
        if self.maps_shared_rule not in MAPS_SHARED_RULES:
            raise ValueError(f"maps_shared_rule must be one of {', '.join(MAPS_SHARED_RULES)}, "
                             f"not {self.maps_shared_rule!r}")

    def __len__(self) -> int:
        return len(self.vmas)

    def is_reapable(self, vma: Vma) -> bool:
        """Whether the reaper unmaps `vma`, under this layout's plain-maps rule."""
        return vma.reapable_under(self.maps_shared_rule)

    @cached_property
    def reapable(self) -> tuple[int, ...]:
        """Indices of the VMAs the reaper unmaps (Vma.reapable_under, once per distinct
        VmFlags set or permission string: a layout has few; computed once per layout)."""
        rule, known = self.maps_shared_rule, {}
        out = []
        for index, vma in enumerate(self.vmas):
            kind = vma.perms if vma.flags is None else vma.flags
            keep = known.get(kind)
            if keep is None:
                keep = known[kind] = vma.reapable_under(rule)
            if keep:
                out.append(index)
        return tuple(out)

    @property
    def plain_vmas(self) -> int:
        """How many VMAs have no VmFlags (judged by the plain-maps rule)."""
        return [vma.flags for vma in self.vmas].count(None)

    @property
    def reapable_rule(self) -> str:
        """Which rule counted the reapable VMAs: `vmflags` (every VMA has VmFlags: `sh`,
        `ht`, `pf`, exact), the plain-maps rule (`private` or `writable`: no VMA has
        VmFlags), or `vmflags+RULE` when only some VMAs have them."""
        plain = self.plain_vmas
        if plain == 0:
            return "vmflags"
        return self.maps_shared_rule if plain == len(self.vmas) else \
            f"vmflags+{self.maps_shared_rule}"

    def with_maps_shared_rule(self, rule: str) -> "Layout":
        """The same VMAs, judged by another plain-maps rule."""
        return replace(self, maps_shared_rule=rule)

    @cached_property
    def bounds(self) -> tuple[list[int], list[int]]:
        """(starts, ends): every VMA's start and end, in order (for the walks, which
        read them with C-speed maps rather than one attribute access per VMA)."""
        return [vma.start for vma in self.vmas], [vma.end for vma in self.vmas]

    @classmethod
    def checked(cls, path: str, vmas,
                maps_shared_rule: str = DEFAULT_MAPS_SHARED_RULE,
                bounds: tuple[list[int], list[int]] | None = None) -> "Layout":
        """Build a layout, rejecting what no kernel could show (docs/model.md §6).

        `bounds`: the VMAs' (starts, ends) when the caller has them already (the parser
        does), kept as the layout's `bounds`."""
        vmas = tuple(vmas)
        if not vmas:
            raise LayoutError(path, None, "no VMA found (a layout needs at least one)")
        starts, ends = bounds or ([vma.start for vma in vmas], [vma.end for vma in vmas])
        if (starts[0] >= 0 and all(map(lt, starts, ends)) and all(map(le, ends, starts[1:]))
                and ends[-1] <= ADDRESS_LIMIT and _PERMS.issuperset([v.perms for v in vmas])):
            layout = cls(path, vmas, maps_shared_rule)  # the common case, at C speed
            layout.__dict__["bounds"] = (starts, ends)  # what cached_property stores
            return layout
        prev = None  # find the first VMA that is wrong, for its message
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
        return cls(path, vmas, maps_shared_rule)
