"""Shared helpers: random small layouts that stress shared page tables and every flag kind."""
from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # tests/oracle.py

from reapcheck.model.layout import Layout, Vma  # noqa: E402

FIRST = ("test_results_fresh.py", "test_protocol_proofs.py", "test_protocol_z3.py",
         "test_prove.py")  # the longest


def pytest_collection_modifyitems(config, items):
    """The longest tests first, so that a worker is not left with one of them at the end."""
    items.sort(key=lambda item: next((i for i, name in enumerate(FIRST)
                                      if item.path.name == name), len(FIRST)))

PAGE = 4096
FLAG_KINDS = (
    ("rw-p", "rd wr mr mw me ac"),  # private anonymous: reapable
    ("r-xp", "rd ex mr mw me"),  # private file: reapable
    ("rw-s", "rd wr sh mr mw me ms"),  # shared: not reapable
    ("rw-p", "rd wr mr mw me ht"),  # hugetlb: not reapable
    ("rw-p", "rd wr mr mw me io pf"),  # pfnmap: not reapable
    ("rw-s", None),  # plain maps, shared
    ("rw-p", None),  # plain maps, private
)


def random_layout(rng: random.Random, n: int, max_pages: int = 5, max_gap: int = 3,
                  top: bool = False) -> Layout:
    """n VMAs of 1..max_pages pages, gaps of 0..max_gap pages (zero often), random kinds.

    With a small PMD shift (e.g. 13 or 14: two or four pages per lock) most VMAs share a
    page table with a neighbour and many span several. `top` ends the last VMA at 2**64.
    """
    addr = rng.randrange(0, 64) * PAGE
    vmas = []
    for i in range(n):
        size = rng.randint(1, max_pages) * PAGE
        perms, flags = rng.choice(FLAG_KINDS)
        vmas.append(Vma(addr, addr + size, perms,
                        None if flags is None else frozenset(flags.split()), lineno=i + 1))
        addr += size + rng.choice([0, 0, 0, rng.randint(0, max_gap)]) * PAGE
    if top:
        shift = 2**64 - vmas[-1].end
        vmas = [Vma(v.start + shift, v.end + shift, v.perms, v.flags, lineno=v.lineno)
                for v in vmas]
    return Layout.checked("random", vmas)
