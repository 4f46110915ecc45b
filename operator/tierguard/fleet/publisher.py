"""A member publishing its tiers to the hub (docs/fleet.md): each tier whose values changed is written as a new
generation, chunk by chunk, then the previous generation's surplus chunks are deleted; a tier gone is deleted.
Run by the replica holding the audit Lease, so one replica of a member writes."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Collection, Mapping

from tierguard.engine.fingerprint_set import DEFAULT_P
from tierguard.fleet.publication import (
    GENERATION_LABEL,
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
    def __init__(self, hub: HubApi, member: str, key_id: str, *, namespace: str, heartbeat_s: int,
                 p: int = DEFAULT_P, max_bytes: int = MAX_DATA_BYTES, wall: Callable[[], float] = time.time) -> None:
        self.hub, self.member, self.key_id, self.p, self.max_bytes = hub, member, key_id, p, max_bytes
        self.namespace, self.heartbeat_s, self._wall = namespace, heartbeat_s, wall
        self._signatures: dict[str, bytes] = {}
        """Per tier, a hash of what was last published (of keyed digests, in memory only): unchanged, not sent."""
        self._generation = 0

    def publish(self, tiers: Mapping[str, Collection[bytes]]) -> int:
        """Renew this member's heartbeat, then make the hub hold ``tiers`` (tier -> digests) for it; returns the
        set objects written or deleted."""
        self.hub.beat(heartbeat(self.member, self.namespace, now=micro_time(self._wall()),
                                duration_s=self.heartbeat_s))
        ours = [meta for meta in self.hub.list_metadata()
                if (meta.get("labels") or {}).get(MEMBER_LABEL) == self.member]
        if not self._generation:  # after a restart: above anything of ours the hub holds
            self._generation = max((_generation(meta) for meta in ours), default=0)
        names_by_tier: dict[str, set[str]] = {}
        for meta in ours:
            names_by_tier.setdefault(str((meta.get("labels") or {}).get(TIER_LABEL)), set()).add(str(meta["name"]))
        changes = 0
        for tier, digests in sorted(tiers.items()):
            signature = hashlib.sha256(b"".join(sorted(digests))).digest()
            if self._signatures.get(tier) == signature and names_by_tier.get(tier):
                continue
            self._generation += 1
            objects = hub_objects(self.member, tier, digests, key_id=self.key_id, generation=self._generation,
                                  p=self.p, max_bytes=self.max_bytes)
            for obj in objects:
                self.hub.apply(obj)
            written = {obj["metadata"]["name"] for obj in objects}
            for stale in sorted(names_by_tier.get(tier, set()) - written):
                self.hub.delete(stale)
                changes += 1
            changes += len(objects)
            self._signatures[tier] = signature
            logger.info("fleet: published tier %s of %s: %d values in %d object(s), generation %d", tier,
                        self.member, len(set(digests)), len(objects), self._generation)
        for tier in sorted(set(names_by_tier) - set(tiers)):
            for name in sorted(names_by_tier[tier]):
                self.hub.delete(name)
                changes += 1
            self._signatures.pop(tier, None)
            logger.info("fleet: withdrew tier %s of %s", tier, self.member)
        return changes


def _generation(meta: Mapping[str, object]) -> int:
    labels = meta.get("labels")
    value = labels.get(GENERATION_LABEL) if isinstance(labels, Mapping) else None
    return int(value) if isinstance(value, str) and value.isdigit() else 0
