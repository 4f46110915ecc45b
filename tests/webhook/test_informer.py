"""tierguard's own list and watch (webhook/informer.py) over a scripted transport: paging, events in order, 410
Gone and relisting, failures and the staleness bound, absent CRDs, and that no Secret value reaches an observer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.kube.fake import FakeTransport as Transport
from tierguard.kube.fake import FakeWatchStream as Stream
from tierguard.kube.rest import stream_lines
from tierguard.webhook import indexes
from tierguard.webhook.informer import Change, Informer, Informers
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.settings import WatchSettings
from tierguard.webhook.state import RuntimeState

from .helpers import KEY, b64

FP = Fingerprinter(KEY)
SECRETS = indexes.INDEXES_BY_ID[indexes.SECRETS]
POLICIES = indexes.INDEXES_BY_ID[indexes.POLICIES]
VALUE = "a-long-credential-value-0123456789"
SETTINGS = WatchSettings(page_size=2, max_staleness_s=30.0, rediscover_s=0.01, backoff_s=(0.01, 0.02))


def secret(name: str, value: str = VALUE, rv: str = "1", **annotations: str) -> dict[str, Any]:
    """As a list item: no kind or apiVersion (the informer fills them in)."""
    return {"metadata": {"name": name, "namespace": "dev", "resourceVersion": rv, "annotations": annotations},
            "type": "Opaque", "data": {"password": b64(value)}}


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": {"apiVersion": "v1", "kind": "Secret", **obj}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def informer(transport: Transport, observed: list[Change] | None = None, spec: Any = SECRETS,
             clock: Clock | None = None) -> Informer:
    return Informer(spec, transport, lambda: FP, observed.append if observed is not None else None, SETTINGS,
                    monotonic=clock or Clock())


def names(inf: Informer) -> list[str]:
    return sorted(key[2] for key in inf.index if key[0] == "name")


def run(scenario: Callable[[], Any]) -> Any:
    return asyncio.run(asyncio.wait_for(scenario(), 20))


def test_lists_page_by_page_then_applies_watch_events_in_order() -> None:
    transport = Transport([[secret("a"), secret("b")], [secret("c")]])
    observed: list[Change] = []
    inf = informer(transport, observed)

    async def scenario() -> None:
        task = asyncio.create_task(inf.run())
        await asyncio.wait_for(inf.wait_listed(), 5)
        assert names(inf) == ["a", "b", "c"] and transport.list_requests == [None, "1"]
        assert observed == []  # the first listing is not reported object by object: the first audit pass covers it
        transport.watches.put(Stream(event("ADDED", secret("d", rv="5")),
                                     event("MODIFIED", secret("a", "another-long-credential-value", rv="6", x="y")),
                                     event("DELETED", secret("b", rv="7"))))
        await until(lambda: len(transport.watched_from) == 2, "the next watch")
        await until(lambda: len(observed) == 3, "three events")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run(scenario)
    assert names(inf) == ["a", "c", "d"]
    assert transport.watched_from[0] == "rv-2"  # from the list's resourceVersion
    assert transport.watched_from[1] == "7"  # the next watch resumes after the last event
    (view,) = inf.index.get(indexes.secret_key("dev", "a"))
    assert view.annotations == {"x": "y"}
    assert [change.entries is None for change in observed] == [False, False, True]
    for change in observed:  # the observer sees the object without its values, and its entries hold no value
        assert change.body is not None and "data" not in change.body
        assert VALUE not in repr(change.body) + repr(change.entries)


def test_the_observer_sees_the_old_entry_still_indexed() -> None:
    transport = Transport([[secret("a")]])
    seen: list[Any] = []
    inf = informer(transport)
    inf.observe = lambda change: seen.append(inf.index.get(indexes.secret_key("dev", "a")))

    async def scenario() -> None:
        task = asyncio.create_task(inf.run())
        await inf.wait_listed()
        transport.watches.put(Stream(event("DELETED", secret("a", rv="3"))))
        await until(lambda: bool(seen), "the deletion")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run(scenario)
    assert seen[0] is not None and inf.index.get(indexes.secret_key("dev", "a")) is None


def test_410_gone_lists_again_and_replaces_the_index_whole() -> None:
    transport = Transport([[secret("a"), secret("b")]], [[secret("b"), secret("new")]])
    observed: list[Change] = []
    inf = informer(transport, observed)

    async def scenario() -> None:
        task = asyncio.create_task(inf.run())
        await inf.wait_listed()
        transport.watches.put(Stream({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired",
                                                                   "message": "too old resource version"}}))
        await until(lambda: inf.health.relists == 1 and names(inf) == ["b", "new"], "the relist")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run(scenario)
    assert [change.relisted for change in observed] == [True]  # the audit marks everything


def test_an_expired_continue_token_starts_the_list_again() -> None:
    transport = Transport([[secret("a"), secret("b")], [secret("c")]])
    transport.expire_next_continue = True
    inf = informer(transport)

    async def scenario() -> None:
        task = asyncio.create_task(inf.run())
        await inf.wait_listed()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run(scenario)
    assert transport.list_requests == [None, "1", None, "1"] and names(inf) == ["a", "b", "c"]


def test_a_broken_watch_resumes_from_its_version_and_past_the_bound_the_replica_is_not_ready() -> None:
    clock = Clock()
    transport = Transport([[secret("a")]])
    inf = informer(transport, clock=clock)
    informers = Informers([inf], SETTINGS)
    quiet = Stream(event("ADDED", secret("b", rv="8")), quiet=True)

    async def scenario() -> None:
        task = asyncio.create_task(inf.run())
        assert informers.not_ready_reason() is not None  # nothing listed yet
        await inf.wait_listed()
        transport.watches.put(quiet)
        await until(lambda: "b" in names(inf), "the watch")
        clock.now += 20
        assert inf.health.staleness(clock.now) == 0 and informers.not_ready_reason() is None  # open: current
        quiet.put(ConnectionResetError("connection reset by peer"))  # the API server goes away
        await until(lambda: not inf.health.streaming, "the watch to break")
        transport.watches.put(ConnectionRefusedError("connection refused"))  # and is not back yet
        await until(lambda: inf.health.problem is not None and "refused" in inf.health.problem, "a failed retry")
        clock.now += 9  # 29 s since the last event
        assert informers.not_ready_reason() is None  # within the bound
        clock.now += 2
        reason = informers.not_ready_reason()
        assert reason is not None and "watch of secrets" in reason and "bound 30 s" in reason, reason
        transport.watches.put(Stream(event("ADDED", secret("c", rv="9")), quiet=True))
        await until(lambda: "c" in names(inf), "the reconnection")
        assert informers.not_ready_reason() is None
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run(scenario)
    assert transport.list_requests == [None]  # resumed, not listed again
    assert transport.watched_from == ["rv-1", "8", "8"]  # broken, refused, reconnected


def test_stale_watch_makes_the_runtime_state_deny() -> None:
    clock = Clock()
    inf = informer(Transport([[secret("a")]]), clock=clock)
    informers = Informers([inf], SETTINGS)
    state = RuntimeState(own_namespace="tierguard-system", indexes_synced=True)
    state.context, state.policy = object(), object()  # type: ignore[assignment]
    state.watch_problem = informers.not_ready_reason
    inf.health.listed, inf.health.confirmed_at = True, clock.now
    assert state.ready
    clock.now += 31
    reason = state.not_ready_reason()
    assert reason is not None and "has not been confirmed for 31 s" in reason


def test_a_custom_resource_without_its_crd_is_empty_and_listed_once_served() -> None:
    transport = Transport([[{"metadata": {"name": "default", "resourceVersion": "1"},
                             "spec": {"tiers": ["dev", "prod"]}}]], served=False)
    inf = informer(transport, spec=POLICIES)

    async def scenario() -> None:
        task = asyncio.create_task(inf.run())
        await inf.wait_listed()
        assert len(inf.index) == 0 and inf.health.streaming and transport.list_requests == []
        transport.served = True
        await until(lambda: len(inf.index) == 1, "the CRD to be found")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run(scenario)
    (stored,) = inf.index.get(indexes.policy_key("default"))
    assert stored["kind"] == "TierPolicy"  # filled in from the informer's kind


def test_a_policy_change_reloads_it() -> None:
    from tierguard.webhook.indexing import policy_observer  # noqa: PLC0415

    state, metrics = RuntimeState(own_namespace="tierguard-system", indexes_synced=True), Metrics()
    changed: list[bool] = []
    policy = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy",
              "metadata": {"name": "default"}, "spec": {"enforcement": {"default": "warn"}}}
    observe = policy_observer(state, metrics, lambda: None, lambda: changed.append(True))  # type: ignore[arg-type]
    observe(Change(POLICIES, policy, POLICIES.project(policy, FP)))
    assert state.policy is not None and state.policy.enforcement.default.value == "warn" and changed == [True]
    observe(Change(POLICIES, {**policy, "metadata": {"name": "other"}}, {}))
    assert changed == [True]  # another TierPolicy: not ours
    observe(Change(POLICIES, policy, None))
    assert state.policy is not None and state.policy.enforcement.default.value != "warn"  # deleted: defaults


def test_cancelling_closes_the_open_watch() -> None:
    transport = Transport([[secret("a")]])
    inf = informer(transport)
    quiet = Stream(quiet=True)

    async def scenario() -> None:
        task = asyncio.create_task(inf.run())
        transport.watches.put(quiet)
        await until(lambda: inf.health.streaming, "the watch")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run(scenario)
    assert quiet.closed


@pytest.mark.parametrize("chunks", [[b'{"a":1}\n{"b":2}\n'], [b'{"a"', b':1}\n{"b', b'":2}', b"\n"],
                                    [b'{"a":1}\n\n{"b":2}']])
def test_stream_lines_splits_events_across_chunks(chunks: list[bytes]) -> None:
    class Response:
        def stream(self, amt: Any = None, decode_content: bool = True) -> Iterator[bytes]:
            yield from chunks

    assert list(stream_lines(Response())) == [b'{"a":1}', b'{"b":2}']


def test_a_watch_only_informer_keeps_nothing_and_reports_every_event() -> None:
    transport = Transport([[secret("a"), secret("b")], [secret("c")]])
    observed: list[Change] = []
    inf = Informer(SECRETS, transport, lambda: FP, observed.append, SETTINGS, monotonic=Clock(), watch_only=True)

    async def scenario() -> None:
        task = asyncio.create_task(inf.run())
        await inf.wait_listed()
        transport.watches.put(Stream(event("ADDED", secret("d", rv="5")), event("DELETED", secret("a", rv="6"))))
        await until(lambda: len(observed) == 2, "two events")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run(scenario)
    assert transport.list_requests == [None]  # one page, for its resourceVersion: the objects are not listed
    assert len(inf.index) == 0 and inf.index.objects == 0
    assert [c.entries is None for c in observed] == [False, True]
