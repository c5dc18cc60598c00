"""One race: SIGKILL the victim through its pidfd, then process_mrelease() it at once.

`opposite`: the killing thread calls process_mrelease() right after the kill, so the
reaper walk (descending since v6.18, mm/oom_kill.c __oom_reap_task_mm()) runs while the
victim's exit_mmap() (mm/mmap.c, ascending) does. `same`: a second process
(releaser_script.py, so that it waits for no GIL), woken right after the kill, calls
process_mrelease() too: two walkers descending together, the same-direction situation
of the kernel before the patch.
"""
from __future__ import annotations

import ctypes
import errno
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SYS_PIDFD_SEND_SIGNAL = 424
SYS_PROCESS_MRELEASE = 448  # the same number on every architecture (asm-generic)
WALKERS = ("opposite", "same")
RELEASER = Path(__file__).with_name("releaser_script.py")


@dataclass(frozen=True)
class Release:
    """One process_mrelease() call: its thread, duration (ms) and result."""

    tid: int
    ms: float
    error: str | None  # None on success, else the errno name (ESRCH: exit_mm() came first)

    def to_json(self) -> dict:
        return {"tid": self.tid, "ms": round(self.ms, 3), "error": self.error}


@dataclass(frozen=True)
class RaceResult:
    exit_ms: float  # kill to the victim's exit (its pidfd became readable)
    releases: tuple[Release, ...]

    @property
    def raced(self) -> bool:
        """Every release reached the mm (ESRCH: it found none left, exit_mm() came first),
        so the run had the walkers its mode names."""
        return all(r.error is None for r in self.releases)


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def has_process_mrelease() -> bool:
    """True when syscall 448 exists (EBADF on a bad pidfd, not ENOSYS)."""
    libc = _libc()
    if libc.syscall(SYS_PROCESS_MRELEASE, -1, 0) == 0:
        return True
    return ctypes.get_errno() != errno.ENOSYS


def _errname(err: int) -> str | None:
    return None if err == 0 else errno.errorcode.get(err, str(err))


@dataclass(frozen=True)
class Cpus:
    """Where each party runs: the killing thread (the first reaper), the victim, and the
    second reaper of walkers `same` (the victim's CPU when there are only two)."""

    killer: int
    victim: int
    second: int

    @classmethod
    def choose(cls, allowed: set[int]) -> "Cpus":
        cpus = sorted(allowed)
        if len(cpus) < 2:
            raise ValueError("the race needs two CPUs: the walkers must run at the same time")
        return cls(cpus[0], cpus[1], cpus[2] if len(cpus) > 2 else cpus[1])


def race(victim_pid: int, pidfd: int, walkers: str, cpus: Cpus, before_kill,
         after_exit=lambda: None) -> RaceResult:
    """Kill and release; `before_kill(tids)` runs once every releasing thread is waiting
    (it starts tracing for those thread ids), `after_exit()` once every release returned
    and the victim has exited, before the second releaser may exit itself (it stops
    tracing: that process's own exit is no part of the race). The calling thread is bound
    to `cpus.killer` meanwhile."""
    if walkers not in WALKERS:
        raise ValueError(f"walkers must be one of {WALKERS}, not {walkers!r}")
    libc = _libc()
    exited = [0]

    def wait_exit() -> None:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.poll()
        exited[0] = time.perf_counter_ns()

    second = None
    if walkers == "same":
        second = subprocess.Popen([sys.executable, "-I", "-S", str(RELEASER), str(victim_pid),
                                   str(cpus.second)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    affinity = os.sched_getaffinity(0)
    try:
        if second and second.stdout.readline().strip() != "ready":
            raise OSError(errno.ESRCH, "the second releaser did not start")
        waiter = threading.Thread(target=wait_exit, daemon=True)
        waiter.start()
        os.sched_setaffinity(0, {cpus.killer})
        tids = [threading.get_native_id()] + ([second.pid] if second else [])
        before_kill(tids)
        if second:  # it calls until the kill has landed: it is running when it does
            os.write(second.stdin.fileno(), b"g")
        killed = time.perf_counter_ns()
        if libc.syscall(SYS_PIDFD_SEND_SIGNAL, pidfd, signal.SIGKILL, None, 0) != 0:
            raise OSError(ctypes.get_errno(), "pidfd_send_signal(SIGKILL) failed")
        start = time.perf_counter_ns()
        ret = libc.syscall(SYS_PROCESS_MRELEASE, pidfd, 0)
        err = 0 if ret == 0 else ctypes.get_errno()
        releases = [Release(tids[0], (time.perf_counter_ns() - start) / 1e6, _errname(err))]
        if second:
            ms, err = second.stdout.readline().split()
            releases.append(Release(second.pid, float(ms), _errname(int(err))))
        waiter.join()
        after_exit()
    finally:
        os.sched_setaffinity(0, affinity)
        if second:
            second.stdin.close()  # EOF: it may exit now
            try:
                second.wait(timeout=10)
            except subprocess.TimeoutExpired:
                second.kill()
                second.wait()
            second.stdout.close()
    return RaceResult((exited[0] - killed) / 1e6, tuple(releases))
