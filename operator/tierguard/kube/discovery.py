"""Where the API server serves a kind: the one discovery, for the webhook's informers, its background audit and
the CLI's listing.

A built-in kind (``KindInfo.builtin``) is served at its row's version by every supported API server: no request.
A custom resource is served at its group's preferred version, asked of ``/apis/{group}`` once per group; a 404
there means its CRD is not installed. (A kind whose listing then answers 404 is not served either: callers that
list treat it so.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tierguard.kinds import KindInfo
from tierguard.kube.rest import HttpError, request_json


@dataclass(frozen=True)
class Served:
    info: KindInfo
    group_version: str

    def path(self, namespace: str | None) -> str:
        base = "/api/v1" if self.info.group == "" else f"/apis/{self.group_version}"
        where = f"/namespaces/{namespace}" if namespace is not None and self.info.namespaced else ""
        return f"{base}{where}/{self.info.resource}"


def builtin_served(info: KindInfo) -> Served:
    """A built-in kind at its row's version."""
    return Served(info, info.version if info.group == "" else f"{info.group}/{info.version}")


def resolve_served(api_client: Any, kinds: Iterable[KindInfo], timeout: float | None,
                   groups: dict[str, str | None] | None = None) -> list[Served]:
    """The kinds the API server serves now, with the version to list (a custom resource's preferred one).
    ``groups``: group -> preferred group version (None: not served), filled in and reused across calls."""
    served: list[Served] = []
    groups = {} if groups is None else groups
    for info in kinds:
        if info.builtin:
            served.append(builtin_served(info))
            continue
        if info.group not in groups:
            try:
                found = request_json(api_client, "GET", f"/apis/{info.group}", timeout=timeout)
                preferred = (found.get("preferredVersion") or {}).get("groupVersion")
                groups[info.group] = str(preferred) if preferred else None
            except HttpError as error:
                if error.status != 404:
                    raise
                groups[info.group] = None
        group_version = groups[info.group]
        if group_version is not None:
            served.append(Served(info, group_version))
    return served
