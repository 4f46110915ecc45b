"""The fleet's hub (docs/fleet.md): another cluster's API server, where each member keeps its FleetFingerprintSets
and renews its heartbeat, a Lease in the hub's namespace. Plain JSON through ``rest.py``: list the sets' metadata,
read one, apply one, delete one; list the heartbeats, renew one's own."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Protocol

from tierguard.kube.rest import METADATA_ONLY, HttpError, get_json_or_none, request, request_json


class HubApi(Protocol):
    """The four calls a member makes on the hub's collection of sets."""

    def list_metadata(self) -> list[Mapping[str, Any]]:
        """Every object's metadata (name, labels, resourceVersion), without its data."""
        ...

    def get(self, name: str) -> Mapping[str, Any] | None: ...

    def apply(self, body: Mapping[str, Any]) -> None: ...

    def delete(self, name: str) -> None: ...

    def heartbeats(self) -> list[Mapping[str, Any]]:
        """Every member's heartbeat Lease."""
        ...

    def beat(self, body: Mapping[str, Any]) -> None:
        """Apply this member's heartbeat Lease."""
        ...


class KubernetesHub:
    """HubApi over an API server: ``path`` is the sets' collection (``fleet/publication.API_PATH``), ``namespace``
    holds the heartbeats, which carry the label ``heartbeat_selector`` selects."""

    FIELD_MANAGER = "tierguard-fleet"

    def __init__(self, api_client: Any, path: str, namespace: str, heartbeat_selector: str,
                 timeout: float = 30.0) -> None:
        self.api_client, self.path, self.timeout = api_client, path, timeout
        self._leases = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self._selector = heartbeat_selector

    def list_metadata(self) -> list[Mapping[str, Any]]:
        found = request_json(self.api_client, "GET", self.path, accept=METADATA_ONLY, timeout=self.timeout)
        return [item.get("metadata") or {} for item in (found or {}).get("items") or []]

    def get(self, name: str) -> Mapping[str, Any] | None:
        return get_json_or_none(self.api_client, f"{self.path}/{name}", timeout=self.timeout)

    def apply(self, body: Mapping[str, Any]) -> None:
        self._apply(self.path, body)

    def delete(self, name: str) -> None:
        try:
            request(self.api_client, "DELETE", f"{self.path}/{name}", timeout=self.timeout)
        except HttpError as error:
            if error.status != 404:
                raise

    def heartbeats(self) -> list[Mapping[str, Any]]:
        found = request_json(self.api_client, "GET", self._leases, query=[("labelSelector", self._selector)],
                             timeout=self.timeout)
        return list((found or {}).get("items") or [])

    def beat(self, body: Mapping[str, Any]) -> None:
        self._apply(self._leases, body)

    def _apply(self, collection: str, body: Mapping[str, Any]) -> None:
        """Server-side apply of ``body`` into ``collection`` (created when absent), as tierguard's fleet manager."""
        request(self.api_client, "PATCH", f"{collection}/{body['metadata']['name']}", body=body,
                timeout=self.timeout, query=[("fieldManager", self.FIELD_MANAGER), ("force", "true")],
                content_type="application/apply-patch+yaml")


class MemoryHub:
    """HubApi in memory, as the API server would keep it (a resourceVersion bumped on every write), counting the
    requests made and the JSON bytes written: the tests' hub and the bench's (part 8)."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.leases: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.requests = self.gets = self.applies = self.written_bytes = 0

    def list_metadata(self) -> list[Mapping[str, Any]]:
        self.requests += 1
        return [copy.deepcopy(obj["metadata"]) for obj in self.objects.values()]

    def get(self, name: str) -> Mapping[str, Any] | None:
        self.requests += 1
        self.gets += 1
        return copy.deepcopy(self.objects.get(name))

    def apply(self, body: Mapping[str, Any]) -> None:
        self.requests += 1
        self.applies += 1
        self.version += 1
        self.written_bytes += len(json.dumps(body))
        stored = copy.deepcopy(dict(body))
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[stored["metadata"]["name"]] = stored

    def delete(self, name: str) -> None:
        self.requests += 1
        self.objects.pop(name, None)

    def heartbeats(self) -> list[Mapping[str, Any]]:
        self.requests += 1
        return [copy.deepcopy(lease) for lease in self.leases.values()]

    def beat(self, body: Mapping[str, Any]) -> None:
        self.requests += 1
        self.leases[body["metadata"]["name"]] = copy.deepcopy(dict(body))
