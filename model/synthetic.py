"""Synthetic layouts: N VMAs with chosen sizes, gaps and flags, reproducible from a seed."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

from .layout import ADDRESS_LIMIT, PAGE_SHIFT, Layout, Vma

PAGE = 1 << PAGE_SHIFT
LOW_BASE = 0x555555554000  # a PIE executable's first VMA

# (weight, min bytes, max bytes): guard pages and small libraries' segments, heaps and
# thread stacks, then the occasional large arena. Many small VMAs share one 2 MiB PTE page.
REALISTIC_SIZES = ((40, 4 << 10, 64 << 10), (35, 64 << 10, 2 << 20),
                   (20, 2 << 20, 16 << 20), (5, 16 << 20, 512 << 20))
# Most VMAs touch the next one (a file's segments, a stack and its guard page).
REALISTIC_GAPS = ((60, 0, 0), (30, 4 << 10, 64 << 10), (10, 64 << 10, 64 << 20))

# VmFlags per kind; only ht, pf and sh matter to the reaper (docs/model.md §1).
KIND_FLAGS = {
    "private": ("rw-p", "rd wr mr mw me ac"),
    "shared": ("rw-s", "rd wr sh mr mw me ms"),
    "hugetlb": ("rw-p", "rd wr mr mw me ht dd"),
    "pfnmap": ("rw-p", "rd wr mr mw me io pf dd"),
}

_SIZE = re.compile(r"^(\d+)([kmg]?)$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str) -> int:
    """'4k', '2m', '1g' or plain bytes."""
    m = _SIZE.match(text.strip())
    if not m:
        raise ValueError(f"bad size {text!r} (want e.g. 4k, 2m, 1g)")
    return int(m[1]) * _UNITS[m[2].lower()]


def parse_range(text: str) -> tuple[tuple[int, int, int], ...]:
    """'4k' or '4k-2m' as a one-bucket distribution (page-aligned)."""
    low, _, high = text.partition("-")
    lo, hi = parse_size(low), parse_size(high or low)
    if lo > hi:
        raise ValueError(f"bad range {text!r}: {lo} > {hi}")
    return ((1, lo, hi),)


@dataclass(frozen=True)
class SyntheticSpec:
    """How to draw a layout; defaults look like a busy multi-threaded process."""

    vmas: int
    seed: int = 0
    sizes: tuple = REALISTIC_SIZES
    gaps: tuple = REALISTIC_GAPS
    shared: float = 0.10
    hugetlb: float = 0.01
    pfnmap: float = 0.01

    def __post_init__(self):
        if self.vmas < 1:
            raise ValueError(f"a layout needs at least one VMA, not {self.vmas}")
        for name in ("shared", "hugetlb", "pfnmap"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a fraction in [0, 1]")
        if self.shared + self.hugetlb + self.pfnmap > 1.0:
            raise ValueError("shared + hugetlb + pfnmap must not exceed 1")
        for lo, hi in ((lo, hi) for _, lo, hi in self.sizes):
            if lo < PAGE:
                raise ValueError("a VMA is at least one page (4k)")


def _draw(rng: random.Random, buckets) -> int:
    """A page-aligned size from a weighted mixture of uniform buckets."""
    _, lo, hi = rng.choices(buckets, weights=[w for w, _, _ in buckets])[0]
    return rng.randint(lo // PAGE, hi // PAGE) * PAGE


def generate(spec: SyntheticSpec) -> Layout:
    """Draw the layout; raises ValueError if it cannot fit below 2**64."""
    rng = random.Random(spec.seed)
    kinds = ("shared", "hugetlb", "pfnmap", "private")
    weights = (spec.shared, spec.hugetlb, spec.pfnmap,
               1.0 - spec.shared - spec.hugetlb - spec.pfnmap)
    addr = LOW_BASE
    vmas = []
    for i in range(spec.vmas):
        size = _draw(rng, spec.sizes)
        perms, flags = KIND_FLAGS[rng.choices(kinds, weights=weights)[0]]
        if addr + size > ADDRESS_LIMIT:
            raise ValueError(f"{spec.vmas} VMAs of these sizes do not fit below 2**64")
        vmas.append(Vma(addr, addr + size, perms, frozenset(flags.split()), lineno=i + 1))
        addr += size + _draw(rng, spec.gaps)
    return Layout.checked(f"synthetic:{spec.vmas}:seed{spec.seed}", vmas)
