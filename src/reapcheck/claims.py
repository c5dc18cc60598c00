"""The review claims ledger: each claim of docs/kernel.md §11 (what reviewers claimed), checked.

Every verdict is computed here from the engines' results (nothing is written down in
advance): if a model or engine changes its answer, the ledger changes with it.
"""
from __future__ import annotations

from .engines.explicit.explicit import shortest_to_step
from .model import maple
from .model.protocol import EX_UNMAP, VARIABLES, Protocol, ProtocolConfig
from .traces import render_steps, trace_steps
from .timed_command import share_text


def _wasted_unmap(model):
    """A reaper unmap of a VMA that exit_mmap's unmap_vmas() has already passed."""
    def wanted(before, action, after):
        v = dict(zip(VARIABLES, before))
        if action.actor != "reaper" or action.verb != "unmap":
            return False
        vma = model.touched_vma(before, action)
        return v["ex_pc"] > EX_UNMAP or (v["ex_pc"] == EX_UNMAP and vma < v["ex_pos"])
    return wanted


def _kernel_evidence(kernel: dict) -> list[str]:
    """What the recorded experiment (report section 8) measured, for the claims it bears on."""
    opp, same = kernel.get("opposite"), kernel.get("same")
    if not (opp and same):
        return []
    return [f"Measured on Linux {opp['kernel']} (section 8, {opp['layout']}): PTE-lock "
            f"contentions per run, median {same['pte_median']:,g} with two walkers going "
            f"the same way against {opp['pte_median']:,g} with exit_mmap and "
            f"process_mrelease() going opposite ways; runs with any: {same['runs_with_pte']} "
            f"of {same['runs']} against {opp['runs_with_pte']} of {opp['runs']}."]


def _timed_rows(timed: dict | None) -> dict:
    """(layout, order) -> the timed model's summary row (report_timed.timed_data), for the
    real (smaps) layouts only."""
    return {(r["layout"], r["order"]): r for r in (timed or {}).get("rows", ())
            if r["layout"].endswith(".smaps")}


def _timed_evidence(timed: dict | None) -> list[str]:
    """What the timed model (report section 9) predicts for the real layouts."""
    rows = _timed_rows(timed)
    names = sorted({name for name, _ in rows})
    if not names:
        return []
    parts = []
    for name in names:
        f, r = rows[(name, "forward")], rows[(name, "reverse")]
        parts.append(f"{name.removeprefix('bundled/')} forward {f['mean_contentions']:,.1f} "
                     f"contentions and {f['mean_wait_us'] / 1000:,.2f} ms wait at "
                     f"{share_text(f['share_with_contention'])} of delays, reverse "
                     f"{r['mean_contentions']:,.1f} and {r['mean_wait_us'] / 1000:,.2f} ms at "
                     f"{share_text(r['share_with_contention'])}")
    return ["Timed model (section 9, fitted costs, reaper start delay uniform over the "
            "overlap): mean PTE-lock contentions and wait per kill: " + "; ".join(parts) + "."]


def build_claims(layouts: dict, pairs, proofs: dict, protocol_runs: list,
                 kernel: dict | None = None, timed: dict | None = None) -> list[dict]:
    """The ledger. `layouts`: name -> Layout; `pairs`: collision (forward, reverse)
    analyses; `proofs`: prove() output; `protocol_runs`: the protocol manifest; `kernel`:
    the recorded experiment's facts (experiment/recorded.py), {} when none; `timed`: the
    report's timed-model section (report_timed.timed_data), None when absent."""
    measured = _kernel_evidence(kernel or {})
    predicted = _timed_evidence(timed)
    forward_timed = [r for (_, order), r in _timed_rows(timed).items() if order == "forward"]
    claims = []
    proof = proofs["claims"]
    top, tiny = layouts["bundled/top.maps"], layouts["bundled/tiny.maps"]
    real = [name for name in layouts if name.endswith(".smaps")]

    skipped_top = maple.skipped(top, "rev_prev")
    real_skips = {name: maple.skipped(layouts[name], "rev_prev") for name in real}
    below = proof["rev_prev_visits_all_below_top"]
    claims.append({
        "id": "liam-v4-vma-prev",
        "who": "Liam R. Howlett, v4",
        "quote": "vma_prev() from ULONG_MAX \"will skip the index you passed in regardless "
                 "of its existence\"; \"broken interface, you just don't see it\"; later "
                 "\"so rare, I don't think this is worth fixing\"",
        "verdict": "true" if skipped_top and below["status"] == "holds"
                   and not any(real_skips.values()) else "not confirmed",
        "evidence": [
            f"rev_prev on bundled/top.maps (last VMA ends at 2**64) skips VMA(s) {skipped_top}.",
            f"Z3: rev_prev_visits_all: {proof['rev_prev_visits_all']['status']} "
            f"(counterexample layout in section 4); rev_prev_visits_all_below_top: "
            f"{below['status']} ({below['bound']}), assuming no VMA contains ULONG_MAX.",
            "On every bundled real capture rev_prev skips nothing: "
            + ", ".join(f"{n} {s or 'none'}" for n, s in real_skips.items())
            + ". Real processes never map ULONG_MAX, so the bug is real but unreachable.",
        ],
        "command": "reapcheck iterate bundled/top.maps --walk rev_prev --json",
    })

    reverse_vma = [rev.result.max_collisions for fwd, rev in pairs
                   if fwd.model.config.granularity == "vma"]
    reverse_ptl = [(fwd.layout.path, rev.result.max_collisions) for fwd, rev in pairs
                   if fwd.model.config.granularity == "ptl"]
    first_seen = maple.visits(tiny, "rev_prev")
    claims.append({
        "id": "lorenzo-v4-first-vma-and-crossing",
        "who": "Lorenzo Stoakes, v4",
        "quote": "\"Won't this skip the first VMA?\"; one walker can run past the other, "
                 "so they will still cross over",
        "verdict": "skip: only a VMA containing ULONG_MAX; crossing: true",
        "evidence": [
            f"rev_prev's first visit on bundled/tiny.maps is VMA {first_seen[0]} of "
            f"{len(tiny)} (the highest): nothing is skipped unless the top VMA contains "
            "ULONG_MAX (claim above).",
            f"Reverse order, granularity vma: worst case {max(reverse_vma)} collision on "
            "every bundled layout, not 0: the walkers still meet once when they cross "
            f"({proof['reverse_one_vma_collision']['status']} for any size by Z3).",
            "Reverse order, granularity ptl: the walkers still contend on shared page "
            "tables: " + ", ".join(f"{n} {c}" for n, c in reverse_ptl) + ".",
        ],
        "command": "reapcheck collisions bundled/sleep.smaps --order reverse --granularity ptl",
    })

    same = all(maple.visits(layout, "rev_find_bad_last") == maple.visits(layout, "rev_find")
               for layout in layouts.values())
    claims.append({
        "id": "liam-v5-index-above-last",
        "who": "Liam R. Howlett, v5",
        "quote": "MA_STATE(mas, mt, ULONG_MAX, 0) sets index above last: \"(probably?) "
                 "works, but isn't correct and may stop working\"; use mas_for_each_rev()",
        "verdict": "true: it works today only because mas_find_rev() never reads last"
                   if same else "false: the two walks differ",
        "evidence": [
            "rev_find_bad_last visits exactly what rev_find visits on every bundled layout"
            if same else "rev_find_bad_last and rev_find differ on a bundled layout",
            "In the v6.16 code mas_find_rev()'s setup and mas_walk() read only index and "
            "overwrite last, so the wrong last is never used: correct by accident, as Liam "
            "said (model/maple.py).",
        ],
        "command": "reapcheck iterate bundled/tiny.maps --walk rev_find_bad_last --json",
    })

    model = Protocol(tiny, ProtocolConfig("rev_find"))
    wasted = shortest_to_step(model, _wasted_unmap(model))
    claims.append({
        "id": "liam-v5-wasted-work",
        "who": "Liam R. Howlett, v5",
        "quote": "the reaper may walk VMAs that exit_mmap already emptied (wasted work)",
        "verdict": "true" if wasted else "false",
        "evidence": ([f"A shortest schedule ({len(wasted)} steps) on bundled/tiny.maps where "
                      "the reverse-walking reaper unmaps a VMA exit_mmap already unmapped:",
                      render_steps(trace_steps(model, wasted)[-4:])] if wasted else
                     ["No reachable schedule has the reaper unmap an emptied VMA."]),
        "command": "reapcheck verify bundled/tiny.maps --walk rev_find",
    })

    fwd_vma = [(f.layout.path, f.result.max_collisions, r.result.max_collisions)
               for f, r in pairs if f.model.config.granularity == "vma"]
    rev_find_ok = all(set(run["properties"].values()) == {"holds"} for run in protocol_runs
                      if run["walk"] == "rev_find" and run["mutant"] is None)
    claims.append({
        "id": "michal-v5-reduce-chance",
        "who": "Michal Hocko, v5",
        "quote": "going from the other end \"might reduce this chance while not really "
                 "introducing any actual issues\"",
        "verdict": "true in the model" if rev_find_ok else "false: a property fails",
        "evidence": [
            "Worst case at granularity vma, forward -> reverse: "
            + ", ".join(f"{n} {a} -> {b}" for n, a, b in fwd_vma) + f"; Z3: "
            f"forward_worst_equals_reapable {proof['forward_worst_equals_reapable']['status']}, "
            f"reverse_one_vma_collision {proof['reverse_one_vma_collision']['status']}.",
            "Every protocol property holds for the merged walk (rev_find) on every checked "
            "layout and option (section 5)." if rev_find_ok else
            "A protocol property fails for rev_find (section 5).",
        ] + measured + predicted,
        "command": "reapcheck compare",
    })

    claims.append({
        "id": "shakeel-v5-not-rare",
        "who": "Shakeel Butt, v5",
        "quote": "the contention is \"not that rare particularly on low memory devices\"",
        "verdict": "; ".join(
            ([f"the timed model predicts PTE-lock contention with the forward walk at "
              f"{share_text(min(r['share_with_contention'] for r in forward_timed))} or more of the "
              "reaper's start delays on every bundled real layout"] if forward_timed else [])
            + ([f"measured on one machine: {kernel['same']['runs_with_pte']} of "
                f"{kernel['same']['runs']} same-direction runs contended on PTE locks"]
               if measured else [])
            ) or "outside the model: it bounds the worst case, not how often it happens",
        "evidence": [
            "The worst-case model has no timing or probabilities: it shows which contention "
            "is possible (all of it, with the forward walk) and how much the reverse walk "
            "removes; how often is the timed model's question (a model of time with costs "
            "fitted on one machine, not a device).",
        ] + predicted + measured + ([
            "That is one 2-CPU machine with memory to spare, not a low-memory device: it "
            "shows the contention is common when two walkers go the same way, not how "
            "often lmkd meets it."] if measured else []),
        "command": "reapcheck collisions bundled/java.smaps --order forward --granularity ptl",
    })
    return claims


def history_claim(rows: list) -> dict:
    """The ledger's line on the history (src/reapcheck/history.py rows): every listed
    real race violated on its pre-fix version, and its property holding on the fix."""
    from .history import rediscovered

    return {
        "id": "history-real-races",
        "who": "reapcheck (issue 16)",
        "quote": "the model rediscovers every listed real race from the pre-fix code, and "
                 "holds on the fixed code",
        "verdict": "true" if rows and rediscovered(rows) else "not confirmed",
        "evidence": [f"{r['version']} ({r['fix'].split(' ')[0]}): {r['property']} "
                     f"{r['verdict']} ({r['trace_length']} steps); {r['fixed_in']}: "
                     f"{r['fixed_verdict']}" for r in rows],
        "command": "reapcheck verify bundled/tiny.maps --kernel 4.14",
    }
