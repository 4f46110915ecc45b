"""A member reading the others' tiers from the hub (docs/fleet.md): a metadata-only list each time, and a read of
only the objects whose resourceVersion changed, so a steady fleet costs one small list per interval."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tierguard.engine.fleet_sets import FleetSets
from tierguard.fleet.publication import MEMBER_LABEL, read_hub_objects
from tierguard.kube.hub import HubApi

logger = logging.getLogger("tierguard.fleet")


class Reader:
    def __init__(self, hub: HubApi, key_id: str, own_member: str) -> None:
        self.hub, self.key_id, self.own_member = hub, key_id, own_member
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
        for problem in sorted(set(problems) - self._problems):
            logger.warning("fleet: %s", problem)
        self._problems = set(problems)
        return FleetSets(tiers, key_id=self.key_id, own_member=self.own_member)
