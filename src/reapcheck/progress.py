"""Progress on stderr for long runs.

On a terminal the line is redrawn in place (at most ten times a second). Anywhere else
(a log file, CI, a pipe) a run prints nothing for its first FIRST_LINE_S seconds and
then at most one line every LINE_EVERY_S seconds, so a log stays short and a long run
still shows it is alive. `quiet` (the commands' `--quiet`) silences both. The clock is
passed in (tests use a fake one); nothing is global.

Lines are printed when the work reports progress (an engine calls back every few
thousand items or states; `prove` once per claim), so a single solver query that runs
for minutes prints nothing while it runs.
"""
from __future__ import annotations

import sys
import time

REDRAW_EVERY_S = 0.1  # terminal: redraws at most this often
FIRST_LINE_S = 5.0  # not a terminal: nothing for runs shorter than this
LINE_EVERY_S = 10.0  # not a terminal: at most one line this often


class Progress:
    """Callable `progress(done, total)`, `progress.search(...)` for a breadth-first search,
    and `progress.stage(label)` for the next part of the same run (a `progress_factory`:
    the stages share the clock, so a run of many short parts still prints every
    LINE_EVERY_S seconds)."""

    def __init__(self, label: str = "", stream=None, *, quiet: bool = False,
                 clock=time.monotonic, tty: bool | None = None):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty() if tty is None else tty
        self._clock = clock
        self._start = clock()
        self._next = self._start if self.tty else self._start + FIRST_LINE_S
        self._drawn = False  # terminal: a line is on screen

    def __call__(self, done: int, total: int) -> None:
        pct = 100.0 * done / total if total else 100.0
        self._show(f"{done:,}/{total:,} ({pct:.0f}%)")

    def search(self, states: int, rate: float, queue: int, depth: int) -> None:
        """A breadth-first search: states found, states per second, queue size, depth."""
        self._show(f"{states:,} states, {rate:,.0f} states/s, queue {queue:,}, depth {depth}")

    def stage(self, label: str) -> "Progress":
        """The next part of the run, named `label`; returns this object."""
        self.close()
        self.label = label
        self._show("started")
        return self

    def _show(self, text: str) -> None:
        if self.quiet:
            return
        now = self._clock()
        if now < self._next:
            return
        if self.tty:
            self._next = now + REDRAW_EVERY_S
            self.stream.write(f"\r{self.label}: {text}\x1b[K")
            self._drawn = True
        else:
            self._next = now + LINE_EVERY_S
            self.stream.write(f"reapcheck: {self.label}: {text} "
                              f"({now - self._start:.0f} s)\n")
        self.stream.flush()

    def close(self) -> None:
        """Clear the terminal line (a line printed elsewhere stays)."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False
