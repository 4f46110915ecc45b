"""``tierguard run``'s fleet loop (webhook/fleet_sync.py) over an in-memory hub: the Lease holder publishes what
secret-value-shared compares, every replica reads the others' sets into its context, a replica not leading never
writes, and a replica not ready does nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tierguard.engine.context import NamespaceView
from tierguard.engine.fingerprint_set import key_id
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.fleet_sets import FleetSets, ForeignHolder
from tierguard.engine.secrets import SecretView
from tierguard.kube.hub import MemoryHub
from tierguard.policy import DEFAULT_POLICY
from tierguard.webhook.fleet_sync import FleetSync
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.settings import FleetSettings

KEY = Fingerprinter(b"s" * 32)
PASSWORD = "a-long-enough-password-value"


@dataclass
class Context:
    """The live context's part the loop uses."""

    namespaces: dict[str, str]
    secrets: list[SecretView]
    fingerprinter: Fingerprinter = KEY
    fleet: FleetSets = field(default_factory=FleetSets.empty)

    def namespace(self, name: str) -> NamespaceView | None:
        tier = self.namespaces.get(name)
        return NamespaceView(name, {"tierguard.io/tier": tier}) if tier else None

    def secret_views(self, namespaces: frozenset[str] | None = None) -> list[SecretView]:
        return self.secrets

    def set_fleet(self, fleet: FleetSets) -> None:
        self.fleet = fleet


@dataclass
class State:
    context: Context
    ready: bool = True
    policy: Any = DEFAULT_POLICY

    def local_not_ready_reason(self) -> str | None:
        return None if self.ready else "starting"


def secret(namespace: str, name: str, value: str) -> SecretView:
    return SecretView.from_object({"apiVersion": "v1", "kind": "Secret",
                                   "metadata": {"name": name, "namespace": namespace},
                                   "stringData": {"password": value}}, KEY)


def member(hub: MemoryHub, name: str, namespaces: dict[str, str], secrets: Iterable[SecretView],
           leading: bool = True) -> tuple[FleetSync, State]:
    state = State(Context(namespaces, list(secrets)))
    return FleetSync(state, FleetSettings(member=name), hub, lambda: leading,  # type: ignore[arg-type]
                     Metrics()), state


def test_the_holder_publishes_and_the_other_member_reads_it_into_its_context() -> None:
    hub = MemoryHub()
    prod, _ = member(hub, "prod-eu", {"shop": "prod"}, [secret("shop", "db", PASSWORD)])
    staging, staging_state = member(hub, "staging", {"shop-dev": "dev"}, [])
    asyncio.run(prod.step())
    assert sorted(hub.objects) == [f"prod-eu.prod.{key_id(KEY)}.0"]
    asyncio.run(staging.step())
    assert staging_state.context.fleet.holders(KEY.digest(PASSWORD.encode())) == [ForeignHolder("prod-eu", "prod")]
    assert staging.last_read is not None
    read = staging.metrics.registry
    assert read.get_sample_value("tierguard_fleet_tiers") == 1
    assert (read.get_sample_value("tierguard_fleet_last_read_timestamp_seconds") or 0) > 1.7e9
    assert prod.metrics.registry.get_sample_value("tierguard_fleet_published_objects_total") == 1


def test_a_replica_not_leading_reads_but_never_writes_and_one_not_ready_does_nothing() -> None:
    hub = MemoryHub()
    follower, _ = member(hub, "prod-eu", {"shop": "prod"}, [secret("shop", "db", PASSWORD)], leading=False)
    asyncio.run(follower.step())
    assert hub.objects == {} and follower.last_read is not None
    starting, state = member(hub, "prod-eu", {"shop": "prod"}, [secret("shop", "db", PASSWORD)])
    state.ready = False
    asyncio.run(starting.step())
    assert hub.objects == {} and starting.last_read is None


def test_run_refuses_a_member_name_that_cannot_name_hub_objects(tmp_path: Any,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from tierguard.commands.root import main  # noqa: PLC0415

    cert = tmp_path / "tls.crt"
    cert.write_text("x")
    assert main(["run", "--tls-cert", str(cert), "--tls-key", str(cert), "--fleet-member", "Prod_EU"]) == 2
    assert ("Invalid value for '--fleet-member': the fleet member 'Prod_EU' is not a DNS label"
            in capsys.readouterr().err)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FailingHub(MemoryHub):
    """A hub that does not answer while ``down``."""

    down = False

    def list_metadata(self) -> list[Any]:
        if self.down:
            raise OSError("no route to host")
        return super().list_metadata()


def test_sets_older_than_the_max_age_fail_readiness_and_reading_them_again_restores_it() -> None:
    """With fleet.maxSetAgeSeconds, a replica that has not read the hub for longer is not ready (every answer
    refused), and goes on reading while not ready, so the next successful read makes it ready again. Without a max
    age, a hub that does not answer never costs readiness."""
    from tierguard.webhook.state import RuntimeState  # noqa: PLC0415

    hub, clock = FailingHub(), Clock()
    state = RuntimeState("tierguard-system", policy=DEFAULT_POLICY, indexes_synced=True)
    state.context = Context({"shop": "prod"}, [])  # type: ignore[assignment]
    sync = FleetSync(state, FleetSettings(member="prod-eu", max_age_s=60), hub, lambda: False, Metrics(),
                     monotonic=clock)
    state.fleet_problem = sync.problem
    assert state.ready  # just started: nothing read yet, and not for longer than the max age
    hub.down = True
    clock.now += 61
    with pytest.raises(OSError):
        asyncio.run(sync.step())
    reason = state.not_ready_reason()
    assert reason is not None and "not been read from the hub in the 61 s since the start" in reason
    hub.down = False
    asyncio.run(sync.step())
    assert state.ready and sync.last_read == clock.now
    hub.down = True
    clock.now += 90
    with pytest.raises(OSError):
        asyncio.run(sync.step())
    assert "last read from the hub 90 s ago, more than the 60 s allowed" in (state.not_ready_reason() or "")

    relaxed = FleetSync(state, FleetSettings(member="prod-eu"), hub, lambda: False, Metrics(), monotonic=clock)
    state.fleet_problem = relaxed.problem
    clock.now += 10_000
    assert state.ready
