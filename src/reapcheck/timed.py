"""The timed model (issue 12): how much PTE-lock contention to expect, in µs, at each start
delay of the reaper, from the layout's real sizes and costs measured on a kernel.

The items are granularity `ptl`'s (docs/model.md §3, model/walks.py): (VMA, page table)
pairs, exit_mmap in its order (a parameter, ascending in the kernel), the reaper over the
reapable VMAs in the order under test, page tables ascending inside a VMA. Time:

- an item costs `c_item + c_page x resident pages in it` (µs, timed_costs.py). Resident
  pages are smaps `Rss` spread evenly over the VMA's page tables; a VMA without `Rss`
  (plain maps, old smaps) has `resident` x its pages (default all);
- **reapcheck's choice: emptied items.** Pages are counted when the walker gets to the
  item: an item the other walker has already zapped has none left and costs `c_item`
  (the page table stays until free_pgtables(): docs/kernel.md §6);
- **reapcheck's choice: page tables that do not exist.** zap_pmd_range() skips an empty
  PMD entry, so an item whose page table has no resident page in any VMA (a PROT_NONE
  reservation, an untouched heap) takes no lock and costs nothing;
- exit_mmap starts at time 0, the reaper at the delay `d` (negative: the reaper first).
  Each item holds its page table's lock for its whole cost. A walker that needs the lock
  the other holds waits until it is released: one contention, and its wait time. Locks
  are FIFO (queued spinlocks): the waiter gets the lock before its holder's next request.
  Equal times: exit_mmap's request first; a request at the very instant of the release
  does not wait.

Time is kept in integer nanoseconds (exact sums, so ties are decided exactly), printed in
µs. `simulate()` is the reference: a plain event loop over any number of walkers, the
rule above written once. `Sweep` answers the same for two walkers at many delays fast: it
jumps over stretches where the walkers' page tables cannot meet (bounds per VMA segment,
prefix sums of the costs), and memoizes what follows each coupling (a wait, or a request
at the instant of a release): from there on the future depends only on the two walkers'
positions, not on the delay. The tests hold `Sweep` against `simulate()`.
"""
from __future__ import annotations

import bisect
import copy
import gc
from array import array
from itertools import accumulate, chain, repeat
from contextlib import contextmanager
from dataclasses import dataclass, field

from .model.layout import Layout
from .model.walks import WalkConfig, exit_mmap_walk, reaper_walk
from .timed_costs import Costs, WalkerCosts

SCHEMA_VERSION = 1
KIND = "reapcheck-timed"
NS_PER_US = 1000
DEFAULT_DELAYS = 200
MAX_ITEMS = 2_000_000  # (VMA, page table) items per walker: about 0.5 GiB of lists at most
WALKER_NAMES = ("exit_mmap", "reaper")
INF = float("inf")


def _ints(values=()) -> array:
    """A compact list of 64-bit integers (8 bytes an entry, no int objects)."""
    return array("q", values)


class TimedInputError(ValueError):
    """A layout or option the timed model cannot take (one line, exit 2)."""


# ---------------------------------------------------------------- items and costs

@dataclass
class Items:
    """One walker's items in walk order, one entry per (VMA, page table) item.

    `key` is the page table (address >> pmd_shift) whose lock the item takes, -1 when the
    page table does not exist (no lock, no cost); `raw` the page table either way;
    `ident` the item's number in the layout (the same for both walkers). Segments: one
    per VMA, in walk order: `seg_vma`, `seg_off` (first item, plus the total at the end),
    `seg_pages` (resident pages per item: Rss spread evenly), `seg_locked` (every page
    table of the VMA exists).
    """

    key: array  # of int64, as every per-item sequence here
    raw: array
    ident: array
    seg_vma: list[int]
    seg_off: list[int]
    seg_pages: list[float]
    seg_locked: list[bool]
    ascending: bool  # VMAs in ascending address order

    def __len__(self) -> int:
        return len(self.key)


def vma_pages(layout: Layout, pmd_shift: int, resident: float) -> list[float]:
    """Resident pages per VMA: smaps Rss / page size; else `resident` x its pages."""
    default_page = 1 << ((pmd_shift + 3) // 2)  # PMD shift = 2 page_shift - 3 (docs/kernel.md §8)
    out = []
    for v in layout.vmas:
        page = v.page_size or default_page
        if v.rss is not None:
            out.append(v.rss / page)
        else:
            out.append((v.end - v.start) / page * resident)
    return out


def build_items(layout: Layout, config: WalkConfig, resident: float = 1.0) -> tuple[Items, Items]:
    """exit_mmap's and the reaper's items for `config` (granularity taken as ptl)."""
    config = WalkConfig(config.order, "ptl", config.pmd_shift, config.exit_order)
    items = _item_builder(layout, config.pmd_shift, resident)
    return items(exit_mmap_walk(layout, config)), items(reaper_walk(layout, config))


def _item_builder(layout: Layout, shift: int, resident: float):
    """A function from a walk (model/walks.py) to its Items."""
    pages = vma_pages(layout, shift, resident)
    spans = [v.ptl_pages(shift) for v in layout.vmas]
    total = sum(len(r) for r in spans)
    if total > MAX_ITEMS:
        raise TimedInputError(f"{layout.path}: {total:,} (VMA, page table) items, more than "
                              f"the timed model takes ({MAX_ITEMS:,}); give a larger "
                              "--pmd-shift or a smaller layout")
    base, acc = [], 0
    for r in spans:
        base.append(acc)
        acc += len(r)
    tables = set()  # shared-candidate page tables holding a resident page of some VMA
    for r, p in zip(spans, pages):
        if p > 0:
            tables.add(r.start)
            tables.add(r.stop - 1)

    def items(walk) -> Items:
        vmas = walk.vmas
        rs = [spans[vma] for vma in vmas]
        sizes = [len(r) for r in rs]
        raw = _ints(chain.from_iterable(rs))
        ident = _ints(chain.from_iterable(range(base[vma], base[vma] + n)
                                          for vma, n in zip(vmas, sizes)))
        seg_off = list(accumulate(sizes, initial=0))
        seg_pages = [pages[vma] / n for vma, n in zip(vmas, sizes)]
        key = _ints(raw)
        seg_locked = []
        for s, (vma, r, n) in enumerate(zip(vmas, rs, sizes)):
            if pages[vma] > 0:
                seg_locked.append(True)
                continue
            # a VMA's inner page tables are its own: only its first and last can exist,
            # through another VMA's pages
            keys = _ints([-1]) * n
            for end in {0, n - 1}:
                if r[end] in tables:
                    keys[end] = r[end]
            key[seg_off[s]:seg_off[s + 1]] = keys
            seg_locked.append(min(keys) >= 0)
        return Items(key, raw, ident, list(vmas), seg_off, seg_pages, seg_locked,
                     ascending=vmas == tuple(sorted(vmas)))

    return items


def item_costs(items: Items, costs: WalkerCosts) -> tuple[list[int], list[int]]:
    """(full, emptied) cost of each item in ns: c_item + c_page x pages, and c_item alone
    (the other walker zapped its pages); 0 for an item without a page table; at least 1
    ns for one with a page table (so that a held lock is held for some time)."""
    ci, cp = costs.c_item_us * NS_PER_US, costs.c_page_us * NS_PER_US
    empt_ns = max(1, round(ci))
    off, key = items.seg_off, items.key
    full_rows, empt_rows = [], []
    for s, (p, locked) in enumerate(zip(items.seg_pages, items.seg_locked)):
        n = off[s + 1] - off[s]
        if locked:
            full_rows.append(repeat(max(1, round(ci + cp * p)), n))
            empt_rows.append(repeat(empt_ns, n))
        else:  # no resident page: its existing page tables cost c_item, the others nothing
            row = [empt_ns if k >= 0 else 0 for k in key[off[s]:off[s + 1]]]
            full_rows.append(row)
            empt_rows.append(row)
    full, empt = _ints(chain.from_iterable(full_rows)), _ints(chain.from_iterable(empt_rows))
    return full, empt


# ---------------------------------------------------------------- the reference simulation

def _segments(items: Items) -> array:
    """Each item's segment (VMA in walk order)."""
    seg, off = _ints(), items.seg_off
    for s in range(len(off) - 1):
        seg.extend(_ints([s]) * (off[s + 1] - off[s]))
    return seg


@dataclass
class WalkerRun:
    """What one walker did in one simulation: contentions, wait and end time (ns)."""

    contentions: int = 0
    wait_ns: int = 0
    end_ns: int = 0
    items: int = 0  # items with a page table it took
    pages: float = 0.0  # resident pages it zapped (items not emptied before it came)


def simulate(walkers: list[tuple[Items, WalkerCosts, int]]) -> list[WalkerRun]:
    """The timed model written plainly: each walker (items, costs, start in ns) takes its
    items in order; the walker with the earliest request goes first (ties: the lower
    index); it gets the lock when the last holder before it releases it (FIFO), and costs
    `c_item` only when another walker has already done the item. O(items) per call; the
    reference the fast `Sweep` is tested against, and the form for three walkers."""
    n = len(walkers)
    costs = [item_costs(items, c) for items, c, _ in walkers]
    ready = [int(start) for _, _, start in walkers]
    idx = [0] * n
    runs = [WalkerRun() for _ in range(n)]
    walkers_seg = [_segments(items) for items, _, _ in walkers]
    released: dict[int, int] = {}  # lock -> time its last committed holder releases it
    done_items: set[int] = set()
    active = [w for w in range(n) if len(walkers[w][0])]
    for w in range(n):
        runs[w].end_ns = ready[w]
    while active:
        w = min(active, key=lambda a: (ready[a], a))
        items = walkers[w][0]
        x, t = idx[w], ready[w]
        k = items.key[x]
        start = t
        if k >= 0:
            free = released.get(k, t)
            if free > t:
                runs[w].contentions += 1
                runs[w].wait_ns += free - t
                start = free
        ident = items.ident[x]
        full, empt = costs[w]
        if ident in done_items:
            end = start + empt[x]
        else:
            end = start + full[x]
            if k >= 0:
                runs[w].pages += items.seg_pages[walkers_seg[w][x]]
        runs[w].items += k >= 0
        done_items.add(ident)
        if k >= 0:
            released[k] = end
        ready[w] = end
        idx[w] += 1
        if idx[w] == len(items):
            runs[w].end_ns = end
            active.remove(w)
    return runs


# ---------------------------------------------------------------- the fast two-walker sweep

@dataclass(frozen=True)
class DelayResult:
    """The timed model at one delay: per walker contentions and wait, and end times (µs)."""

    delay_us: float
    contentions: tuple[int, int]  # exit_mmap, reaper
    wait_us: tuple[float, float]
    end_us: tuple[float, float]

    @property
    def total_contentions(self) -> int:
        return self.contentions[0] + self.contentions[1]

    @property
    def total_wait_us(self) -> float:
        return self.wait_us[0] + self.wait_us[1]


class _Walker:
    """One walker's arrays for the sweep (plain lists: the loop reads one entry at a time)."""

    def __init__(self, items: Items, costs: WalkerCosts):
        self.items = items
        self.costs = costs
        self.n = len(items)
        self.key = items.key
        self.raw = items.raw
        self.full, self.empt = item_costs(items, costs)
        self.seg_off = items.seg_off
        self.ascending = items.ascending
        off = items.seg_off
        self.seg = _ints(chain.from_iterable(  # each item's segment
            map(repeat, range(len(off) - 1), (b - a for a, b in zip(off, off[1:])))))

    def link(self, other: "_Walker") -> None:
        """Where each item is in the other walk (POS, -1 when absent), prefix sums, and
        per-segment bounds of the other walk's segment index (sparse tables)."""
        where = {vma: s for s, vma in enumerate(other.items.seg_vma)}
        self.seg_other = [where.get(vma, -1) for vma in self.items.seg_vma]
        off = self.seg_off
        sizes = [b - a for a, b in zip(off, off[1:])]
        self.pos = pos = _ints(chain.from_iterable(
            repeat(-1, size) if so < 0 else range(other.seg_off[so], other.seg_off[so] + size)
            for so, size in zip(self.seg_other, sizes)))
        full, empt = self.full, self.empt
        # prefix sums of the costs: every item full; the items the other walk has emptied
        self.pf = _ints(accumulate(full, initial=0))
        self.pm = _ints(accumulate((e if at >= 0 else f for f, e, at in zip(full, empt, pos)),
                                   initial=0))
        self.seg_locked = self.items.seg_locked
        # The other walk's segment index is monotone over this walk's segments (both walks
        # list VMAs in address order, up or down), so its bounds over a range of segments
        # are its values at the first and last shared segment of the range.
        nseg = len(self.seg_other)
        self.next_shared, nxt = [nseg] * (nseg + 1), nseg
        for s in range(nseg - 1, -1, -1):
            if self.seg_other[s] >= 0:
                nxt = s
            self.next_shared[s] = nxt
        self.prev_shared, prv = [-1] * nseg, -1
        for s in range(nseg):
            if self.seg_other[s] >= 0:
                prv = s
            self.prev_shared[s] = prv
        self.min_cost = max(1, round(self.costs.c_item_us * NS_PER_US))

    def other_bounds(self, s1: int, s2: int) -> tuple[int, int] | None:
        """Smallest and largest segment index in the other walk of the VMAs of segments
        s1..s2 that the other walk has; None when it has none of them."""
        a, b = self.next_shared[s1], self.prev_shared[s2]
        if a > b:
            return None
        x, y = self.seg_other[a], self.seg_other[b]
        return (x, y) if x <= y else (y, x)

    def in_step(self, ih: int, follower: "_Walker", iw: int) -> tuple[int, int, int]:
        """After a coupling in which `follower` (next item iw) took the lock of this walker's
        last item (next item ih): when both were the same item of one VMA, the rest of that
        VMA is a lockstep: this walker leads at full cost, the follower, at the emptied
        cost, waits for each page table in turn (or meets it just as it is released when
        the costs are equal). Returns (items of that lockstep, leader's cost, follower's
        cost), m = 0 when it does not apply (other items, a page table that does not exist,
        a follower slower than the leader)."""
        if ih == 0 or iw == 0 or self.items.ident[ih - 1] != follower.items.ident[iw - 1]:
            return 0, 0, 0
        s_h = self.seg_of(ih - 1)
        s_w = follower.seg_of(iw - 1)
        m = min(self.seg_off[s_h + 1] - ih, follower.seg_off[s_w + 1] - iw)
        if m <= 0 or not self.seg_locked[s_h]:
            return 0, 0, 0
        c_lead, c_follow = self.full[ih], follower.empt[iw]
        if c_follow > c_lead:
            return 0, 0, 0
        return m, c_lead, c_follow

    def seg_of(self, x: int) -> int:
        return self.seg[x]

    def key_bounds(self, i: int, j: int) -> tuple[int, int]:
        """Smallest and largest page table of items i..j-1 (j > i)."""
        raw = self.raw
        if self.ascending:
            return raw[i], raw[j - 1]
        s1, s2 = self.seg_of(i), self.seg_of(j - 1)
        if s1 == s2:
            return raw[i], raw[j - 1]
        return raw[self.seg_off[s2]], raw[self.seg_off[s1 + 1] - 1]


class Sweep:
    """The timed model for exit_mmap and one reaper at many delays (exact: the same answer
    as `simulate()` at each delay)."""

    def __init__(self, exit_items: Items | _Walker, reaper_items: Items, costs: Costs):
        a = exit_items if isinstance(exit_items, _Walker) else _Walker(exit_items, costs.exit_mmap)
        a = copy.copy(a)  # its base lists shared (one exit_mmap walk for both orders)
        self.w = (a, _Walker(reaper_items, costs.reaper))
        self.w[0].link(self.w[1])
        self.w[1].link(self.w[0])
        self.memo: dict = {}
        self.min_h = max(1, min(w.min_cost for w in self.w))

    @property
    def alone_ns(self) -> tuple[int, int]:
        """Each walker's duration with the other absent (every item at full cost), ns."""
        return self.w[0].pf[-1], self.w[1].pf[-1]

    def window(self) -> tuple[float, float]:
        """The delays (µs) at which the walks overlap: from the reaper ending as exit_mmap
        starts to the reaper starting as exit_mmap ends (open interval)."""
        a, b = self.alone_ns
        return -b / NS_PER_US, a / NS_PER_US

    def run(self, delay_us: float) -> DelayResult:
        d = round(delay_us * NS_PER_US)
        A, B = self.w
        key_a, pos_a, empt_a, full_a, n_a = A.key, A.pos, A.empt, A.full, A.n
        key_b, pos_b, empt_b, full_b, n_b = B.key, B.pos, B.empt, B.full, B.n
        ia, ra, ka, ib, rb, kb = 0, 0, -1, 0, d, -1  # next item, ready time, held lock
        ca = wa = cb = wb = 0  # contentions and wait (ns): exit_mmap, the reaper
        records = []  # (state, ca, wa, cb, wb, time) at each coupling
        memo = self.memo
        stride = n_b + 1
        min_h = self.min_h
        h = 64 * min_h
        cool, backoff = 0, 1  # single steps before the next jump attempt, and its growth
        hit = None
        while ia < n_a or ib < n_b:
            if not cool:
                st = [ia, ra, ka, ib, rb, kb]
                if self._jump(st, h):
                    ia, ra, ka, ib, rb, kb = st
                    h *= 2
                    backoff = 1
                    continue
                if h >= 4 * min_h:
                    h //= 4
                    continue
                cool, backoff = backoff, min(2 * backoff, 64)  # walkers in step
                h = 4 * min_h
            cool -= 1
            # one request, as simulate() makes it: the earlier walker (ties: exit_mmap)
            if ia < n_a and (ib >= n_b or ra <= rb):
                k = key_a[ia]
                start = ra
                coupled = k >= 0 and k == kb and rb >= ra
                if coupled:
                    start = rb
                    if rb > ra:
                        ca += 1
                        wa += rb - ra
                p = pos_a[ia]
                ra = start + (empt_a[ia] if 0 <= p < ib else full_a[ia])
                ka = k
                ia += 1
                state = 2 * (ia * stride + ib)
            else:
                k = key_b[ib]
                start = rb
                coupled = k >= 0 and k == ka and ra >= rb
                if coupled:
                    start = ra
                    if ra > rb:
                        cb += 1
                        wb += ra - rb
                p = pos_b[ib]
                rb = start + (empt_b[ib] if 0 <= p < ia else full_b[ib])
                kb = k
                ib += 1
                state = 2 * (ia * stride + ib) + 1
            if coupled:  # from here on the future depends on (state) alone
                hit = memo.get(state)
                if hit is not None:
                    break
                records.append((state, ca, wa, cb, wb, start))
                # Both in one item of one VMA, the waiter just behind: through the rest of
                # the VMA the waiter waits on every page table (docs: `Sweep`), in closed form.
                if state & 1:
                    m, c_lead, c_follow = A.in_step(ia, B, ib)
                else:
                    m, c_lead, c_follow = B.in_step(ib, A, ia)
                if m:
                    start += m * c_lead
                    if state & 1:  # the reaper follows exit_mmap
                        ia, ra, ka = ia + m, start, key_a[ia + m - 1]
                        ib, rb, kb = ib + m, start + c_follow, key_b[ib + m - 1]
                        if c_follow < c_lead:
                            cb += m
                            wb += m * (c_lead - c_follow)
                    else:
                        ib, rb, kb = ib + m, start, key_b[ib + m - 1]
                        ia, ra, ka = ia + m, start + c_follow, key_a[ia + m - 1]
                        if c_follow < c_lead:
                            ca += m
                            wa += m * (c_lead - c_follow)
                    state = 2 * (ia * stride + ib) + (state & 1)
                    hit = memo.get(state)
                    if hit is not None:
                        break
                    records.append((state, ca, wa, cb, wb, start))
        if hit is not None:
            ca, wa, cb, wb = ca + hit[0], wa + hit[1], cb + hit[2], wb + hit[3]
            ra, rb = start + hit[4], start + hit[5]
        for state, ca0, wa0, cb0, wb0, at in records:
            memo[state] = (ca - ca0, wa - wa0, cb - cb0, wb - wb0, ra - at, rb - at)
        return DelayResult(delay_us, (ca, cb), (wa / NS_PER_US, wb / NS_PER_US),
                           (ra / NS_PER_US, rb / NS_PER_US))

    def _window(self, walker: _Walker, i: int, r: int, t_end: int, other_i: int,
                other: _Walker):
        """Items walker can start before t_end running free from item i at time r, with
        the prefix sums that apply: (j, new ready time) or None when the window holds
        items whose pages the other walker has and has not yet zapped alike."""
        if i >= walker.n or r >= t_end:
            return i, r
        # the other walk's segment and whether it is inside it
        if other_i >= other.n:
            so, inside = len(other.seg_off) - 1, False
        else:
            so = other.seg_of(other_i)
            inside = other_i > other.seg_off[so]
        for prefix, emptied in ((walker.pf, False), (walker.pm, True)):
            j = bisect.bisect_left(prefix, t_end - r + prefix[i], i, walker.n + 1)
            j = min(j, walker.n)
            if j <= i:
                j = i + 1
            bounds = walker.other_bounds(walker.seg_of(i), walker.seg_of(j - 1))
            if bounds is None:  # no item the other walk has
                return j, r + walker.pf[j] - walker.pf[i]
            lo, hi = bounds
            if not emptied and (lo > so or (lo == so and not inside)):
                return j, r + prefix[j] - prefix[i]
            if emptied and hi < so:
                return j, r + prefix[j] - prefix[i]
            if not emptied and hi < so:
                continue  # every shared item emptied: the other prefix, a longer window
            return None
        return None

    def _jump(self, st: list, h: int) -> bool:
        """Advance both walkers by up to `h` ns at once when no page table of one can
        meet one of the other's in that time (bounds per segment); False otherwise."""
        A, B = self.w
        ia, ra, ka, ib, rb, kb = st
        t0 = min(ra if ia < A.n else INF, rb if ib < B.n else INF)
        t_end = t0 + h
        wa = self._window(A, ia, ra, t_end, ib, B)
        if wa is None:
            return False
        wb = self._window(B, ib, rb, t_end, ia, A)
        if wb is None:
            return False
        (ja, ra2), (jb, rb2) = wa, wb
        if ja == ia and jb == ib:
            return False
        lo_a, hi_a = A.key_bounds(ia, ja) if ja > ia else (INF, -INF)
        lo_b, hi_b = B.key_bounds(ib, jb) if jb > ib else (INF, -INF)
        if ka >= 0:
            lo_a, hi_a = min(lo_a, ka), max(hi_a, ka)
        if kb >= 0:
            lo_b, hi_b = min(lo_b, kb), max(hi_b, kb)
        if not (hi_a < lo_b or hi_b < lo_a):
            return False
        if ja > ia:
            st[0], st[1], st[2] = ja, ra2, A.key[ja - 1]
        if jb > ib:
            st[3], st[4], st[5] = jb, rb2, B.key[jb - 1]
        return True


# ---------------------------------------------------------------- sweeps and summaries

@contextmanager
def no_gc():
    """The cyclic garbage collector off while millions of acyclic lists and tuples are
    built (it would scan them again and again: 40% of the build time at 65,530 VMAs)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def sweeps(layout: Layout, config: WalkConfig, costs: Costs, orders=("forward", "reverse"),
           resident: float = 1.0) -> dict[str, Sweep]:
    """One Sweep per reaper order, sharing exit_mmap's items and costs."""
    with no_gc():
        items = _item_builder(layout, config.pmd_shift, resident)
        out, exit_walker = {}, None
        for order in orders:
            walks = WalkConfig(order, "ptl", config.pmd_shift, config.exit_order)
            if exit_walker is None:
                exit_walker = _Walker(items(exit_mmap_walk(layout, walks)), costs.exit_mmap)
            out[order] = Sweep(exit_walker, items(reaper_walk(layout, walks)), costs)
    return out


@dataclass
class TimedResult:
    """The timed model over a sweep of delays, for one walk configuration."""

    layout: str
    config: WalkConfig
    costs: Costs
    resident: float
    exit_items: int
    reaper_items: int
    alone_us: tuple[float, float]  # exit_mmap's and the reaper's duration alone
    window_us: tuple[float, float]  # the delays at which the walks overlap
    points: list[DelayResult] = field(default_factory=list)

    def in_window(self) -> list[DelayResult]:
        lo, hi = self.window_us
        return [p for p in self.points if lo < p.delay_us < hi]

    def summary(self) -> dict:
        """max over the delays given; mean and share over those inside the overlap window
        (delays outside it have no overlap, hence no contention); with no delay inside
        it, the means and the share are None (undefined, JSON null)."""
        inside = self.in_window()
        counts = [p.total_contentions for p in self.points]
        n = len(inside)
        return {
            "delays": len(self.points),
            "delays_in_window": n,
            "max_contentions": max(counts, default=0),
            "max_wait_us": round(max((p.total_wait_us for p in self.points), default=0.0), 3),
            # over no delay a mean is undefined: None (JSON null), never 0
            "mean_contentions": round(sum(p.total_contentions for p in inside) / n, 3) if n else None,
            "mean_wait_us": round(sum(p.total_wait_us for p in inside) / n, 3) if n else None,
            "share_with_contention": _share(sum(1 for p in inside if p.total_contentions), n)
            if n else None,
        }


def _share(k: int, n: int) -> float:
    """k/n to 4 decimals, but never rounded onto 0 or 1 unless exactly so (k of n = 0 or
    n): 199,999 of 200,000 stays 0.999995, not 1.0."""
    share = round(k / n, 4)
    return share if (share in (0, 1)) == (k in (0, n)) else k / n


def default_delays(window: tuple[float, float], n: int = DEFAULT_DELAYS) -> list[float]:
    """n delays evenly over the overlap window, at the midpoints of n equal parts (so the
    mean over them is the midpoint rule for d uniform over the window), µs."""
    lo, hi = window
    step = (hi - lo) / n
    return [lo + (i + 0.5) * step for i in range(n)]


def linspace(a: float, b: float, n: int) -> list[float]:
    if n == 1:
        return [a]
    return [a + (b - a) * i / (n - 1) for i in range(n)]


def timed(layout: Layout, config: WalkConfig, costs: Costs, delays: list[float] | None = None,
          n_delays: int = DEFAULT_DELAYS, resident: float = 1.0,
          sweep: Sweep | None = None) -> TimedResult:
    """The timed model for one layout and walk configuration over delays (µs; default:
    `n_delays` over the overlap window). The function the report calls per layout."""
    if sweep is None:
        sweep = sweeps(layout, config, costs, (config.order,), resident)[config.order]
    alone = tuple(t / NS_PER_US for t in sweep.alone_ns)
    window = sweep.window()
    if delays is None:
        delays = default_delays(window, n_delays) if window[1] > window[0] else [0.0]
    result = TimedResult(layout.path, config, costs, resident, sweep.w[0].n, sweep.w[1].n,
                         alone, window)
    with no_gc():
        result.points = [sweep.run(d) for d in delays]
    return result


def timed_orders(layout: Layout, config: WalkConfig, costs: Costs,
                 orders=("forward", "reverse"), delays: list[float] | None = None,
                 n_delays: int = DEFAULT_DELAYS, resident: float = 1.0) -> list[TimedResult]:
    """The timed model for each reaper order (`config.order` is ignored). The function
    the report calls for a layout's timed predictions."""
    made = sweeps(layout, config, costs, orders, resident)
    return [timed(layout, WalkConfig(order, "ptl", config.pmd_shift, config.exit_order),
                  costs, delays, n_delays, resident, made[order]) for order in orders]


def timed_json(results: list[TimedResult], order: str) -> dict:
    """The `timed --json` object: `summary` for the order `order`, and every order's
    curves and summaries under `orders`."""
    by_order = {r.config.order: r for r in results}
    first = by_order[order]
    return {
        "version": SCHEMA_VERSION,
        "kind": KIND,
        "layout": first.layout,
        "exit_order": first.config.exit_order,
        "order": order,
        "pmd_shift": first.config.pmd_shift,
        "resident": first.resident,
        "costs": first.costs.to_json(),
        "summary": first.summary(),
        "orders": {r.config.order: _order_json(r) for r in results},
    }


def _order_json(r: TimedResult) -> dict:
    return {
        "exit_items": r.exit_items,
        "reaper_items": r.reaper_items,
        "alone_us": {"exit_mmap": round(r.alone_us[0], 3), "reaper": round(r.alone_us[1], 3)},
        "window_us": [round(r.window_us[0], 3), round(r.window_us[1], 3)],
        "summary": r.summary(),
        "curves": {
            "delay_us": [round(p.delay_us, 3) for p in r.points],
            "contentions": [p.total_contentions for p in r.points],
            "wait_us": [round(p.total_wait_us, 3) for p in r.points],
            "exit_mmap_contentions": [p.contentions[0] for p in r.points],
            "reaper_contentions": [p.contentions[1] for p in r.points],
            "exit_mmap_end_us": [round(p.end_us[0], 3) for p in r.points],
            "reaper_end_us": [round(p.end_us[1], 3) for p in r.points],
        },
    }
