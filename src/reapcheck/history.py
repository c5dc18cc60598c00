"""The history table: each real race of the OOM reaper / exit_mmap protocol, and the rows
`reapcheck report` shows, computed by running `verify` on the pre-fix and the fixed kernel
(docs/model.md §9, docs/kernel.md §13).

`HISTORY` is data (written from the fixes' changelogs and diffs, docs/kernel.md §13);
`history_rows()` runs the explicit engine (no reduction: the history's rules) on each
bug's layout and options, once on the buggy version and once on the version that fixed
it, and reports the verdicts; it never assumes them. tests/test_history.py checks the
rows against lengths counted by hand.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .bundled import load_bundled
from .model.kernels import KERNELS
from .model.protocol import ProtocolConfig
from .verify import verify


@dataclass(frozen=True)
class Race:
    """One real race. `options`: ProtocolConfig fields besides walk and kernel (e.g.
    mrelease, mlocked); `layout`: a bundled layout name."""

    version: str  # the buggy version checked
    versions: str  # every version with the bug, in words
    bug: str
    fix: str  # the fixing commit (mainline id and subject)
    introduced_by: str
    property: str  # the property the bug breaks
    fixed_in: str  # the version checked as fixed
    layout: str = "tiny.maps"
    options: dict = field(default_factory=dict)


HISTORY = (
    Race("4.13", "up to 4.13",
         "the mm_users pin: the last mmput() blocked in exit_aio() before exit_mmap(), the "
         "reaper's mmget_not_zero() fails, nothing is reaped, yet MMF_OOM_SKIP is set and "
         "a second OOM kill follows (a progress bug)",
         "212925802454 mm: oom: let oom_reap_task and exit_mmap run concurrently",
         "the mmget_not_zero() pin (oom_reaper: close race with exiting task)",
         "no_premature_oom_skip", "4.14"),
    Race("4.14", "4.14",
         "exit_mmap() in another task's context: tsk_is_oom_victim(current) is false, the "
         "down_write()/up_write() barrier is skipped, and the reaper walks page tables "
         "free_pgtables() frees",
         "4837fe37adff mm, oom_reaper: fix memory corruption",
         "212925802454 mm: oom: let oom_reap_task and exit_mmap run concurrently",
         "no_use_after_free", "4.15"),
    Race("4.16", "4.14 to 4.16",
         "CVE-2018-1000200: munlock_vma_pages_all() clears VM_LOCKED without the lock, "
         "before MMF_OOM_SKIP; the reaper then zaps the VMA munlock is walking",
         "27ae357fa82b mm, oom: fix concurrent munlock and oom reaper unmap, v3",
         "212925802454 mm: oom: let oom_reap_task and exit_mmap run concurrently",
         "no_munlock_zap_race", "4.17", options={"mlocked": (0,)}),
    Race("5.17-rc", "5.17-rc1 to rc5",
         "process_mrelease() of a SIGKILLed (not OOM) task: exit_mmap() never sets "
         "MMF_OOM_SKIP and leaves mm->mmap at the freed VMAs, which process_mrelease() "
         "walks under the read lock",
         "mm: fix use-after-free bug when mm->mmap is reused after being freed",
         "64591e8605d6 mm: protect free_pgtables with mmap_lock write lock in exit_mmap, "
         "with ba535c1caf3e mm/oom_kill: allow process_mrelease to run under mmap_lock "
         "protection",
         "no_use_after_free", "5.17", options={"mrelease": True}),
)


def _check(race: Race, version: str):
    config = ProtocolConfig(KERNELS[version].walk, kernel=version, **race.options)
    return verify(load_bundled(race.layout), config, reduction="none")


def history_rows(races=HISTORY) -> list[dict]:
    """One row per race: the buggy version's verdict of the property, its shortest
    trace's length, the states explored and the seconds; the fixed version's verdict of
    the same property and whether every property holds there."""
    rows = []
    for race in races:
        buggy, fixed = _check(race, race.version), _check(race, race.fixed_in)
        trace = buggy.traces.get(race.property)
        rows.append({
            "version": race.version, "versions": race.versions, "bug": race.bug,
            "fix": race.fix, "introduced_by": race.introduced_by,
            "property": race.property,
            "layout": f"bundled/{race.layout}",
            "options": {k: (list(v) if isinstance(v, tuple) else v)
                        for k, v in race.options.items()},
            "verdict": buggy.statuses[race.property],
            "trace_length": len(trace) if trace else None,
            "states": buggy.states, "seconds": round(buggy.seconds or 0.0, 3),
            "fixed_in": race.fixed_in, "fixed_verdict": fixed.statuses[race.property],
            "fixed_holds_all": set(fixed.statuses.values()) == {"holds"},
            "fixed_states": fixed.states,
        })
    return rows


def rediscovered(rows) -> bool:
    """The claims ledger's question: every listed race is violated on its pre-fix
    version (with a trace) and its property holds on the fixed version."""
    return all(r["verdict"] == "violated" and r["trace_length"]
               and r["fixed_verdict"] == "holds" for r in rows)


def history_markdown(rows, wrap) -> list[str]:
    """The report's history section (REPORT.md): what the rows are, then the table.
    `wrap`: the report's paragraph wrapper."""
    from tabulate import tabulate

    out = [wrap("Each real race of this protocol, checked on the kernel version before its "
                "fix (`reapcheck verify LAYOUT --kernel VERSION`, the explicit engine without "
                "the reduction; docs/model.md §9, docs/kernel.md §13): the property the bug "
                "breaks, its verdict and the shortest trace's length, then the same property "
                "on the version with the fix. The traces follow the fixes' changelogs step by "
                "step (tests/test_history.py)."), ""]
    table = []
    for r in rows:
        options = " ".join(f"--{k} {','.join(map(str, v)) if isinstance(v, list) else ''}"
                           .strip() for k, v in r["options"].items())
        table.append([r["version"], r["fix"], r["property"],
                      f"{r['layout'].removeprefix('bundled/')} {options}".strip(),
                      r["verdict"], r["trace_length"] or "-", r["states"],
                      f"{r['fixed_in']}: {r['fixed_verdict']}"
                      + ("" if r["fixed_holds_all"] else " (not every property)")])
    out += [tabulate(table, headers=["version", "fix", "property", "layout", "verdict",
                                     "trace", "states", "fixed in"], tablefmt="github"), ""]
    return out
