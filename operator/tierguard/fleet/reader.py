"""A member reading the others' tiers from the hub (docs/fleet.md): a metadata-only list each time, and a read of
only the objects whose resourceVersion changed, so a steady fleet costs two small lists per interval (the sets'
metadata, the heartbeats).

A member is gone when its heartbeat (``publication.heartbeat``) was not seen to change for its duration by *our*
clock (client-go's rule for Leases: no comparison of clocks across clusters), or has none: its sets are then left
out, so a cluster that stopped publishing stops refusing others' values after that long."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from tierguard.engine.fleet_sets import FleetSets
from tierguard.fleet.publication import MEMBER_LABEL, read_hub_objects
from tierguard.kube.hub import HubApi

logger = logging.getLogger("tierguard.fleet")


class Reader:
    def __init__(self, hub: HubApi, key_id: str, own_member: str, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.hub, self.key_id, self.own_member, self._monotonic = hub, key_id, own_member, monotonic
        self._beats: dict[str, tuple[tuple[Any, ...], float, float]] = {}
        """member -> (its heartbeat's record, our clock when that record was first seen, its duration)."""
        self.gone: set[str] = set()
        self._objects: dict[str, tuple[str, Mapping[str, Any]]] = {}
        """name -> (resourceVersion, object) of every other member's object last read."""
        self._problems: set[str] = set()

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
        return FleetSets(tiers, key_id=self.key_id, own_member=self.own_member)

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
