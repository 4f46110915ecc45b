"""Objects judged as the API server stores them, and reports a team can act on in one pass (issue 10, items 4, 13
and 14): ``null`` entries of a Secret are dropped, unknown cluster-scoped kinds get no invented namespace, and a
shared-value denial names every shared key of each holder."""

from __future__ import annotations

from typing import Any

from tierguard.engine import object_ref
from tierguard.engine.model import Rule

from .helpers import STANDARD, b64, decisions, secret, violations

S = Rule.SECRET_VALUE_SHARED.value
PASSWORD = "correct-horse-battery-staple"
TOKEN = "a-long-api-token-value-0123456789"


# --- item 4: null entries --------------------------------------------------------------------------------------

def test_null_entries_in_data_and_string_data_are_dropped_not_malformed() -> None:
    doc: dict[str, Any] = secret("dev", "db", {"password": PASSWORD})
    doc["data"]["unset"] = None
    doc["stringData"] = {"accessType": None, "accessId": "p-XXXX"}
    assert violations([*STANDARD, doc]) == set()


def test_a_secret_made_only_of_nulls_is_admitted() -> None:
    doc: dict[str, Any] = secret("dev", "db")
    doc["data"] = {"password": None}
    doc["stringData"] = {"token": None}
    assert violations([*STANDARD, doc]) == set()


def test_the_remaining_entries_are_still_compared() -> None:
    dev: dict[str, Any] = secret("dev", "db", string_data={"password": PASSWORD})
    dev["stringData"]["other"] = None
    dev["data"] = {"nothing": None}
    assert violations([*STANDARD, dev, secret("prod", "db", {"password": PASSWORD})]) == {
        (S, "dev/db"), (S, "prod/db")}


def test_other_wrong_types_are_still_malformed() -> None:
    doc: dict[str, Any] = secret("dev", "db")
    doc["stringData"] = {"port": 5432}
    assert violations([*STANDARD, doc]) == {(Rule.POLICY_INVALID.value, "dev/db")}


# --- item 13: scope of kinds tierguard does not know ----------------------------------------------------------------

def test_an_unknown_kind_without_namespace_gets_none() -> None:
    crd_object = {"apiVersion": "example.io/v1", "kind": "ClusterWidget", "metadata": {"name": "w"}}
    assert object_ref(crd_object).namespace is None
    assert object_ref({**crd_object, "metadata": {"name": "w", "namespace": "team"}}).namespace == "team"


def test_known_namespaced_kinds_without_namespace_are_in_default() -> None:
    for kind, api_version in [("ConfigMap", "v1"), ("Deployment", "apps/v1"), ("Secret", "v1"),
                              ("ExternalSecret", "external-secrets.io/v1")]:
        assert object_ref({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}).namespace == "default"
    assert object_ref({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}).namespace is None


def test_an_unknown_cluster_scoped_kind_is_admitted_without_namespace() -> None:
    crd_object = {"apiVersion": "example.io/v1", "kind": "ClusterWidget", "metadata": {"name": "w"}}
    [(ref, decision)] = decisions([crd_object])
    assert ref == "w" and decision.allowed and not decision.violations


# --- item 14: every shared key -----------------------------------------------------------------------------------

def test_a_denial_names_every_shared_key_of_each_holder() -> None:
    dev = secret("dev", "db", {"password": PASSWORD, "token": TOKEN, "user": "a-unique-user-name-1"})
    prod = secret("prod", "db", {"password": PASSWORD, "api-token": TOKEN})
    qa = secret("qa", "db", {"pw": PASSWORD})
    found = {ref: d for ref, d in decisions([*STANDARD, dev, prod, qa])}
    messages = [v.message for v in found["dev/db"].violations]
    assert len(messages) == 2  # one per holder
    prod_message = next(m for m in messages if "prod/db" in m)
    assert "keys 'password', 'token' the same values" in prod_message
    assert "(under keys 'password', 'api-token')" in prod_message
    qa_message = next(m for m in messages if "qa/db" in m)
    assert "key 'password' the same value" in qa_message and "(under key 'pw')" in qa_message
    assert "user" not in prod_message
    for message in messages:
        assert PASSWORD not in message and TOKEN not in message and b64(PASSWORD) not in message


def test_one_shared_key_keeps_the_short_message() -> None:
    found = {ref: d for ref, d in decisions([*STANDARD, secret("dev", "db", {"password": PASSWORD}),
                                             secret("prod", "db", {"password": PASSWORD})])}
    [violation] = found["dev/db"].violations
    assert violation.message.startswith("Secret dev/db (tier dev) holds in key 'password' the same value as Secret "
                                        "prod/db (tier prod);")
    assert violation.path == "data.password"
