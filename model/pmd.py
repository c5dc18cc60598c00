"""`--pmd-shift auto`: the span of one PTE page table from the layout's page size.

One page-table page holds page_size / 8 entries of 8 bytes, each mapping one page, so it
spans page_size * page_size / 8 bytes: PMD shift = page_shift + (page_shift - 3). That is
the rule of x86-64 and arm64 (4 KiB pages: 21, 16 KiB: 25, 64 KiB: 29;
docs/kernel.md §8). It does not hold where page tables are sized otherwise, e.g. ppc64 with 64 KiB
pages (hash MMU 24, radix 21), s390 (256-entry tables: 20) and i386 without PAE (4-byte
entries: 22); give `--pmd-shift` there.

The page size comes from smaps' `KernelPageSize:` (bytes in `Vma.page_size`). hugetlb
VMAs (VmFlags `ht`) report their huge page size there, not the base page size, so they
do not count. Without any page size (maps files, old smaps) the shift is 21.
"""
from __future__ import annotations

from .layout import DEFAULT_PMD_SHIFT, Layout, LayoutError

PTE_BYTES_SHIFT = 3  # log2 of one page-table entry, 8 bytes on every 64-bit architecture


def shift_for_page_size(page_size: int) -> int:
    """PMD shift for a page size in bytes (a power of two): 4096 -> 21."""
    page_shift = page_size.bit_length() - 1
    return page_shift + (page_shift - PTE_BYTES_SHIFT)


def base_page_size(layout: Layout) -> int | None:
    """The one KernelPageSize (bytes) of the layout's non-hugetlb VMAs, None when absent.

    Two different sizes are an input error naming the line of the first VMA that differs.
    """
    first = None
    for vma in layout.vmas:
        if vma.page_size is None or (vma.flags is not None and "ht" in vma.flags):
            continue
        if first is None:
            first = vma
        elif vma.page_size != first.page_size:
            raise LayoutError(
                layout.path, vma.lineno or None,
                f"mixed page sizes: KernelPageSize {vma.page_size // 1024} kB here, "
                f"{first.page_size // 1024} kB at line {first.lineno}; "
                "give --pmd-shift to choose the page-table span")
    return None if first is None else first.page_size


def auto_pmd_shift(layout: Layout) -> int:
    """The PMD shift `--pmd-shift auto` uses for this layout (see the module doc)."""
    page_size = base_page_size(layout)
    if page_size is None:
        return DEFAULT_PMD_SHIFT
    shift = shift_for_page_size(page_size)
    if not 12 <= shift <= 63:
        raise LayoutError(layout.path, None,
                          f"KernelPageSize {page_size // 1024} kB gives no PMD shift in 12..63; "
                          "give --pmd-shift")
    return shift


def resolve_pmd_shift(layout: Layout, requested: int | None) -> int:
    """`requested` when given (an explicit --pmd-shift), else the automatic shift."""
    return auto_pmd_shift(layout) if requested is None else requested
