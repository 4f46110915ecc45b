"""Publishing to the hub and reading from it (fleet/publisher.py, fleet/reader.py) over an in-memory hub: a
changed tier is a new generation, an unchanged one is not sent, a tier gone is withdrawn, a restarted member
continues the generations; a reader fetches only what changed and never its own member's sets."""

from __future__ import annotations

import pytest

from tierguard.engine.fingerprint_set import key_id
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.fleet_sets import ForeignHolder
from tierguard.engine.rules.shared_values import publishable
from tierguard.engine.secrets import SecretView
from tierguard.fleet.publication import MAX_DATA_BYTES
from tierguard.fleet.publisher import Publisher
from tierguard.fleet.reader import Reader
from tierguard.kube.hub import MemoryHub
from tierguard.policy import DEFAULT_POLICY

KEY = Fingerprinter(b"h" * 32)
KEY_ID = key_id(KEY)


def publishing(hub: MemoryHub, member: str, max_bytes: int = MAX_DATA_BYTES) -> Publisher:
    return Publisher(hub, member, namespace="tierguard-system", heartbeat_s=30, max_bytes=max_bytes)


def digests(salt: str, count: int) -> set[bytes]:
    return {KEY.digest(f"{salt}-{n}".encode()) for n in range(count)}


def test_a_published_tier_is_read_by_another_member_and_not_by_its_own() -> None:
    hub = MemoryHub()
    prod = digests("prod", 50)
    publishing(hub, "prod-eu").publish({KEY_ID: {"prod": prod}})
    other = Reader(hub, (KEY_ID,), "staging").refresh()
    assert other.holders(next(iter(prod))) == [ForeignHolder("prod-eu", "prod")]
    assert len(Reader(hub, (KEY_ID,), "prod-eu").refresh()) == 0


def test_unchanged_tiers_are_not_sent_and_a_change_is_a_new_generation_with_surplus_chunks_deleted() -> None:
    hub = MemoryHub()
    publisher = publishing(hub, "prod-eu", max_bytes=2_000)
    big = digests("prod", 2_000)
    publisher.publish({KEY_ID: {"prod": big, "qa": digests("qa", 5)}})
    chunks = sorted(name for name in hub.objects if name.startswith(f"prod-eu.prod.{KEY_ID}."))
    assert len(chunks) > 2
    applies = hub.applies
    assert publisher.publish({KEY_ID: {"prod": set(big), "qa": digests("qa", 5)}}) == 0 and hub.applies == applies
    small = set(list(big)[:10])
    publisher.publish({KEY_ID: {"prod": small, "qa": digests("qa", 5)}})
    assert sorted(name for name in hub.objects if name.startswith("prod-eu.prod.")) == [f"prod-eu.prod.{KEY_ID}.0"]
    generations = {obj["spec"]["generation"] for obj in hub.objects.values()}
    assert max(generations) == 3  # prod 1, qa 2, prod again 3
    read = Reader(hub, (KEY_ID,), "staging").refresh()
    assert all(read.holders(d) for d in small)
    assert not any(read.holders(d) for d in big - small)


def test_a_tier_gone_is_withdrawn_and_a_restarted_member_continues_the_generations() -> None:
    hub = MemoryHub()
    publishing(hub, "prod-eu").publish({KEY_ID: {"prod": digests("p", 3), "qa": digests("q", 3)}})
    restarted = publishing(hub, "prod-eu")
    restarted.publish({KEY_ID: {"prod": digests("p", 4)}})
    assert sorted(hub.objects) == [f"prod-eu.prod.{KEY_ID}.0"]
    assert hub.objects[f"prod-eu.prod.{KEY_ID}.0"]["spec"]["generation"] == 3


def test_the_reader_fetches_only_what_changed() -> None:
    hub = MemoryHub()
    publisher = publishing(hub, "prod-eu")
    publisher.publish({KEY_ID: {"prod": digests("p", 3), "stage": digests("s", 3)}})
    reader = Reader(hub, (KEY_ID,), "staging")
    reader.refresh()
    assert hub.gets == 2
    reader.refresh()
    assert hub.gets == 2  # nothing changed: the metadata list alone
    publisher.publish({KEY_ID: {"prod": digests("p", 4), "stage": digests("s", 3)}})
    seen = reader.refresh()
    assert hub.gets == 3 and seen.holders(KEY.digest(b"p-3")) == [ForeignHolder("prod-eu", "prod")]
    publisher.publish({KEY_ID: {"prod": digests("p", 4)}})  # stage withdrawn
    assert dict(reader.refresh().members()) == {"prod-eu": ("prod",)}


def test_what_a_member_publishes_is_what_secret_value_shared_compares() -> None:
    def view(namespace: str, name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> SecretView:
        obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace,
                                                                  "labels": labels or {}},
               "stringData": data}
        return SecretView.from_object(obj, KEY)

    tiers = {"prod-db": "prod", "dev-db": "dev"}
    long_value = "a-long-enough-password-value"
    views = [view("prod-db", "db", {"password": long_value, "pin": "short"}),
             view("dev-db", "pub", {"ca": long_value}, {"tierguard.io/shareable": "true"}),
             view("untiered", "db", {"password": long_value + "2"}),
             view("prod-db", "tls", {"ca.crt": long_value + "3"})]
    published = publishable(views, tiers.get, DEFAULT_POLICY)
    assert {tier: [fp.digest for fp in fps] for tier, fps in published.items()} == {
        "prod": [KEY.digest(long_value.encode())]}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_member_whose_heartbeat_stops_is_gone_after_its_duration_of_the_readers_clock() -> None:
    hub, clock = MemoryHub(), Clock()
    prod = publishing(hub, "prod-eu")
    value = digests("p", 3)
    prod.publish({KEY_ID: {"prod": value}})
    lease = hub.leases["tierguard-fleet-prod-eu"]
    assert lease["spec"]["holderIdentity"] == "prod-eu" and lease["spec"]["leaseDurationSeconds"] == 30
    assert lease["metadata"]["namespace"] == "tierguard-system"
    reader = Reader(hub, (KEY_ID,), "staging", monotonic=clock)
    one = next(iter(value))
    assert reader.refresh().holders(one)
    clock.now += 29
    assert reader.refresh().holders(one)  # unchanged, within its duration
    clock.now += 2
    assert reader.refresh().holders(one) == [] and reader.gone == {"prod-eu"}
    prod.publish({KEY_ID: {"prod": value}})  # it beats again: a new renewTime (its wall clock, never compared to ours)
    assert reader.refresh().holders(one) and reader.gone == set()


def test_sets_without_any_heartbeat_are_not_compared() -> None:
    hub = MemoryHub()
    publishing(hub, "prod-eu").publish({KEY_ID: {"prod": digests("p", 3)}})
    hub.leases.clear()
    assert len(Reader(hub, (KEY_ID,), "staging").refresh()) == 0


@pytest.mark.parametrize("skew_s", [-86_400.0, -3_600.0, 0.0, 3_600.0, 86_400.0])
def test_a_members_clock_skew_changes_nothing(skew_s: float) -> None:
    """The publisher's wall clock a day or an hour off: its renewTime says so, and the reader, which only sees
    that the record changed and times it by its own clock, counts it alive and gone exactly as without skew."""
    hub, clock = MemoryHub(), Clock()
    wall = Clock()
    wall.now = 1.8e9 + skew_s
    prod = Publisher(hub, "prod-eu", namespace="tierguard-system", heartbeat_s=30, wall=wall)
    value = digests("p", 3)
    one = next(iter(value))
    reader = Reader(hub, (KEY_ID,), "staging", monotonic=clock)
    for _ in range(3):  # beating every 20 s of both clocks: alive throughout
        prod.publish({KEY_ID: {"prod": value}})
        assert reader.refresh().holders(one), hub.leases["tierguard-fleet-prod-eu"]["spec"]["renewTime"]
        clock.now += 20
        wall.now += 20
    clock.now += 11  # 31 s since the last beat by the reader's clock
    assert reader.refresh().holders(one) == [] and reader.gone == {"prod-eu"}
