"""The victim's plan (pure) and the recreated layout read back from a real child process."""
import os

import pytest

from reapcheck import bundled
from reapcheck.experiment.plan import GIB, PlanError, choose_offset, make_plan
from reapcheck.experiment.run import model_bound
from reapcheck.experiment.victim import Victim
from reapcheck.model.layout import Layout, Vma
from reapcheck.model.smaps import parse_text
from reapcheck.model.synthetic import SyntheticSpec, generate

PAGE = 4096
HAND = """\
55550000-55551000 r--p 00000000 08:01 11  /usr/bin/x
55551000-55553000 r-xp 00001000 08:01 11  /usr/bin/x
55553000-55554000 rw-p 00000000 00:00 0
55554000-55555000 rw-p 00000000 00:00 0
55555000-55556000 rw-p 00000000 00:00 0
7f0000000000-7f0000200000 rw-s 00000000 00:05 7  /dev/zero (deleted)
7f0000200000-7f0000201000 r--s 00000000 08:01 12  /data/shared.db
7f0000400000-7f0000600000 ---p 00000000 00:00 0
7ffff7fc1000-7ffff7fc3000 r-xp 00000000 00:00 0  [vdso]
"""


def test_plan_left_out_and_merge_guards_by_hand():
    layout = parse_text(HAND, "hand.maps")
    plan = make_plan(layout, PAGE)
    assert [m.index for m in plan.mappings] == [0, 1, 2, 3, 4, 5, 7]
    assert [(lo.index, lo.reason.split(" (")[0]) for lo in plan.left_out] == [
        (6, "shared file mapping"), (8, "kernel special mapping")]
    # 2, 3, 4 are equal neighbours (rw-p, touching): every other one gets MADV_DONTDUMP
    assert [m.dontdump for m in plan.mappings] == [False, False, False, True, False, False,
                                                   False]
    assert [m.shared for m in plan.mappings] == [False] * 5 + [True, False]
    # plain maps: every page resident, except PROT_NONE
    assert [m.resident_pages for m in plan.mappings] == [1, 2, 1, 1, 1, 512, 0]
    assert make_plan(layout, PAGE, "none").resident_bytes == 0
    assert plan.resident_bytes == (1 + 2 + 1 + 1 + 1 + 512) * PAGE


def test_plan_left_out_flags_and_rss():
    vmas = [Vma(0x10000, 0x20000, "rw-p", frozenset({"rd", "wr", "ht"}), lineno=1),
            Vma(0x20000, 0x30000, "rw-p", frozenset({"rd", "wr", "pf", "io"}), lineno=2),
            Vma(0x30000, 0x40000, "rw-p", frozenset({"rd", "wr"}), rss=3 * PAGE, lineno=3)]
    plan = make_plan(Layout.checked("f.smaps", vmas), PAGE)
    assert [lo.reason.split(" ")[0] for lo in plan.left_out] == ["hugetlb", "PFNMAP/IO"]
    assert [(m.index, m.resident_pages) for m in plan.mappings] == [(2, 3)]
    assert plan.victim_text(GIB) == "40030000 10000 3 0 0 3\n"


def test_plan_errors():
    with pytest.raises(PlanError, match="no VMA can be recreated"):
        make_plan(parse_text("1000-2000 r-xp 0 00:00 0 [vdso]\n", "v.maps"), PAGE)
    with pytest.raises(PlanError, match=r"u\.maps:1: .*not aligned"):
        make_plan(parse_text("1000-1800 rw-p 0 00:00 0\n", "u.maps"), PAGE)


def test_choose_offset_by_hand():
    plan = make_plan(parse_text("40001000-40002000 rw-p 0 00:00 0\n", "o.maps"), PAGE)
    top = 200 * GIB
    # The layout's own GiB [1, 2) is free: no shift.
    assert choose_offset(plan, [(10 * GIB, 10 * GIB + PAGE)], PAGE, top) == 0
    # The victim occupies [1 GiB, 1 GiB + 4 KiB): with a free GiB on either side of it,
    # the nearest free GiB is [3, 4).
    assert choose_offset(plan, [(GIB, GIB + PAGE), (100 * GIB, 101 * GIB)], PAGE, top) \
        == 2 * GIB
    # Below mmap_min_addr is not usable: 3 GiB up at least.
    assert choose_offset(plan, [], 4 * GIB, top) == 3 * GIB
    # Nothing fits below the top of the user address space.
    with pytest.raises(PlanError, match="no shift"):
        choose_offset(plan, [(GIB, 4 * GIB)], PAGE, 4 * GIB)


def test_choose_offset_leaves_the_victim_between_the_layouts_vmas():
    """A real layout spans most of the address space (heap low, stack high): the victim's
    own mappings may sit between its VMAs, as long as no GiB region is shared."""
    plan = make_plan(parse_text("40000000-40001000 rw-p 0 00:00 0\n"
                                "1900000000-1900001000 rw-p 0 00:00 0\n", "w.maps"), PAGE)
    assert choose_offset(plan, [(50 * GIB, 50 * GIB + PAGE)], PAGE, 200 * GIB) == 0
    # the victim in the second VMA's GiB [100, 101): one GiB down puts it at [99, 100),
    # still touching the guard GiB [99, 100); two GiB down is free
    assert choose_offset(plan, [(100 * GIB, 100 * GIB + PAGE)], PAGE, 200 * GIB) == 2 * GIB


def test_model_bound_vma_granularity_by_hand():
    """N reapable VMAs: opposite walks cross once (docs/model.md §3: reverse gives 1); with two
    reapers, exit_mmap crosses each once and the reapers, going the same way, can meet in
    every VMA: 1 + 1 + N."""
    n = 7
    layout = Layout.checked("n", [Vma((i + 1) << 21, ((i + 1) << 21) + PAGE, "rw-p",
                                      lineno=i + 1) for i in range(n)])
    assert model_bound(layout, "opposite", 21, {})["vma"] == 1
    assert model_bound(layout, "same", 21, {})["vma"] == 2 + n


def _read_back(layout):
    plan = make_plan(layout, os.sysconf("SC_PAGE_SIZE"))
    with Victim(plan, cpu=min(os.sched_getaffinity(0))) as victim:
        got = [victim.layout.vmas[i] for i in victim.recreated]
        return plan, victim.offset, got, victim.layout


@pytest.mark.parametrize("layout", [
    generate(SyntheticSpec(vmas=300, seed=3, shared=0.1, hugetlb=0.0, pfnmap=0.0)),
    generate(SyntheticSpec(vmas=200, seed=4, sizes=((1, PAGE, PAGE),), gaps=((1, 0, 0),),
                           shared=0.0, hugetlb=0.0, pfnmap=0.0)),
    bundled.load_bundled("bundled/java.smaps"),
], ids=["synthetic-mix", "one-page-adjacent", "java.smaps"])
def test_recreated_layout_reads_back(layout):
    """Same VMA count, starts (after the shift), lengths and permissions as planned; every
    VMA keeps its place in its page table."""
    plan, offset, got, readback = _read_back(layout)
    assert offset % GIB == 0
    assert len(got) == len(plan.mappings)
    for m, vma in zip(plan.mappings, got):
        src = layout.vmas[m.index]
        assert (vma.start - offset, vma.end - vma.start, vma.perms) == \
            (src.start, src.end - src.start, src.perms)
        assert vma.start >> 21 << 21 == ((src.start >> 21) << 21) + offset
        if src.rss is not None and "sh" not in (src.flags or ()):
            assert vma.rss == src.rss  # the touched pages are resident


def test_victim_is_gone_after_the_block():
    plan = make_plan(parse_text("40000000-40001000 rw-p 0 00:00 0\n", "one.maps"), PAGE)
    with Victim(plan, cpu=min(os.sched_getaffinity(0))) as victim:
        pid = victim.pid
        assert os.path.exists(f"/proc/{pid}")
    assert not os.path.exists(f"/proc/{pid}")
