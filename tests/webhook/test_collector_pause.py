"""The cyclic collector is off while the first listing builds the indexes, back on once they are settled, and
back on after COLLECTOR_PAUSE_LIMIT_S at the latest (a listing that never finishes must not leave it off)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from tierguard.webhook import state


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    yield
    gc.enable()
    gc.unfreeze()


def test_off_while_listing_and_on_once_settled() -> None:
    async def run() -> tuple[bool, bool]:
        state.pause_collector(asyncio.get_running_loop())
        during = gc.isenabled()
        state.settle_heap()
        return during, gc.isenabled()

    during, after = asyncio.run(run())
    assert during is False
    assert after is True
    assert gc.get_freeze_count() > 0  # what was alive at the sync is out of the collector's walks


def test_on_again_when_the_listing_takes_too_long(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "COLLECTOR_PAUSE_LIMIT_S", 0.05)

    async def run() -> tuple[bool, bool]:
        state.pause_collector(asyncio.get_running_loop())
        paused = gc.isenabled()
        await asyncio.sleep(0.2)
        return paused, gc.isenabled()

    paused, later = asyncio.run(run())
    assert paused is False
    assert later is True
