"""Progress on stderr for long runs, only when stderr is a terminal."""
from __future__ import annotations

import sys
import time


class Progress:
    """Callable `progress(done, total)`; redraws at most ten times a second."""

    def __init__(self, label: str, stream=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.active = self.stream.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        pct = 100.0 * done / total if total else 100.0
        self._show(f"{done}/{total} ({pct:.0f}%)")

    def search(self, states: int, rate: float, queue: int, depth: int) -> None:
        """A breadth-first search: states found, states per second, queue size, depth."""
        self._show(f"{states:,} states, {rate:,.0f} states/s, queue {queue:,}, depth {depth}")

    def _show(self, text: str) -> None:
        if not self.active:
            return
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        self.stream.write(f"\r{self.label}: {text}\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.active and self._last:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
