"""`reapcheck sweep`: options, the checks done before any work, the run and the summary.

Light to import (cli.py adds the parser at every start): Dask, tqdm and the tasks are
imported only when the command runs.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading

from .sweep import CHECKS, DEFAULT_MAX_STATES

DEFAULT_OUT = "sweep.jsonl"
INSTALL_HINT = "reapcheck sweep needs Dask: pip install 'reapcheck[sweep]'"


def checks(text: str) -> tuple[str, ...]:
    """A comma-separated subset of CHECKS, in CHECKS order."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in CHECKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"not a check: {(unknown or [text])[0][:40]!r} (choose from {', '.join(CHECKS)})")
    return tuple(name for name in CHECKS if name in names)


def _retries(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text[:40]!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be 0 to 100, not {value}")
    return value


WORKERS_PER_CPU = 4  # --workers at most this many per CPU: more only waits on the CPUs
# A Dask scheduler address: [tcp|tls|ws|wss|ucx://]host:port (IPv6 hosts in brackets).
ADDRESS = re.compile(r"(?:(?:tcp|tls|ws|wss|ucx)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)"
                     r":([0-9]{1,5})")


def max_workers() -> int:
    return WORKERS_PER_CPU * (os.cpu_count() or 1)


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text[:40]!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    if value > max_workers():
        raise argparse.ArgumentTypeError(
            f"at most {max_workers()} ({WORKERS_PER_CPU} per CPU, {os.cpu_count() or 1} "
            f"here), not {value}")
    return value


def _scheduler(text: str) -> str:
    match = ADDRESS.fullmatch(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 65535:
        raise argparse.ArgumentTypeError(
            f"not a Dask scheduler address: {text[:60]!r} (tcp://host:port or host:port)")
    return text.strip()


def add_parser(sub, positive, quiet_option) -> None:
    p = sub.add_parser("sweep", help="many layouts on Dask (local cluster or --scheduler): "
                                     "collisions, timed, verify; JSONL and a summary table")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="layout files, bundled/NAME, directories (every file whose name ends "
                        "in maps under them) or globs")
    p.add_argument("--scheduler", type=_scheduler, metavar="ADDRESS",
                   help="an existing Dask scheduler, e.g. tcp://host:8786 (default: a local "
                        "cluster; workers must read the layout paths as given)")
    p.add_argument("--workers", type=_workers, metavar="N",
                   help="local cluster: N worker processes, one thread each (default: one "
                        f"per CPU; at most {WORKERS_PER_CPU} per CPU)")
    p.add_argument("--checks", type=checks, default=CHECKS, metavar="LIST",
                   help=f"comma-separated, of {', '.join(CHECKS)} (default: all three)")
    p.add_argument("--max-states", type=positive, default=DEFAULT_MAX_STATES, metavar="N",
                   help=f"verify: stop each search after N states (default "
                        f"{DEFAULT_MAX_STATES:,}); its verdicts are then incomplete")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="FILE",
                   help=f"JSON lines, one per result, appended as tasks finish (default "
                        f"{DEFAULT_OUT}; replaced unless --resume)")
    p.add_argument("--resume", action="store_true",
                   help="keep the results already in --out and run only the other tasks")
    p.add_argument("--retries", type=_retries, default=2, metavar="N",
                   help="Dask retries of a task that raised (default 2); a dead worker's "
                        "tasks are retried by the scheduler")
    quiet_option(p)


def _terminated(signum, frame):
    raise SystemExit(128 + signum)


def dask_missing() -> bool:
    """Is dask.distributed or tqdm not importable (the `sweep` extra not installed)?"""
    try:
        import distributed  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError:
        return True
    return False


def command(args, usage_error) -> int:
    """Check everything, then run; exit 0 / 1 / 3 from the summary (sweep_summary.py)."""
    if dask_missing():
        raise usage_error(f"reapcheck: {INSTALL_HINT}")
    from . import outputs
    from .sweep import SweepInputError, expand_paths, task_of, tasks
    from .sweep_run import ResumeError, read_done

    if args.scheduler and args.workers:
        raise usage_error("reapcheck sweep: --workers sizes the local cluster; an existing "
                          "one (--scheduler) has its own workers")
    try:
        layouts = expand_paths(args.paths)
    except SweepInputError as err:
        raise usage_error(f"reapcheck: {err}") from None
    outputs.check_file(args.out)  # an OSError naming the file: exit 2, nothing written
    try:  # read only: nothing is written before the cluster answers
        done = read_done(args.out, truncate=False) if args.resume else []
    except ResumeError as err:
        raise usage_error(f"reapcheck: {err}") from None
    finished = {task_of(line) for line in done}
    todo = [task for task in tasks(layouts, args.checks) if task not in finished]
    # SIGTERM: exit 143 through _run's `finally`, so the local cluster is closed (no
    # worker left behind, no leaked-semaphore warning), as the default action would exit.
    previous = signal.signal(signal.SIGTERM, _terminated) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        return _run(args, usage_error, done, todo)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args, usage_error, done, todo) -> int:
    """The cluster, the run and the summary, once every input has been checked."""
    from .sweep import task_of
    from .sweep_run import read_done, run
    from .sweep_summary import exit_status, summarize, table

    client = None
    if todo:
        from .sweep_run import client_for

        try:
            client = client_for(args.scheduler, args.workers)
        except (OSError, ValueError, TypeError) as err:  # a scheduler that does not answer,
            # or an address Dask refuses (malformed beyond the check of --scheduler)
            raise usage_error(f"reapcheck sweep: cannot reach the Dask scheduler "
                              f"{args.scheduler}: {err}") from None
    new = []
    try:
        if args.resume:
            read_done(args.out)  # now cut a task a crash cut short off the end
        else:
            open(args.out, "w").close()  # a new sweep replaces the file
        if todo:
            new = run(todo, args.out, {"max_states": args.max_states}, client=client,
                      retries=args.retries, quiet=args.quiet)
    finally:
        if client is not None:
            from .sweep_run import close

            close(client)
    summary = summarize(done + new)
    if args.resume and done:
        resumed = len({task_of(line) for line in done})
        print(f"resumed: {resumed:,} task{'' if resumed == 1 else 's'} already in "
              f"{args.out}, {len(todo):,} run now", file=sys.stderr)
    print(table(summary))
    return exit_status(summary)
