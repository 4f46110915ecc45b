"""A fleet's key rotation (docs/fleet.md): a member holding a secondary key fingerprints each value under both,
publishes its tiers under both and looks each set up with the digest under that set's key, so at every step of the
documented procedure two members share a key and a value of one stays refused in the other; two members that share
none see nothing of each other, and the reader says so once. The key Secret's ``secondary`` is read with the key."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import pytest

from tierguard.engine.fingerprint_set import key_id, key_ids
from tierguard.engine.fingerprints import Fingerprint, Fingerprinter
from tierguard.engine.fleet_sets import ForeignHolder
from tierguard.engine.secrets import SecretView
from tierguard.fleet.publication import KEY_LABEL, MEMBER_LABEL, TIER_LABEL, hub_objects
from tierguard.fleet.publisher import Publisher
from tierguard.kube.hub import MemoryHub
from tierguard.webhook.fleet_sync import FleetSync
from tierguard.webhook.keys import load_or_create_fingerprinter
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.settings import FleetSettings

from .test_fleet_sync import Context, State

OLD, NEW = b"o" * 32, b"n" * 32
PASSWORD = "the-prod-database-password-value"
PROD = {"shop": "prod"}
STAGING = {"shop-dev": "dev"}


def fingerprint(fingerprinter: Fingerprinter, value: str = PASSWORD) -> Fingerprint:
    (only,) = fingerprinter.secret_fingerprints({"stringData": {"password": value}})
    return only


def test_a_secondary_key_gives_each_fingerprint_its_digest_under_that_key_and_an_equal_one_is_none() -> None:
    rotating = Fingerprinter(OLD, NEW)
    got = fingerprint(rotating)
    assert got.digest == Fingerprinter(OLD).digest(PASSWORD.encode())
    assert got.secondary == Fingerprinter(NEW).digest(PASSWORD.encode())
    assert key_ids(rotating) == (key_id(Fingerprinter(OLD)), key_id(Fingerprinter(NEW)))
    assert fingerprint(Fingerprinter(OLD)).secondary is None and key_ids(Fingerprinter(OLD)) == (key_id(rotating),)
    same = Fingerprinter(OLD, OLD)
    assert same.secondary is None and fingerprint(same).secondary is None
    assert "o" * 8 not in repr(rotating) and PASSWORD not in repr(got)


def member(hub: MemoryHub, name: str, namespaces: dict[str, str], keys: Fingerprinter,
           values: list[str]) -> tuple[FleetSync, State]:
    """A member's replica started with ``keys`` (a restart after its key Secret changed): its index fingerprints
    every Secret again."""
    views = [SecretView.from_object({"apiVersion": "v1", "kind": "Secret",
                                     "metadata": {"name": f"db-{n}", "namespace": next(iter(namespaces))},
                                     "stringData": {"password": value}}, keys) for n, value in enumerate(values)]
    state = State(Context(namespaces, views, fingerprinter=keys))
    return FleetSync(state, FleetSettings(member=name), hub, lambda: True,  # type: ignore[arg-type]
                     Metrics()), state


def holders(state: State, value: str = PASSWORD) -> list[ForeignHolder]:
    """Who else holds ``value``, as the member's context answers for a Secret it reviews."""
    got = fingerprint(state.context.fingerprinter, value)
    return state.context.fleet.holders(got.digest, got.secondary)


def keys_on_hub(hub: MemoryHub, name: str) -> set[str]:
    return {obj["metadata"]["labels"][KEY_LABEL] for obj in hub.objects.values()
            if obj["metadata"]["labels"][MEMBER_LABEL] == name}


@pytest.mark.parametrize("order", ["prod first", "staging first"])
def test_every_step_of_a_rotation_keeps_a_prod_value_refused_in_staging_and_back(order: str) -> None:
    """The documented steps, member after member in either order: the new key in ``key`` with the old one as
    ``secondary``, then, once every member has it, the old one dropped. After every single restart each member
    still finds the other's value: a member on the old key alone reads what one on both publishes under it."""
    hub = MemoryHub()
    steps = [Fingerprinter(OLD), Fingerprinter(NEW, OLD), Fingerprinter(NEW)]
    names = ["prod-eu", "staging"] if order == "prod first" else ["staging", "prod-eu"]
    at = {"prod-eu": 0, "staging": 0}
    for moving in [None, *[name for _ in steps[1:] for name in names]]:
        if moving is not None:
            at[moving] += 1
        prod, prod_state = member(hub, "prod-eu", PROD, steps[at["prod-eu"]], [PASSWORD])
        staging, staging_state = member(hub, "staging", STAGING, steps[at["staging"]], ["a-staging-only-value"])
        for sync in (prod, staging, prod, staging):  # each publishes, then each reads the other's publication
            asyncio.run(sync.step())
        where = f"prod-eu at step {at['prod-eu']}, staging at step {at['staging']}"
        assert holders(staging_state) == [ForeignHolder("prod-eu", "prod")], where
        assert holders(prod_state, "a-staging-only-value") == [ForeignHolder("staging", "dev")], where
        assert holders(staging_state, "held by no member at all") == [], where
        assert keys_on_hub(hub, "prod-eu") == set(key_ids(steps[at["prod-eu"]])), where
    assert keys_on_hub(hub, "staging") == {key_id(Fingerprinter(NEW))}  # the old key's sets withdrawn


def test_members_sharing_no_key_see_nothing_of_each_other_and_the_reader_says_so_once(
        caplog: pytest.LogCaptureFixture) -> None:
    hub = MemoryHub()
    prod, _ = member(hub, "prod-eu", PROD, Fingerprinter(NEW), [PASSWORD])
    staging, staging_state = member(hub, "staging", STAGING, Fingerprinter(OLD), [])
    asyncio.run(prod.step())
    with caplog.at_level(logging.WARNING, logger="tierguard.fleet"):
        asyncio.run(staging.step())
        asyncio.run(staging.step())
    assert holders(staging_state) == [] and len(staging_state.context.fleet) == 0
    warned = [r.getMessage() for r in caplog.records if "share a key" in r.getMessage()]
    assert warned == [f"fleet: member prod-eu publishes under key id(s) {key_id(Fingerprinter(NEW))} and this "
                      f"member holds {key_id(Fingerprinter(OLD))}: its values are not compared until the two share "
                      f"a key (a key rotation, docs/fleet.md)"]
    # The other member still holds a key of ours: nothing said.
    caplog.clear()
    staging, staging_state = member(hub, "staging", STAGING, Fingerprinter(OLD, NEW), [])
    with caplog.at_level(logging.WARNING, logger="tierguard.fleet"):
        asyncio.run(staging.step())
    assert holders(staging_state) == [ForeignHolder("prod-eu", "prod")] and caplog.records == []


def test_a_set_under_both_keys_is_one_holder_and_one_tier() -> None:
    hub = MemoryHub()
    prod, _ = member(hub, "prod-eu", PROD, Fingerprinter(OLD, NEW), [PASSWORD])
    staging, staging_state = member(hub, "staging", STAGING, Fingerprinter(NEW, OLD), [])
    asyncio.run(prod.step())
    asyncio.run(staging.step())
    assert len(hub.objects) == 2 and keys_on_hub(hub, "prod-eu") == set(key_ids(Fingerprinter(OLD, NEW)))
    assert holders(staging_state) == [ForeignHolder("prod-eu", "prod")] and len(staging_state.context.fleet) == 1


def test_sets_named_before_key_ids_were_in_names_are_withdrawn_by_the_next_publication() -> None:
    hub = MemoryHub()
    keys = Fingerprinter(OLD)
    (old,) = hub_objects("prod-eu", "prod", [keys.digest(b"v")], key_id=key_id(keys), generation=7)
    old["metadata"]["name"] = "prod-eu.prod.0"
    del old["metadata"]["labels"][KEY_LABEL]
    hub.objects[old["metadata"]["name"]] = old
    publisher = Publisher(hub, "prod-eu", namespace="tierguard-system", heartbeat_s=30)
    publisher.publish({key_id(keys): {"prod": {keys.digest(b"v")}}})
    assert sorted(hub.objects) == [f"prod-eu.prod.{key_id(keys)}.0"]
    assert hub.objects[f"prod-eu.prod.{key_id(keys)}.0"]["spec"]["generation"] == 8
    assert hub.objects[f"prod-eu.prod.{key_id(keys)}.0"]["metadata"]["labels"][TIER_LABEL] == "prod"


class _Response:
    def __init__(self, body: dict[str, Any]) -> None:
        self.status, self.reason, self._body = 200, "OK", json.dumps(body).encode()

    def read(self) -> bytes:
        return self._body


class _KeySecretApi:
    """The one request ``load_or_create_fingerprinter`` makes when the Secret exists: its GET."""

    def __init__(self, data: dict[str, str]) -> None:
        self.secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "k", "namespace": "tg"},
                       "data": data}

    def param_serialize(self, method: str, path: str, **_: Any) -> tuple[str, str, dict[str, str], None, None]:
        return method, path, {}, None, None

    def call_api(self, *_: Any, **__: Any) -> _Response:
        return _Response(self.secret)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_the_key_secret_secondary_is_read_beside_the_key(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tierguard.keys"):
        loaded = load_or_create_fingerprinter(_KeySecretApi({"key": b64(OLD), "secondary": b64(NEW)}), "tg", "k")
    assert key_ids(loaded) == key_ids(Fingerprinter(OLD, NEW))
    assert any(key_id(Fingerprinter(NEW)) in r.getMessage() for r in caplog.records)
    assert key_ids(load_or_create_fingerprinter(_KeySecretApi({"key": b64(OLD)}), "tg", "k")) == (
        key_id(Fingerprinter(OLD)),)


@pytest.mark.parametrize(("data", "says"), [
    ({"key": b64(OLD), "secondary": "not base64!"}, "Secret tg/k: data key 'secondary' is not base64"),
    ({"key": b64(OLD), "secondary": b64(b"short")}, "Secret tg/k: data key 'secondary' holds 5 bytes; a key has at "
                                                    "least 16"),
    ({"key": b64(b"tiny")}, "Secret tg/k: data key 'key' holds 4 bytes"),
])
def test_a_key_secret_that_cannot_be_used_is_an_error_naming_the_field(data: dict[str, str], says: str) -> None:
    with pytest.raises(RuntimeError, match="^" + says.replace("(", r"\(").replace(")", r"\)")) as raised:
        load_or_create_fingerprinter(_KeySecretApi(data), "tg", "k")
    assert b64(OLD) not in str(raised.value) and "o" * 16 not in str(raised.value)
