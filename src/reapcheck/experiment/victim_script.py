"""The experiment's victim: map the plan's VMAs, touch their resident pages, wait to be killed.

Run as `python -I -S victim_script.py` (standard library only, nothing imported that maps
more than it must). Protocol on stdin/stdout, one line each:
  -> "started"                      the parent may now read /proc/PID/maps
  <- "N T", then N plan lines       "start length prot shared dontdump resident" (hex)
  -> "ready" | "error LINE ERRNO"   every VMA mapped and touched, T more threads started
                                    (each waits), or the first failure
then it blocks reading stdin: EOF ends it cleanly; normally SIGKILL ends it.
It dies with its parent (PR_SET_PDEATHSIG), so no victim outlives the experiment.
"""
import ctypes
import os
import signal
import sys

MAP_SHARED, MAP_PRIVATE, MAP_ANONYMOUS = 0x01, 0x02, 0x20
MAP_NORESERVE, MAP_FIXED_NOREPLACE = 0x4000, 0x100000
PROT_READ, PROT_WRITE = 1, 2
MADV_DONTDUMP = 16
PR_SET_PDEATHSIG = 1


def main() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.mprotect.argtypes = libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                                                      ctypes.c_int]
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the death signal was armed
        return 1
    page = os.sysconf("SC_PAGE_SIZE")
    out = sys.stdout
    out.write("started\n")
    out.flush()
    count, threads = (int(f) for f in sys.stdin.readline().split())
    for line in range(1, count + 1):
        start, length, prot, shared, dontdump, resident = (
            int(f, 16) for f in sys.stdin.readline().split())
        flags = (MAP_SHARED if shared else MAP_PRIVATE) | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE \
            | MAP_NORESERVE
        first = prot | PROT_READ | PROT_WRITE if resident else prot
        if libc.mmap(start, length, first, flags, -1, 0) != start or \
                (dontdump and libc.madvise(start, length, MADV_DONTDUMP)):
            out.write(f"error {line} {ctypes.get_errno()}\n")
            out.flush()
            return 1
        pages = length // page
        if resident == pages:
            ctypes.memset(start, 1, length)
        else:
            for i in range(resident):
                ctypes.memset(start + (i * pages // resident) * page, 1, 1)
        if first != prot and libc.mprotect(start, length, prot):
            out.write(f"error {line} {ctypes.get_errno()}\n")
            out.flush()
            return 1
    if threads:
        import threading  # only now: the plan's VMAs are mapped first, at their places
        threading.stack_size(1 << 16)
        for _ in range(threads):
            threading.Thread(target=threading.Event().wait, daemon=True).start()
    out.write("ready\n")
    out.flush()
    while os.read(0, 4096):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
