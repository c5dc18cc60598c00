"""The protocol around the walks: mmap_lock, MMF flags, retries and teardown (docs/model.md §5,
docs/kernel.md §3-6).

Actors: exit_mmap (mm/mmap.c), the OOM reaper (oom_reap_task() in mm/oom_kill.c), and
optionally process_mrelease() and a thread stuck holding mmap_lock for writing. Written
in TLA+ order: variables, type invariant, Init, one definition per action, Next (the one
list of actions), then the helpers the properties read. Guards and updates take an `ops`
object (model/ops.py) so the explorer and the Z3 engine evaluate this same definition.

The reaper's walk is the VMA sequence that the walk's kernel iterator returns over the
layout's maple tree (model/maple.py: range semantics, so `rev_prev` really skips a VMA
that contains ULONG_MAX); the reaper steps through it one visit at a time.

Seeded bugs (`mutant`) change one rule each; they are named in MUTANTS.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from . import maple
from .action import Action
from .layout import Layout
from .kernels import DEFAULT_KERNEL, KERNELS, kernel_named
from .ops import CONCRETE

MAX_OOM_REAP_RETRIES = 10  # mm/oom_kill.c
PROTOCOL_WALKS = ("forward", "rev_prev", "rev_find")
MUTANTS = {
    "oom_skip_check_unlocked": "the reaper tests MMF_OOM_SKIP before taking mmap_lock",
    "oom_skip_after_unlock": "exit_mmap sets MMF_OOM_SKIP only after its write unlock",
    "no_write_lock": "exit_mmap frees VMAs without taking mmap_lock for writing",
    "blocking_read_lock": "the reaper uses a blocking mmap_read_lock(), not the trylock",
    "no_final_oom_skip": "the reaper never sets MMF_OOM_SKIP after giving up",
}

VARIABLES = (
    "ex_pc", "ex_pos",  # exit_mmap: phase; next VMA to unmap / to free
    "rp_pc", "rp_attempt", "rp_pos", "rp_missed", "rp_gone",  # reaper: phase, attempts,
    # walk position, ret == false, and "the walk began after __mt_destroy()" (it finds nothing)
    "mr_pc", "mr_pos", "mr_missed", "mr_gone",  # process_mrelease()
    "readers", "writer", "waiters",  # mmap_lock: readers, writer (0, 1 exit, 2 stuck), queue
    "oom_skip", "unstable",  # MMF_OOM_SKIP, MMF_UNSTABLE
    "uaf",  # ghost: 1 once a reaper touched a freed VMA, page table or tree
    # the history (model/history.py, docs/model.md §9); constant under 6.1 and 6.18:
    "victim",  # 0 before the kill, 1 an OOM victim (MMF_OOM_VICTIM), 2 only SIGKILLed
    "mmput_by",  # 0 before the last mmput(), 1 the victim's own, 2 another holder's
    "zap_race",  # ghost: 1 once a reaper zapped a VMA munlock_vma_pages_all() was walking
)
VICTIM_UNKNOWN, VICTIM_OOM, VICTIM_SIGKILL = range(3)
MMPUT_PENDING, MMPUT_VICTIM, MMPUT_OTHER = range(3)

# exit_mmap phases (docs/kernel.md §6, steps 1-4)
EX_READ, EX_READ_WAIT, EX_UNMAP, EX_READ_UNLOCK, EX_SET_SKIP, EX_WRITE, EX_WRITE_WAIT, \
    EX_FREE_PGT, EX_REMOVE, EX_WRITE_UNLOCK, EX_LATE_SKIP, EX_DONE = range(12)
# the OOM reaper (oom_reap_task -> oom_reap_task_mm -> __oom_reap_task_mm)
RP_PEEK, RP_TRY, RP_WAIT, RP_CHECK, RP_UNSTABLE, RP_WALK, RP_SKIP_UNLOCK, RP_FINAL, \
    RP_DONE = range(9)
# process_mrelease()
MR_LOCK, MR_WAIT, MR_CHECK, MR_WALK, MR_SKIP_UNLOCK, MR_DONE = range(6)
WRITER_NONE, WRITER_EXIT, WRITER_STUCK = range(3)

# -- Kernel words ---------------------------------------------------------------------------
# The one table every text rendering of this model reads (traces, replay, invariants;
# src/reapcheck/traces.py): each action as the kernel step it stands for, each phase
# (pc value) as the kernel code an actor is at, each variable as what it records.
# tests/test_kernel_words.py checks that every action, pc value and variable has words.
# An action whose rule branches has one phrase per phase it can enter, and under None a
# phrase for the action alone; "{vma}" is the VMA it touches.
_EX, _RP, _MR = "exit_mmap", "reaper", "mrelease"
_VISIT_WORDS = {
    "unmap": "unmaps VMA {vma} (unmap_page_range())",
    "skip": "skips VMA {vma}: VM_HUGETLB, VM_PFNMAP or shared, not reapable",
    "notifier_fail": "VMA {vma}: mmu_notifier_invalidate_range_start_nonblock() fails: "
                     "skipped, ret = false",
}
KERNEL_WORDS = {
    "actions": {
        (_EX, "read_lock"): "mmap_read_lock() taken; unmap_vmas() begins",
        (_EX, "read_lock_wait"): "mmap_read_lock() blocks: queued behind the writer",
        (_EX, "read_lock_acquire"): "mmap_read_lock() taken after the wait; unmap_vmas() begins",
        (_EX, "unmap"): "unmap_vmas(): VMA {vma} unmapped",
        (_EX, "read_unlock"): "unmap_vmas() done; mmap_read_unlock()",
        (_EX, "set_oom_skip"): "set_bit(MMF_OOM_SKIP), before mmap_write_lock()",
        (_EX, "write_lock"): "mmap_write_lock() taken",
        (_EX, "write_lock_wait"): "mmap_write_lock() blocks: queued, so every "
                                  "mmap_read_trylock() fails now",
        (_EX, "write_lock_acquire"): "mmap_write_lock() taken after the wait",
        (_EX, "free_pgtables"): "free_pgtables(): the page tables are freed",
        (_EX, "remove_vma"): "remove_vma(): VMA {vma} freed",
        (_EX, "destroy_tree"): "__mt_destroy(): the maple tree is freed",
        (_EX, "write_unlock"): "mmap_write_unlock(); exit_mmap() returns",
        (_EX, "late_set_oom_skip"): "set_bit(MMF_OOM_SKIP), only after the unlock",
        (_RP, "peek_oom_skip"): {None: "tests MMF_OOM_SKIP without mmap_lock",
                                 RP_FINAL: "MMF_OOM_SKIP set (tested without mmap_lock), "
                                           "gives up",
                                 RP_TRY: "MMF_OOM_SKIP clear (tested without mmap_lock)"},
        (_RP, "trylock"): "mmap_read_trylock() succeeds",
        (_RP, "trylock_fail"): "mmap_read_trylock() fails: mmap_lock is held for writing "
                               "or a waiter is queued",
        (_RP, "read_lock"): "mmap_read_lock() taken",
        (_RP, "read_lock_wait"): "mmap_read_lock() blocks: queued behind the writer",
        (_RP, "read_lock_acquire"): "mmap_read_lock() taken after the wait",
        (_RP, "check_oom_skip"): {None: "tests MMF_OOM_SKIP under mmap_lock",
                                  RP_SKIP_UNLOCK: "MMF_OOM_SKIP set, gives up",
                                  RP_UNSTABLE: "MMF_OOM_SKIP clear, goes on to reap"},
        (_RP, "set_unstable"): "set_bit(MMF_UNSTABLE); the VMA walk begins",
        **{(_RP, verb): words for verb, words in _VISIT_WORDS.items()},
        (_RP, "unlock"): {None: "walk done; mmap_read_unlock()",
                          RP_FINAL: "walk done; mmap_read_unlock(); leaves the retry loop",
                          RP_TRY: "walk done with a VMA skipped (ret = false); "
                                  "mmap_read_unlock()",
                          RP_PEEK: "walk done with a VMA skipped (ret = false); "
                                   "mmap_read_unlock()"},
        (_RP, "skip_unlock"): "mmap_read_unlock()",
        (_RP, "set_oom_skip"): "set_bit(MMF_OOM_SKIP); oom_reap_task() done",
        (_MR, "read_lock"): "mmap_read_lock_killable() taken",
        (_MR, "read_lock_wait"): "mmap_read_lock_killable() blocks: queued behind the writer",
        (_MR, "read_lock_acquire"): "mmap_read_lock_killable() taken after the wait",
        (_MR, "killed"): "a fatal signal ends the wait: -EINTR, process_mrelease() returns",
        (_MR, "check_oom_skip"): {None: "tests MMF_OOM_SKIP under mmap_lock",
                                  MR_SKIP_UNLOCK: "MMF_OOM_SKIP set: nothing to reap",
                                  MR_WALK: "MMF_OOM_SKIP clear: set_bit(MMF_UNSTABLE); "
                                           "the VMA walk begins"},
        **{(_MR, verb): words for verb, words in _VISIT_WORDS.items()},
        (_MR, "unlock"): "walk done; mmap_read_unlock(); process_mrelease() returns",
        # the history's own steps (model/history.py; docs/model.md §9)
        (_EX, "last_mmput_victim"): "the killed task's own mmput() is the last: mm_users "
                                    "drops to 0, __mmput() begins in its context (current "
                                    "is the killed task)",
        (_EX, "last_mmput_other"): "another task holding an mm reference does the last "
                                   "mmput(): exit_mmap() runs in its context (current is "
                                   "not the killed task)",
        (_EX, "oom_reap"): "mm_is_oom_victim(): __oom_reap_task_mm() reaps the mm from "
                           "exit_mmap() itself (VM_LOCKED VMAs skipped)",
        (_EX, "munlock_clear"): "munlock_vma_pages_all(): VM_LOCKED cleared on VMA {vma}",
        (_EX, "munlock_walk"): "munlock_vma_pages_range(): VMA {vma}'s page tables walked, "
                               "its pages munlocked",
        (_EX, "clear_vma_list"): "the mm's VMA list (its mmap field) set to NULL: nobody can "
                                  "reach the freed VMAs",
        (_RP, "oom_kill"): "the OOM killer picks this task: mark_oom_victim() (the signal "
                           "struct's oom_mm set; MMF_OOM_VICTIM too from 4.15), the task is queued for "
                           "the OOM reaper",
        (_RP, "sigkill"): "the task is only SIGKILLed, not an OOM victim: the OOM reaper "
                          "never runs on it",
        (_RP, "pin"): "mmget_not_zero() succeeds: the reaper holds an mm_users reference",
        (_RP, "pin_fail"): "mmget_not_zero() fails: mm_users is 0 (the last mmput() has "
                           "begun); the attempt returns true: nothing reaped",
        (_MR, "skip_unlock"): "mmap_read_unlock(); process_mrelease() returns",
    },
    # what a seeded bug changes in a step's words: (mutant, actor, verb)
    "mutants": {
        ("oom_skip_check_unlocked", _RP, "trylock"):
            "mmap_read_trylock() succeeds; MMF_OOM_SKIP is not tested again under the lock",
        ("oom_skip_after_unlock", _EX, "read_unlock"):
            "unmap_vmas() done; mmap_read_unlock(); MMF_OOM_SKIP not set yet",
        ("oom_skip_after_unlock", _EX, "write_unlock"): "mmap_write_unlock()",
        ("no_write_lock", _EX, "set_oom_skip"):
            "set_bit(MMF_OOM_SKIP); goes on to free without mmap_write_lock()",
        ("no_final_oom_skip", _RP, "set_oom_skip"):
            "oom_reap_task() done without set_bit(MMF_OOM_SKIP)",
    },
    # what a step also did, by the variable it changed (value after the step)
    "effects": {
        ("uaf", 1): "USE AFTER FREE: it touches a VMA, page table or tree exit_mmap freed",
        ("zap_race", 1): "MUNLOCK RACE: it zaps a VMA whose VM_LOCKED munlock has cleared "
                         "and whose page tables munlock_vma_pages_range() is walking",
        ("rp_gone", 1): "the maple tree is already destroyed: the walk finds no VMA",
        ("mr_gone", 1): "the maple tree is already destroyed: the walk finds no VMA",
        ("rp_attempt", "retry"): "attempt {attempt} of {attempts} failed: sleeps HZ/10, "
                                 "tries again",
        ("rp_attempt", "give_up"): "attempt {attempt} of {attempts} failed: gives up",
    },
    # where an actor is (the code it runs next), for states and conditions
    "ex_pc": {EX_READ: "mmap_read_lock()", EX_READ_WAIT: "the wait in mmap_read_lock()",
              EX_UNMAP: "unmap_vmas()", EX_READ_UNLOCK: "mmap_read_unlock()",
              EX_SET_SKIP: "set_bit(MMF_OOM_SKIP)", EX_WRITE: "mmap_write_lock()",
              EX_WRITE_WAIT: "the wait in mmap_write_lock()", EX_FREE_PGT: "free_pgtables()",
              EX_REMOVE: "remove_vma() of each VMA, then __mt_destroy()",
              EX_WRITE_UNLOCK: "mmap_write_unlock()",
              EX_LATE_SKIP: "the late set_bit(MMF_OOM_SKIP)", EX_DONE: "its end"},
    "rp_pc": {RP_PEEK: "the unlocked MMF_OOM_SKIP test", RP_TRY: "mmap_read_trylock()",
              RP_WAIT: "the wait in mmap_read_lock()",
              RP_CHECK: "the MMF_OOM_SKIP test under mmap_lock",
              RP_UNSTABLE: "set_bit(MMF_UNSTABLE)", RP_WALK: "the VMA walk",
              RP_SKIP_UNLOCK: "mmap_read_unlock() after finding MMF_OOM_SKIP",
              RP_FINAL: "oom_reap_task()'s final set_bit(MMF_OOM_SKIP)", RP_DONE: "its end"},
    "mr_pc": {MR_LOCK: "mmap_read_lock_killable()",
              MR_WAIT: "the wait in mmap_read_lock_killable()",
              MR_CHECK: "the MMF_OOM_SKIP test", MR_WALK: "the VMA walk",
              MR_SKIP_UNLOCK: "mmap_read_unlock() after finding MMF_OOM_SKIP",
              MR_DONE: "its end"},
    "writer": {WRITER_NONE: "no writer holds mmap_lock",
               WRITER_EXIT: "exit_mmap holds mmap_lock for writing",
               WRITER_STUCK: "the stuck thread holds mmap_lock for writing"},
    # the 0/1 variables: (words when 1, words when 0)
    "flags": {
        "oom_skip": ("MMF_OOM_SKIP set", "MMF_OOM_SKIP clear"),
        "unstable": ("MMF_UNSTABLE set", "MMF_UNSTABLE clear"),
        "uaf": ("a reaper touched freed memory", "no reaper touched freed memory"),
        "zap_race": ("a reaper zapped a VMA that munlock was walking",
                     "no reaper zapped a VMA that munlock was walking"),
        "rp_gone": ("the reaper's walk began after __mt_destroy()",
                    "the reaper's walk did not begin after __mt_destroy()"),
        "mr_gone": ("process_mrelease()'s walk began after __mt_destroy()",
                    "process_mrelease()'s walk did not begin after __mt_destroy()"),
        "rp_missed": ("the reaper skipped a VMA this attempt (ret = false)",
                      "the reaper skipped no VMA this attempt"),
        "mr_missed": ("process_mrelease() skipped a VMA (ret = false)",
                      "process_mrelease() skipped no VMA"),
    },
    # every variable, for conditions on it
    "variables": {
        "ex_pc": "exit_mmap", "ex_pos": "exit_mmap's next VMA to unmap or free",
        "rp_pc": "the reaper", "rp_attempt": "the reaper's failed attempts",
        "rp_pos": "the reaper's position in its walk",
        "rp_missed": "the reaper skipped a VMA this attempt (ret = false)",
        "rp_gone": "the reaper's walk began after __mt_destroy()",
        "mr_pc": "process_mrelease()", "mr_pos": "process_mrelease()'s position in its walk",
        "mr_missed": "process_mrelease() skipped a VMA (ret = false)",
        "mr_gone": "process_mrelease()'s walk began after __mt_destroy()",
        "readers": "mmap_lock's readers", "writer": "mmap_lock's writer",
        "waiters": "mmap_lock's queued waiters", "oom_skip": "MMF_OOM_SKIP",
        "unstable": "MMF_UNSTABLE", "uaf": "a reaper touched freed memory",
        "victim": "how the task was killed (0 not yet, 1 by the OOM killer: "
                  "mark_oom_victim(), 2 by a plain SIGKILL)",
        "mmput_by": "who did the last mmput() (0 not yet, 1 the victim, 2 another task "
                    "holding an mm reference)",
        "zap_race": "a reaper zapped a VMA that munlock_vma_pages_all() was walking",
    },
}
PC_ACTOR = {"ex_pc": _EX, "rp_pc": _RP, "mr_pc": _MR}

# The candidate invariants (Protocol.candidate_invariants) in kernel words.
CANDIDATE_WORDS = {
    "readers": "mmap_lock's reader count is the number of actors between a read lock and "
               "its unlock (exit_mmap in unmap_vmas(); the reaper or process_mrelease() "
               "from the MMF_OOM_SKIP test to mmap_read_unlock())",
    "waiters": "mmap_lock's queued waiters are the actors waiting in a blocking lock",
    "writer": "mmap_lock's writer is exit_mmap from mmap_write_lock() to "
              "mmap_write_unlock() (the stuck thread throughout, with a stuck writer)",
    "exclusion": "never a writer and a reader at once",
    "reaper_in_walk": "the reaper's position is within its walk",
    "mrelease_in_walk": "process_mrelease()'s position is within its walk",
    "reaper_attempts": "after its last attempt the reaper has left the retry loop",
    "exit_position": "exit_mmap's position is 0 before unmap_vmas() and the VMA count "
                     "between its loops and after them",
    "exit_phases": "exit_mmap never rests at mmap_read_unlock() (a phase name only: it "
                   "goes from unmap_vmas() straight to set_bit(MMF_OOM_SKIP))",
    "reaper_never_waits": "the reaper never waits for mmap_lock: it only tries it "
                          "(mmap_read_trylock())",
    "oom_skip_after_set": "MMF_OOM_SKIP is set once exit_mmap is past "
                          "set_bit(MMF_OOM_SKIP)",
    "reaper_walks_live_tree": "while the reaper sets MMF_UNSTABLE or walks, exit_mmap "
                              "has not begun free_pgtables() (it waits for the write lock)",
    "mrelease_walks_live_tree": "while process_mrelease() walks, exit_mmap has not begun "
                                "free_pgtables()",
    "reaper_walk_not_gone": "a reaper walk in progress began on a live maple tree",
    "mrelease_walk_not_gone": "a process_mrelease() walk in progress began on a live "
                              "maple tree",
    "type_ok": "every variable within its type's range (type_ok)",
}


def _among(ops, x, phases):
    """x is one of `phases`."""
    return ops.Or(*(x == p for p in phases))


@dataclass(frozen=True)
class ProtocolConfig:
    """Everything that fixes one protocol model; carried into every trace.

    kernel: the version whose protocol is modelled (model/kernels.py KERNELS; default
    6.18, today's). An older version needs its walk (forward before 6.18), no seeded
    bug, and process_mrelease() only from 5.17-rc. mlocked: indices of VMAs to treat as
    VM_LOCKED besides those whose smaps VmFlags show `lo` (checked against the layout by
    Protocol: ValueError). Errors: ValueError naming the bad value."""

    walk: str = "rev_find"
    mutant: str | None = None
    stuck_writer: bool = False
    mrelease: bool = False
    kernel: str = DEFAULT_KERNEL
    mlocked: tuple = ()

    def __post_init__(self):
        if self.walk not in PROTOCOL_WALKS:
            raise ValueError(f"walk must be one of {', '.join(PROTOCOL_WALKS)}, not {self.walk!r}")
        if self.mutant is not None and self.mutant not in MUTANTS:
            raise ValueError(f"unknown mutant {self.mutant!r}; known: {', '.join(MUTANTS)}")
        kernel = kernel_named(self.kernel)
        object.__setattr__(self, "kernel", kernel.version)
        if any(type(i) is not int or i < 0 for i in self.mlocked):
            raise ValueError(f"mlocked must be VMA indices (integers >= 0), not {self.mlocked!r}")
        object.__setattr__(self, "mlocked", tuple(sorted(set(self.mlocked))))
        if kernel.version == DEFAULT_KERNEL:
            return
        if self.walk != kernel.walk:
            raise ValueError(f"kernel {kernel.version}'s reaper walks {kernel.walk} "
                             f"(the mm->mmap list or for_each_vma()), not {self.walk}")
        if self.mutant is not None:
            raise ValueError(f"the seeded bugs are mutants of {DEFAULT_KERNEL}'s protocol; "
                             f"kernel {kernel.version} is checked as it was")
        if self.mrelease and not kernel.mrelease:
            raise ValueError(f"process_mrelease() does not exist in {kernel.version} "
                             "(it came in 5.15; modelled from 5.17-rc)")

    def to_json(self) -> dict:
        """The config as a trace carries it (`kernel` and `mlocked` only when they are
        not the defaults, so today's traces are as they were)."""
        out = {"walk": self.walk, "mutant": self.mutant, "stuck_writer": self.stuck_writer,
               "mrelease": self.mrelease}
        if self.kernel != DEFAULT_KERNEL:
            out["kernel"] = self.kernel
        if self.mlocked:
            out["mlocked"] = list(self.mlocked)
        return out


class Protocol:
    """exit_mmap, the OOM reaper, process_mrelease() and mmap_lock over one layout."""

    variables = VARIABLES
    ex_done = EX_DONE  # the last exit_mmap phase (model/history.py numbers its own)
    empty_walk_ok = False  # a walk of an emptied VMA list is a complete walk (history)
    kill_choice = False  # the model chooses OOM kill or plain SIGKILL (history)

    def __new__(cls, layout=None, config=None, *args, **kwargs):
        """Protocol(layout, config) of an older kernel is model/history.py's
        HistoricalProtocol (its own exit_mmap rules); subclasses are left alone."""
        if cls is Protocol and config is not None and KERNELS[config.kernel].historical:
            from .history import HistoricalProtocol
            cls = HistoricalProtocol
        return super().__new__(cls)

    def __init__(self, layout: Layout, config: ProtocolConfig):
        self.layout, self.config = layout, config
        self.kernel = KERNELS[config.kernel]
        self.vmas = len(layout)
        bad = [i for i in config.mlocked if i >= self.vmas]
        if bad:
            raise ValueError(f"mlocked VMA {bad[0]} is not in the layout ({self.vmas} VMAs: "
                             f"0 to {self.vmas - 1})")
        # VM_LOCKED: smaps VmFlags `lo`, or chosen (config.mlocked)
        self.mlocked = tuple(i for i, vma in enumerate(layout.vmas)
                             if i in config.mlocked or (vma.flags is not None
                                                        and "lo" in vma.flags))
        self.seq = tuple(maple.visits(layout, config.walk))  # the walk's visit sequence
        self.walk_len = len(self.seq)  # a walk's visits (symbolic in the parametric model)
        self.reapable = tuple(int(layout.is_reapable(v)) for v in layout.vmas)
        self.nothing_to_reap = not layout.reapable
        # Facts about the visit sequence the properties need (docs/model.md §4).
        expected = sorted(range(self.vmas), reverse=config.walk != "forward")
        self.seq_complete = list(self.seq) == expected
        self.seq_covers_reapable = set(layout.reapable) <= set(self.seq)

    @property
    def ex_pos_bound(self):
        """exit_mmap's position never exceeds this (the VMA count; history: more)."""
        return self.vmas

    def mutated(self, name: str) -> bool:
        return self.config.mutant == name

    # -- type invariant and Init ----------------------------------------------------------
    def type_ok(self, s, ops=CONCRETE):
        v = dict(zip(VARIABLES, s))
        n = self.walk_len
        return ops.And(0 <= v["ex_pc"], v["ex_pc"] <= self.ex_done,
                       0 <= v["ex_pos"], v["ex_pos"] <= self.ex_pos_bound,
                       0 <= v["rp_pc"], v["rp_pc"] <= RP_DONE,
                       0 <= v["rp_attempt"], v["rp_attempt"] <= MAX_OOM_REAP_RETRIES,
                       0 <= v["rp_pos"], v["rp_pos"] <= n, 0 <= v["mr_pos"], v["mr_pos"] <= n,
                       0 <= v["mr_pc"], v["mr_pc"] <= MR_DONE,
                       0 <= v["readers"], v["readers"] <= 3, 0 <= v["waiters"], v["waiters"] <= 3)

    @property
    def reaper_start(self) -> int:
        return RP_PEEK if self.mutated("oom_skip_check_unlocked") else RP_TRY

    def init(self) -> tuple:
        values = dict.fromkeys(VARIABLES, 0)
        values.update(ex_pc=EX_READ, rp_pc=self.reaper_start,
                      mr_pc=MR_LOCK if self.config.mrelease else MR_DONE,
                      writer=WRITER_STUCK if self.config.stuck_writer else WRITER_NONE,
                      victim=VICTIM_OOM, mmput_by=MMPUT_VICTIM)
        return tuple(values[name] for name in VARIABLES)

    def done(self, s, ops=CONCRETE):
        v = dict(zip(VARIABLES, s))
        return ops.And(v["ex_pc"] == EX_DONE, v["rp_pc"] == RP_DONE, v["mr_pc"] == MR_DONE)

    # -- derived facts ----------------------------------------------------------------------
    def freed(self, v, vma, ops=CONCRETE):
        """Has exit_mmap's remove_vma() freed `vma`, or __mt_destroy() the tree?"""
        return ops.Or(ops.And(v["ex_pc"] == EX_REMOVE, vma < v["ex_pos"]),
                      v["ex_pc"] >= EX_WRITE_UNLOCK)

    def pgtables_freed(self, v):
        return v["ex_pc"] >= EX_REMOVE

    def tree_destroyed(self, v):
        """After __mt_destroy() the tree is empty: a walk begun now finds no VMA."""
        return v["ex_pc"] >= EX_WRITE_UNLOCK

    def exit_released(self, v, ops=CONCRETE):
        """exit_mmap has unmapped every VMA (unmap_vmas() done): its memory is freed."""
        return v["ex_pc"] > EX_UNMAP

    def memory_released(self, v, ops=CONCRETE):
        """The victim's memory is released, or the reaper gave up on it: exit_mmap has
        unmapped every VMA, or the reaper's attempt finished with every reapable VMA
        unmapped (ret = true after a whole walk), or it used its last attempt.
        no_premature_oom_skip (properties/protocol.py) asks this of MMF_OOM_SKIP."""
        reaped = ops.And(v["rp_pc"] >= RP_FINAL, v["rp_missed"] == 0,
                         v["rp_pos"] == self.walk_length(v, "rp", ops), self.walk_len > 0)
        return ops.Or(self.exit_released(v, ops), reaped,
                      v["rp_attempt"] >= MAX_OOM_REAP_RETRIES)

    def walk_length(self, v, prefix, ops=CONCRETE):
        return ops.If(v[prefix + "_gone"] == 1, 0, self.walk_len)

    def lock_free_for_reader(self, v, ops=CONCRETE):
        """down_read_trylock() succeeds: no writer holds it and nobody is queued."""
        return ops.And(v["writer"] == WRITER_NONE, v["waiters"] == 0)

    def lock_free_for_writer(self, v, ops=CONCRETE):
        return ops.And(v["readers"] == 0, v["writer"] == WRITER_NONE)

    def visiting(self, v, prefix, ops=CONCRETE):
        """(VMA index, reapable) of the walker's next visit."""
        vma = ops.lookup(self.seq, v[prefix + "_pos"])
        return vma, ops.lookup(self.reapable, vma)

    def walk_ended(self, s, prefix: str, ops=CONCRETE):
        """The walker (`rp` reaper, `mr` mrelease) has finished its walk, about to unlock."""
        v = dict(zip(VARIABLES, s))
        pc = RP_WALK if prefix == "rp" else MR_WALK
        return ops.And(v[prefix + "_pc"] == pc, v[prefix + "_pos"] == self.walk_length(v, prefix, ops))

    def progress_measure(self, s) -> int:
        """Grows strictly with every action (checked by the explorer): no cycles."""
        v = dict(zip(VARIABLES, s))
        walk = self.walk_len + 1
        exit_rank = v["ex_pc"] * (self.ex_pos_bound + 1) + v["ex_pos"]
        reaper_rank = (v["rp_attempt"] * (RP_DONE + 1) + v["rp_pc"]) * walk + v["rp_pos"]
        mrelease_rank = v["mr_pc"] * walk + v["mr_pos"]
        return exit_rank + reaper_rank + mrelease_rank

    def progress_ranks(self, s) -> tuple:
        """progress_measure before it is folded into one number: per actor a tuple that
        every step of that actor increases lexicographically, leaving the others' alone
        (linear in the VMA count N, so a solver can check it with N symbolic)."""
        v = dict(zip(VARIABLES, s))
        return ((v["ex_pc"], v["ex_pos"]), (v["rp_attempt"], v["rp_pc"], v["rp_pos"]),
                (v["mr_pc"], v["mr_pos"]))

    # -- candidate invariants: checked by the engines, never assumed ------------------------
    def lock_accounting(self, s, ops=CONCRETE) -> dict:
        """mmap_lock's state against where the actors are (CANDIDATE_WORDS says each in
        kernel words): readers = the actors between their read lock and its unlock;
        waiters = the actors queued in a blocking lock; writer = exit_mmap between
        mmap_write_lock() and its unlock (or the stuck thread); never a writer and
        readers at once."""
        v = dict(zip(VARIABLES, s))

        def count(conditions):
            return sum(ops.If(c, 1, 0) for c in conditions)

        reading = [v["ex_pc"] == EX_UNMAP,
                   _among(ops, v["rp_pc"], (RP_CHECK, RP_UNSTABLE, RP_WALK, RP_SKIP_UNLOCK)),
                   _among(ops, v["mr_pc"], (MR_CHECK, MR_WALK, MR_SKIP_UNLOCK))]
        queued = [_among(ops, v["ex_pc"], (EX_READ_WAIT, EX_WRITE_WAIT)),
                  v["rp_pc"] == RP_WAIT, v["mr_pc"] == MR_WAIT]
        writing = _among(ops, v["ex_pc"], (EX_FREE_PGT, EX_REMOVE, EX_WRITE_UNLOCK))
        writer = (WRITER_STUCK if self.config.stuck_writer
                  else ops.If(writing, WRITER_EXIT, WRITER_NONE))
        return {
            "readers": v["readers"] == count(reading),
            "waiters": v["waiters"] == count(queued),
            "writer": v["writer"] == writer,
            "exclusion": ops.Or(v["readers"] == 0, v["writer"] == WRITER_NONE),
        }

    def phase_invariants(self, s, ops=CONCRETE) -> dict:
        """What each actor's phase says about the rest of the state (CANDIDATE_WORDS)."""
        v = dict(zip(VARIABLES, s))
        live = v["ex_pc"] <= EX_WRITE_WAIT  # __mt_destroy() and free_pgtables() not begun
        return {
            "reaper_in_walk": v["rp_pos"] <= self.walk_length(v, "rp", ops),
            "mrelease_in_walk": v["mr_pos"] <= self.walk_length(v, "mr", ops),
            "reaper_attempts": ops.Or(v["rp_attempt"] < MAX_OOM_REAP_RETRIES,
                                      v["rp_pc"] >= RP_FINAL),
            "exit_position": ops.Or(v["ex_pc"] == EX_UNMAP, v["ex_pc"] == EX_REMOVE,
                                    v["ex_pos"] == ops.If(v["ex_pc"] < EX_UNMAP, 0, self.vmas)),
            "exit_phases": v["ex_pc"] != EX_READ_UNLOCK,
            "reaper_never_waits": v["rp_pc"] != RP_WAIT,
            "oom_skip_after_set": ops.Or(v["ex_pc"] <= EX_SET_SKIP, v["oom_skip"] == 1),
            "reaper_walks_live_tree": ops.Or(
                ops.Not(_among(ops, v["rp_pc"], (RP_UNSTABLE, RP_WALK))), live),
            "mrelease_walks_live_tree": ops.Or(v["mr_pc"] != MR_WALK, live),
            "reaper_walk_not_gone": ops.Or(v["rp_pc"] != RP_WALK, v["rp_gone"] == 0),
            "mrelease_walk_not_gone": ops.Or(v["mr_pc"] != MR_WALK, v["mr_gone"] == 0),
        }

    def candidate_invariants(self, s, ops=CONCRETE) -> dict:
        """Every candidate, name -> condition: the lock accounting, the phase invariants
        and type_ok. engines/chc.houdini keeps those that hold initially and are
        inductive together (a seeded bug breaks some) and proves them; the proofs of the
        properties then assume only what it kept."""
        return {**self.lock_accounting(s, ops), **self.phase_invariants(s, ops),
                "type_ok": self.type_ok(s, ops)}

    # -- Next: every action ------------------------------------------------------------------
    @cached_property
    def actions(self) -> tuple[Action, ...]:
        exit_verbs = ["read_lock", "read_lock_wait", "read_lock_acquire", "unmap",
                      "read_unlock", "set_oom_skip", "write_lock", "write_lock_wait",
                      "write_lock_acquire", "free_pgtables", "remove_vma", "destroy_tree",
                      "write_unlock", "late_set_oom_skip"]
        reaper_verbs = ["peek_oom_skip", "trylock", "trylock_fail", "read_lock",
                        "read_lock_wait", "read_lock_acquire", "check_oom_skip",
                        "set_unstable", "unmap", "skip", "notifier_fail", "unlock",
                        "skip_unlock", "set_oom_skip"]
        mrelease_verbs = ["read_lock", "read_lock_wait", "read_lock_acquire", "killed",
                          "check_oom_skip", "unmap", "skip", "notifier_fail", "unlock",
                          "skip_unlock"]
        return tuple([Action("exit_mmap", verb) for verb in exit_verbs]
                     + [Action("reaper", verb) for verb in reaper_verbs]
                     + [Action("mrelease", verb) for verb in mrelease_verbs])

    def guard(self, s, action: Action, ops=CONCRETE):
        """Is `action` enabled in `s`?"""
        return self._rule(s, action, ops)[0]

    def update(self, s, action: Action, ops=CONCRETE):
        """The state after `action` (only meaningful where the guard holds)."""
        changes = self._rule(s, action, ops)[1]
        return tuple(changes.get(name, value) for name, value in zip(VARIABLES, s))

    def touched_vma(self, s, action: Action, ops=CONCRETE):
        """The VMA index a step visits or frees, or None: for trace rendering."""
        v = dict(zip(VARIABLES, s))
        if action.actor == "exit_mmap" and action.verb in ("unmap", "remove_vma"):
            return v["ex_pos"]
        if action.actor in ("reaper", "mrelease") and action.verb in ("unmap", "skip",
                                                                       "notifier_fail"):
            return self.visiting(v, "rp" if action.actor == "reaper" else "mr", ops)[0]
        return None

    def phase_words(self) -> dict:
        """{pc variable: {value: where the actor is}} (KERNEL_WORDS; model/history.py
        numbers exit_mmap's phases its own way)."""
        return {var: KERNEL_WORDS[var] for var in PC_ACTOR}

    def _words_for(self, key):
        """An action's words: KERNEL_WORDS, as a seeded bug changes them."""
        return KERNEL_WORDS["mutants"].get((self.config.mutant, *key),
                                           KERNEL_WORDS["actions"][key])

    def action_words(self, action: Action) -> str:
        """What `action` does in kernel words, without a state (KERNEL_WORDS)."""
        key = (action.actor, action.verb)
        words = self._words_for(key)
        words = words[None] if isinstance(words, dict) else words
        return words.format(vma="its next VMA")

    def describe(self, action: Action, before, after) -> str:
        """The step from `before` to `after` in kernel words (KERNEL_WORDS): what the
        kernel did, then what else the step changed that the words do not say."""
        key = (action.actor, action.verb)
        words = self._words_for(key)
        old, new = dict(zip(VARIABLES, before)), dict(zip(VARIABLES, after))
        if isinstance(words, dict):  # a branching rule: by the phase it entered
            pc = next(var for var, actor in PC_ACTOR.items() if actor == action.actor)
            words = words.get(new[pc], words[None])
        parts = [words.format(vma=self.touched_vma(before, action))]
        effects = KERNEL_WORDS["effects"]
        for name in VARIABLES:
            if old[name] == new[name]:
                continue
            if name == "rp_attempt":
                kind = "give_up" if new["rp_pc"] == RP_FINAL else "retry"
                parts.append(effects[name, kind].format(attempt=new[name],
                                                        attempts=MAX_OOM_REAP_RETRIES))
            elif (name, new[name]) in effects:
                parts.append(effects[name, new[name]])
        return "; ".join(parts)

    @staticmethod
    def _state(v) -> tuple:
        return tuple(v[name] for name in VARIABLES)

    def _rule(self, s, action: Action, ops):
        """(guard, changes) of one action: the single place each action is defined."""
        return self._rules[action](dict(zip(VARIABLES, s)), ops)

    @cached_property
    def _rules(self):
        return {a: getattr(self, f"_{a.actor}_{a.verb}") for a in self.actions}

    # exit_mmap ------------------------------------------------------------------------------
    def _exit_mmap_read_lock(self, v, ops):
        """mmap_read_lock() fast path: the lock is free."""
        return (ops.And(v["ex_pc"] == EX_READ, self.lock_free_for_reader(v, ops)),
                {"readers": v["readers"] + 1, "ex_pc": EX_UNMAP, "ex_pos": 0})

    def _exit_mmap_read_lock_wait(self, v, ops):
        """mmap_read_lock() blocks: queue behind the writer."""
        return (ops.And(v["ex_pc"] == EX_READ, ops.Not(self.lock_free_for_reader(v, ops))),
                {"waiters": v["waiters"] + 1, "ex_pc": EX_READ_WAIT})

    def _exit_mmap_read_lock_acquire(self, v, ops):
        return (ops.And(v["ex_pc"] == EX_READ_WAIT, v["writer"] == WRITER_NONE),
                {"waiters": v["waiters"] - 1, "readers": v["readers"] + 1,
                 "ex_pc": EX_UNMAP, "ex_pos": 0})

    def _exit_mmap_unmap(self, v, ops):
        """unmap_vmas(): the next VMA, ascending; exit_mmap unmaps every VMA."""
        return (ops.And(v["ex_pc"] == EX_UNMAP, v["ex_pos"] < self.vmas),
                {"ex_pos": v["ex_pos"] + 1})

    def _exit_mmap_read_unlock(self, v, ops):
        late = self.mutated("oom_skip_after_unlock")
        return (ops.And(v["ex_pc"] == EX_UNMAP, v["ex_pos"] == self.vmas),
                {"readers": v["readers"] - 1, "ex_pc": EX_WRITE if late else EX_SET_SKIP})

    def _exit_mmap_set_oom_skip(self, v, ops):
        """set_bit(MMF_OOM_SKIP) before mmap_write_lock()."""
        unlocked = self.mutated("no_write_lock")
        return (v["ex_pc"] == EX_SET_SKIP,
                {"oom_skip": 1, "ex_pc": EX_FREE_PGT if unlocked else EX_WRITE})

    def _exit_mmap_write_lock(self, v, ops):
        return (ops.And(v["ex_pc"] == EX_WRITE, self.lock_free_for_writer(v, ops),
                        v["waiters"] == 0),
                {"writer": WRITER_EXIT, "ex_pc": EX_FREE_PGT})

    def _exit_mmap_write_lock_wait(self, v, ops):
        """mmap_write_lock() blocks: queued, which makes every trylock fail."""
        return (ops.And(v["ex_pc"] == EX_WRITE,
                        ops.Not(ops.And(self.lock_free_for_writer(v, ops), v["waiters"] == 0))),
                {"waiters": v["waiters"] + 1, "ex_pc": EX_WRITE_WAIT})

    def _exit_mmap_write_lock_acquire(self, v, ops):
        return (ops.And(v["ex_pc"] == EX_WRITE_WAIT, self.lock_free_for_writer(v, ops)),
                {"waiters": v["waiters"] - 1, "writer": WRITER_EXIT, "ex_pc": EX_FREE_PGT})

    def _exit_mmap_free_pgtables(self, v, ops):
        return (v["ex_pc"] == EX_FREE_PGT, {"ex_pc": EX_REMOVE, "ex_pos": 0})

    def _exit_mmap_remove_vma(self, v, ops):
        """remove_vma(): the next VMA, ascending, is freed."""
        return (ops.And(v["ex_pc"] == EX_REMOVE, v["ex_pos"] < self.vmas),
                {"ex_pos": v["ex_pos"] + 1})

    def _exit_mmap_destroy_tree(self, v, ops):
        """__mt_destroy(): the maple tree is gone."""
        return (ops.And(v["ex_pc"] == EX_REMOVE, v["ex_pos"] == self.vmas),
                {"ex_pc": EX_WRITE_UNLOCK})

    def _exit_mmap_write_unlock(self, v, ops):
        late = self.mutated("oom_skip_after_unlock")
        return (v["ex_pc"] == EX_WRITE_UNLOCK,
                {"writer": ops.If(v["writer"] == WRITER_EXIT, WRITER_NONE, v["writer"]),
                 "ex_pc": EX_LATE_SKIP if late else EX_DONE})

    def _exit_mmap_late_set_oom_skip(self, v, ops):
        return (v["ex_pc"] == EX_LATE_SKIP, {"oom_skip": 1, "ex_pc": EX_DONE})

    # the OOM reaper -------------------------------------------------------------------------
    def _retry(self, v, ops):
        """An attempt failed: sleep and retry, or give up after the last one."""
        attempt = v["rp_attempt"] + 1
        return {"rp_attempt": attempt, "rp_pos": 0, "rp_missed": 0, "rp_gone": 0,
                "rp_pc": ops.If(attempt >= MAX_OOM_REAP_RETRIES, RP_FINAL, self.reaper_start)}

    def _reaper_peek_oom_skip(self, v, ops):
        """Mutant oom_skip_check_unlocked: MMF_OOM_SKIP tested without the lock."""
        return (v["rp_pc"] == RP_PEEK,
                {"rp_pc": ops.If(v["oom_skip"] == 1, RP_FINAL, RP_TRY)})

    def _reaper_trylock(self, v, ops):
        blocking = self.mutated("blocking_read_lock")
        after = RP_UNSTABLE if self.mutated("oom_skip_check_unlocked") else RP_CHECK
        return (ops.And(not blocking, v["rp_pc"] == RP_TRY, self.lock_free_for_reader(v, ops)),
                {"readers": v["readers"] + 1, "rp_pc": after})

    def _reaper_trylock_fail(self, v, ops):
        blocking = self.mutated("blocking_read_lock")
        return (ops.And(not blocking, v["rp_pc"] == RP_TRY,
                        ops.Not(self.lock_free_for_reader(v, ops))),
                self._retry(v, ops))

    def _reaper_read_lock(self, v, ops):
        """Mutant blocking_read_lock: fast path."""
        blocking = self.mutated("blocking_read_lock")
        return (ops.And(blocking, v["rp_pc"] == RP_TRY, self.lock_free_for_reader(v, ops)),
                {"readers": v["readers"] + 1, "rp_pc": RP_CHECK})

    def _reaper_read_lock_wait(self, v, ops):
        blocking = self.mutated("blocking_read_lock")
        return (ops.And(blocking, v["rp_pc"] == RP_TRY,
                        ops.Not(self.lock_free_for_reader(v, ops))),
                {"waiters": v["waiters"] + 1, "rp_pc": RP_WAIT})

    def _reaper_read_lock_acquire(self, v, ops):
        return (ops.And(v["rp_pc"] == RP_WAIT, v["writer"] == WRITER_NONE),
                {"waiters": v["waiters"] - 1, "readers": v["readers"] + 1, "rp_pc": RP_CHECK})

    def _reaper_check_oom_skip(self, v, ops):
        """Under the read lock: MMF_OOM_SKIP set means exit_mmap owns the mm now."""
        return (v["rp_pc"] == RP_CHECK,
                {"rp_pc": ops.If(v["oom_skip"] == 1, RP_SKIP_UNLOCK, RP_UNSTABLE)})

    def _reaper_set_unstable(self, v, ops):
        return (v["rp_pc"] == RP_UNSTABLE,
                {"unstable": 1, "rp_pc": RP_WALK, "rp_pos": 0, "rp_missed": 0,
                 "rp_gone": ops.If(self.tree_destroyed(v), 1, 0)})

    def _visit(self, v, prefix, pc, ops):
        """One visit of the walk: the next VMA, whether it is reapable, whether the walker
        is at a visit, and whether the visit touches a freed VMA or a destroyed tree (the
        iterator of a walk begun before __mt_destroy() still points into its nodes)."""
        vma, is_reapable = self.visiting(v, prefix, ops)
        at = ops.And(v[prefix + "_pc"] == pc, v[prefix + "_pos"] < self.walk_length(v, prefix, ops))
        return vma, is_reapable, at, self.freed(v, vma, ops)

    def _walker_unmap(self, v, prefix, pc, ops):
        vma, reapable, at, touch = self._visit(v, prefix, pc, ops)
        bad = ops.Or(touch, self.pgtables_freed(v))
        return (ops.And(at, reapable == 1),
                {prefix + "_pos": v[prefix + "_pos"] + 1, "uaf": ops.If(bad, 1, v["uaf"])})

    def _walker_skip(self, v, prefix, pc, ops):
        """VM_HUGETLB | VM_PFNMAP, or shared file-backed: not reaped."""
        vma, reapable, at, touch = self._visit(v, prefix, pc, ops)
        return (ops.And(at, reapable == 0),
                {prefix + "_pos": v[prefix + "_pos"] + 1, "uaf": ops.If(touch, 1, v["uaf"])})

    def _walker_notifier_fail(self, v, prefix, pc, ops):
        """mmu_notifier_invalidate_range_start_nonblock() fails: skip it, ret = false."""
        vma, reapable, at, touch = self._visit(v, prefix, pc, ops)
        return (ops.And(at, reapable == 1),
                {prefix + "_pos": v[prefix + "_pos"] + 1, prefix + "_missed": 1,
                 "uaf": ops.If(touch, 1, v["uaf"])})

    def _reaper_unmap(self, v, ops):
        return self._walker_unmap(v, "rp", RP_WALK, ops)

    def _reaper_skip(self, v, ops):
        return self._walker_skip(v, "rp", RP_WALK, ops)

    def _reaper_notifier_fail(self, v, ops):
        return self._walker_notifier_fail(v, "rp", RP_WALK, ops)

    def _reaper_unlock(self, v, ops):
        """End of the walk: mmap_read_unlock(); success ends the loop, failure retries."""
        retry = self._retry(v, ops)
        ok = v["rp_missed"] == 0
        changes = {name: ops.If(ok, v[name], value) for name, value in retry.items()}
        changes["rp_pc"] = ops.If(ok, RP_FINAL, retry["rp_pc"])
        changes["readers"] = v["readers"] - 1
        return (self.walk_ended(self._state(v), "rp", ops), changes)

    def _reaper_skip_unlock(self, v, ops):
        return (v["rp_pc"] == RP_SKIP_UNLOCK, {"readers": v["readers"] - 1, "rp_pc": RP_FINAL})

    def _reaper_set_oom_skip(self, v, ops):
        """After the loop oom_reap_task() always sets MMF_OOM_SKIP."""
        keep = self.mutated("no_final_oom_skip")
        return (v["rp_pc"] == RP_FINAL,
                {"oom_skip": v["oom_skip"] if keep else 1, "rp_pc": RP_DONE})

    # process_mrelease() -------------------------------------------------------------------
    def _mrelease_read_lock(self, v, ops):
        """mmap_read_lock_killable() fast path."""
        return (ops.And(v["mr_pc"] == MR_LOCK, self.lock_free_for_reader(v, ops)),
                {"readers": v["readers"] + 1, "mr_pc": MR_CHECK})

    def _mrelease_read_lock_wait(self, v, ops):
        return (ops.And(v["mr_pc"] == MR_LOCK, ops.Not(self.lock_free_for_reader(v, ops))),
                {"waiters": v["waiters"] + 1, "mr_pc": MR_WAIT})

    def _mrelease_read_lock_acquire(self, v, ops):
        return (ops.And(v["mr_pc"] == MR_WAIT, v["writer"] == WRITER_NONE),
                {"waiters": v["waiters"] - 1, "readers": v["readers"] + 1, "mr_pc": MR_CHECK})

    def _mrelease_killed(self, v, ops):
        """A fatal signal ends the killable wait: -EINTR."""
        return (v["mr_pc"] == MR_WAIT, {"waiters": v["waiters"] - 1, "mr_pc": MR_DONE})

    def _mrelease_check_oom_skip(self, v, ops):
        skip = v["oom_skip"] == 1
        return (v["mr_pc"] == MR_CHECK,
                {"mr_pc": ops.If(skip, MR_SKIP_UNLOCK, MR_WALK),
                 "unstable": ops.If(skip, v["unstable"], 1), "mr_pos": 0, "mr_missed": 0,
                 "mr_gone": ops.If(self.tree_destroyed(v), 1, 0)})

    def _mrelease_unmap(self, v, ops):
        return self._walker_unmap(v, "mr", MR_WALK, ops)

    def _mrelease_skip(self, v, ops):
        return self._walker_skip(v, "mr", MR_WALK, ops)

    def _mrelease_notifier_fail(self, v, ops):
        return self._walker_notifier_fail(v, "mr", MR_WALK, ops)

    def _mrelease_unlock(self, v, ops):
        return (self.walk_ended(self._state(v), "mr", ops),
                {"readers": v["readers"] - 1, "mr_pc": MR_DONE})

    def _mrelease_skip_unlock(self, v, ops):
        return (v["mr_pc"] == MR_SKIP_UNLOCK, {"readers": v["readers"] - 1, "mr_pc": MR_DONE})

    # -- concrete conveniences ----------------------------------------------------------------
    def successors(self, s) -> list[tuple[Action, tuple]]:
        """(action, next state) for every enabled action; each rule evaluated once."""
        v = dict(zip(VARIABLES, s))
        out = []
        for action, rule in self._rules.items():
            enabled, changes = rule(v, CONCRETE)
            if enabled:
                out.append((action, tuple(changes.get(n, x) for n, x in zip(VARIABLES, s))))
        return out

    def enabled(self, s) -> list[Action]:
        return [action for action, _ in self.successors(s)]
