"""The partial-order reduction of the protocol's explicit search (issue 13 section 2).

In a state s the search may follow the steps of ONE actor only (an ample set) when that
actor's enabled steps are

- persistent: whatever the other actors do from s before this actor moves, none of their
  steps enables, disables or fails to commute with this actor's steps (so every schedule
  from s can be reordered to start with one of them, and ends where it ended); and
- invisible: none of them changes the truth value of any property, in s or in any state
  the other actors can reach from s before this actor moves.

The state graph is acyclic (the progress measure), so the cycle proviso holds, and such
ample sets preserve every reachable terminal state and every violation of an `always`
property (Peled; Godefroid's persistent sets). `ample_conditions` says, per actor, when
that is so; it is written against `ops` like the model, so engines/explicit/compiled.py renders it
into the generated code and the tests evaluate it concretely (tests/test_reduction.py
checks both conditions above state by state, on every small case).

Why each condition holds (docs/model.md §5; variables of model/protocol.py):

- exit_mmap in unmap_vmas() (`ex_pc == EX_UNMAP`): its steps are `unmap` (writes ex_pos)
  and `read_unlock` (readers - 1, and ex_pc to EX_SET_SKIP or EX_WRITE). No other actor
  reads ex_pos unless ex_pc == EX_REMOVE, nor readers (only exit_mmap's own write lock
  does), nor ex_pc below EX_FREE_PGT (freed(), pgtables_freed() and tree_destroyed() are
  all false there); the other actors' readers +1/-1 commute with the -1. Properties read
  ex_pc and ex_pos only at EX_DONE.
- exit_mmap holding the write lock (`ex_pc` in EX_FREE_PGT, EX_REMOVE and writer ==
  WRITER_EXIT): it had readers == 0 to take it, and nobody takes mmap_lock while it is
  held, so no walk runs, and the only readers of ex_pc/ex_pos (a walk's visits,
  set_unstable, process_mrelease's check) cannot step before exit_mmap unlocks. (With the
  seeded bug no_write_lock, writer is never WRITER_EXIT: no reduction there.)
- a walker (reaper or process_mrelease) in its walk with at least two visits left, while
  exit_mmap is before free_pgtables() and the model has no no_write_lock bug: a visit
  reads ex_pc/ex_pos (freed memory) and writes its own position and `missed`, and the
  use-after-free ghost. The walker holds mmap_lock for reading, so exit_mmap cannot take
  it for writing, so it stays before free_pgtables() until the walker moves: every visit
  it may take touches live memory (the ghost does not change) and commutes with
  everything else. A visit that is not the last leaves walk_ended() false, the only way
  the properties read a walker's position and `missed`.

Everything else (lock steps, MMF_OOM_SKIP, the last visit, every step of the no_write_lock
bug's teardown) is explored in full. The actor order tried is exit_mmap, process_mrelease,
the reaper; the first whose condition holds is followed.
"""
from __future__ import annotations

from ...model.ops import CONCRETE
from ...model.protocol import (EX_FREE_PGT, EX_REMOVE, EX_UNMAP, MR_WALK, RP_WALK,
                              VARIABLES, WRITER_EXIT)

REDUCTIONS = ("por", "none")  # partial-order reduction (and dead-variable slicing), or neither
ACTOR_ORDER = ("exit_mmap", "mrelease", "reaper")


def ample_conditions(model, s, ops=CONCRETE) -> dict:
    """actor -> when that actor's enabled steps alone may be explored from `s`."""
    v = dict(zip(VARIABLES, s))
    exit_unmap = v["ex_pc"] == EX_UNMAP
    exit_writing = ops.And(ops.Or(v["ex_pc"] == EX_FREE_PGT, v["ex_pc"] == EX_REMOVE),
                           v["writer"] == WRITER_EXIT)
    frees_only_when_writing = not model.mutated("no_write_lock")

    def walker(prefix, pc):
        pos, length = v[prefix + "_pos"], model.walk_length(v, prefix, ops)
        # the last visit ends the walk: invisible when the properties about an ended walk
        # hold whichever visit it is (a complete walk; a reaping one unless ret = false)
        last_invisible = ops.And(model.seq_complete,
                                 ops.Or(v[prefix + "_missed"] == 1, model.seq_covers_reapable))
        return ops.And(frees_only_when_writing, v[prefix + "_pc"] == pc,
                       v["ex_pc"] < EX_FREE_PGT, pos < length,
                       ops.Or(pos + 1 < length, last_invisible))

    return {"exit_mmap": ops.Or(exit_unmap, exit_writing),
            "mrelease": walker("mr", MR_WALK), "reaper": walker("rp", RP_WALK)}
