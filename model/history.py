"""The protocol as it was in 4.13 to 5.17: exit_mmap's older teardowns, the reaper's older
checks, and the two choices the history needs (docs/model.md §9, docs/kernel.md §13).

`Protocol(layout, config)` with `config.kernel` one of 4.13, 4.14, 4.15, 4.16, 4.17,
5.17-rc, 5.17 is a HistoricalProtocol: model/protocol.py's variables, reaper and
process_mrelease() rules, with

- exit_mmap's own phases (H_*), in one order that every version's teardown follows a
  subsequence of (so `ex_pc` still grows with every step: the progress measure);
- the kill, as the reaper's first step: `oom_kill` (the OOM killer picks the task:
  mark_oom_victim(); the reaper is queued) or, with process_mrelease(), `sigkill` (a
  plain SIGKILL: no OOM reaper, MMF_OOM_VICTIM clear);
- the last mmput(), as exit_mmap's first step: `last_mmput_victim` or `last_mmput_other`
  (another task holding an mm reference drops it last, so exit_mmap runs in its context
  and `current` is not the OOM victim);
- VM_LOCKED per VMA (Protocol.mlocked), which the reaper's filter skips
  (can_madv_dontneed_vma() / can_madv_lru_vma()) until exit_mmap's munlock clears it;
  munlock is two steps per mlocked VMA: clear VM_LOCKED, then walk its page tables
  (munlock_vma_pages_range()); a reaper that zaps the VMA between the two sets the ghost
  `zap_race` (CVE-2018-1000200);
- 4.13's pinning: after its trylock the reaper pins the mm (mmget_not_zero()); while
  pinned the last mmput() cannot happen (the reaper's mmput_async() would be the last);
  once the last mmput() has happened the pin fails and the attempt returns true without
  reaping anything.

Each version's switches are model/kernels.py's Kernel; which kernel lines each rule
comes from is docs/kernel.md §13.
"""
from __future__ import annotations

from functools import cached_property

from .action import Action
from .ops import CONCRETE
from .protocol import (KERNEL_WORDS, MMPUT_OTHER, MMPUT_PENDING, MMPUT_VICTIM, MR_CHECK,
                       MR_SKIP_UNLOCK, MR_WAIT, MR_WALK, RP_CHECK, RP_DONE, RP_PEEK,
                       RP_SKIP_UNLOCK, RP_TRY, RP_UNSTABLE, RP_WAIT, RP_WALK, VARIABLES,
                       VICTIM_OOM, VICTIM_SIGKILL, VICTIM_UNKNOWN, WRITER_EXIT, WRITER_NONE,
                       WRITER_STUCK, Protocol, _among)

# exit_mmap's phases in every version before 6.1, in the one order they all follow
(H_MMPUT, H_SELF_REAP, H_SET_SKIP_EARLY, H_WRITE_EARLY, H_WRITE_EARLY_WAIT,
 H_BARRIER_EARLY_UNLOCK, H_MUNLOCK, H_UNMAP, H_SET_SKIP, H_BARRIER, H_BARRIER_WAIT,
 H_BARRIER_UNLOCK, H_FREE_PGT, H_REMOVE, H_CLEAR_LIST, H_WRITE_UNLOCK, H_LATE_SKIP,
 H_DONE) = range(18)

EX_PC_WORDS = {
    H_MMPUT: "the last mmput() (the mm still has users)",
    H_SELF_REAP: "its own __oom_reap_task_mm()",
    H_SET_SKIP_EARLY: "set_bit(MMF_OOM_SKIP) after its own reap",
    H_WRITE_EARLY: "down_write() / mmap_write_lock()",
    H_WRITE_EARLY_WAIT: "the wait in down_write() / mmap_write_lock()",
    H_BARRIER_EARLY_UNLOCK: "up_write() right after down_write() (the barrier)",
    H_MUNLOCK: "munlock_vma_pages_all() of each mlocked VMA",
    H_UNMAP: "unmap_vmas()",
    H_SET_SKIP: "set_bit(MMF_OOM_SKIP) after unmap_vmas()",
    H_BARRIER: "down_write() of mmap_sem (the barrier)",
    H_BARRIER_WAIT: "the wait in down_write() of mmap_sem",
    H_BARRIER_UNLOCK: "up_write() of mmap_sem right after down_write() (the barrier)",
    H_FREE_PGT: "free_pgtables()",
    H_REMOVE: "remove_vma() of each VMA",
    H_CLEAR_LIST: "clearing the VMA list (mmap of the mm set to NULL)",
    H_WRITE_UNLOCK: "mmap_write_unlock()",
    H_LATE_SKIP: "__mmput()'s set_bit(MMF_OOM_SKIP) after exit_mmap()",
    H_DONE: "its end",
}
RP_PC_WORDS = {RP_PEEK: "the kill (before the OOM reaper is queued)",
               RP_CHECK: "the MMF_OOM_SKIP test under mmap_sem (4.13: mmget_not_zero())"}

_EX, _RP, _MR = "exit_mmap", "reaper", "mrelease"
# Words of the steps that exist in 6.18 too but say something else in the older code
# (the history's own actions have theirs in model/protocol.py KERNEL_WORDS).
HISTORY_WORDS = {
    (_EX, "unmap"): "unmap_vmas(): VMA {vma} unmapped",
    (_EX, "set_oom_skip"): "set_bit(MMF_OOM_SKIP)",
    (_EX, "write_lock"): "down_write() (mmap_write_lock()) taken",
    (_EX, "write_lock_wait"): "down_write() blocks: queued, so every down_read_trylock() "
                              "fails now",
    (_EX, "write_lock_acquire"): "down_write() taken after the wait",
    (_EX, "write_unlock"): "up_write() (mmap_write_unlock())",
    (_EX, "late_set_oom_skip"): "__mmput(): set_bit(MMF_OOM_SKIP) after exit_mmap()",
    (_RP, "trylock"): "down_read_trylock() of mmap_sem succeeds",
    (_RP, "trylock_fail"): "down_read_trylock() of mmap_sem fails: held for writing or a "
                           "writer is queued",
    (_RP, "skip_unlock"): "up_read() of mmap_sem",
    (_RP, "set_oom_skip"): "set_bit(MMF_OOM_SKIP): the OOM killer may pick another "
                           "victim; oom_reap_task() done",
}
NEW_VERBS = {
    _EX: ["last_mmput_victim", "last_mmput_other", "oom_reap", "munlock_clear",
          "munlock_walk", "unmap", "set_oom_skip", "write_lock", "write_lock_wait",
          "write_lock_acquire", "write_unlock", "free_pgtables", "remove_vma",
          "clear_vma_list", "late_set_oom_skip"],
    _RP: ["oom_kill", "sigkill", "trylock", "trylock_fail", "check_oom_skip", "pin",
          "pin_fail", "set_unstable", "unmap", "skip", "notifier_fail", "unlock",
          "skip_unlock", "set_oom_skip"],
    _MR: ["read_lock", "read_lock_wait", "read_lock_acquire", "killed", "check_oom_skip",
          "unmap", "skip", "notifier_fail", "unlock", "skip_unlock"],
}


class HistoricalProtocol(Protocol):
    """One kernel version from 4.13 to 5.17 (model/kernels.py) over one layout."""

    ex_done = H_DONE
    kill_choice = True

    def __init__(self, layout, config):
        super().__init__(layout, config)
        k = self.kernel
        self.empty_walk_ok = k.clears_vma_list and k.set_skip == "oom_victim"
        self.mlocked_list = self.mlocked if k.munlock else ()
        m = len(self.mlocked_list)
        # munlock's position: 2j = the j-th mlocked VMA is next to be cleared, 2j + 1 =
        # cleared, its page walk next
        self.munlock_steps = 2 * m
        bound = self.ex_pos_bound
        self.munlock_half = tuple((p % 2 if p < 2 * m else 2) for p in range(bound + 1))
        self.munlock_vma = tuple((self.mlocked_list[p // 2] if p < 2 * m else -1)
                                 for p in range(bound + 1))
        walking = [-1] * (bound + 1)  # the VMA whose page tables munlock walks next
        for j, vma in enumerate(self.mlocked_list):
            walking[2 * j + 1] = vma
        self.munlock_walking = tuple(walking)
        # the munlock position from which a VMA's VM_LOCKED is clear (a large value for
        # VMAs never mlocked: their bit is clear throughout)
        clear_from = [0] * self.vmas
        for j, vma in enumerate(self.mlocked_list):
            clear_from[vma] = 2 * j + 1
        self.clear_from = tuple(clear_from)
        self.locked_flag = tuple(int(i in self.mlocked_list) for i in range(self.vmas))
        self.sequence = self._sequence()
        self.lock_phase, self.unlock_phase = self._lock_phases()

    @property
    def ex_pos_bound(self):
        return max(self.vmas, 2 * len(self.mlocked if self.kernel.munlock else ()))

    # -- exit_mmap's teardown of this version, as (phase, condition) ----------------------
    def _sequence(self) -> list:
        """The phases after H_MMPUT, each with when it runs: None (always), "oom" (an OOM
        victim: mm_is_oom_victim()) or "barrier" (the barrier's guard of 4.14:
        tsk_is_oom_victim(current))."""
        k, out = self.kernel, []
        if k.self_reap:
            out += [(H_SELF_REAP, "oom"), (H_SET_SKIP_EARLY, "oom")]
        if k.barrier == "after_self_reap":
            out += [(H_WRITE_EARLY, "oom"), (H_BARRIER_EARLY_UNLOCK, "oom")]
        if k.write_teardown:
            out.append((H_WRITE_EARLY, None))
        if self.mlocked_list:  # `if (mm->locked_vm)`
            out.append((H_MUNLOCK, None))
        out.append((H_UNMAP, None))
        if k.barrier == "after_unmap":
            guard = "barrier" if k.barrier_guard == "current" else "oom"
            skip = None if k.set_skip == "always" else "oom"
            out += [(H_SET_SKIP, skip), (H_BARRIER, guard), (H_BARRIER_UNLOCK, guard)]
        out += [(H_FREE_PGT, None), (H_REMOVE, None)]
        if k.write_teardown:
            if k.clears_vma_list:
                out.append((H_CLEAR_LIST, None))
            out.append((H_WRITE_UNLOCK, None))
        if k.set_skip == "mmput":
            out.append((H_LATE_SKIP, None))
        out.append((H_DONE, None))
        return out

    def _lock_phases(self):
        phases = [p for p, _ in self.sequence]
        lock = next((p for p in (H_WRITE_EARLY, H_BARRIER) if p in phases), None)
        unlock = next((p for p in (H_BARRIER_EARLY_UNLOCK, H_BARRIER_UNLOCK, H_WRITE_UNLOCK)
                       if p in phases), None)
        return lock, unlock

    def _condition(self, v, name, ops):
        if name == "oom":
            return v["victim"] == VICTIM_OOM
        return ops.And(v["victim"] == VICTIM_OOM, v["mmput_by"] == MMPUT_VICTIM)

    def next_phase(self, after: int, v, ops=CONCRETE):
        """The phase exit_mmap enters after `after`: the first later phase of this
        version's teardown whose condition holds."""
        rest = [(p, c) for p, c in self.sequence if p > after]
        out = rest[-1][0]  # H_DONE, unconditional
        for phase, cond in reversed(rest[:-1]):
            out = phase if cond is None else ops.If(self._condition(v, cond, ops), phase, out)
        return out

    # -- where the memory is ------------------------------------------------------------
    def freed(self, v, vma, ops=CONCRETE):
        return ops.Or(ops.And(v["ex_pc"] == H_REMOVE, vma < v["ex_pos"]),
                      v["ex_pc"] > H_REMOVE)

    def pgtables_freed(self, v):
        return v["ex_pc"] > H_FREE_PGT

    def tree_destroyed(self, v):
        """5.17: `mm->mmap = NULL` empties the list; before it (and in 5.17-rc) a walk
        begun after remove_vma() follows the freed VMAs."""
        if self.kernel.clears_vma_list:
            return v["ex_pc"] > H_CLEAR_LIST
        return False

    def exit_released(self, v, ops=CONCRETE):
        done = v["ex_pc"] > H_UNMAP
        if self.kernel.self_reap:
            return ops.Or(done, ops.And(v["victim"] == VICTIM_OOM, v["ex_pc"] > H_SELF_REAP))
        return done

    def vm_locked(self, v, vma, ops=CONCRETE):
        """VMA `vma` still has VM_LOCKED: mlocked and munlock has not cleared it yet."""
        if not self.mlocked_list:
            return False
        return ops.And(ops.lookup(self.locked_flag, vma) == 1,
                       ops.Or(v["ex_pc"] < H_MUNLOCK,
                              ops.And(v["ex_pc"] == H_MUNLOCK,
                                      v["ex_pos"] < ops.lookup(self.clear_from, vma))))

    def visiting(self, v, prefix, ops=CONCRETE):
        """(VMA, reapable now): the layout's filter, and (kernel.skips_mlocked) not
        VM_LOCKED at the time of the visit."""
        vma, reapable = super().visiting(v, prefix, ops)
        if not (self.kernel.skips_mlocked and self.mlocked_list):
            return vma, reapable
        return vma, ops.If(ops.And(reapable == 1, ops.Not(self.vm_locked(v, vma, ops))), 1, 0)

    # -- Next ---------------------------------------------------------------------------
    @cached_property
    def actions(self) -> tuple[Action, ...]:
        k, ex = self.kernel, []
        for verb in NEW_VERBS[_EX]:
            if verb == "oom_reap" and not k.self_reap:
                continue
            if verb in ("munlock_clear", "munlock_walk") and not self.mlocked_list:
                continue
            if verb.startswith("write_") and self.lock_phase is None:
                continue
            if verb == "clear_vma_list" and H_CLEAR_LIST not in dict(self.sequence):
                continue
            if verb == "late_set_oom_skip" and k.set_skip != "mmput":
                continue
            if verb == "set_oom_skip" and k.set_skip == "mmput":
                continue
            ex.append(verb)
        rp = [verb for verb in NEW_VERBS[_RP]
              if not (verb in ("pin", "pin_fail") and not k.pinning)
              and not (verb == "check_oom_skip" and k.pinning)
              and not (verb == "sigkill" and not self.config.mrelease)
              and not (verb == "notifier_fail" and not k.notifier_nonblock)]
        mr = [verb for verb in NEW_VERBS[_MR]
              if not (verb == "notifier_fail" and not k.notifier_nonblock)]
        return tuple([Action(_EX, v) for v in ex] + [Action(_RP, v) for v in rp]
                     + [Action(_MR, v) for v in mr])

    def init(self) -> tuple:
        values = dict(zip(VARIABLES, super().init()))
        values.update(ex_pc=H_MMPUT, rp_pc=RP_PEEK, victim=VICTIM_UNKNOWN,
                      mmput_by=MMPUT_PENDING)
        return tuple(values[name] for name in VARIABLES)

    # exit_mmap
    def _last_mmput(self, v, ops, who):
        ok = ops.And(v["ex_pc"] == H_MMPUT, v["victim"] != VICTIM_UNKNOWN)
        if self.kernel.pinning:  # the reaper's mm_users reference keeps the mm alive
            ok = ops.And(ok, ops.Not(_among(ops, v["rp_pc"], (RP_UNSTABLE, RP_WALK))))
        return ok, {"mmput_by": who, "ex_pc": self.next_phase(H_MMPUT, {**v, "mmput_by": who},
                                                              ops), "ex_pos": 0}

    def _exit_mmap_last_mmput_victim(self, v, ops):
        return self._last_mmput(v, ops, MMPUT_VICTIM)

    def _exit_mmap_last_mmput_other(self, v, ops):
        return self._last_mmput(v, ops, MMPUT_OTHER)

    def _exit_mmap_oom_reap(self, v, ops):
        return (v["ex_pc"] == H_SELF_REAP, {"ex_pc": self.next_phase(H_SELF_REAP, v, ops)})

    def _exit_mmap_set_oom_skip(self, v, ops):
        phase = H_SET_SKIP_EARLY if self.kernel.self_reap else H_SET_SKIP
        return (v["ex_pc"] == phase, {"oom_skip": 1, "ex_pc": self.next_phase(phase, v, ops)})

    def _exit_mmap_munlock_clear(self, v, ops):
        return (ops.And(v["ex_pc"] == H_MUNLOCK, ops.lookup(self.munlock_half, v["ex_pos"]) == 0),
                {"ex_pos": v["ex_pos"] + 1})

    def _exit_mmap_munlock_walk(self, v, ops):
        last = v["ex_pos"] + 1 == self.munlock_steps
        return (ops.And(v["ex_pc"] == H_MUNLOCK, ops.lookup(self.munlock_half, v["ex_pos"]) == 1),
                {"ex_pos": ops.If(last, 0, v["ex_pos"] + 1),
                 "ex_pc": ops.If(last, self.next_phase(H_MUNLOCK, v, ops), H_MUNLOCK)})

    def _exit_mmap_unmap(self, v, ops):
        """unmap_vmas(): the next VMA, ascending (without mmap_sem in 4.x; under the
        write lock in 5.17); after the last one, the next phase."""
        last = v["ex_pos"] + 1 == self.vmas
        return (ops.And(v["ex_pc"] == H_UNMAP, v["ex_pos"] < self.vmas),
                {"ex_pos": v["ex_pos"] + 1,
                 "ex_pc": ops.If(last, self.next_phase(H_UNMAP, v, ops), H_UNMAP)})

    def _exit_mmap_write_lock(self, v, ops):
        return (ops.And(v["ex_pc"] == self.lock_phase, self.lock_free_for_writer(v, ops),
                        v["waiters"] == 0),
                {"writer": WRITER_EXIT, "ex_pc": self.next_phase(self.lock_phase, v, ops)})

    def _exit_mmap_write_lock_wait(self, v, ops):
        return (ops.And(v["ex_pc"] == self.lock_phase,
                        ops.Not(ops.And(self.lock_free_for_writer(v, ops), v["waiters"] == 0))),
                {"waiters": v["waiters"] + 1, "ex_pc": self.lock_phase + 1})

    def _exit_mmap_write_lock_acquire(self, v, ops):
        return (ops.And(v["ex_pc"] == self.lock_phase + 1, self.lock_free_for_writer(v, ops)),
                {"waiters": v["waiters"] - 1, "writer": WRITER_EXIT,
                 "ex_pc": self.next_phase(self.lock_phase, v, ops)})

    def _exit_mmap_write_unlock(self, v, ops):
        return (v["ex_pc"] == self.unlock_phase,
                {"writer": ops.If(v["writer"] == WRITER_EXIT, WRITER_NONE, v["writer"]),
                 "ex_pc": self.next_phase(self.unlock_phase, v, ops)})

    def _exit_mmap_free_pgtables(self, v, ops):
        return (v["ex_pc"] == H_FREE_PGT, {"ex_pc": H_REMOVE, "ex_pos": 0})

    def _exit_mmap_remove_vma(self, v, ops):
        last = v["ex_pos"] + 1 == self.vmas
        return (ops.And(v["ex_pc"] == H_REMOVE, v["ex_pos"] < self.vmas),
                {"ex_pos": v["ex_pos"] + 1,
                 "ex_pc": ops.If(last, self.next_phase(H_REMOVE, v, ops), H_REMOVE)})

    def _exit_mmap_clear_vma_list(self, v, ops):
        return (v["ex_pc"] == H_CLEAR_LIST, {"ex_pc": self.next_phase(H_CLEAR_LIST, v, ops)})

    def _exit_mmap_late_set_oom_skip(self, v, ops):
        return (v["ex_pc"] == H_LATE_SKIP, {"oom_skip": 1, "ex_pc": H_DONE})

    # the kill and the reaper
    def _reaper_oom_kill(self, v, ops):
        return (v["rp_pc"] == RP_PEEK, {"victim": VICTIM_OOM, "rp_pc": RP_TRY})

    def _reaper_sigkill(self, v, ops):
        return (v["rp_pc"] == RP_PEEK, {"victim": VICTIM_SIGKILL, "rp_pc": RP_DONE})

    def _reaper_pin(self, v, ops):
        """4.13: mmget_not_zero() while mm_users > 0 (the last mmput() not begun)."""
        return (ops.And(v["rp_pc"] == RP_CHECK, v["ex_pc"] == H_MMPUT),
                {"rp_pc": RP_UNSTABLE})

    def _reaper_pin_fail(self, v, ops):
        return (ops.And(v["rp_pc"] == RP_CHECK, v["ex_pc"] != H_MMPUT),
                {"rp_pc": RP_SKIP_UNLOCK})

    def _walker_unmap(self, v, prefix, pc, ops):
        """A zap; also the munlock race: the VMA is the one munlock has cleared
        VM_LOCKED on and is walking (docs/model.md §9)."""
        guard, changes = super()._walker_unmap(v, prefix, pc, ops)
        if self.mlocked_list:
            vma = self.visiting(v, prefix, ops)[0]
            racing = ops.And(v["ex_pc"] == H_MUNLOCK,
                             ops.lookup(self.munlock_walking, v["ex_pos"]) == vma)
            changes["zap_race"] = ops.If(racing, 1, v["zap_race"])
        return guard, changes

    # process_mrelease() runs on a killed task
    def _mrelease_read_lock(self, v, ops):
        guard, changes = super()._mrelease_read_lock(v, ops)
        return ops.And(guard, v["victim"] != VICTIM_UNKNOWN), changes

    def _mrelease_read_lock_wait(self, v, ops):
        guard, changes = super()._mrelease_read_lock_wait(v, ops)
        return ops.And(guard, v["victim"] != VICTIM_UNKNOWN), changes

    # -- ranks, invariants, words ----------------------------------------------------------
    def progress_ranks(self, s) -> tuple:
        v = dict(zip(VARIABLES, s))
        return ((v["ex_pc"], v["ex_pos"]), (v["rp_attempt"], v["rp_pc"], v["rp_pos"]),
                (v["mr_pc"], v["mr_pos"]))

    def lock_accounting(self, s, ops=CONCRETE) -> dict:
        """As Protocol's, for this version's phases: exit_mmap never reads; it writes
        between its lock and unlock phases."""
        v = dict(zip(VARIABLES, s))

        def count(conditions):
            return sum(ops.If(c, 1, 0) for c in conditions)

        reading = [_among(ops, v["rp_pc"], (RP_CHECK, RP_UNSTABLE, RP_WALK, RP_SKIP_UNLOCK)),
                   _among(ops, v["mr_pc"], (MR_CHECK, MR_WALK, MR_SKIP_UNLOCK))]
        queued = [v["rp_pc"] == RP_WAIT, v["mr_pc"] == MR_WAIT]
        if self.lock_phase is not None:
            queued.append(v["ex_pc"] == self.lock_phase + 1)
            writing = ops.And(v["ex_pc"] > self.lock_phase + 1, v["ex_pc"] <= self.unlock_phase)
        else:
            writing = False
        writer = (WRITER_STUCK if self.config.stuck_writer
                  else ops.If(writing, WRITER_EXIT, WRITER_NONE))
        return {"readers": v["readers"] == count(reading),
                "waiters": v["waiters"] == count(queued),
                "writer": v["writer"] == writer,
                "exclusion": ops.Or(v["readers"] == 0, v["writer"] == WRITER_NONE)}

    def phase_invariants(self, s, ops=CONCRETE) -> dict:
        base = super().phase_invariants(s, ops)
        keep = ("reaper_in_walk", "mrelease_in_walk", "reaper_attempts", "reaper_never_waits",
                "reaper_walk_not_gone", "mrelease_walk_not_gone")
        return {name: base[name] for name in keep}

    def touched_vma(self, s, action: Action, ops=CONCRETE):
        v = dict(zip(VARIABLES, s))
        if action.actor == _EX and action.verb in ("munlock_clear", "munlock_walk"):
            return self.munlock_vma[v["ex_pos"]]
        return super().touched_vma(s, action, ops)

    def phase_words(self) -> dict:
        return {"ex_pc": EX_PC_WORDS, "rp_pc": {**KERNEL_WORDS["rp_pc"], **RP_PC_WORDS},
                "mr_pc": KERNEL_WORDS["mr_pc"]}

    def _words_for(self, key):
        return HISTORY_WORDS.get(key, KERNEL_WORDS["actions"][key])
