"""The listing's progress line on stderr: which kind is being listed, objects so far and their rate.

Shown only when stderr is a terminal and ``--quiet`` is not given; redrawn in place (carriage return, erase
line) at most ten times a second, then replaced by one summary line. Notes (an expired continue token) are
printed on their own line in every case but ``--quiet``. Nothing here ever sees an object's content: only kind
names and counts. No progress-bar library: a single self-erasing line needs none, and the CLI stays light.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

REDRAW_S = 0.1
ERASE = "\r\x1b[K"


class Progress:
    """An Observer (``audit/listing.py``) drawing on ``stream``; ``live``: draw the progress line."""

    def __init__(self, stream: TextIO, *, live: bool, quiet: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.live = live and not quiet
        self.quiet = quiet
        self.clock = clock
        self.started = clock()
        self.kind = ""
        self.number = 0
        self.total = 0
        self.objects = 0
        self._drawn_at = float("-inf")
        self._shown = False

    @classmethod
    def for_stderr(cls, *, quiet: bool) -> Progress:
        stream = sys.stderr
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        return cls(stream, live=tty, quiet=quiet)

    def kind_started(self, kind: str, number: int, total: int) -> None:
        self.kind, self.number, self.total = kind, number, total
        self._draw(force=True)

    def objects_listed(self, count: int) -> None:
        self.objects += count
        self._draw()

    def note(self, message: str) -> None:
        if self.quiet:
            return
        self._erase()
        self.stream.write(f"note: {message}\n")
        self.stream.flush()
        self._draw(force=True)

    def finish(self) -> None:
        """Replace the progress line by a summary (only where the line was drawn)."""
        if not self.live:
            return
        self._erase()
        elapsed = self.clock() - self.started
        self.stream.write(f"listed {self.objects:,} objects of {self.total} kinds in {elapsed:.1f}s "
                          f"({self._rate(elapsed)})\n")
        self.stream.flush()

    def abandon(self) -> None:
        """Erase the progress line (before an error message takes its place)."""
        self._erase()

    def line(self) -> str:
        elapsed = self.clock() - self.started
        return (f"listing {self.kind} (kind {self.number}/{self.total}), {self.objects:,} objects, "
                f"{self._rate(elapsed)}, {elapsed:.0f}s")

    def _rate(self, elapsed: float) -> str:
        return f"{self.objects / elapsed:,.0f} objects/s" if elapsed > 0 else "- objects/s"

    def _draw(self, *, force: bool = False) -> None:
        if not self.live:
            return
        now = self.clock()
        if not force and now - self._drawn_at < REDRAW_S:
            return
        self._drawn_at = now
        self.stream.write(ERASE + self.line())
        self.stream.flush()
        self._shown = True

    def _erase(self) -> None:
        if self._shown:
            self.stream.write(ERASE)
            self.stream.flush()
            self._shown = False
