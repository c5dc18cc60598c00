"""The second reaper of walkers `same`: process_mrelease() the victim when told to.

Run as `python -I -S releaser_script.py PID CPU`: a process of its own, so that its call
waits for no GIL, bound to CPU. Prints "ready" once it holds a pidfd. On a "g" byte on
stdin, sent just before the kill, it calls process_mrelease() until the kill has landed
(EINVAL means the victim is not dying yet, mm/oom_kill.c; at most 50 ms), then prints
"MS ERRNO" (0: success), and waits for EOF before it exits (so that its own exit is
not traced). Anything but "g" ends it at once.
"""
import ctypes
import errno
import os
import signal
import sys
import time

SYS_PROCESS_MRELEASE = 448
RETRY_NS = 50_000_000


def main() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: never outlive the parent
    os.sched_setaffinity(0, {int(sys.argv[2])})
    pidfd = os.pidfd_open(int(sys.argv[1]))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if os.read(0, 1) != b"g":
        return 0
    first = time.perf_counter_ns()
    while True:
        start = time.perf_counter_ns()  # the call that counts is the last one
        ret = libc.syscall(SYS_PROCESS_MRELEASE, pidfd, 0)
        err = 0 if ret == 0 else ctypes.get_errno()
        if err != errno.EINVAL or start - first > RETRY_NS:
            break
    sys.stdout.write(f"{(time.perf_counter_ns() - start) / 1e6} {err}\n")
    sys.stdout.flush()
    while os.read(0, 4096):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
