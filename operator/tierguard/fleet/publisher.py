"""A member publishing its tiers to the hub (docs/fleet.md): each tier whose values changed is written as a new
generation, chunk by chunk, then the previous generation's surplus chunks are deleted; a tier gone is deleted. A
tier is published under each of the member's keys (two during a key rotation), and its sets under a key no longer
held are deleted. Run by the replica holding the audit Lease, so one replica of a member writes."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Collection, Mapping

from tierguard.engine.fingerprint_set import DEFAULT_P
from tierguard.fleet.publication import (
    GENERATION_LABEL,
    KEY_LABEL,
    MAX_DATA_BYTES,
    MEMBER_LABEL,
    TIER_LABEL,
    heartbeat,
    hub_objects,
)
from tierguard.kube.hub import HubApi
from tierguard.kube.lease import micro_time

logger = logging.getLogger("tierguard.fleet")


class Publisher:
    def __init__(self, hub: HubApi, member: str, *, namespace: str, heartbeat_s: int, p: int = DEFAULT_P,
                 max_bytes: int = MAX_DATA_BYTES, wall: Callable[[], float] = time.time) -> None:
        self.hub, self.member, self.p, self.max_bytes = hub, member, p, max_bytes
        self.namespace, self.heartbeat_s, self._wall = namespace, heartbeat_s, wall
        self._signatures: dict[tuple[str, str], bytes] = {}
        """Per key id and tier, a hash of what was last published (of keyed digests, in memory only): unchanged,
        not sent."""
        self._generation = 0

    def publish(self, sets: Mapping[str, Mapping[str, Collection[bytes]]]) -> int:
        """Renew this member's heartbeat, then make the hub hold ``sets`` (key id -> tier -> digests under that key)
        for it, and nothing else of it; returns the set objects written or deleted."""
        self.hub.beat(heartbeat(self.member, self.namespace, now=micro_time(self._wall()),
                                duration_s=self.heartbeat_s))
        ours = [meta for meta in self.hub.list_metadata()
                if (meta.get("labels") or {}).get(MEMBER_LABEL) == self.member]
        if not self._generation:  # after a restart: above anything of ours the hub holds
            self._generation = max((_generation(meta) for meta in ours), default=0)
        names_by_set: dict[tuple[str, str], set[str]] = {}
        for meta in ours:
            labels = meta.get("labels") or {}
            # Sets of a tierguard before key ids were in names have no key label: a key of "", withdrawn below.
            place = (str(labels.get(KEY_LABEL) or ""), str(labels.get(TIER_LABEL)))
            names_by_set.setdefault(place, set()).add(str(meta["name"]))
        changes = 0
        for key_id, tiers in sorted(sets.items()):
            for tier, digests in sorted(tiers.items()):
                changes += self._publish_tier(key_id, tier, digests, names_by_set.get((key_id, tier), set()))
        wanted = {(key_id, tier) for key_id, tiers in sets.items() for tier in tiers}
        for key_id, tier in sorted(set(names_by_set) - wanted):
            for name in sorted(names_by_set[(key_id, tier)]):
                self.hub.delete(name)
                changes += 1
            self._signatures.pop((key_id, tier), None)
            logger.info("fleet: withdrew tier %s of %s under key %s", tier, self.member, key_id or "(none)")
        return changes

    def _publish_tier(self, key_id: str, tier: str, digests: Collection[bytes], names: set[str]) -> int:
        signature = hashlib.sha256(b"".join(sorted(digests))).digest()
        if self._signatures.get((key_id, tier)) == signature and names:
            return 0
        self._generation += 1
        objects = hub_objects(self.member, tier, digests, key_id=key_id, generation=self._generation, p=self.p,
                              max_bytes=self.max_bytes)
        for obj in objects:
            self.hub.apply(obj)
        written = {obj["metadata"]["name"] for obj in objects}
        for stale in sorted(names - written):
            self.hub.delete(stale)
        self._signatures[(key_id, tier)] = signature
        logger.info("fleet: published tier %s of %s under key %s: %d values in %d object(s), generation %d", tier,
                    self.member, key_id, len(set(digests)), len(objects), self._generation)
        return len(objects) + len(names - written)


def _generation(meta: Mapping[str, object]) -> int:
    labels = meta.get("labels")
    value = labels.get(GENERATION_LABEL) if isinstance(labels, Mapping) else None
    return int(value) if isinstance(value, str) and value.isdigit() else 0
