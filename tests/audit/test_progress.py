"""The listing's progress line (``audit/progress.py``): drawn only on a terminal, redrawn at most ten times a
second, notes on their own line unless --quiet, a summary at the end."""

from __future__ import annotations

import io

from tierguard.audit.progress import ERASE, Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_line_names_the_kind_the_count_and_the_rate() -> None:
    clock, stream = Clock(), io.StringIO()
    progress = Progress(stream, live=True, clock=clock)
    progress.kind_started("Secret", 2, 26)
    clock.now += 2
    progress.objects_listed(500)
    assert stream.getvalue().endswith(ERASE + "listing Secret (kind 2/26), 500 objects, 250 objects/s, 2s")
    progress.objects_listed(500)  # within 0.1 s of the last draw: not redrawn
    assert stream.getvalue().count(ERASE) == 2
    progress.finish()
    assert stream.getvalue().endswith(ERASE + "listed 1,000 objects of 26 kinds in 2.0s (500 objects/s)\n")


def test_notes_get_their_own_line_and_the_line_comes_back() -> None:
    stream = io.StringIO()
    progress = Progress(stream, live=True, clock=Clock())
    progress.kind_started("Secret", 2, 26)
    progress.note("listing Secret (v1) again")
    assert ERASE + "note: listing Secret (v1) again\n" + ERASE + "listing Secret" in stream.getvalue()


def test_not_a_terminal_shows_notes_only_and_quiet_nothing() -> None:
    piped, quiet = io.StringIO(), io.StringIO()
    for stream, progress in ((piped, Progress(piped, live=False)), (quiet, Progress(quiet, live=True, quiet=True))):
        progress.kind_started("Secret", 1, 2)
        progress.objects_listed(3)
        progress.note("expired")
        progress.finish()
        assert stream is piped or stream.getvalue() == ""
    assert piped.getvalue() == "note: expired\n"
