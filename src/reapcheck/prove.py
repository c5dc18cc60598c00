"""Issue 4's and issue 13's claims, proved with Z3: `prove()` (data) and `iterate_json()`.

Each claim is checked two ways, both reading the model's own definitions (model/maple.py
for the iterators, through engines/symbolic/z3_maple.py; model/walk_product.py and
properties/collisions.py for collisions, through engines/symbolic/z3_collisions.py):

- bounded: every layout of up to K VMAs. Iterators: one query over the walk unrolled for
  K + 1 calls on symbolic 64-bit layouts. Collisions: bounded model checking of every
  schedule (4K steps) of every layout of up to K VMAs, plus a witness layout for each
  number n = 0..K of reapable VMAs (K VMAs, n reapable) on which Z3 finds a schedule
  reaching the expected worst case, shows none exceeds it, and the schedule is decoded and
  replayed through engines/schedule.replay on the concrete WalkProduct.
- inductive: ANY number of VMAs, by an invariant Z3 checks to be inductive; the invariant
  is stated in the output.

One entry per claim; its "seconds" (wall time of all its checks) is the only timing in the
output, so the rest is deterministic. Its `status` and `bound` say what is established:

| status | bound | meaning |
|---|---|---|
| holds | "unbounded" | the inductive proof succeeded (the bounded check did not fail) |
| holds | K | the bounded check succeeded, the inductive proof did not (yet) |
| violated | K | the bounded check found a violation: `counterexample` shows it |
| unknown | K | neither: a solver timeout/unknown, or an invariant that is not inductive |

`unknown` is never reported as `holds`: every query's unknown stays unknown (docs/model.md §5),
and a failed induction is incomplete, not a proof. The entry also carries `bounded`
({"status", "k", "reason"}) and `inductive` ({"status", "reason"}, or None when not
attempted), and for the collision claims `witnesses` (one per n = 0..K: the layout, the
worst case, its status, the schedule as action names and its replayed collision count).
`timeout_s` bounds each solver query separately. Apart from each claim's "seconds" the
output is deterministic (unless a timeout strikes): queries run in fresh Z3 contexts and
counterexamples are made canonical (engines/symbolic/z3_solve.py, z3_maple._canonical).

The protocol claims (PROTOCOL_CLAIMS, issue 13 section 1), `protocol_<property>_<walk>`
plus `_mrelease` and `_stuck_writer` for the options: each of the seven protocol
properties (properties/protocol.py), for the walks whose visit order an iterator claim
proves (forward, rev_find; named in `depends_on` and `assumptions`), for every layout of
any number of VMAs (engines/symbolic/z3_protocol_any.py: model/protocol.py with N a parameter).
The inductive proof comes first; the invariant is Houdini's support (the model's
candidate invariants that are inductive together) and the property's own part, if it
needs one. Only a property the parametric proof shows violated (a run of the parametric
model reaches a failing state: bounded search, else Spacer) is checked explicitly, on every layout
of 1..3 VMAs, for its counterexample (`bounded`, and the trace file `reapcheck replay`
reads); a protocol claim that is unknown has bound None. Their entries add `property`,
`walk`, `mrelease`, `stuck_writer`, `depends_on`, and in `inductive` the `method`
(support | inductive | spacer), the `support` kept, the candidates `dropped` and (for
`at_terminal` properties) `termination`. The output's `protocol_candidates` gives each
candidate invariant in kernel words.

    >>> from reapcheck.prove import prove
    >>> result = prove(k=2, only=("rev_prev_visits_all",))
    >>> result["claims"]["rev_prev_visits_all"]["status"]
    'violated'
"""
from __future__ import annotations

import json
import time

from .engines.symbolic import z3_collisions as zc
from .engines.symbolic import z3_maple as zm
from .model import maple
from .model.layout import Layout
from .model.protocol import CANDIDATE_WORDS, ProtocolConfig
from .properties.protocol import BY_NAME, PROPERTIES

VERSION = 1
PROTOCOL_OPTIONS = ((False, False), (True, False), (False, True), (True, True))
# (mrelease, stuck_writer): the claim name's suffix


def protocol_claim_name(prop: str, walk: str, mrelease: bool, stuck_writer: bool) -> str:
    """`protocol_<property>_<walk>`, then `_mrelease` and `_stuck_writer` when set."""
    return ("protocol_" + prop + "_" + walk + ("_mrelease" if mrelease else "")
            + ("_stuck_writer" if stuck_writer else ""))


# claim -> (property, configuration): every protocol property, for every layout, per walk
# whose visit order an iterator claim proves, with and without each option.
PROTOCOL_CLAIMS = {
    protocol_claim_name(p.name, walk, mrelease, stuck): (p.name, ProtocolConfig(
        walk, None, stuck_writer=stuck, mrelease=mrelease))
    for walk in ("forward", "rev_find") for mrelease, stuck in PROTOCOL_OPTIONS
    for p in PROPERTIES
}
CLAIMS = (
    "forward_visits_all",
    "rev_find_visits_all",
    "rev_prev_visits_all",
    "rev_prev_visits_all_below_top",
    "reverse_one_vma_collision",
    "forward_worst_equals_reapable",
    *PROTOCOL_CLAIMS,
)

LAYOUTS = ("every layout of 1..K VMAs (bounded) or of any number (inductive): sorted, "
           "disjoint, 0 <= start < end <= 2**64, any 64-bit values (page-aligned or not)")
BELOW_TOP = "no VMA contains ULONG_MAX: every end <= 2**64 - 1 (true of every real process)"

# claim -> (walk, assume no VMA contains ULONG_MAX)
ITERATOR_CLAIMS = {
    "forward_visits_all": ("forward", False),
    "rev_find_visits_all": ("rev_find", False),
    "rev_prev_visits_all": ("rev_prev", False),
    "rev_prev_visits_all_below_top": ("rev_prev", True),
}


# The verdict each claim should get. rev_prev's first mas_prev() discards the range at
# its index, so a VMA containing ULONG_MAX is skipped (docs/model.md §4): the claim
# without the below-top assumption is known to fail, and its counterexample is expected.
EXPECTED = {name: "violated" if name == "rev_prev_visits_all" else "holds" for name in CLAIMS}


def verdict(name: str, entry: dict) -> str:
    """`expected`, `unexpected` or `incomplete`: a claim's verdict against EXPECTED. A
    `holds` up to K only (the induction failed) is incomplete: the claims are for any
    number of VMAs."""
    if entry["status"] == "unknown" or (entry["status"] == "holds"
                                         and entry["bound"] != "unbounded"):
        return "incomplete"
    return "expected" if entry["status"] == EXPECTED[name] else "unexpected"


def exit_status(result: dict) -> int:
    """The README's exit-code scheme: 0 every claim as expected, 1 an unexpected verdict
    (a violation where none is expected, or a proof of a claim known to fail), 3 some
    claim unknown or proved only up to K."""
    verdicts = {verdict(name, entry) for name, entry in result["claims"].items()}
    return 1 if "unexpected" in verdicts else 3 if "incomplete" in verdicts else 0


def counterexample_text(entry: dict) -> str:
    """An iterator claim's counterexample in words (the JSON keeps the data)."""
    cex = entry["counterexample"]
    if "trace" in cex:  # a protocol claim: the layout, and the trace replay reads
        flags = ", ".join(f"VMA {v['vma']} {'reapable' if v['reapable'] else 'not reapable'}"
                          for v in cex["layout"])
        return (f"{cex['vmas']} VMA(s) ({flags}): a schedule of {cex['steps']} steps breaks "
                f"{entry['property']} (the JSON's counterexample.trace is a file "
                "`reapcheck replay` re-runs)")
    if "walk" not in cex:
        return json.dumps(cex)
    vmas = "; ".join(f"VMA {v['vma']} {v['start']}-{v['end']}"
                     + (" (contains ULONG_MAX)" if v["contains_ulong_max"] else "")
                     for v in cex["layout"])
    return (f"{vmas}: the {cex['walk']} walk visits {cex['visits'] or 'nothing'}, "
            f"skips VMA {', '.join(map(str, cex['skipped']))} (as maps: "
            f"{' / '.join(cex['maps'])})")


class ProofConflict(AssertionError):
    """The bounded check and the induction disagree: an encoding bug, never output."""


def iterate_json(layout: Layout, walk: str) -> dict:
    """`reapcheck iterate LAYOUT --walk W --json`: the walk's visit sequence (model/maple.py)."""
    return {"layout": layout.path, "visits": maple.visits(layout, walk),
            "skipped": maple.skipped(layout, walk)}


def _combine(bounded_status: str, inductive_status: str | None, k: int) -> tuple[str, object]:
    if bounded_status == "violated":
        if inductive_status == "holds":
            raise ProofConflict("a bounded violation and an inductive proof of one claim")
        return "violated", k
    if inductive_status == "holds":
        return "holds", "unbounded"
    if bounded_status == "holds":
        return "holds", k
    return "unknown", k


def _part(status: str, reason: str | None, **extra) -> dict:
    return {"status": status, **extra, "reason": reason}


def _iterator_claim(name: str, k: int, timeout_s, proven: dict) -> dict:
    walk, below_top = ITERATOR_CLAIMS[name]
    start = time.perf_counter()
    bounded = zm.bounded_check(walk, k, below_top, timeout_s, proven)
    inductive = None
    if bounded.status != "violated":
        inductive = zm.inductive_check(walk, below_top, timeout_s)
    status, bound = _combine(bounded.status, inductive and inductive.status, k)
    return {
        "status": status,
        "bound": bound,
        "assumptions": [LAYOUTS] + ([BELOW_TOP] if below_top else []),
        "invariant": (zm.invariant_text(walk) if inductive is not None else
                      "none: the bounded check found a violation (see counterexample)"),
        "counterexample": bounded.counterexample,
        "seconds": time.perf_counter() - start,
        "bounded": _part(bounded.status, bounded.reason, k=k),
        "inductive": None if inductive is None else _part(inductive.status, inductive.reason),
    }


def _witness_json(w: zc.Witness, n: int) -> dict:
    return {
        "reapable": n,
        "layout": [{"vma": i, "start": hex(v.start), "end": hex(v.end),
                    "reapable": w.layout.is_reapable(v)} for i, v in enumerate(w.layout.vmas)],
        "worst": w.target,
        "status": w.status,
        "schedule": [a.name for a in w.schedule],
        "replayed_collisions": w.replayed,
    }


def _witnesses(order: str, k: int, expect, timeout_s) -> list[dict]:
    out = []
    for n in range(k + 1):
        w = zc.concrete_worst(zc.witness_layout(k, n), order, expect(n), timeout_s)
        out.append(_witness_json(w, n))
    return out


def _collision_assumptions(order: str) -> list[str]:
    direction = "decreasing" if order == "reverse" else "increasing"
    return ["granularity vma (docs/model.md §3): a collision is a step into a state where both "
            "are inside the same VMA",
            "exit_mmap visits every VMA ascending; the reaper visits the reapable VMAs "
            f"in {order} order",
            zc.FACTS.format(direction=direction)]


def _reverse_claim(k: int, timeout_s) -> dict:
    start = time.perf_counter()
    bounded = zc.bounded_upper("reverse", k, timeout_s)
    witnesses = _witnesses("reverse", k, lambda n: min(n, 1), timeout_s)
    inductive = zc.reverse_at_most_one(timeout_s)
    bounded_status = bounded.status
    if any(w["status"] == "violated" and (w["replayed_collisions"] or 0) > 1
           for w in witnesses):
        bounded_status = "violated"
    status, bound = _combine(bounded_status, inductive.status, k)
    return {
        "status": status,
        "bound": bound,
        "assumptions": _collision_assumptions("reverse"),
        "invariant": zc.REVERSE_INVARIANT,
        "counterexample": None if status != "violated" else {"reason": bounded.reason},
        "seconds": time.perf_counter() - start,
        "bounded": _part(bounded_status, bounded.reason, k=k),
        "inductive": _part(inductive.status, inductive.reason),
        "witnesses": witnesses,
    }


def _forward_claim(k: int, timeout_s) -> dict:
    start = time.perf_counter()
    bounded = zc.bounded_upper("forward", k, timeout_s)
    witnesses = _witnesses("forward", k, lambda n: n, timeout_s)
    upper = zc.forward_at_most_reapable(timeout_s)
    lower = zc.forward_reaches_reapable(timeout_s)
    # bounded part: no schedule of any layout exceeds n, and each witness reaches its n
    statuses = [bounded.status] + [w["status"] for w in witnesses]
    bounded_status = ("violated" if "violated" in statuses else
                      "unknown" if "unknown" in statuses else "holds")
    inductive_status = "holds" if upper.status == lower.status == "holds" else "unknown"
    reasons = [r for r in (upper.reason and f"upper bound: {upper.reason}",
                           lower.reason and f"lower bound: {lower.reason}") if r]
    status, bound = _combine(bounded_status, inductive_status, k)
    if status == "holds" and bound == k:
        # the bounded part shows the upper bound for all layouts up to K but the lower
        # bound only on the witness layouts: without the general argument, unknown
        status = "unknown"
    failed = [w for w in witnesses if w["status"] == "violated"]
    return {
        "status": status,
        "bound": bound,
        "assumptions": _collision_assumptions("forward"),
        "invariant": ("upper bound (no schedule exceeds n):\n" + zc.FORWARD_UPPER_INVARIANT
                      + "\nlower bound (some schedule reaches n):\n"
                      + zc.FORWARD_LOWER_INVARIANT),
        "counterexample": (None if status != "violated" else
                           failed[0] if failed else {"reason": bounded.reason}),
        "seconds": time.perf_counter() - start,
        "bounded": _part(bounded_status, bounded.reason, k=k),
        "inductive": _part(inductive_status, "; ".join(reasons) or None),
        "witnesses": witnesses,
    }


ANY_LAYOUT = ("every layout of any number N >= 0 of VMAs (N is a parameter of the "
              "invariant), with any VMAs reapable: each visit reads its VMA's reapable "
              "flag as a free input, 0 or 1, which covers every layout's flags (0 at every "
              "visit when no VMA is reapable)")
PROTOCOL_MODEL = ("the protocol of docs/model.md §5 (model/protocol.py): exit_mmap, the "
                  "OOM reaper (10 attempts, mmap_read_trylock()) and mmap_lock with "
                  "readers, a writer and queued waiters; every interleaving")
VISIT_ORDER = {
    "forward": "the reaper's walk visits every VMA once, ascending: 0, 1, ..., N - 1, as "
               "the claim forward_visits_all proves for every layout",
    "rev_find": "the reaper's walk visits every VMA once, descending: N - 1, ..., 0, as "
                "the claim rev_find_visits_all proves for every layout",
}
TERMINATION = ("termination, proved for every N: each step increases one actor's progress "
               "tuple lexicographically (Protocol.progress_ranks), every tuple bounded, so "
               "every schedule ends, and the property speaks of its last state")


def _protocol_assumptions(prop, config: ProtocolConfig) -> list[str]:
    out = [ANY_LAYOUT, PROTOCOL_MODEL, VISIT_ORDER[config.walk]]
    out.append("process_mrelease() races too, with the same walk (one attempt, killable "
               "wait)" if config.mrelease else "no process_mrelease() caller")
    out.append("a thread holds mmap_lock for writing from the start and never releases it"
               if config.stuck_writer else "no other thread takes mmap_lock")
    if prop.expectation == "at_terminal":
        out.append(TERMINATION)
    return out


def condition_text(formula) -> str:
    """A Z3 condition on one line, variable first (chc.render_invariant)."""
    from .engines.symbolic.chc import render_invariant

    return render_invariant(formula)


def _protocol_invariant(proof, part) -> str:
    """The claim's invariant: the support (Houdini's), then the property's own part."""
    from .traces import condition_words

    dropped = proof.support.dropped
    lines = ["the support invariant: these conditions of Protocol.candidate_invariants "
             "(in kernel words: model/protocol.py CANDIDATE_WORDS, and this output's "
             "protocol_candidates), inductive together, kept by Houdini and proved first"
             + (f" ({', '.join(dropped)} not inductive here)" if dropped else "") + ":"]
    lines += [f"  {name}: {condition_text(f)}" for name, f in proof.support.kept.items()]
    if part.status == "violated":
        lines.append("the property: no invariant, a run of the parametric model reaches a "
                     "state where it fails (see counterexample)")
    elif part.status != "holds":
        lines.append("the property: not proved (see inductive.reason)")
    elif part.invariant is None:
        lines.append("the property: the support invariant alone excludes every state "
                     "where it fails")
    else:
        how = ("inductive together with the support" if "spacer" not in part.method
               else "found by Spacer, inductive together with the support")
        lines += [f"and the property's own part ({how}): {part.invariant}",
                  f"  in kernel words: {condition_words(part.invariant)}"]
    return "\n".join(lines)


def protocol_text(claims: dict) -> list[str]:
    """The protocol claims as text: one table row each, then per configuration its
    assumptions and support invariant once, and each claim's own part."""
    from tabulate import tabulate  # 80 ms to import: only for tables

    mine = {name: c for name, c in claims.items() if name in PROTOCOL_CLAIMS}
    if not mine:
        return []
    rows = [[name, c["status"], c["bound"], f"{c['expected']}: {c['verdict']}",
             c["inductive"]["method"] or "-", f"{c.get('seconds', 0):.1f}"]
            for name, c in mine.items()]
    out = ["", tabulate(rows, headers=["protocol claim", "status", "bound", "expected",
                                       "method", "seconds"])]
    shown = set()
    for name, c in mine.items():
        config = (c["walk"], c["mrelease"], c["stuck_writer"])
        head, _, tail = c["invariant"].partition("\nthe property")
        head, _, own = head.partition("\nand the property's own part")
        if config not in shown:
            shown.add(config)
            label = protocol_claim_name("*", *config).replace("protocol_*_", "")
            out += ["", f"protocol claims {label}: assuming"]
            out += [f"  - {a}" for a in c["assumptions"] if "termination" not in a]
            out += [head]
        if own or tail:
            out.append(f"{name}: the property" + (tail or "'s own part" + own))
        if c.get("counterexample"):
            out.append(f"{name}: counterexample: {counterexample_text(c)}")
    return out


def _protocol_claims(config: ProtocolConfig, props: list[str], timeout_s) -> dict:
    """The claims of one configuration (property names `props`): name -> entry. The
    parametric proof first; a property it shows violated (a failing state is reachable
    for some N and flags) is then checked explicitly on every layout of
    1..COUNTEREXAMPLE_VMAS VMAs, which gives it its counterexample (the smallest layout,
    the shortest trace). An unknown stays unknown (bound None: no layout checked)."""
    from . import small_layouts as small
    from .engines.symbolic import z3_protocol_any as zp

    start = time.perf_counter()
    proof = zp.prove_config(config, timeout_s, names=props)
    open_ = [name for name in props if proof.properties[name].status == "violated"]
    bounded = small.bounded_check(config, small.COUNTEREXAMPLE_VMAS, open_) if open_ else None
    shared = (time.perf_counter() - start
              - sum(part.seconds for part in proof.properties.values())) / len(props)
    out = {}
    for name in props:
        prop, part = BY_NAME[name], proof.properties[name]
        reason = part.reason
        witness = None
        if part.status == "holds":
            status, bound, checked = "holds", "unbounded", None
        elif part.status != "violated":
            status, bound, checked = "unknown", None, None
        else:
            checked = bounded.statuses[name]
            witness = bounded.witnesses.get(name)
            status, bound = _combine(checked, None, bounded.most)
            if witness is not None:
                bound = len(witness[0])
            elif part.status == "violated":  # a failing state is reachable for
                reason = (f"the parametric model reaches a failing state for some N, but no "
                          f"layout of 1..{bounded.most} VMAs reaches one")  # larger N
        out[name] = {
            "status": status,
            "bound": bound,
            "property": name,
            "walk": config.walk,
            "mrelease": config.mrelease,
            "stuck_writer": config.stuck_writer,
            "assumptions": _protocol_assumptions(prop, config),
            "depends_on": [f"{config.walk}_visits_all"],
            "invariant": _protocol_invariant(proof, part),
            "counterexample": (None if witness is None else
                               small.counterexample(witness[0], witness[1], name)),
            "seconds": shared + part.seconds,
            "bounded": None if checked is None else _part(checked, None, k=bounded.most),
            "inductive": _part(part.status, reason, method=part.method,
                               support=list(proof.support.kept),
                               dropped=list(proof.support.dropped),
                               termination=(proof.termination.status
                                            if prop.expectation == "at_terminal" else None)),
        }
    return out


def prove(timeout_s: float | None = None, k: int = 8, progress=None,
          only: tuple[str, ...] | None = None) -> dict:
    """Check every claim in CLAIMS (or those in `only`, in CLAIMS order) for layouts of
    up to k VMAs and for any number.

    Returns {"version", "k", "timeout_s", "claims": {name: entry}}; see the module
    docstring for an entry's fields. `timeout_s` bounds each Z3 query (None: no limit).
    `progress(done, total)`, if given, is called before each claim. Raises ValueError
    for k < 1 or a name in `only` that is not a claim.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    unknown = sorted(set(only or ()) - set(CLAIMS))
    if unknown:
        raise ValueError(f"no such claim: {', '.join(unknown)}")
    names = [name for name in CLAIMS if only is None or name in only]
    claims, configs = {}, {}
    proven = {}  # the K-VMA tree's order facts, proved once for the four iterator claims
    for number, name in enumerate(names):
        if progress is not None:
            progress(number, len(names))
        if name in ITERATOR_CLAIMS:
            claims[name] = _iterator_claim(name, k, timeout_s, proven)
        elif name == "reverse_one_vma_collision":
            claims[name] = _reverse_claim(k, timeout_s)
        elif name in PROTOCOL_CLAIMS:
            prop, config = PROTOCOL_CLAIMS[name]
            if config not in configs:  # one proof per configuration serves its claims
                wanted = [p for n, (p, c) in PROTOCOL_CLAIMS.items()
                          if c == config and n in names]
                configs[config] = _protocol_claims(config, wanted, timeout_s)
            claims[name] = configs[config][prop]
        else:
            claims[name] = _forward_claim(k, timeout_s)
    return {"version": VERSION, "k": k, "timeout_s": timeout_s, "claims": claims,
            "protocol_candidates": dict(CANDIDATE_WORDS)}
