"""The protocol's named safety and termination properties (issue 3), as state predicates.

Each property is a predicate that must hold in every reachable state (`always`). The two
about progress, `no_deadlock` and `reaper_terminates`, are stated on terminal states (no
action enabled): the explorer checks that every step strictly increases the model's
`progress_measure`, so the state graph has no cycle and every schedule ends in a
terminal state; "in every schedule the reaper finishes" is then "every terminal state
has the reaper done". Predicates take `ops` like the model, so Z3 checks them too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..model.ops import CONCRETE
from ..model.kernels import DEFAULT_KERNEL
from ..model.protocol import MR_DONE, RP_DONE, VARIABLES, VICTIM_SIGKILL


@dataclass(frozen=True)
class Property:
    """A named predicate that must hold in every reachable state (`always`), or, with
    `at_terminal`, in every state where no action is enabled."""

    name: str
    expectation: str  # always | at_terminal
    description: str
    predicate: Callable  # (model, state, ops) -> bool term
    conjuncts: Callable | None = None  # (model, state, ops) -> [bool term]; And is predicate

    def holds_in(self, model, s, ops=CONCRETE):
        if self.expectation == "at_terminal":
            return ops.Or(ops.Not(no_step_enabled(model, s, ops)), self.predicate(model, s, ops))
        return self.predicate(model, s, ops)

    def failures(self, model, s, ops=CONCRETE) -> list:
        """Conditions on `s` whose disjunction is Not(holds_in): one per conjunct, so a
        solver may prove each unreachable on its own (smaller invariants)."""
        parts = (self.conjuncts(model, s, ops) if self.conjuncts is not None
                 else [self.predicate(model, s, ops)])
        if self.expectation == "at_terminal":
            terminal = no_step_enabled(model, s, ops)
            return [ops.And(terminal, ops.Not(part)) for part in parts]
        return [ops.Not(part) for part in parts]


def _v(s):
    return dict(zip(VARIABLES, s))


def no_step_enabled(model, s, ops=CONCRETE):
    """A terminal state: no action of any actor is enabled."""
    return ops.Not(ops.Or(*(model.guard(s, a, ops) for a in model.actions)))


def walk_complete(model, s, ops=CONCRETE):
    """A walk that ended visited every VMA in order; one begun after the tree was
    destroyed visited none, and counts only where the kernel of the model empties the
    VMA list before anyone can walk it (model.empty_walk_ok: 5.17, docs/model.md §9)."""
    v = _v(s)
    if model.empty_walk_ok:
        return ops.And(*(ops.Or(ops.Not(model.walk_ended(s, p, ops)), model.seq_complete)
                         for p in ("rp", "mr")))
    return ops.And(*(ops.Or(ops.Not(model.walk_ended(s, p, ops)),
                            ops.And(model.seq_complete, v[p + "_gone"] == 0))
                     for p in ("rp", "mr")))


def reaped_when_attempt_succeeds(model, s, ops=CONCRETE):
    v = _v(s)
    nothing_to_reap = model.nothing_to_reap or model.empty_walk_ok
    return ops.And(*(ops.Or(ops.Not(ops.And(model.walk_ended(s, p, ops), v[p + "_missed"] == 0)),
                            ops.And(model.seq_covers_reapable,
                                    ops.Or(v[p + "_gone"] == 0, nothing_to_reap)))
                     for p in ("rp", "mr")))


def no_use_after_free(model, s, ops=CONCRETE):
    return _v(s)["uaf"] == 0


def no_deadlock(model, s, ops=CONCRETE):
    """At a terminal state. Without a stuck writer every actor is done. With one,
    exit_mmap may wait forever behind it (the case the reaper exists for), but the reaper
    and process_mrelease must be done: no actor waits on another modelled actor."""
    return ops.And(*actors_done(model, s, ops))


def actors_done(model, s, ops=CONCRETE) -> list:
    """no_deadlock's conjuncts: each actor that must finish is done."""
    v = _v(s)
    finished = [v["rp_pc"] == RP_DONE, v["mr_pc"] == MR_DONE]
    if not model.config.stuck_writer:
        finished.append(v["ex_pc"] == model.ex_done)
    return finished


def reaper_terminates(model, s, ops=CONCRETE):
    """At a terminal state: the reaper is done."""
    return _v(s)["rp_pc"] == RP_DONE


def oom_skip_set_when_reaper_done(model, s, ops=CONCRETE):
    """Where the model chooses how the task dies (model/history.py), a task only
    SIGKILLed never had an OOM reaper: the reaper is done without running."""
    v = _v(s)
    if model.kill_choice:
        return ops.Or(v["rp_pc"] != RP_DONE, v["oom_skip"] == 1,
                      v["victim"] == VICTIM_SIGKILL)
    return ops.Or(v["rp_pc"] != RP_DONE, v["oom_skip"] == 1)


def all_unmapped_at_end(model, s, ops=CONCRETE):
    """exit_mmap done: both of its loops ran to the last VMA (the position is at the end)."""
    v = _v(s)
    return ops.Or(v["ex_pc"] != model.ex_done, v["ex_pos"] == model.vmas)


PROPERTIES = (
    Property("walk_complete", "always",
             "every attempt that finishes its walk visited every VMA once, in the walk's order",
             walk_complete),
    Property("reaped_when_attempt_succeeds", "always",
             "a successful attempt has unmapped every reapable VMA", reaped_when_attempt_succeeds),
    Property("no_use_after_free", "always",
             "the reaper never touches a VMA, page table or tree that exit_mmap freed",
             no_use_after_free),
    Property("no_deadlock", "at_terminal",
             "a state where no step is enabled has every actor done (but exit_mmap behind a "
             "stuck writer)", no_deadlock, actors_done),
    Property("reaper_terminates", "at_terminal",
             "every schedule ends with the reaper done, within its attempts", reaper_terminates),
    Property("oom_skip_set_when_reaper_done", "always",
             "once the reaper has finished, MMF_OOM_SKIP is set", oom_skip_set_when_reaper_done),
    Property("all_unmapped_at_end", "always",
             "once exit_mmap has finished, every VMA is unmapped and freed", all_unmapped_at_end),
)


def no_munlock_zap_race(model, s, ops=CONCRETE):
    return _v(s)["zap_race"] == 0


def no_premature_oom_skip(model, s, ops=CONCRETE):
    """MMF_OOM_SKIP set means the memory is released or the reaper gave up
    (Protocol.memory_released)."""
    v = _v(s)
    return ops.Or(v["oom_skip"] == 0, model.memory_released(v, ops))


# The harms of the history (docs/model.md §9). Checked on every kernel but the default
# (`properties_for`): on 6.18 they hold (tests/test_history.py checks it), and keeping
# them out of PROPERTIES keeps every count of today's properties and claims as it was.
HISTORY_PROPERTIES = (
    Property("no_munlock_zap_race", "always",
             "the reaper never zaps a VMA while exit_mmap's munlock_vma_pages_all() walks "
             "it (VM_LOCKED cleared, pages not yet munlocked)", no_munlock_zap_race),
    Property("no_premature_oom_skip", "always",
             "MMF_OOM_SKIP (the OOM killer may pick another victim) is set only once the "
             "memory is released (exit_mmap unmapped it, or a reaper walk reaped every "
             "reapable VMA) or the reaper has used its last attempt", no_premature_oom_skip),
)
BY_NAME = {p.name: p for p in PROPERTIES + HISTORY_PROPERTIES}


def properties_for(config) -> tuple:
    """The properties checked on a configuration: PROPERTIES, and on any kernel but
    the default HISTORY_PROPERTIES too."""
    return PROPERTIES if config.kernel == DEFAULT_KERNEL else PROPERTIES + HISTORY_PROPERTIES

# The most severe violations first: which trace `verify --trace-out` writes when no
# `--property` is given. Memory safety, then a deadlock, then a reaper that never ends,
# then the rest in PROPERTIES order.
MOST_SEVERE = ("no_use_after_free", "no_deadlock", "reaper_terminates")
BY_SEVERITY = tuple([BY_NAME[name] for name in MOST_SEVERE]
                    + [p for p in PROPERTIES if p.name not in MOST_SEVERE])
# with the history's properties (other kernels): the munlock race is memory corruption
# too, right after the use after free; a premature MMF_OOM_SKIP last
ALL_BY_SEVERITY = BY_SEVERITY[:1] + HISTORY_PROPERTIES[:1] + BY_SEVERITY[1:] \
    + HISTORY_PROPERTIES[1:]
