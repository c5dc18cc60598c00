"""The maple-tree walks over 64-bit bit-vectors: model/maple.py, executed symbolically.

There is no second model of the iterators here. `symbolic_call` runs the very functions of
model/maple.py (`mas_find`, `mas_prev`, `mas_find_rev` and the internal steps they call)
on proxy values:

- addresses (`Word`): 64-bit bit-vector terms; `<`, `<=`, `==`, ... compare unsigned;
- the status (`Status`): a 2-bit code (start 0, active 1, underflow 2, overflow 3);
- slot indices (`Slot`): terms with `+ 1` / `- 1`;
- the tree (`_TreeView`): `lo[p]`, `hi[p]`, `entry[p]` and `slot(addr)` read a tree
  encoding (below); `entry[p]` returns None on the branch where range p is NULL.

Python evaluates each comparison's truth value when an `if` asks for it; a proxy answers by
asking the run's `_Path`, which replays a list of decisions and raises `_Fork` at the first
undecided condition. `_explore` re-runs the step for both outcomes of every fork, a tree of
runs, and `_merge` folds the tree back into if-then-else terms: the step's exact semantics
as terms (symbolic execution with path merging). Two outcomes are guarded, never assumed:
a read of a range index outside [0, R) (`oob`; the explicit model would raise IndexError)
and a run reading the entries of more than LOOKUP_LIMIT distinct ranges (`cut`: the slot
loops run at most twice, so a correct call reads at most 3 ranges; the proofs show `cut`
is unreachable, so the unrolling is complete, like a bounded model checker's unwinding
assertion).

Two tree encodings implement the same reads (and `shift`, what `p + 1` means):

- `LayoutTree`: up to K VMAs as symbolic (start, end) pairs. A start is 64 bits, an end is
  65 bits so that end == 2**64 (the VMA contains ULONG_MAX) is an ordinary value: that is
  the one case the claims turn on, so it is not hidden behind a flag. Constraints: a count
  1 <= n <= K, start < end <= 2**64, end[i-1] <= start[i]. The tree's ranges are the ones
  `maple.build` makes: a NULL range before VMA i iff end[i-1] < start[i] (start[0] > 0 for
  i = 0), a final NULL range iff the last end < 2**64. Any 64-bit values: page-aligned and
  unaligned layouts alike. Ranges sit at fixed sparse positions (see the class), and the
  bounds' order is given to the solver as proven lemmas (`prove_facts`): without both,
  one query for K = 8 took minutes (SAT solvers are poor at counting and at transitivity).
- `AxiomTree`: any number of ranges, as uninterpreted functions lo, hi: Int -> BV64,
  entry, vcount: Int -> Int, slot: BV64 -> Int and a count R, constrained by the facts
  every `maple.build` result satisfies (`AXIOMS`), instantiated on the ground terms the
  step and the invariant use (instances of true universal facts: sound, and decidable).

`unroll` chains K + 1 calls of a walk, each call's state being the previous call's result
terms. `bounded_check` (every layout of up to K VMAs, one query) and `inductive_check`
(any number of VMAs, an invariant) are the proofs; `SymbolicWalks` evaluates the unrolled
encoding on concrete layouts, for the differential test against `maple.visits`.
"""
from __future__ import annotations

from dataclasses import dataclass

import z3

from ...model import maple
from ...model.layout import ADDRESS_LIMIT, ULONG_MAX, Layout, Vma
from ...model.maple import MaState
from .z3_solve import Outcome, check, check_valid, verdict

STATUS_CODES = {"start": 0, "active": 1, "underflow": 2, "overflow": 3}
LOOKUP_LIMIT = 3  # ranges whose entry one call reads: mas_walk's, then at most two more
REVERSE = {"forward": False, "rev_prev": True, "rev_find_bad_last": True, "rev_find": True}


# -- proxies: the values the maple.py steps run on ------------------------------------------


class _Fork(Exception):
    """The run reached a condition its decision list does not cover."""

    def __init__(self, cond):
        self.cond = cond


class _Cut(Exception):
    """The run read more ranges than LOOKUP_LIMIT (an unwinding bound, checked unreachable)."""


class _Path:
    """One run of a step: the decisions to replay, and what the run recorded."""

    def __init__(self, decisions: tuple[bool, ...]):
        self.decisions = decisions
        self.depth = 0
        self.ranges: dict[int, object] = {}  # the distinct ranges whose entry was read
        self.oob: list = []  # conditions under which a read was outside [0, R)
        self.known: dict[int, tuple] = {}  # cond id -> (cond, decision taken on this path)

    def decide(self, cond) -> bool:
        if isinstance(cond, bool):
            return cond
        key = cond.get_id()
        if key in self.known:
            return self.known[key][1]
        simple = z3.simplify(cond)
        if z3.is_true(simple) or z3.is_false(simple):
            return z3.is_true(simple)
        if self.depth == len(self.decisions):
            raise _Fork(cond)
        choice = self.decisions[self.depth]
        self.depth += 1
        self.known[key] = (cond, choice)  # keep cond alive: its id must not be reused
        return choice


def _word(x):
    """An address as a term: a Word's term, an int's value, a term itself."""
    if isinstance(x, Word):
        return x.term
    return z3.BitVecVal(x, 64) if isinstance(x, int) else x


class Word:
    """A 64-bit address term; comparisons are unsigned and decided by the run's path."""

    __slots__ = ("term", "path")
    __hash__ = None

    def __init__(self, term, path: _Path):
        self.term, self.path = term, path

    def __eq__(self, other):
        return self.path.decide(self.term == _word(other))

    def __ne__(self, other):
        return self.path.decide(self.term != _word(other))

    def __lt__(self, other):
        return self.path.decide(z3.ULT(self.term, _word(other)))

    def __le__(self, other):
        return self.path.decide(z3.ULE(self.term, _word(other)))

    def __gt__(self, other):
        return self.path.decide(z3.UGT(self.term, _word(other)))

    def __ge__(self, other):
        return self.path.decide(z3.UGE(self.term, _word(other)))


class Status:
    """The 2-bit status code; `status == "active"` is decided by the run's path."""

    __slots__ = ("term", "path")
    __hash__ = None

    def __init__(self, term, path: _Path):
        self.term, self.path = term, path

    def __eq__(self, name):
        return self.path.decide(self.term == STATUS_CODES[name])

    def __ne__(self, name):
        return self.path.decide(self.term != STATUS_CODES[name])


class Slot:
    """A range index term; `p + 1` / `p - 1` are the next / previous range of the tree,
    as the encoding numbers its ranges (`enc.shift`)."""

    __slots__ = ("term", "enc")

    def __init__(self, term, enc):
        self.term, self.enc = term, enc

    def __add__(self, k: int) -> "Slot":
        return Slot(self.enc.shift(self.term, k), self.enc)

    def __sub__(self, k: int) -> "Slot":
        return Slot(self.enc.shift(self.term, -k), self.enc)


class _Column:
    """tree.lo / tree.hi: reading range p gives an address."""

    def __init__(self, view: "_TreeView", read):
        self.view, self.read = view, read

    def __getitem__(self, p: Slot) -> Word:
        self.view.path.oob.append(self.view.enc.out_of_range(p.term))
        return Word(self.read(p.term), self.view.path)


class _EntryColumn:
    """tree.entry: None on the branch where range p is NULL, else the VMA index term."""

    def __init__(self, view: "_TreeView"):
        self.view = view

    def __getitem__(self, p: Slot):
        path, enc = self.view.path, self.view.enc
        path.ranges.setdefault(p.term.get_id(), p.term)
        if len(path.ranges) > LOOKUP_LIMIT:
            raise _Cut
        path.oob.append(enc.out_of_range(p.term))
        term = enc.entry(p.term)
        if path.decide(term == enc.null):
            return None
        return term


class _TreeView:
    """What maple.py's steps read from a MapleTree, served by a tree encoding."""

    def __init__(self, enc, path: _Path):
        self.enc, self.path = enc, path
        self.lo = _Column(self, enc.lo)
        self.hi = _Column(self, enc.hi)
        self.entry = _EntryColumn(self)

    def slot(self, addr) -> Slot:
        return Slot(self.enc.slot(_word(addr)), self.enc)


# -- running one step symbolically -------------------------------------------------------------


@dataclass(frozen=True)
class CallTerms:
    """One call of a step as terms: what it returns, its next state, and its guards."""

    entry: object  # the VMA index, or the encoding's null
    index: object
    last: object
    status: object
    oob: object  # a read outside [0, R) happened
    cut: object  # the run read more than LOOKUP_LIMIT ranges' entries


def _explore(run, decisions: tuple[bool, ...] = ()):
    path = _Path(decisions)
    try:
        value = run(path)
    except _Fork as fork:
        return ("fork", fork.cond, _explore(run, decisions + (True,)),
                _explore(run, decisions + (False,)))
    except _Cut:
        return ("cut",)
    return ("leaf", value, path.oob)


def _status_term(x):
    """A status as a term: a Status's term, a name's code, a term itself."""
    if isinstance(x, Status):
        return x.term
    return z3.BitVecVal(STATUS_CODES[x], 2) if isinstance(x, str) else x


def _ite(cond, a, b):
    """If(cond, a, b), where None is "don't care" and equal arms need no If."""
    if a is None:
        return b
    if b is None or a.eq(b):
        return a
    return z3.If(cond, a, b)


def _merge(node, enc) -> tuple:
    """(entry, index, last, status, oob, cut) of the run tree, as terms.

    The next state is "don't care" (None) on runs that return NULL: the kernel loop stops
    there, so no later call reads it. This keeps the state terms to the runs that matter.
    """
    if node[0] == "fork":
        _, cond, yes, no = node
        return tuple(_ite(cond, a, b) for a, b in zip(_merge(yes, enc), _merge(no, enc)))
    if node[0] == "cut":
        return (enc.null, None, None, None, z3.BoolVal(False), z3.BoolVal(True))
    _, (entry, state), oob = node
    guards = (z3.Or(*oob) if oob else z3.BoolVal(False), z3.BoolVal(False))
    if entry is None:
        return (enc.null, None, None, None) + guards
    return (entry, _word(state.index), _word(state.last), _status_term(state.status)) + guards


def _proxy_state(state: MaState, path: _Path) -> MaState:
    def word(x):
        return x if isinstance(x, int) else Word(x, path)
    status = state.status if isinstance(state.status, str) else Status(state.status, path)
    return MaState(word(state.index), word(state.last), status)


_STATUS_NAMES = {code: name for name, code in STATUS_CODES.items()}


def _concrete(term, names=None):
    """A constant term as its Python value (status: its name), else the term itself."""
    if z3.is_bv_value(term):
        return names[term.as_long()] if names else term.as_long()
    return term


def symbolic_call(enc, step, state: MaState) -> CallTerms:
    """One call `step(tree, state)` of a maple.py step on the tree encoding `enc`.

    `state` holds ints/str (a fresh iterator) or terms (index, last: BV64; status: BV2).
    The returned state is meaningful only when the call returned a VMA (see `_merge`);
    a constant status comes back as its name, so the next call decides on it in Python.
    """
    def run(path):
        return step(_TreeView(enc, path), _proxy_state(state, path))
    entry, index, last, status, oob, cut = _merge(_explore(run), enc)
    zero = z3.BitVecVal(0, 64)
    index = _concrete(zero if index is None else index)
    last = _concrete(zero if last is None else last)
    status = _concrete(z3.BitVecVal(0, 2) if status is None else status, _STATUS_NAMES)
    return CallTerms(entry, index, last, status, oob, cut)


def unroll(enc, walk: str, calls: int) -> list[CallTerms]:
    """`calls` consecutive calls of the walk's loop step from its fresh state, as terms.

    Each call's state is the previous call's result term, not a fresh constant: the tree
    encoding looks through its if-then-else structure (see LayoutTree._slot).
    """
    state, step = maple.walk_loop(walk)
    out = []
    for _ in range(calls):
        call = symbolic_call(enc, step, state)
        out.append(call)
        state = MaState(call.index, call.last, call.status)
    return out


# -- tree encodings ------------------------------------------------------------------------------


class LayoutTree:
    """`maple.build` of a symbolic layout of 1..K VMAs (see the module docstring).

    Ranges are numbered sparsely: position 2i is the NULL range before VMA i (for i = n,
    the final NULL range up to ULONG_MAX), 2i + 1 is VMA i. A position whose range build()
    would not make (no gap there, or past the final range) is absent, and `shift` steps over
    it: p + 1 is the next range build() made, exactly as in its compact tuple. So no read
    needs arithmetic on counts: every read compares p with constants.
    """

    def __init__(self, k: int, name: str = "vma"):
        self.k = k
        self.width = w = max(8, (2 * k + 4).bit_length() + 1)
        self.entry_sort = z3.BitVecSort(w)
        self.null = z3.BitVecVal(2**w - 1, w)
        self.n = z3.BitVec(f"{name}_count", w)
        self.start = [z3.BitVec(f"{name}{i}_start", 64) for i in range(k)]
        self.end = [z3.BitVec(f"{name}{i}_end", 65) for i in range(k)]  # exclusive, <= 2**64
        self.present = [z3.UGT(self.n, i) for i in range(k)]
        top = z3.BitVecVal(ADDRESS_LIMIT, 65)
        self.wide = wide = [z3.ZeroExt(1, s) for s in self.start]
        self.count_constraints = [z3.ULE(1, self.n), z3.ULE(self.n, k)]
        self.vma_constraints = []  # per VMA: start < end <= 2**64, after the previous one
        for i in range(k):
            own = [z3.Implies(self.present[i], z3.And(
                z3.ULT(wide[i], self.end[i]), z3.ULE(self.end[i], top)))]
            if i:
                own.append(z3.Implies(self.present[i], z3.ULE(self.end[i - 1], wide[i])))
            self.vma_constraints.append(own)
        self.constraints = self.count_constraints + [
            c for own in self.vma_constraints for c in own]
        last_end = self.end[0]
        for i in range(1, k):
            last_end = z3.If(self.n == i + 1, self.end[i], last_end)
        self.last_end = last_end
        self.final_gap = z3.ULT(last_end, top)
        # the NULL range at position 2i: below VMA i (i < n) or the final one (i = n)
        self.gap_lo = [z3.Extract(63, 0, self.end[i - 1]) if i else z3.BitVecVal(0, 64)
                       for i in range(k + 1)]
        self.gap = []
        for i in range(k + 1):
            below = (z3.ULT(self.end[i - 1], wide[i]) if i else self.start[0] != 0) \
                if i < k else z3.BoolVal(False)
            final = self.final_gap if i else z3.BoolVal(False)
            self.gap.append(z3.If(self.n == i, final,
                                  z3.And(self.present[i], below) if i < k else False))
        self._cache: dict = {}
        self.order_facts: dict = {}  # consequences of `constraints`, see _slot

    def _cached(self, what: str, key, build):
        """Terms are hash-consed, so a read of the same term is built once (the runs of
        one step share most of their reads)."""
        slot = (what, key.get_id())
        if slot not in self._cache:
            self._cache[slot] = (key, build())  # keep key alive: its id must not be reused
        return self._cache[slot][1]

    def _pos(self, p, value: int):
        return p == z3.BitVecVal(value, self.width)

    def exists(self, p):
        """Does build() make the range at position p?"""
        def build():
            out = z3.BoolVal(False)
            for i in range(self.k + 1):
                out = z3.If(self._pos(p, 2 * i), self.gap[i], out)
                if i < self.k:
                    out = z3.If(self._pos(p, 2 * i + 1), self.present[i], out)
            return out
        return self._cached("exists", p, build)

    def shift(self, p, k: int):
        """The range k places after (k < 0: before) p, skipping absent positions. NULL
        ranges are never adjacent, so one step is one or two positions."""
        for _ in range(abs(k)):
            step = 1 if k > 0 else -1
            near = p + step
            p = z3.If(self.exists(near), near, p + 2 * step)
        return p

    def _select(self, p, gap, vma, default):
        out = default
        for i in reversed(range(self.k + 1)):
            if i < self.k:
                out = z3.If(self._pos(p, 2 * i + 1), vma(i), out)
            out = z3.If(self._pos(p, 2 * i), gap(i), out)
        return out

    def lo(self, p):
        return self._cached("lo", p, lambda: self._select(
            p, lambda i: self.gap_lo[i], lambda i: self.start[i], z3.BitVecVal(0, 64)))

    def hi(self, p):
        max64 = z3.BitVecVal(ULONG_MAX, 64)
        return self._cached("hi", p, lambda: self._select(
            p, lambda i: z3.If(self.n == i, max64, self.start[i] - 1) if i < self.k else max64,
            lambda i: z3.Extract(63, 0, self.end[i] - 1), z3.BitVecVal(0, 64)))

    def entry(self, p):
        return self._cached("entry", p, lambda: self._select(
            p, lambda i: self.null,
            lambda i: z3.If(self.present[i], z3.BitVecVal(i, self.width), self.null),
            self.null))

    def slot(self, addr):
        return self._cached("slot", addr, lambda: self._slot(addr))

    def _below(self, addr, i):
        """The two comparisons slot() makes at VMA i: addr < start_i, addr < end_i."""
        return z3.ULT(addr, self.start[i]), z3.ULT(z3.ZeroExt(1, addr), self.end[i])

    def _slot(self, addr):
        """The range containing addr: walk up the layout, comparing with each bound.

        An address chosen by an if-then-else is looked up in each branch (the same value).
        For an address that is a bound of the layout (VMA j's start, or the end of VMA
        j - 1 where the NULL range above it starts), the outcome of each comparison follows
        from the layout being sorted. Those consequences are recorded in `order_facts`
        (and proven by `prove_facts` before a proof uses them), so the solver need not
        re-derive a chain of 2K 64-bit inequalities in every query.
        """
        if z3.is_app_of(addr, z3.Z3_OP_ITE):
            cond, yes, no = addr.children()
            return z3.If(cond, self.slot(yes), self.slot(no))
        self._order_facts(addr)
        out = z3.BitVecVal(2 * self.k, self.width)
        for i in reversed(range(self.k)):
            below_start, below_end = self._below(addr, i)
            out = z3.If(self.n == i, z3.BitVecVal(2 * i, self.width),
                        z3.If(below_start, z3.BitVecVal(2 * i, self.width),
                              z3.If(below_end, z3.BitVecVal(2 * i + 1, self.width), out)))
        return out

    def _order_facts(self, addr):
        for j in range(self.k):
            if addr.eq(self.start[j]):  # VMA j's start: above every bound of VMAs < j
                for i in range(self.k):
                    below_start, below_end = self._below(addr, i)
                    both = z3.And(self.present[i], self.present[j])
                    self.order_facts[("start", j, i)] = z3.Implies(both, z3.And(
                        below_start == (j < i), below_end == (j <= i)))
        for j in range(1, self.k + 1):
            if addr.eq(self.gap_lo[j]):  # the end of VMA j - 1, when below 2**64
                real = z3.And(self.present[j - 1],
                              z3.ULT(self.end[j - 1], z3.BitVecVal(ADDRESS_LIMIT, 65)))
                for i in range(self.k):
                    below_start, below_end = self._below(addr, i)
                    if i == j:
                        start_fact = below_start == z3.ULT(self.end[j - 1], self.wide[j])
                    else:
                        start_fact = below_start == (i > j)
                    self.order_facts[("end", j, i)] = z3.Implies(
                        z3.And(real, self.present[i]),
                        z3.And(start_fact, below_end == (i >= j)))

    @property
    def facts(self) -> list:
        return list(self.order_facts.values())

    def prove_facts(self, timeout_s: float | None = None) -> tuple[str, float, str | None]:
        """Prove every recorded order fact from `constraints`, so no proof trusts them.

        A fact compares a bound of VMA j with one of VMA i; it follows from the fact for
        the neighbour of i one step closer to j (proven first) and the constraints between
        the two neighbours (only those VMAs' constraints are given: a weaker premise, so
        still a proof), so each query is a short chain, not 2K links. Returns (holds |
        unknown, seconds, reason); a fact that is false is a bug and raises.
        """
        seconds = 0.0

        def owner(key):  # the VMA whose bound the address is
            kind, j, _ = key
            return j if kind == "start" else j - 1
        for key in sorted(self.order_facts, key=lambda key: (abs(key[2] - owner(key)), key)):
            kind, j, i = key
            a = owner(key)
            near = (kind, j, i + (1 if i < a else -1))
            hint = [self.order_facts[near]] if abs(i - a) > 1 and near in self.order_facts \
                else []
            ends = (i, near[2]) if hint else (i, a)  # the VMAs the query relates
            local = [c for v in range(min(ends), max(ends) + 1)
                     for c in self.vma_constraints[v]]
            outcome = check(local + hint + [z3.Not(self.order_facts[key])], timeout_s,
                            "QF_BV")
            seconds += outcome.seconds
            if outcome.result == z3.sat:
                raise AssertionError(f"order fact {key} is false: the encoding is wrong")
            if outcome.result != z3.unsat:
                return "unknown", seconds, f"order fact {key}: solver unknown ({outcome.reason})"
        return "holds", seconds, None

    def out_of_range(self, p):
        return self._cached("oob", p, lambda: z3.Not(self.exists(p)))

    def positions(self, model) -> list[int]:
        """The positions of the ranges build() makes, in order (for tests)."""
        return [p for p in range(2 * self.k + 1)
                if z3.is_true(model.eval(self.exists(z3.BitVecVal(p, self.width)),
                                         model_completion=True))]

    def fix(self, layout: Layout) -> list:
        """Constraints that make this encoding's layout equal to `layout`."""
        out = [self.n == len(layout)]
        for i, vma in enumerate(layout.vmas):
            out += [self.start[i] == vma.start, self.end[i] == vma.end]
        return out

    def decode(self, value, path: str = "counterexample") -> Layout:
        """The layout of a model (`value(term)` reads it, see z3_solve.Outcome)."""
        vmas = [Vma(value(self.start[i]), value(self.end[i]), "rw-p", lineno=i + 1)
                for i in range(value(self.n))]
        return Layout.checked(path, vmas)


class AxiomTree:
    """A tree of any size: uninterpreted reads constrained by AXIOMS on the terms used."""

    def __init__(self, name: str = "t"):
        bv = z3.BitVecSort(64)
        i = z3.IntSort()
        self.entry_sort = i
        self.null = z3.IntVal(-1)
        self.lo_fn = z3.Function(f"{name}_lo", i, bv)
        self.hi_fn = z3.Function(f"{name}_hi", i, bv)
        self.entry_fn = z3.Function(f"{name}_entry", i, i)
        self.vcount = z3.Function(f"{name}_vmas_below", i, i)  # VMAs in ranges [0, x)
        self.slot_fn = z3.Function(f"{name}_slot", bv, i)
        self.ranges = z3.Int(f"{name}_ranges")
        self.slots: dict[int, object] = {}  # every range index term read (id -> term)
        self.addrs: dict[int, object] = {}  # every address given to slot()

    @property
    def n(self):
        """The number of VMAs."""
        return self.vcount(self.ranges)

    def _note(self, p):
        self.slots.setdefault(p.get_id(), p)

    def lo(self, p):
        self._note(p)
        return self.lo_fn(p)

    def hi(self, p):
        self._note(p)
        return self.hi_fn(p)

    def entry(self, p):
        self._note(p)
        return self.entry_fn(p)

    def slot(self, addr):
        self.addrs.setdefault(addr.get_id(), addr)
        term = self.slot_fn(addr)
        self._note(term)
        return term

    def out_of_range(self, p):
        return z3.Or(p < 0, p >= self.ranges)

    def shift(self, p, k: int):
        """Ranges are numbered 0 .. R-1 consecutively here: p + k."""
        return p + k

    def axioms(self) -> list:
        """AXIOMS instantiated on every recorded index (and its neighbours) and address."""
        xs = {}
        for p in list(self.slots.values()) + [z3.IntVal(0), self.ranges - 1]:
            for q in (p - 1, p, p + 1):
                q = z3.simplify(q)
                xs.setdefault(q.get_id(), q)
        out = [ax for ax in tree_axioms(self)]
        for x in xs.values():
            out += range_axioms(self, x)
        for a in self.addrs.values():
            out += slot_axioms(self, a, xs.values())
        return out


MAX64 = z3.BitVecVal(ULONG_MAX, 64)

AXIOMS = """\
for a tree of R ranges holding n = vcount(R) VMAs, every x and address a:
 (ends)       R >= 1, lo(0) = 0, hi(R-1) = ULONG_MAX, vcount(0) = 0, n >= 1
 (range)      0 <= x < R  =>  lo(x) <= hi(x)
 (contiguous) 0 <= x < R-1  =>  hi(x) < ULONG_MAX and lo(x+1) = hi(x) + 1
 (count)      0 <= x < R  =>  vcount(x+1) = vcount(x) + (entry(x) != NULL)
 (numbered)   0 <= x < R and entry(x) != NULL  =>  entry(x) = vcount(x) and entry(x) < n
 (gaps)       0 <= x < R-1  =>  entry(x) != NULL or entry(x+1) != NULL
 (slot)       0 <= slot(a) < R and lo(slot(a)) <= a <= hi(slot(a)), and slot(a) = x for
              every range x with 0 <= x < R and lo(x) <= a <= hi(x)"""


def tree_axioms(t: AxiomTree) -> list:
    r = t.ranges
    return [r >= 1, t.lo_fn(0) == 0, t.hi_fn(r - 1) == MAX64, t.vcount(0) == 0, t.n >= 1]


def range_axioms(t: AxiomTree, x) -> list:
    r, null = t.ranges, t.null
    inside = z3.And(0 <= x, x < r)
    e = t.entry_fn(x)
    return [
        z3.Implies(inside, z3.ULE(t.lo_fn(x), t.hi_fn(x))),
        z3.Implies(z3.And(0 <= x, x < r - 1),
                   z3.And(z3.ULT(t.hi_fn(x), MAX64), t.lo_fn(x + 1) == t.hi_fn(x) + 1)),
        z3.Implies(inside, t.vcount(x + 1) == t.vcount(x) + z3.If(e == null, 0, 1)),
        z3.Implies(z3.And(inside, e != null), z3.And(e == t.vcount(x), e < t.n)),
        z3.Implies(z3.And(0 <= x, x < r - 1), z3.Or(e != null, t.entry_fn(x + 1) != null)),
    ]


def slot_axioms(t: AxiomTree, a, xs) -> list:
    s = t.slot_fn(a)
    out = [0 <= s, s < t.ranges, z3.ULE(t.lo_fn(s), a), z3.ULE(a, t.hi_fn(s))]
    for x in xs:
        out.append(z3.Implies(z3.And(0 <= x, x < t.ranges, z3.ULE(t.lo_fn(x), a),
                                     z3.ULE(a, t.hi_fn(x))), s == x))
    return out


# -- checking --------------------------------------------------------------------------------


def expected_vma(walk: str, t, n):
    """The VMA the t-th call must return: t ascending, n - 1 - t descending."""
    return n - 1 - t if REVERSE[walk] else t


def visits_claim(tree: LayoutTree, walk: str, calls) -> object:
    """The walk returns every VMA once, in its order, then NULL (and the run is in bounds)."""
    n, w = tree.n, tree.width
    parts = []
    for t, call in enumerate(calls):
        tv = z3.BitVecVal(t, w)
        parts += [z3.Implies(z3.ULE(tv, n), z3.And(z3.Not(call.oob), z3.Not(call.cut))),
                  z3.Implies(z3.ULT(tv, n), call.entry == expected_vma(walk, tv, n)),
                  z3.Implies(tv == n, call.entry == tree.null)]
    return z3.And(*parts)


def below_top(tree: LayoutTree):
    """No VMA contains ULONG_MAX: the last end is at most 2**64 - 1."""
    return tree.final_gap


def page_aligned(tree: LayoutTree) -> list:
    out = []
    for i in range(tree.k):
        out.append(z3.Implies(tree.present[i], z3.And(
            z3.Extract(11, 0, tree.start[i]) == 0, z3.Extract(11, 0, tree.end[i]) == 0)))
    return out


@dataclass(frozen=True)
class BoundedResult:
    status: str  # holds | violated | unknown
    seconds: float
    reason: str | None = None
    counterexample: dict | None = None


def _decoded_visits(value, tree: LayoutTree, calls) -> list[int]:
    """The entries of the calls in a model, up to the first NULL (the kernel loop)."""
    out = []
    for call in calls:
        entry = value(call.entry)
        if entry == tree.null.as_long():
            break
        out.append(entry)
    return out


class SymbolicWalks:
    """The unrolled encodings of every walk over layouts of up to k VMAs, built once, for
    evaluating on concrete layouts (the differential test against `maple.visits`)."""

    def __init__(self, k: int):
        self.k = k
        self.tree = LayoutTree(k)
        self.calls = {walk: unroll(self.tree, walk, k + 1) for walk in maple.WALKS}

    def visits(self, layout: Layout, walk: str) -> list[int]:
        if len(layout) > self.k:
            raise ValueError(f"layout has {len(layout)} VMAs, encoding holds {self.k}")
        solver = z3.Solver()
        solver.add(*self.tree.fix(layout))
        if solver.check() != z3.sat:
            raise AssertionError("a fixed layout is always satisfiable")
        model = solver.model()
        return _decoded_visits(lambda t: model.eval(t, model_completion=True).as_long(),
                               self.tree, self.calls[walk])


def counterexample_json(layout: Layout, walk: str, visits: list[int]) -> dict:
    """A violation as data: the layout (hex), its maps lines, and what the walk returns."""
    expected = list(range(len(layout)))
    if REVERSE[walk]:
        expected.reverse()
    return {
        "walk": walk,
        "layout": [{"vma": i, "start": hex(v.start), "end": hex(v.end),
                    "contains_ulong_max": v.contains_ulong_max}
                   for i, v in enumerate(layout.vmas)],
        "maps": [f"{v.start:x}-{v.end:x} rw-p 00000000 00:00 0" for v in layout.vmas],
        "visits": visits,
        "expected": expected,
        "skipped": [i for i in expected if i not in visits],
    }


def _claim_query(walk: str, k: int, assume_below_top: bool, exact: bool = False):
    """(tree, calls, assertions whose models are the violations) for layouts of up to k
    VMAs (exactly k with `exact`)."""
    tree = LayoutTree(k)
    calls = unroll(tree, walk, k + 1)
    negated = z3.Not(visits_claim(tree, walk, calls))
    extra = [below_top(tree)] if assume_below_top else []
    if exact:
        extra.append(tree.n == k)
    return tree, calls, tree.constraints + tree.facts + extra + [negated]


def _canonical(query, tree: LayoutTree, n: int, timeout_s: float | None) -> Outcome:
    """The violation whose VMAs sit highest: lexicographically the largest start_0, then
    the smallest end_0, start_1 largest, ... A unique optimum, so the counterexample is the
    same whatever k and however it was found."""
    return check(query, timeout_s, maximize=tree.start[:n], minimize=tree.end[:n])


def bounded_check(walk: str, k: int, assume_below_top: bool = False,
                  timeout_s: float | None = None, proven: dict | None = None) -> BoundedResult:
    """Every layout of 1..k VMAs: the walk visits every VMA exactly once, in order.

    One query over the walk unrolled for k + 1 calls (after proving the order facts it
    uses, see LayoutTree.prove_facts). On a violation the counterexample is
    shrunk to the fewest VMAs, page-aligned when possible, then made canonical (see
    `_canonical`); its visit sequence is read from the Z3 model and checked against the
    explicit `maple.visits` on the decoded layout: a disagreement is an internal error.

    `proven`: a dict shared by several calls, where the order facts' proof is kept. The
    facts and their premises are those of LayoutTree(k) alone (every walk records the
    same 128 at k = 8), so a proof made for one walk serves the others: it is reused only
    for the same k and the same set of facts.
    """
    tree, calls, query = _claim_query(walk, k, assume_below_top)
    key = (k, tuple(sorted(tree.order_facts)))
    if proven is not None and key in proven:
        facts, seconds, reason = proven[key]
    else:
        facts, seconds, reason = tree.prove_facts(timeout_s)
        if proven is not None:
            proven[key] = (facts, seconds, reason)
    if facts != "holds":
        return BoundedResult("unknown", seconds, reason)
    outcome = check(query, timeout_s, "QF_BV")
    seconds += outcome.seconds
    status = verdict(outcome.result)
    if status != "violated":
        return BoundedResult(status, seconds, outcome.reason)
    for n in range(1, k + 1):  # shrink: the fewest VMAs, page-aligned if possible
        small, small_calls, small_query = _claim_query(walk, n, assume_below_top, exact=True)
        found = None
        for extra in (page_aligned(small), []):
            attempt = _canonical(small_query + extra, small, n, timeout_s)
            seconds += attempt.seconds
            if attempt.result == z3.sat:
                found = attempt
                break
        if found is not None:
            tree, calls, outcome = small, small_calls, found
            break
    layout = tree.decode(outcome.value)
    symbolic = _decoded_visits(outcome.value, tree, calls)
    explicit = maple.visits(layout, walk)
    if symbolic != explicit:
        raise AssertionError(f"Z3 and the explicit model disagree on {walk}: "
                             f"{symbolic} vs {explicit} for {layout.vmas}")
    return BoundedResult("violated", seconds, None, counterexample_json(layout, walk, symbolic))


# -- induction over the walk ----------------------------------------------------------------------


def invariant(tree: AxiomTree, walk: str, state: MaState, c):
    """I(state, c) after c calls that each returned a VMA (see INVARIANT)."""
    fresh, _ = maple.walk_loop(walk)
    index, last, status = _word(state.index), _word(state.last), _status_term(state.status)
    p = tree.slot(index)
    returned = tree.n - c if REVERSE[walk] else c - 1  # the VMA the last call returned
    return z3.Or(
        z3.And(c == 0, index == fresh.index, last == fresh.last,
               status == STATUS_CODES[fresh.status]),
        z3.And(c >= 1, c <= tree.n, status == STATUS_CODES["active"], index == tree.lo(p),
               last == tree.hi(p), tree.entry(p) == returned))


INVARIANT = """\
I(s, c), c = the number of calls so far (each returned a VMA), n = the number of VMAs:
  (c = 0 and s = the fresh iterator state {fresh})
  or (1 <= c <= n and s.status = ma_active and [s.index, s.last] = [lo(p), hi(p)] with
      p = slot(s.index) and entry(p) = {returned}, i.e. the state is exactly the range of
      the VMA the last call returned).
Checked by Z3: I holds initially; and I(s, c) and (entry, s') = {step} imply
  no read outside the tree and no slot loop past its unrolling, and
  entry = NULL  ->  c = n          (the walk ends only after all n VMAs)
  entry != NULL ->  entry = {expect} and c < n and I(s', c + 1).
So call t returns VMA {expect_t} for t < n and NULL at t = n: every VMA exactly once, in order.
The tree is any tree satisfying:
{axioms}"""


def invariant_text(walk: str) -> str:
    fresh, _ = maple.walk_loop(walk)
    step = {"forward": "mas_find(tree, s, ULONG_MAX)", "rev_prev": "mas_prev(tree, s, 0)",
            "rev_find": "mas_find_rev(tree, s, 0)",
            "rev_find_bad_last": "mas_find_rev(tree, s, 0)"}[walk]
    rev = REVERSE[walk]
    return INVARIANT.format(
        fresh=f"(index {fresh.index:#x}, last {fresh.last:#x}, ma_{fresh.status})",
        returned="n - c" if rev else "c - 1", step=step,
        expect="n - 1 - c" if rev else "c", expect_t="n - 1 - t" if rev else "t",
        axioms="\n".join("  " + line for line in AXIOMS.splitlines()[1:]))


@dataclass(frozen=True)
class InductiveResult:
    status: str  # holds | unknown (not inductive counts as unknown: induction is incomplete)
    seconds: float
    reason: str | None = None


def inductive_check(walk: str, assume_below_top: bool = False,
                    timeout_s: float | None = None) -> InductiveResult:
    """Prove the visits claim for trees of ANY size by induction over the calls."""
    tree = AxiomTree()
    fresh, step = maple.walk_loop(walk)
    c = z3.Int("c")
    pre = MaState(z3.BitVec("index", 64), z3.BitVec("last", 64), z3.BitVec("status", 2))
    assumptions = [c >= 0]
    if assume_below_top:  # no VMA contains ULONG_MAX: the last range is NULL
        assumptions.append(tree.entry(tree.ranges - 1) == tree.null)
    # base case: the fresh state satisfies I with c = 0
    base = invariant(tree, walk, fresh, z3.IntVal(0))
    # step
    inv_pre = invariant(tree, walk, pre, c)
    call = symbolic_call(tree, step, pre)
    post = MaState(call.index, call.last, call.status)
    n = tree.n
    expect = n - 1 - c if REVERSE[walk] else c
    goal = z3.And(
        z3.Not(call.oob), z3.Not(call.cut),
        z3.Implies(call.entry == tree.null, c == n),
        z3.Implies(call.entry != tree.null,
                   z3.And(call.entry == expect, c < n, invariant(tree, walk, post, c + 1))))
    axioms = tree.axioms()  # after every term above is recorded
    return InductiveResult(*check_valid(
        [("base case", base), ("inductive step", z3.Implies(inv_pre, goal))],
        axioms + assumptions, timeout_s))
