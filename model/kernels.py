"""The protocol as each kernel version had it: one frozen record of switches per version
(docs/kernel.md §13, docs/model.md §9).

`Protocol(layout, ProtocolConfig(..., kernel=V))` reads these: the two newest versions
(6.1, 6.18) run model/protocol.py's rules as they are (6.1 with the forward walk); the
older ones run model/history.py's rules, which differ from today's only where a switch
below says so. Every switch names the kernel code it stands for (mm/mmap.c exit_mmap(),
mm/oom_kill.c __oom_reap_task_mm() / oom_reap_task_mm() / process_mrelease(), at the
version's tag).
"""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_KERNEL = "6.18"


@dataclass(frozen=True)
class Kernel:
    """One kernel version's protocol, as switches.

    historical: the version runs model/history.py's rules (4.13 to 5.17), else
      model/protocol.py's (6.1, 6.18).
    pinning: 4.13: __oom_reap_task_mm() pins the mm with mmget_not_zero() after its
      trylock and gives up at mm_users == 0 (returning true, so oom_reap_task() sets
      MMF_OOM_SKIP); no MMF_OOM_SKIP test under the lock.
    barrier: where exit_mmap() runs `down_write(); up_write()` to wait out a reaper holding
      mmap_sem for reading: "after_unmap" (4.14-4.16, after unmap_vmas()),
      "after_self_reap" (4.17), or None (4.13: none; 5.17: the write lock is held for
      the whole teardown instead, `write_teardown`).
    barrier_guard: whose OOM-victim status decides the barrier (and, 4.15+, whether
      exit_mmap() sets MMF_OOM_SKIP): "current" (4.14: tsk_is_oom_victim(current), false
      when the last mmput() is another task's) or "mm" (4.15+: mm_is_oom_victim(mm),
      MMF_OOM_VICTIM).
    set_skip: when exit_mmap() sets MMF_OOM_SKIP: "mmput" (4.13: __mmput() after
      exit_mmap()), "always" (4.14: before the barrier test), "oom_victim" (4.15-5.17:
      only for an OOM victim, inside the mm_is_oom_victim() block).
    self_reap: 4.17-5.17: exit_mmap() of an OOM victim runs __oom_reap_task_mm() itself
      first, then sets MMF_OOM_SKIP (27ae357fa82b).
    munlock: exit_mmap() munlocks mlocked VMAs (munlock_vma_pages_all(): clear
      VM_LOCKED, then walk the page tables) before unmap_vmas(): 4.13-5.17 (5.18 dropped
      it: mlocked pages are then reaped like any other).
    write_teardown: 5.17: mmap_write_lock() before munlock, held until after the VMAs
      are freed (64591e8605d6).
    clears_vma_list: exit_mmap() leaves no way to the freed VMAs before it unlocks:
      5.17 (`mm->mmap = NULL`, the syzbot fix) and 6.1+ (__mt_destroy()). In 5.17-rc1 to
      rc5 `mm->mmap` still points at the freed VMAs after mmap_write_unlock().
    notifier_nonblock: the per-VMA mmu_notifier_invalidate_range_start_nonblock() that can
      fail (4.19+): in the model from 5.17.
    skips_mlocked: the reaper's filter skips VM_LOCKED (can_madv_dontneed_vma() in 4.x,
      can_madv_lru_vma() in 5.x); 5.18+ reaps mlocked VMAs.
    mrelease: process_mrelease() exists (5.15+).
    walk: the reaper's VMA order: forward (the mm->mmap list, then for_each_vma()) before
      6.18, rev_find in 6.18.
    """

    version: str
    historical: bool
    pinning: bool = False
    barrier: str | None = None
    barrier_guard: str | None = None
    set_skip: str = "oom_victim"
    self_reap: bool = False
    munlock: bool = True
    write_teardown: bool = False
    clears_vma_list: bool = False
    notifier_nonblock: bool = False
    skips_mlocked: bool = True
    mrelease: bool = False
    walk: str = "forward"

    @property
    def lock_name(self) -> str:
        """mm_struct's reader-writer lock as this version's source names it: `mmap_sem`
        up to 5.7, `mmap_lock` from 5.8 (da1c55f1b272 "mmap locking API: rename mmap_sem
        to mmap_lock"; docs/kernel.md §13)."""
        major, minor = (int(x) for x in self.version.split("-")[0].split(".")[:2])
        return "mmap_sem" if (major, minor) < (5, 8) else "mmap_lock"

    @property
    def write_unlock_call(self) -> str:
        """The call that releases the lock held for writing, in this version's words."""
        return "up_write()" if self.lock_name == "mmap_sem" else "mmap_write_unlock()"


KERNELS = {k.version: k for k in (
    Kernel("4.13", True, pinning=True, set_skip="mmput"),
    Kernel("4.14", True, barrier="after_unmap", barrier_guard="current", set_skip="always"),
    Kernel("4.15", True, barrier="after_unmap", barrier_guard="mm"),
    Kernel("4.16", True, barrier="after_unmap", barrier_guard="mm"),
    Kernel("4.17", True, barrier="after_self_reap", barrier_guard="mm", self_reap=True),
    Kernel("5.17-rc", True, self_reap=True, write_teardown=True, notifier_nonblock=True,
           mrelease=True),
    Kernel("5.17", True, self_reap=True, write_teardown=True, clears_vma_list=True,
           notifier_nonblock=True, mrelease=True),
    Kernel("6.1", False, munlock=False, clears_vma_list=True, notifier_nonblock=True,
           skips_mlocked=False, mrelease=True, set_skip="always"),
    Kernel(DEFAULT_KERNEL, False, munlock=False, clears_vma_list=True,
           notifier_nonblock=True, skips_mlocked=False, mrelease=True, set_skip="always",
           walk="rev_find"),
)}
# the names a user may give for a version: 5.17-rc1 to 5.17-rc5 are one model
ALIASES = {**{f"5.17-rc{n}": "5.17-rc" for n in range(1, 6)}}


def kernel_named(name: str) -> Kernel:
    """The Kernel for a version name (or alias); ValueError naming the known ones."""
    version = ALIASES.get(name, name)
    if version not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}; known: {', '.join(KERNELS)} "
                         "(5.17-rc1 to 5.17-rc5 are 5.17-rc)")
    return KERNELS[version]
