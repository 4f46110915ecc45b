"""The audit Lease: one holder at a time, renewal, take-over only after a whole duration of our own clock without
change, release on a graceful stop, and conflicts (two replicas racing) never giving two holders."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tierguard.kube.lease import Conflict, LeaseElector


class FakeLeases:
    """One Lease with the API server's optimistic concurrency: writes must carry the resourceVersion read."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.writes = 0

    def read(self) -> Mapping[str, Any] | None:
        return copy.deepcopy(self.lease)

    def create(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        if self.lease is not None:
            raise Conflict("exists")
        return self._store(body)

    def replace(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        if self.lease is None or body["metadata"].get("resourceVersion") != str(self.version):
            raise Conflict("changed")
        return self._store(body)

    def _store(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        self.version += 1
        self.writes += 1
        self.lease = copy.deepcopy(dict(body))
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(api: FakeLeases, clock: Clock, name: str) -> LeaseElector:
    return LeaseElector(api, "tierguard-audit", "tierguard-system", name, duration_s=15, monotonic=clock,
                        wall=clock)


def holder(api: FakeLeases) -> str | None:
    return api.lease["spec"]["holderIdentity"] if api.lease else None


def test_first_replica_creates_and_holds_the_lease_the_second_waits() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = elector(api, clock, "pod-a"), elector(api, clock, "pod-b")
    assert a.step() and a.is_leader
    assert not b.step() and not b.is_leader
    assert holder(api) == "pod-a"
    assert api.lease is not None and api.lease["spec"]["leaseDurationSeconds"] == 15
    assert api.lease["metadata"]["namespace"] == "tierguard-system"


def test_renewing_keeps_the_lease_and_the_other_never_takes_it() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = elector(api, clock, "pod-a"), elector(api, clock, "pod-b")
    a.step()
    for _ in range(20):  # 100 s: far past one duration, but renewed every 5 s
        clock.now += 5
        assert a.step()
        assert not b.step()
    assert holder(api) == "pod-a"
    assert api.lease is not None and api.lease["spec"]["leaseTransitions"] == 0


def test_a_holder_that_stops_renewing_is_taken_over_after_one_duration_of_our_clock() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = elector(api, clock, "pod-a"), elector(api, clock, "pod-b")
    a.step()
    assert not b.step()  # first sight of this record
    clock.now += 14
    assert not b.step()  # unchanged for less than the duration
    clock.now += 1
    assert b.step() and b.is_leader
    assert holder(api) == "pod-b"
    assert api.lease is not None and api.lease["spec"]["leaseTransitions"] == 1
    assert not a.is_leader  # its own renewal is more than a duration old: it stopped writing by itself
    assert not a.step()  # and seeing b's record keeps it a follower


def test_the_expiry_is_judged_by_our_clock_not_the_renew_time_written() -> None:
    api, clock = FakeLeases(), Clock()
    a = elector(api, clock, "pod-a")
    a.step()
    assert api.lease is not None
    api.lease["spec"]["renewTime"] = "2000-01-01T00:00:00.000000Z"  # a holder whose clock is far behind
    b = elector(api, clock, "pod-b")
    assert not b.step()


def test_release_lets_the_next_replica_take_over_at_once() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = elector(api, clock, "pod-a"), elector(api, clock, "pod-b")
    a.step()
    a.release()
    assert not a.is_leader and holder(api) is None
    assert b.step() and holder(api) == "pod-b"


def test_two_replicas_racing_for_an_expired_lease_get_one_holder() -> None:
    api, clock = FakeLeases(), Clock()
    a, b, c = (elector(api, clock, n) for n in ("pod-a", "pod-b", "pod-c"))
    a.step()
    b.step(), c.step()
    clock.now += 15
    stale = api.read()

    # b reads the expired record, then c takes over before b writes: b's write carries the old version.
    assert c.step()
    api_read = api.read
    api.read = lambda: stale  # type: ignore[method-assign]
    assert not b.step()
    api.read = api_read  # type: ignore[method-assign]
    assert holder(api) == "pod-c" and c.is_leader and not b.is_leader


def test_an_unreachable_api_server_keeps_a_holder_only_while_its_lease_lasts() -> None:
    api, clock = FakeLeases(), Clock()
    a = elector(api, clock, "pod-a")
    a.step()

    def broken() -> None:
        raise OSError("connection refused")

    api.read = broken  # type: ignore[assignment,method-assign]
    clock.now += 10
    assert a.step()  # renewed 10 s ago: nobody else can hold it yet
    clock.now += 5
    assert not a.step()


def test_a_replica_not_yet_ready_does_not_take_the_lease() -> None:
    """A starting replica that won the Lease would hold the writing until it is ready; it waits for readiness, and
    a holder keeps renewing through a brief unreadiness."""
    import asyncio  # noqa: PLC0415

    api, clock = FakeLeases(), Clock()
    starting = elector(api, clock, "pod-new")
    ready = {"pod-new": False}
    flips: list[bool] = []

    async def scenario() -> None:
        starting.duration_s = 0.6  # a try every 0.2 s
        task = asyncio.create_task(starting.run(flips.append, lambda: ready["pod-new"]))
        await asyncio.sleep(0.5)
        assert holder(api) is None and flips == []  # free, yet not taken
        ready["pod-new"] = True
        await asyncio.sleep(0.5)
        assert holder(api) == "pod-new" and flips == [True]
        ready["pod-new"] = False
        await asyncio.sleep(0.5)
        assert holder(api) == "pod-new" and flips == [True]  # kept while holding
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_a_draining_replica_gives_the_lease_up_and_never_takes_it() -> None:
    """A terminating replica (its preStop drain) that held or took the Lease would drop it within seconds: the
    holder releases it as the drain starts, and a draining replica does not compete, even when it is free."""
    import asyncio  # noqa: PLC0415

    api, clock = FakeLeases(), Clock()
    leaving, staying = elector(api, clock, "pod-old"), elector(api, clock, "pod-new")
    draining = {"pod-old": False}
    flips: list[bool] = []

    async def scenario() -> None:
        leaving.duration_s = 0.6  # a try every 0.2 s
        task = asyncio.create_task(leaving.run(flips.append, lambda: True, lambda: draining["pod-old"]))
        await asyncio.sleep(0.3)
        assert holder(api) == "pod-old" and flips == [True]
        draining["pod-old"] = True
        await asyncio.wait_for(task, timeout=2)  # it stops by itself
        assert flips == [True, False] and holder(api) is None
        assert staying.step() and holder(api) == "pod-new"  # at once: released, not left to expire

        again = elector(api, clock, "pod-old")
        api.lease = None  # free
        await asyncio.wait_for(again.run(flips.append, lambda: True, lambda: True), timeout=2)
        assert api.lease is None and flips == [True, False]

    asyncio.run(scenario())


def test_a_holder_cancelled_says_it_no_longer_holds() -> None:
    """Stopping without a drain (SIGTERM straight away) cancels the elector: what reads its flag (the fleet's
    publisher, which goes on through the shutdown linger) must not go on as the holder of a released Lease."""
    import asyncio  # noqa: PLC0415

    api, clock = FakeLeases(), Clock()
    stopping = elector(api, clock, "pod-old")
    flips: list[bool] = []

    async def scenario() -> None:
        stopping.duration_s = 0.6
        task = asyncio.create_task(stopping.run(flips.append))
        await asyncio.sleep(0.3)
        assert holder(api) == "pod-old" and flips == [True]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert flips == [True, False] and holder(api) is None

    asyncio.run(scenario())
