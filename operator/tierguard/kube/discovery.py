"""Where the API server serves a kind: the one discovery, for the webhook's informers, its background audit and
the CLI's listing.

A built-in kind (``KindInfo.builtin``) is served at its row's version by every supported API server: no request.
A custom resource is served at its group's preferred version, asked of ``/apis/{group}`` once per group; a 404
there means its CRD is not installed. (A kind whose listing then answers 404 is not served either: callers that
list treat it so.)

Kinds no row names (Crossplane's, judged by a field whatever their group: ``kinds.BY_FIELD``) are found by the
``categories`` their CRDs give them (``kubectl get managed``): ``/apis``, then each group's preferred version.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from tierguard.kinds import BY_KEY, GroupKind, KindInfo, Scope
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


UNAVAILABLE = (404, 503)
"""A group version that answers these lists nothing: gone since ``/apis`` answered, or an aggregated API server
(``metrics.k8s.io``) that is down."""


def discover_categories(api_client: Any, categories: Collection[str], timeout: float | None) -> list[Served]:
    """Every kind served with one of ``categories`` (a CRD's ``names.categories``), at its group's preferred
    version, as a judged row of its own (version ``*``) unless the kinds table has it; subresources and kinds
    that cannot be listed are left out. One request for ``/apis`` and one per group."""
    wanted = frozenset(categories)
    try:
        groups = request_json(api_client, "GET", "/apis", timeout=timeout).get("groups") or []
    except HttpError as error:
        if error.status in UNAVAILABLE:
            return []
        raise
    found: list[Served] = []
    for group in groups:
        name = group.get("name") or ""
        preferred = (group.get("preferredVersion") or {}).get("groupVersion")
        if not name or not preferred:
            continue
        try:
            resources = request_json(api_client, "GET", f"/apis/{preferred}", timeout=timeout).get("resources")
        except HttpError as error:
            if error.status in UNAVAILABLE:
                continue
            raise
        for resource in resources or []:
            plural, kind = str(resource.get("name") or ""), str(resource.get("kind") or "")
            if ("/" in plural or not kind or not wanted & set(resource.get("categories") or ())
                    or "list" not in (resource.get("verbs") or ()) or GroupKind(name, kind) in BY_KEY):
                continue
            scope = Scope.NAMESPACED if resource.get("namespaced") else Scope.CLUSTER
            found.append(Served(KindInfo(name, "*", kind, plural, scope, judged=True), str(preferred)))
    return found
