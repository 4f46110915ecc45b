"""A member's tiers as objects on the fleet's hub, and back (docs/fleet.md).

One cluster-scoped ``FleetFingerprintSet`` per member, tier, key and chunk, named ``<member>.<tier>.<key id>.<chunk>``
(a member publishes under two keys during a key rotation); each says its generation and how many chunks the
generation has, so a reader takes a tier only when every chunk of one generation is there (a publisher overwrites
chunks one by one). Reading is strict: an object that is not what this
module writes is left out with a problem naming it and the field, and never stops the others being read.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tierguard.engine.fingerprint_set import DEFAULT_P, ENCODING, EncodingError, FingerprintSet, split
from tierguard.engine.fleet_sets import PublishedTier

GROUP = "tierguard.io"
API_PATH = "/apis/tierguard.io/v1alpha1/fleetfingerprintsets"
VERSION = "v1alpha1"
KIND = "FleetFingerprintSet"
PLURAL = "fleetfingerprintsets"
MEMBER_LABEL = "tierguard.io/fleet-member"
TIER_LABEL = "tierguard.io/fleet-tier"
KEY_LABEL = "tierguard.io/fleet-key"
"""The key id again, as a label: what a member publishes under, in a metadata-only list (and ``kubectl -L``)."""
GENERATION_LABEL = "tierguard.io/fleet-generation"
"""The generation again, as a label: a reader's metadata-only list tells what changed without the data."""
MAX_DATA_BYTES = 512 * 1024
"""Encoded bytes per object at most (about 700 KB as base64): the API server takes objects up to about 1.5 MB."""
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")


class PublicationError(ValueError):
    pass


def check_name(what: str, value: str) -> None:
    """A member's or tier's name as it may appear in the hub's object names: a DNS label."""
    if not _NAME.match(value):
        raise PublicationError(f"the fleet {what} {value!r} is not a DNS label (lower case, digits, '-')")


def heartbeat_name(member: str) -> str:
    return f"tierguard-fleet-{member}"


def heartbeat(member: str, namespace: str, *, now: str, duration_s: int) -> dict[str, Any]:
    """The member's heartbeat: a Lease of the hub's namespace that it renews at each publication (``now``, a
    MicroTime); a reader that sees it unchanged for ``duration_s`` of its own clock takes the member as gone."""
    check_name("member", member)
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": heartbeat_name(member), "namespace": namespace,
                         "labels": {MEMBER_LABEL: member, "app.kubernetes.io/managed-by": "tierguard"}},
            "spec": {"holderIdentity": member, "leaseDurationSeconds": duration_s, "renewTime": now}}


def object_name(member: str, tier: str, key_id: str, chunk: int) -> str:
    return f"{member}.{tier}.{key_id}.{chunk}"


def hub_objects(member: str, tier: str, digests: Iterable[bytes], *, key_id: str, generation: int,
                p: int = DEFAULT_P, max_bytes: int = MAX_DATA_BYTES) -> list[dict[str, Any]]:
    """The objects publishing ``digests`` as ``member``'s ``tier`` (at least one, even for no digest)."""
    check_name("member", member)
    check_name("tier", tier)
    if not _KEY_ID.match(key_id):
        raise PublicationError(f"the key id {key_id!r} is not 16 hex digits")
    chunks = split(digests, max_bytes=max_bytes, p=p)
    return [{
        "apiVersion": f"{GROUP}/{VERSION}", "kind": KIND,
        "metadata": {"name": object_name(member, tier, key_id, index),
                     "labels": {MEMBER_LABEL: member, TIER_LABEL: tier, KEY_LABEL: key_id,
                                GENERATION_LABEL: str(generation), "app.kubernetes.io/managed-by": "tierguard"}},
        "spec": {"member": member, "tier": tier, "keyId": key_id, "generation": generation,
                 "chunk": index, "chunks": len(chunks), "encoding": ENCODING, "p": chunk.p,
                 "count": len(chunk), "data": chunk.encode_text()},
    } for index, chunk in enumerate(chunks)]


@dataclass(frozen=True)
class _Chunk:
    member: str
    tier: str
    key_id: str
    generation: int
    index: int
    of: int
    data: FingerprintSet


def read_hub_objects(objects: Iterable[Mapping[str, Any]]) -> tuple[list[PublishedTier], list[str]]:
    """Every tier whose chunks of one generation are all present (the newest such), and the problems found."""
    problems: list[str] = []
    by_tier: dict[tuple[str, str, str], dict[int, dict[int, _Chunk]]] = defaultdict(lambda: defaultdict(dict))
    for obj in objects:
        name = str((obj.get("metadata") or {}).get("name") or "<unnamed>")
        try:
            chunk = _read(obj)
        except (PublicationError, EncodingError) as error:
            problems.append(f"{KIND} {name}: {error}")
            continue
        by_tier[(chunk.member, chunk.tier, chunk.key_id)][chunk.generation][chunk.index] = chunk
    tiers: list[PublishedTier] = []
    for (member, tier, key), generations in sorted(by_tier.items()):
        complete = [generation for generation, chunks in generations.items()
                    if all(c.of == len(chunks) for c in chunks.values()) and set(chunks) == set(range(len(chunks)))]
        if not complete:
            problems.append(f"{member}/{tier}: no generation has all its chunks yet (being published)")
            continue
        newest = max(complete)
        chunks = generations[newest]
        tiers.append(PublishedTier(member, tier, key, newest, tuple(chunks[i].data for i in range(len(chunks)))))
    return tiers, problems


def _read(obj: Mapping[str, Any]) -> _Chunk:
    if obj.get("kind") != KIND or obj.get("apiVersion") != f"{GROUP}/{VERSION}":
        raise PublicationError(f"not a {GROUP}/{VERSION} {KIND}")
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise PublicationError("spec: expected an object")
    member, tier = _text(spec, "member", _NAME), _text(spec, "tier", _NAME)
    key_id = _text(spec, "keyId", _KEY_ID)
    if spec.get("encoding") != ENCODING:
        raise PublicationError(f"spec.encoding: {spec.get('encoding')!r} is not {ENCODING!r} (a newer tierguard?)")
    generation, index, of = (_number(spec, field) for field in ("generation", "chunk", "chunks"))
    if not 0 <= index < of:
        raise PublicationError(f"spec.chunk: {index} is not below spec.chunks ({of})")
    p, count = _number(spec, "p"), _number(spec, "count")
    data = spec.get("data")
    if not isinstance(data, str):
        raise PublicationError("spec.data: expected a base64 string")
    try:
        decoded = FingerprintSet.decode_text(data, count=count, p=p)
    except EncodingError as error:
        raise PublicationError(f"spec.data: {error}") from None
    return _Chunk(member, tier, key_id, generation, index, of, decoded)


def _text(spec: Mapping[str, Any], field: str, pattern: re.Pattern[str]) -> str:
    value = spec.get(field)
    if not isinstance(value, str) or not pattern.match(value):
        raise PublicationError(f"spec.{field}: {value!r} is not a valid {field}")
    return value


def _number(spec: Mapping[str, Any], field: str) -> int:
    value = spec.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PublicationError(f"spec.{field}: expected a non-negative integer, not {value!r}")
    return value
