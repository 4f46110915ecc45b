"""A member reading the others' tiers from the hub (docs/fleet.md): a metadata-only list each time, and a read of
only the objects whose resourceVersion changed, so a steady fleet costs two small lists per interval (the sets'
metadata, the heartbeats).

A member is gone when its heartbeat (``publication.heartbeat``) was not seen to change for its duration by *our*
clock (client-go's rule for Leases: no comparison of clocks across clusters), or has none: its sets are then left
out, so a cluster that stopped publishing stops refusing others' values after that long."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tierguard.engine.fleet_sets import FleetSets, PublishedTier
from tierguard.fleet.publication import MEMBER_LABEL, read_hub_objects
from tierguard.kube.hub import HubApi

logger = logging.getLogger("tierguard.fleet")


class Reader:
    def __init__(self, hub: HubApi, key_ids: Sequence[str], own_member: str, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """``key_ids``: our keys' ids, the primary's first (``fingerprint_set.key_ids``)."""
        self.hub, self.key_ids, self.own_member, self._monotonic = hub, tuple(key_ids), own_member, monotonic
        self._beats: dict[str, tuple[tuple[Any, ...], float, float]] = {}
        """member -> (its heartbeat's record, our clock when that record was first seen, its duration)."""
        self.gone: set[str] = set()
        self._objects: dict[str, tuple[str, Mapping[str, Any]]] = {}
        """name -> (resourceVersion, object) of every other member's object last read."""
        self._problems: set[str] = set()
        self.strangers: dict[str, tuple[str, ...]] = {}
        """Members alive whose sets are all under keys we do not hold (key ids), so none of them is compared."""

    def refresh(self) -> FleetSets:
        """The other members' tiers as the hub holds them now (objects that cannot be read are left out, each
        problem logged once)."""
        listed: dict[str, str] = {}
        for meta in self.hub.list_metadata():
            if (meta.get("labels") or {}).get(MEMBER_LABEL) == self.own_member:
                continue
            listed[str(meta.get("name"))] = str(meta.get("resourceVersion") or "")
        for name in set(self._objects) - set(listed):
            del self._objects[name]
        for name, version in listed.items():
            cached = self._objects.get(name)
            if cached is not None and cached[0] == version:
                continue
            obj = self.hub.get(name)
            if obj is None:
                self._objects.pop(name, None)
                continue
            self._objects[name] = (str((obj.get("metadata") or {}).get("resourceVersion") or version), obj)
        tiers, problems = read_hub_objects(obj for _, obj in self._objects.values())
        alive = self._alive()
        tiers = [tier for tier in tiers if tier.member in alive]
        for problem in sorted(set(problems) - self._problems):
            logger.warning("fleet: %s", problem)
        self._problems = set(problems)
        self._note_strangers(tiers)
        return FleetSets(tiers, key_ids=self.key_ids, own_member=self.own_member)

    def _note_strangers(self, tiers: Sequence[PublishedTier]) -> None:
        """Log once each member that shares no key with us: a key rotation done in one member and not yet begun
        in the other (docs/fleet.md) leaves the two blind to each other's values."""
        keys: dict[str, set[str]] = {}
        for tier in tiers:
            keys.setdefault(tier.member, set()).add(tier.key_id)
        strangers = {member: tuple(sorted(ids)) for member, ids in keys.items() if not ids & set(self.key_ids)}
        for member, ids in sorted(strangers.items()):
            if self.strangers.get(member) != ids:
                logger.warning("fleet: member %s publishes under key id(s) %s and this member holds %s: its values "
                               "are not compared until the two share a key (a key rotation, docs/fleet.md)",
                               member, ", ".join(ids), ", ".join(self.key_ids))
        self.strangers = strangers

    def _alive(self) -> set[str]:
        """The members whose heartbeat changed within its duration (of our clock); the others' departures logged."""
        now, alive, seen = self._monotonic(), set(), set()
        for lease in self.hub.heartbeats():
            spec = lease.get("spec") or {}
            member = str(((lease.get("metadata") or {}).get("labels") or {}).get(MEMBER_LABEL) or "")
            duration = spec.get("leaseDurationSeconds")
            if not member or member == self.own_member or not isinstance(duration, int):
                continue
            seen.add(member)
            record = (spec.get("holderIdentity"), spec.get("renewTime"), duration)
            known = self._beats.get(member)
            if known is None or known[0] != record:
                self._beats[member] = known = (record, now, float(duration))
            if now - known[1] < known[2]:
                alive.add(member)
        for member in set(self._beats) - seen:
            del self._beats[member]
        for member in sorted((seen - alive) - self.gone):
            logger.warning("fleet: member %s is gone (its heartbeat did not change for its duration): its sets are "
                           "not compared until it beats again", member)
        self.gone = seen - alive
        return alive
