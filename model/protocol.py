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
)

# exit_mmap phases (docs/kernel.md §6, steps 1-4)
EX_READ, EX_READ_WAIT, EX_UNMAP, EX_READ_UNLOCK, EX_SET_SKIP, EX_WRITE, EX_WRITE_WAIT, \
    EX_FREE_PGT, EX_REMOVE, EX_WRITE_UNLOCK, EX_LATE_SKIP, EX_DONE = range(12)
# the OOM reaper (oom_reap_task -> oom_reap_task_mm -> __oom_reap_task_mm)
RP_PEEK, RP_TRY, RP_WAIT, RP_CHECK, RP_UNSTABLE, RP_WALK, RP_SKIP_UNLOCK, RP_FINAL, \
    RP_DONE = range(9)
# process_mrelease()
MR_LOCK, MR_WAIT, MR_CHECK, MR_WALK, MR_SKIP_UNLOCK, MR_DONE = range(6)
WRITER_NONE, WRITER_EXIT, WRITER_STUCK = range(3)


@dataclass(frozen=True)
class ProtocolConfig:
    """Everything that fixes one protocol model; carried into every trace."""

    walk: str = "rev_find"
    mutant: str | None = None
    stuck_writer: bool = False
    mrelease: bool = False

    def __post_init__(self):
        if self.walk not in PROTOCOL_WALKS:
            raise ValueError(f"walk must be one of {', '.join(PROTOCOL_WALKS)}, not {self.walk!r}")
        if self.mutant is not None and self.mutant not in MUTANTS:
            raise ValueError(f"unknown mutant {self.mutant!r}; known: {', '.join(MUTANTS)}")

    def to_json(self) -> dict:
        return {"walk": self.walk, "mutant": self.mutant, "stuck_writer": self.stuck_writer,
                "mrelease": self.mrelease}


class Protocol:
    """exit_mmap, the OOM reaper, process_mrelease() and mmap_lock over one layout."""

    variables = VARIABLES

    def __init__(self, layout: Layout, config: ProtocolConfig):
        self.layout, self.config = layout, config
        self.vmas = len(layout)
        self.seq = tuple(maple.visits(layout, config.walk))  # the walk's visit sequence
        self.reapable = tuple(int(layout.is_reapable(v)) for v in layout.vmas)
        # Facts about the visit sequence the properties need (docs/model.md §4).
        expected = sorted(range(self.vmas), reverse=config.walk != "forward")
        self.seq_complete = list(self.seq) == expected
        self.seq_covers_reapable = set(layout.reapable) <= set(self.seq)

    def mutated(self, name: str) -> bool:
        return self.config.mutant == name

    # -- type invariant and Init ----------------------------------------------------------
    def type_ok(self, s, ops=CONCRETE):
        v = dict(zip(VARIABLES, s))
        n = len(self.seq)
        return ops.And(0 <= v["ex_pc"], v["ex_pc"] <= EX_DONE,
                       0 <= v["ex_pos"], v["ex_pos"] <= self.vmas,
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
                      writer=WRITER_STUCK if self.config.stuck_writer else WRITER_NONE)
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

    def walk_length(self, v, prefix, ops=CONCRETE):
        return ops.If(v[prefix + "_gone"] == 1, 0, len(self.seq))

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
        walk = len(self.seq) + 1
        exit_rank = v["ex_pc"] * (self.vmas + 1) + v["ex_pos"]
        reaper_rank = (v["rp_attempt"] * (RP_DONE + 1) + v["rp_pc"]) * walk + v["rp_pos"]
        mrelease_rank = v["mr_pc"] * walk + v["mr_pos"]
        return exit_rank + reaper_rank + mrelease_rank

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
