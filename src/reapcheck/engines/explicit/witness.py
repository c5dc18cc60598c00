"""Compact witnesses: a schedule as runs of steps, checked and rendered in time per run.

A witness of the sparse engine is a staircase of block moves (engines/explicit/sparse.py). For a
VMA over terabytes that is trillions of steps, so the witness is kept as entries:

- a step: `{"actor", "action", "vma", ["ptl"], "collision"}`, as in the full form;
- a ptl run: `{"actor": A, "actions": ["lock", "unlock"], "vma": k, "ptl": [p, q]}`:
  A locks and unlocks page tables p, p+1, ..., q of VMA k, 2 (q - p + 1) steps;
- a both-run: `{"actors": ["exit_mmap", "reaper"], "actions": ["lock", "unlock"],
  "vma": k, "ptl": [p, q]}`: for each page table x = p..q, exit_mmap locks and unlocks
  x, then the reaper does; 4 (q - p + 1) steps;
- a vma run: `{"actor": A, "actions": ["leave", "enter"], "vma": [a, b]}`: A leaves
  VMA a and enters its next VMA, and so on through VMA b (a..b in A's walk order); the
  enter after b is left out when b is A's last VMA.

Runs carry `"steps"` and `"collisions"` when printed. `check` executes entries against
the model (a step by the model's guard, update and collision property; a run by the
closed form of what those give over the run, derived in each function below; the
tests compare both with a step-by-step replay) and yields, per entry, its steps and
the offsets of its collision steps as arithmetic progressions.
"""
from __future__ import annotations

from itertools import chain
from operator import itemgetter

from ...model.walk_product import Action, WalkProduct
from ...properties.collisions import is_collision
from .schedule import IllegalStep, Step

EXIT, REAPER, DIAGONAL = 0, 1, 2  # staircase move kinds (engines/explicit/sparse.py)
NO_HITS = ()  # an entry without a collision step
# An entry whose first step is its one collision (most runs of a lockstep staircase),
# shared rather than made 200,000 times: hits lists are never changed once yielded.
HIT_AT_START = [(0, 0, 1)]
HIT_AT_ENTER = [(1, 0, 1)]  # a vma run's one collision at its first enter (lockstep)
# Internal entries: ("step", actor, verb, vma, ptl) | ("run", actor, vma, p, q)
#                   | ("both", vma, p, q) | ("vrun", actor, first item, last item)


def compact_entries(model: WalkProduct, stair):
    """Entries of the realization of staircase `stair` ((kind, count) runs): a run per
    VMA (ptl) or per stretch of moves (vma), so checking them costs time per VMA.

    Matches sparse.realize move for move: ptl, a move locks and unlocks the mover's
    item; vma, both enter their first item, then a move leaves the mover's item and
    enters its next one.
    """
    walks = model.items
    ptl = model.exclusive
    pos = [0, 0]  # ptl: item each actor is before; vma: item each actor is inside
    if not ptl:
        for who in (EXIT, REAPER):
            if len(walks[who]):
                yield ("step", who, 0, walks[who].vmas[0], None)
    for kind, count in stair:
        if kind == DIAGONAL:
            yield from _diagonal(model, pos, count)
        elif ptl:
            walk = walks[kind]
            while count:
                seg = walk.segment_of(pos[kind])
                off = pos[kind] - walk.offsets[seg]
                take = min(count, walk.sizes[seg] - off)
                p = walk.first[seg] + off
                yield ("run", kind, walk.vmas[seg], p, p + take - 1)
                pos[kind] += take
                count -= take
        else:
            yield ("vrun", kind, pos[kind], pos[kind] + count - 1)
            pos[kind] += count


def _diagonal(model, pos, count):
    """(exit move, reaper move) x count: a both-run where both are on the same page
    tables of one VMA, else runs of one item each (never long: the engine's diagonals
    are VMA interiors)."""
    walks = model.items
    while count:
        if not model.exclusive:
            for who in (EXIT, REAPER):
                yield ("vrun", who, pos[who], pos[who])
                pos[who] += 1
            count -= 1
            continue
        segs = [w.segment_of(p) for w, p in zip(walks, pos)]
        offs = [p - w.offsets[s] for w, p, s in zip(walks, pos, segs)]
        here = [(w.vmas[s], w.first[s] + o) for w, s, o in zip(walks, segs, offs)]
        take = min([count] + [w.sizes[s] - o for w, s, o in zip(walks, segs, offs)])
        if here[0] == here[1]:
            vma, p = here[0]
            yield ("both", vma, p, p + take - 1)
        else:
            take = 1
            for who in (EXIT, REAPER):
                yield ("run", who, *here[who], here[who][1])
        pos[0] += take
        pos[1] += take
        count -= take


def checked_stair(model: WalkProduct, stair) -> list:
    """list(check(model, compact_entries(model, stair))) in one pass, for the engine's
    own staircase (equal output; the tests compare them).

    Every run starts with both actors at block corners (before an item, or done), so
    the closed forms of _check_run (first case) and _check_both apply: a run of `who`
    collides once iff the other's next key y is among its page tables; a both-run
    collides at each exit_mmap lock, and once more iff exit_mmap's next key is q.
    """
    if not model.exclusive:
        return _checked_vma_stair(model, stair)
    walks = model.items
    vmas, firsts = [w.vmas for w in walks], [w.first for w in walks]
    offsets, sizes, totals = [w.offsets for w in walks], [w.sizes for w in walks], [w.total for w in walks]
    columns = tuple(zip(vmas, firsts, offsets, sizes))  # per actor
    seg, pos = [0, 0], [0, 0]  # each actor's next item and the segment holding it

    def key(who):
        i = pos[who]
        return None if i >= totals[who] else firsts[who][seg[who]] + i - offsets[who][seg[who]]

    def advance(who, take):
        pos[who] += take
        s = seg[who]
        if pos[who] == offsets[who][s] + sizes[who][s]:
            seg[who] = s + 1

    out = []
    append = out.append
    for kind, count in stair:
        if kind != DIAGONAL:
            who, other = kind, 1 - kind
            j = pos[other]  # the other stays put for the whole run; -1: it is done
            y = (firsts[other][seg[other]] + j - offsets[other][seg[other]]
                 if j < totals[other] else -1)
            run_vmas, run_firsts, run_offsets, run_sizes = columns[who]
            s, i = seg[who], pos[who]
            while count:  # one run per VMA (key() and advance() inlined: the hot loop)
                off = i - run_offsets[s]
                room = run_sizes[s] - off
                p = run_firsts[s] + off
                if count < room:
                    take = count
                    q = p + take - 1
                    append((("run", who, run_vmas[s], p, q), 2 * take,
                            NO_HITS if not p <= y <= q else
                            HIT_AT_START if y == p else [(2 * (y - p), 0, 1)]))
                    i += take
                    break
                # up to this VMA's last page table: the next run is in the next VMA
                q = p + room - 1
                append((("run", who, run_vmas[s], p, q), 2 * room,
                        NO_HITS if not p <= y <= q else
                        HIT_AT_START if y == p else [(2 * (y - p), 0, 1)]))
                s += 1
                i += room
                count -= room
            seg[who], pos[who] = s, i
            continue
        while count:
            se, sr = seg
            off_e, off_r = pos[0] - offsets[0][se], pos[1] - offsets[1][sr]
            p, pr = firsts[0][se] + off_e, firsts[1][sr] + off_r
            if vmas[0][se] == vmas[1][sr] and p == pr:
                take = min(count, sizes[0][se] - off_e, sizes[1][sr] - off_r)
                advance(0, take)
                hits = [(0, 4, take)]
                if key(0) == p + take - 1:
                    hits.append((4 * take - 2, 0, 1))
                append((("both", vmas[0][se], p, p + take - 1), 4 * take, hits))
                advance(1, take)
            else:
                take = 1
                append((("run", 0, vmas[0][se], p, p), 2, HIT_AT_START if p == pr else NO_HITS))
                advance(0, 1)
                y = key(0)
                append((("run", 1, vmas[1][sr], pr, pr), 2, HIT_AT_START if y == pr else NO_HITS))
                advance(1, 1)
            count -= take
    if pos != totals:
        raise IllegalStep(0, f"the staircase ends at items {pos}, not {totals}")
    return out


def _checked_vma_stair(model, stair) -> list:
    """checked_stair at granularity vma: both enter their first VMA, then each run
    leaves and enters; entering item t collides iff the other is inside the same VMA
    (_check_vrun), found with one dict lookup per run (the loop written out: one
    iteration per run, the hot loop of a lockstep staircase)."""
    vmas = [w.vmas for w in model.items]
    totals = [len(v) for v in vmas]
    index_of = [{vma: t for t, vma in enumerate(v)} for v in vmas]
    out = []
    append = out.append
    if totals[0]:
        append((("step", 0, 0, vmas[0][0], None), 1, NO_HITS))
    if totals[1]:
        hit = totals[0] and vmas[0][0] == vmas[1][0]
        append((("step", 1, 0, vmas[1][0], None), 1, [(0, 0, 1)] if hit else NO_HITS))
    pos = [0, 0]  # the item each actor is inside (== total: done)
    moves = stair  # (who, take) of each run; a diagonal alternates single moves
    if DIAGONAL in map(itemgetter(0), stair):
        moves = []
        for run in stair:
            if run[0] == DIAGONAL:
                moves.extend(((0, 1), (1, 1)) * run[1])
            else:
                moves.append(run)
    for who, take in moves:  # _vma_run, inlined
        other = 1 - who
        i = pos[who]
        j = i + take - 1
        o = pos[other]
        hits = NO_HITS
        if o < totals[other]:
            t = index_of[who].get(vmas[other][o])
            if t is not None and i < t <= j + 1:
                hits = HIT_AT_ENTER if t == i + 1 else [(2 * (t - i) - 1, 0, 1)]
        pos[who] = j + 1
        append((("vrun", who, i, j), 2 * take - (j + 1 == totals[who]), hits))
    if pos != totals:
        raise IllegalStep(0, f"the staircase ends at items {pos}, not {totals}")
    return out


def entries_from_actions(model: WalkProduct, actions):
    """Plain step entries of any schedule (the graph engine's witness)."""
    state = model.init()
    for index, action in enumerate(actions):
        if action not in model.actions:
            raise IllegalStep(index, f"{action.actor} {action.verb} is not an action of this model")
        who = 0 if action.actor == "exit_mmap" else 1
        item = model.item_at(state, who)
        verb = model.actions.index(action) % 2
        yield ("step", who, verb, item.vma if item else -1, item.ptl if item else None)
        state = model.update(state, action)


class _Cursor:
    """Segment lookup in one walk for item indices that mostly grow (amortized O(1))."""

    def __init__(self, walk):
        self.walk, self.seg = walk, 0
        self.offsets, self.sizes, self.first = walk.offsets, walk.sizes, walk.first

    def segment(self, item: int) -> int:
        seg, offsets = self.seg, self.offsets
        if seg >= len(offsets) or offsets[seg] > item:
            seg = self.walk.segment_of(item)
        else:
            while seg + 1 < len(offsets) and offsets[seg + 1] <= item:
                seg += 1
        self.seg = seg
        return seg

    def key(self, item: int):
        """Key of `item`, or None past the walk's end."""
        if item >= self.walk.total:
            return None
        seg = self.segment(item)
        return self.first[seg] + item - self.offsets[seg]


def check(model: WalkProduct, entries):
    """Execute entries from Init; yield (entry, steps, hits) for each, where hits are
    (first offset, stride, count) progressions of the entry's collision steps.

    Raises IllegalStep at the first entry the model forbids, or at the end unless both
    walkers are done.
    """
    state = model.init()
    done_steps = 0
    cursors = (_Cursor(model.items[0]), _Cursor(model.items[1]))
    index_of = [None, None]  # vma runs: VMA -> item index, per actor (built on first use)
    fast = model.exclusive
    for entry in entries:
        kind = entry[0]
        if kind == "run" and fast and not (state[0] | state[1]) & 1:
            hits = _corner_run(cursors, state, entry)  # the common case, inlined
            if hits is not None:
                _, who, _, p, q = entry
                steps = 2 * (q - p + 1)
                end = state[who] + steps
                state = (end, state[1]) if who == 0 else (state[0], end)
                yield entry, steps, hits
                done_steps += steps
                continue
        if kind == "run":
            state, steps, hits = _check_run(model, cursors, state, entry, done_steps)
        elif kind == "step":
            state, steps, hits = _check_step(model, state, entry, done_steps)
        elif kind == "both":
            state, steps, hits = _check_both(model, cursors, state, entry, done_steps)
        else:
            state, steps, hits = _check_vrun(model, state, entry, done_steps, index_of)
        yield entry, steps, hits
        done_steps += steps
    if not model.done(state):
        raise IllegalStep(done_steps, f"schedule ends in {state}, before both walkers are done")


def _corner_run(cursors, state, entry):
    """_check_run's first case (both actors at corners), written for speed: the hits,
    or None when the run does not start where `who` is (then _check_run says why)."""
    _, who, vma, p, q = entry
    mine, theirs = cursors[who], cursors[1 - who]
    i = state[who] >> 1
    if i >= mine.walk.total or p > q:
        return None
    seg = mine.segment(i)
    first = mine.first[seg]
    if (mine.walk.vmas[seg] != vma or first + i - mine.offsets[seg] != p
            or q >= first + mine.sizes[seg]):
        return None
    y = theirs.key(state[1 - who] >> 1)
    return [(2 * (y - p), 0, 1)] if y is not None and p <= y <= q else NO_HITS


def _check_step(model, state, entry, at):
    _, who, verb, vma, ptl = entry
    action = model.actions[2 * who + verb]
    if not model.guard(state, action):
        raise IllegalStep(at, f"{action.actor} cannot {action.verb} in state {state}")
    item = model.item_at(state, who)
    if (item.vma, item.ptl) != (vma, ptl):
        raise IllegalStep(at, f"{action.actor} {action.verb}s VMA {item.vma}"
                          f"{'' if item.ptl is None else f' page table {item.ptl}'}, "
                          f"the witness says VMA {vma}{'' if ptl is None else f' page table {ptl}'}")
    after = model.update(state, action)
    hit = bool(is_collision(model, state, after))
    return after, 1, [(0, 0, 1)] if hit else NO_HITS


def _corner_item(model, cursor, pos, who, vma, p, q, at):
    """The item index where `who` (at position `pos`) starts a run over page tables
    p..q of `vma`; IllegalStep unless it is before exactly that item."""
    if not model.exclusive:
        raise IllegalStep(at, "page-table runs need granularity ptl")
    walk = cursor.walk
    if pos % 2 or pos // 2 >= walk.total or p > q:
        name = model.actions[2 * who].actor
        raise IllegalStep(at, f"{name} is not before a run of page tables {p}..{q}")
    i = pos // 2
    seg = cursor.segment(i)
    key = cursor.first[seg] + i - cursor.offsets[seg]
    if walk.vmas[seg] != vma or key != p or q >= cursor.first[seg] + cursor.sizes[seg]:
        name = model.actions[2 * who].actor
        raise IllegalStep(at, f"{name} is before VMA {walk.vmas[seg]} page table {key}, "
                          f"which has page tables up to {cursor.first[seg] + cursor.sizes[seg] - 1};"
                          f" the witness says VMA {vma} page tables {p}..{q}")
    return i


def _check_run(model, cursors, state, entry, at):
    """ptl: `who` locks and unlocks p..q; the other actor stays put.

    Other before an item with key y (or done, y None): nobody holds a lock before
    any step, so every lock is allowed and no state before a step has a waiter; lock
    x makes the other wait iff x == y; after an unlock nobody holds a lock. One
    collision iff p <= y <= q, at the lock of y (offset 2 (y - p)).
    Other inside an item with key h: lock x is allowed iff x != h; no one waits while
    both hold locks; after unlock x, `who` waits iff its next key is h, possible only
    after the last unlock (the keys inside the run differ from h): one collision iff
    the key after q is h, at offset 2 (q - p) + 1.
    """
    _, who, vma, p, q = entry
    i = _corner_item(model, cursors[who], state[who], who, vma, p, q, at)
    steps = 2 * (q - p + 1)
    other = state[1 - who]
    if other % 2 == 0:
        y = cursors[1 - who].key(other // 2)
        hits = [(2 * (y - p), 0, 1)] if y is not None and p <= y <= q else NO_HITS
    else:
        h = cursors[1 - who].key(other // 2)
        if p <= h <= q:
            raise IllegalStep(at + 2 * (h - p), f"page table {h} is held by the other actor")
        hits = [(steps - 1, 0, 1)] if cursors[who].key(i + q - p + 1) == h else NO_HITS
    end = 2 * (i + q - p + 1)
    return ((end, other) if who == 0 else (other, end)), steps, hits


def _check_both(model, cursors, state, entry, at):
    """ptl: for x = p..q, exit_mmap locks and unlocks x, then the reaper does.

    Both start before (vma, p). No lock is held before any step, so every lock is
    allowed and no state before a step has a waiter. exit_mmap's lock of x makes the
    reaper (before x) wait: a collision at offset 4 (x - p). The reaper's lock of x
    makes exit_mmap wait iff exit_mmap's next key is x: never inside the run (it is
    x + 1), and after q iff the key after exit_mmap's q is q (the next VMA starts in
    the same page table): offset 4 (q - p) + 2. Unlocks leave no lock held.
    """
    _, vma, p, q = entry
    i = _corner_item(model, cursors[0], state[0], 0, vma, p, q, at)
    j = _corner_item(model, cursors[1], state[1], 1, vma, p, q, at)
    n = q - p + 1
    hits = [(0, 4, n)]
    if cursors[0].key(i + n) == q:
        hits.append((4 * n - 2, 0, 1))
    return (2 * (i + n), 2 * (j + n)), 4 * n, hits


def _check_vrun(model, state, entry, at, index_of):
    """vma: `who` leaves items i..j, entering each next item; the other stays put.

    No mutual exclusion: every step is allowed. A leave ends both-inside; entering
    item t is a collision iff the other is inside the same VMA. A VMA is at most once
    in a walk, so that is one enter at most: the item where the other's VMA is.
    """
    _, who, i, j = entry
    walk, pos = model.items[who], state[who]
    size = walk.total
    if model.exclusive or pos != 2 * i + 1 or not i <= j < size:
        name = model.actions[2 * who].actor
        raise IllegalStep(at, f"{name} is not inside the first of a run of VMAs "
                          f"(items {i}..{j}) at granularity vma")
    last = j + 1 == size
    other = state[1 - who]
    hits = NO_HITS
    if other % 2:
        if index_of[who] is None:
            index_of[who] = {vma: t for t, vma in enumerate(walk.vmas)}
        t = index_of[who].get(model.items[1 - who].vmas[other // 2])
        if t is not None and i < t <= j + 1:
            hits = [(2 * (t - i) - 1, 0, 1)]
    end = 2 * j + 2 + (not last)
    return ((end, other) if who == 0 else (other, end)), 2 * (j - i + 1) - last, hits


def count(checked) -> int:
    """Total collisions of checked entries (the counts of their hits' progressions,
    summed at C speed)."""
    return sum(map(itemgetter(2), chain.from_iterable(map(itemgetter(2), checked))))


def collision_steps(checked, limit: int) -> list[int]:
    """The first `limit` collision step numbers (1-based), from the runs' progressions."""
    out, base = [], 0
    for _, steps, hits in checked:
        for first, stride, n in hits:
            for k in range(min(n, limit - len(out))):
                out.append(base + first + k * stride + 1)
        if len(out) >= limit:
            break
        base += steps
    return sorted(out)[:limit]


def expand(model: WalkProduct, checked):
    """Every Step of checked entries, with its collision flag (the full form)."""
    names = [(a.actor, a.verb) for a in model.actions]
    walks = model.items
    for entry, steps, hits in checked:
        flags = set()
        for first, stride, n in hits:
            flags.update(first + k * stride for k in range(n))
        kind = entry[0]
        if kind == "step":
            _, who, verb, vma, ptl = entry
            yield Step(*names[2 * who + verb], vma, ptl, bool(flags))
            continue
        offset = 0
        if kind == "run":
            _, who, vma, p, q = entry
            for x in range(p, q + 1):
                for verb in (0, 1):
                    yield Step(*names[2 * who + verb], vma, x, offset in flags)
                    offset += 1
        elif kind == "both":
            _, vma, p, q = entry
            for x in range(p, q + 1):
                for who in (0, 1):
                    for verb in (0, 1):
                        yield Step(*names[2 * who + verb], vma, x, offset in flags)
                        offset += 1
        else:
            _, who, i, j = entry
            walk = walks[who]
            for t in range(i, j + 1):
                yield Step(*names[2 * who + 1], walk.vmas[t], None, False)
                if t + 1 < len(walk):
                    yield Step(*names[2 * who], walk.vmas[t + 1], None, offset + 1 in flags)
                offset += 2


def json_texts(model: WalkProduct, checked):
    """Each checked entry as compact JSON text (written out fast: there can be many)."""
    names = [(a.actor, a.verb) for a in model.actions]
    vmas = [walk.vmas for walk in model.items]
    run_head = [f'{{"actor": "{a}", "actions": ["lock", "unlock"], "vma": ' for a, _ in names[::2]]
    vrun_head = [f'{{"actor": "{a}", "actions": ["leave", "enter"], "vma": [' for a, _ in names[::2]]
    both_head = '{"actors": ["exit_mmap", "reaper"], "actions": ["lock", "unlock"], "vma": '
    for entry, steps, hits in checked:
        kind = entry[0]
        hit_count = 0
        for _, _, n in hits:
            hit_count += n
        if kind == "run":
            _, who, vma, p, q = entry
            yield (f'{run_head[who]}{vma}, "ptl": [{p}, {q}], "steps": {steps}, '
                   f'"collisions": {hit_count}}}')
        elif kind == "vrun":
            _, who, i, j = entry
            yield (f'{vrun_head[who]}{vmas[who][i]}, {vmas[who][j]}], "steps": {steps}, '
                   f'"collisions": {hit_count}}}')
        elif kind == "both":
            _, vma, p, q = entry
            yield (f'{both_head}{vma}, "ptl": [{p}, {q}], "steps": {steps}, '
                   f'"collisions": {hit_count}}}')
        else:
            _, who, verb, vma, ptl = entry
            yield Step(*names[2 * who + verb], vma, ptl, bool(hits)).json_text()


def entries_from_json(model: WalkProduct, data) -> list:
    """Internal entries of a printed witness (full or compact); ValueError naming the
    first malformed entry. Runs' "steps" and "collisions" are checked by `check`'s
    caller against what the model gives."""
    if not isinstance(data, list):
        raise ValueError("witness: want a list of steps and runs")
    actors = {a.actor: i for i, a in enumerate(model.actions[::2])}
    verbs = {a.verb: i % 2 for i, a in enumerate(model.actions)}
    walks = model.items
    out, index_of = [], [None, None]
    for number, item in enumerate(data, start=1):
        where = f"witness entry {number}"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: want an object")
        vma = item.get("vma")
        if "actors" in item:
            if item["actors"] != ["exit_mmap", "reaper"] or item.get("actions") != ["lock", "unlock"]:
                raise ValueError(f"{where}: a both-run has \"actors\": [\"exit_mmap\", \"reaper\"]"
                                 " and \"actions\": [\"lock\", \"unlock\"]")
            out.append(("both", _int(vma, where, "vma"), *_pair(item.get("ptl"), where)))
            continue
        who = actors.get(item.get("actor")) if isinstance(item.get("actor"), str) else None
        if who is None:
            raise ValueError(f"{where}: \"actor\" must be one of {', '.join(actors)}")
        if "actions" in item:
            if item["actions"] == ["lock", "unlock"]:
                out.append(("run", who, _int(vma, where, "vma"), *_pair(item.get("ptl"), where)))
            elif item["actions"] == ["leave", "enter"]:
                first, last = _pair(vma, where, "vma")
                if index_of[who] is None:  # VMA -> item index, built once per walk
                    index_of[who] = ({} if model.exclusive else
                                     {v: t for t, v in enumerate(walks[who].vmas)})
                index = index_of[who]
                if first not in index or last not in index:
                    raise ValueError(f"{where}: VMAs {first}..{last} are not in the "
                                     f"{item['actor']} walk at granularity vma")
                out.append(("vrun", who, index[first], index[last]))
            else:
                raise ValueError(f"{where}: \"actions\" must be [\"lock\", \"unlock\"] "
                                 "or [\"leave\", \"enter\"]")
            continue
        verb = verbs.get(item.get("action")) if isinstance(item.get("action"), str) else None
        if verb is None:
            raise ValueError(f"{where}: \"action\" must be one of {', '.join(verbs)}")
        ptl = item.get("ptl")
        out.append(("step", who, verb, _int(vma, where, "vma"),
                    None if ptl is None else _int(ptl, where, "ptl")))
    return out


def _int(value, where, key):
    if type(value) is not int or value < 0:
        raise ValueError(f"{where}: \"{key}\" must be a non-negative integer")
    return value


def _pair(value, where, key="ptl"):
    if not (isinstance(value, list) and len(value) == 2):
        raise ValueError(f"{where}: \"{key}\" must be [first, last]")
    return _int(value[0], where, key), _int(value[1], where, key)
