"""A member's tiers as hub objects and back (fleet/publication.py), and the lookup over them
(engine/fleet_sets.py): the same key only, never the member's own sets, whole generations only, and every
malformed object left out with a problem naming it and the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tierguard.engine.fingerprint_set import key_id
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.fleet_sets import FleetSets, ForeignHolder
from tierguard.fleet.publication import KIND, PublicationError, hub_objects, read_hub_objects

KEY = Fingerprinter(b"f" * 32)
KEY_ID = key_id(KEY)


def values(salt: str, count: int) -> list[bytes]:
    return [KEY.digest(f"{salt}-{number}".encode()) for number in range(count)]


def fleet(objects: list[dict[str, Any]], own: str = "staging") -> FleetSets:
    tiers, problems = read_hub_objects(objects)
    assert problems == []
    return FleetSets(tiers, key_ids=(KEY_ID,), own_member=own)


def test_a_value_published_by_the_prod_cluster_is_found_with_its_cluster_and_tier() -> None:
    prod, dev = values("prod", 300), values("dev", 300)
    objects = (hub_objects("prod-eu", "prod", prod, key_id=KEY_ID, generation=1)
               + hub_objects("staging", "dev", dev, key_id=KEY_ID, generation=4))
    assert [o["metadata"]["name"] for o in objects] == [f"prod-eu.prod.{KEY_ID}.0", f"staging.dev.{KEY_ID}.0"]
    assert {o["metadata"]["labels"]["tierguard.io/fleet-key"] for o in objects} == {KEY_ID}
    seen = fleet(objects)
    assert seen.holders(prod[7]) == [ForeignHolder("prod-eu", "prod")]
    assert seen.holders(dev[7]) == []  # our own publication: judged from our own index
    assert seen.holders(KEY.digest(b"held by nobody")) == []
    assert dict(seen.members()) == {"prod-eu": ("prod",)}


def test_sets_under_another_key_answer_nothing() -> None:
    other = Fingerprinter(b"o" * 32)
    digest = KEY.digest(b"shared")
    objects = hub_objects("prod-eu", "prod", [other.digest(b"shared"), digest], key_id=key_id(other), generation=1)
    assert fleet(objects).holders(digest) == []


def test_chunks_of_one_generation_are_read_together_and_an_unfinished_generation_waits() -> None:
    prod = values("prod", 3_000)
    old = hub_objects("prod-eu", "prod", prod[:10], key_id=KEY_ID, generation=1)
    new = hub_objects("prod-eu", "prod", prod, key_id=KEY_ID, generation=2, max_bytes=4_000)
    assert len(new) > 2 and {o["spec"]["chunks"] for o in new} == {len(new)}
    assert fleet(new).holders(prod[-1]) == [ForeignHolder("prod-eu", "prod")]
    # Generation 2 with a chunk not written yet, and no whole generation left: the tier waits, said as a problem.
    tiers, problems = read_hub_objects(new[:1] + new[2:])
    assert tiers == [] and problems == ["prod-eu/prod: no generation has all its chunks yet (being published)"]
    tiers, problems = read_hub_objects(old + new[1:])  # generation 1 whole, generation 2 missing chunk 0
    assert [t.generation for t in tiers] == [1] and problems == []


@pytest.mark.parametrize(("field", "value", "says"), [
    ("member", "Prod_EU", "spec.member: 'Prod_EU' is not a valid member"),
    ("keyId", "nothex", "spec.keyId"),
    ("encoding", "gcs-v9", "spec.encoding: 'gcs-v9' is not 'gcs-v1' (a newer tierguard?)"),
    ("chunk", 3, "spec.chunk: 3 is not below spec.chunks (1)"),
    ("count", -1, "spec.count: expected a non-negative integer"),
    ("count", 5, "spec.data: the data ends at item"),
    ("data", "%%", "spec.data: the data is not base64"),
    ("p", True, "spec.p: expected a non-negative integer"),
])
def test_a_malformed_object_is_left_out_with_a_problem_naming_it_and_the_field(field: str, value: Any,
                                                                               says: str) -> None:
    good = hub_objects("prod-eu", "prod", values("prod", 3), key_id=KEY_ID, generation=1)
    bad = copy.deepcopy(hub_objects("qa-us", "qa", values("qa", 3), key_id=KEY_ID, generation=1))
    bad[0]["spec"][field] = value
    tiers, problems = read_hub_objects(good + bad)
    assert [(t.member, t.tier) for t in tiers] == [("prod-eu", "prod")]
    (problem,) = problems
    assert problem.startswith(f"{KIND} qa-us.qa.{KEY_ID}.0: ") and says in problem, problem


def test_not_a_publication_and_bad_names() -> None:
    tiers, problems = read_hub_objects([{"kind": "ConfigMap", "metadata": {"name": "x"}}])
    assert tiers == [] and problems == [f"{KIND} x: not a tierguard.io/v1alpha1 {KIND}"]
    with pytest.raises(PublicationError, match="fleet member 'Prod' is not a DNS label"):
        hub_objects("Prod", "prod", [], key_id=KEY_ID, generation=1)


def test_an_empty_tier_is_published_as_one_empty_chunk() -> None:
    (only,) = hub_objects("prod-eu", "prod", [], key_id=KEY_ID, generation=1)
    assert only["spec"]["count"] == 0 and only["spec"]["data"] == ""
    assert fleet([only]).holders(KEY.digest(b"x")) == []
