"""`reapcheck sweep` on Dask: the tasks of sweep.py on a cluster, results appended as JSONL.

`run(tasks, out, ...)` submits every (layout, check) task to a Dask cluster (a
`LocalCluster` of one single-threaded worker process per CPU, or `--workers N`, or an
existing scheduler at `tcp://host:port`: the same code either way) and, as each task
finishes (`as_completed`), appends its lines to `out` in one write, flushed and
fsync()ed: a crash of the client loses no finished task, and at most the task being
written is cut short. `read_done(out)` is `--resume`: the lines already in the file,
with a cut-short last task dropped (the file is truncated to the last whole task), so
those tasks are not submitted again and each task is in the file exactly once.

A task that raises (a bug, not a bad layout: sweep.py turns those into lines) is retried
`retries` times by Dask (`submit(..., retries=)`); a worker that dies is retried by the
scheduler (`distributed.scheduler.allowed-failures`, default 3) and then raises
KilledWorker. Either way the task is then written as one failed line, `{"layout",
"check", "error": "task failed: ..."}`.

Dask is imported only inside these functions: `reapcheck[sweep]` is an optional extra.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading

from .sweep import complete_task, error_line, run_task, task_of

DEFAULT_RETRIES = 2
# No dashboard; the scheduler's HTTP routes (health, metrics) on a free port, so a second
# cluster on the machine is no warning about port 8787.
QUIET_CLUSTER = {"dashboard_address": None, "scheduler_kwargs": {"dashboard_address": ":0"}}


class ResumeError(ValueError):
    """A --resume file that is not a sweep's JSONL (names the file and line; exit 2)."""


def read_done(path: str, truncate: bool = True) -> list[dict]:
    """The whole tasks' lines already in `path` (none if it does not exist).

    A last line without its newline that starts like a JSON object (`{`), or a last task
    with fewer lines than its check gives, is what a killed client left (each task is one
    write of whole lines): with `truncate`, the file is cut back to the end of the last
    whole task so new lines follow it. Any other line, the last one included when it
    ends in a newline, that is not a JSON object with `layout` and `check` raises
    ResumeError naming the line.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    lines, groups, offset = [], [], 0  # groups: (task, [lines], end offset)
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        end = offset + len(raw)
        try:
            line = json.loads(raw)
            ok = isinstance(line, dict) and isinstance(line.get("layout"), str) \
                and isinstance(line.get("check"), str)
        except ValueError:
            ok = False
        if not raw.endswith(b"\n") and raw.lstrip().startswith(b"{"):
            break  # the last line, cut short: what a client killed mid-write left
        if not ok or not raw.endswith(b"\n"):
            raise ResumeError(f"{path}:{number}: not a sweep result line (a JSON object "
                              "with layout and check)")
        if groups and groups[-1][0] == task_of(line) and not complete_task(groups[-1][1]):
            groups[-1][1].append(line)
            groups[-1][2] = end
        else:
            groups.append([task_of(line), [line], end])
        offset = end
    while groups and not complete_task(groups[-1][1]):
        groups.pop()
    keep = groups[-1][2] if groups else 0
    if truncate and keep != len(data):
        with open(path, "r+b") as f:
            f.truncate(keep)
    return [line for group in groups for line in group[1]]


def append_lines(stream, lines: list[dict]) -> None:
    """One task's lines in one write, then flush and fsync: on disk before the next."""
    stream.write("".join(json.dumps(line) + "\n" for line in lines))
    stream.flush()
    os.fsync(stream.fileno())


def client_for(scheduler: str | None, workers: int | None):
    """A dask.distributed Client: of the scheduler at `scheduler`, or of a new
    LocalCluster of `workers` (default: os.cpu_count()) processes, one thread each."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler, timeout="30s")
    # The worker processes are started with SIGINT ignored (a disposition they inherit):
    # Ctrl-C reaches the whole process group, and only this process should answer it
    # (exit 130, the cluster closed below) instead of each worker printing a traceback.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1,
                               threads_per_worker=1, processes=True,
                               silence_logs=logging.ERROR, **QUIET_CLUSTER)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return Client(cluster)


def close(client) -> None:
    """Close the client, and the LocalCluster it started (never a cluster it joined)."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


class SweepProgress:
    """Tasks done of all on `stream` (stderr): a tqdm bar on a terminal; anywhere else
    progress.py's rule (nothing for the first 5 s, then at most one line every 10 s);
    nothing with `quiet`. `update()` once per finished task, `close()` at the end."""

    def __init__(self, total: int, quiet: bool = False, stream=None, clock=None,
                 tty: bool | None = None):
        from .progress import Progress

        self.stream = stream if stream is not None else sys.stderr
        self.total, self.done, self._bar, self._lines = total, 0, None, None
        if tty is None:
            tty = self.stream.isatty()
        if tty:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="task", file=self.stream, disable=quiet,
                             desc="reapcheck sweep", dynamic_ncols=True, mininterval=1.0)
        else:
            extra = {"clock": clock} if clock is not None else {}
            self._lines = Progress("sweep", self.stream, quiet=quiet, tty=False, **extra)

    def update(self) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)
        else:
            self._lines(self.done, self.total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def run(tasks: list[tuple[str, str]], out: str, options: dict, *, client=None,
        scheduler: str | None = None, workers: int | None = None,
        retries: int = DEFAULT_RETRIES, quiet: bool = False, task=run_task) -> list[dict]:
    """Run every task on Dask and append each one's lines to `out` as it finishes;
    returns those lines (in finishing order). `client`: an existing Client (tests,
    benchmarks), else one from `client_for(scheduler, workers)`, closed at the end.
    Progress on stderr (SweepProgress: tasks done of all), none with `quiet`. `task`: the task
    function (sweep.run_task; must be importable by the workers)."""
    from distributed import as_completed

    own = client is None
    if own:
        client = client_for(scheduler, workers)
    written: list[dict] = []
    try:
        futures = {}
        for path, check in tasks:
            future = client.submit(task, path, check, options, retries=retries, pure=False,
                                   key=f"sweep-{check}-{len(futures)}-{os.getpid()}")
            futures[future] = (path, check)
        bar = SweepProgress(len(tasks), quiet)
        with open(out, "a", encoding="utf-8") as stream:
            for future in as_completed(futures):
                path, check = futures.pop(future)
                try:
                    lines = future.result()
                except Exception as err:  # noqa: BLE001 - after the retries: a failed task
                    lines = [error_line(path, check, f"task failed: {type(err).__name__}: "
                                        f"{str(err).splitlines()[0] if str(err) else ''}"
                                        .rstrip(": "))]
                future.release()
                append_lines(stream, lines)
                written += lines
                bar.update()
        bar.close()
    finally:
        if own:
            close(client)
    return written
