"""Listing a live cluster into plain objects for the engine (the only network I/O of the audit).

Lists every kind a rule judges and every kind the context needs (namespaces, secrets, storage, roles, secret
stores). Kinds whose CRDs are absent are skipped. Secret data is fingerprinted by the offline context built from
these objects and never printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tierguard.webhook.handlers import ADMISSION_HANDLERS


@dataclass(frozen=True)
class Listed:
    group: str
    kind: str


CONTEXT_KINDS = (
    Listed("", "PersistentVolumeClaim"),
    Listed("rbac.authorization.k8s.io", "Role"),
    Listed("rbac.authorization.k8s.io", "ClusterRole"),
)
"""Kinds rules look up but never judge; judged kinds come from the admission handler table."""


def listed_kinds() -> tuple[Listed, ...]:
    judged = {Listed(h.group, h.kind) for h in ADMISSION_HANDLERS}
    return tuple(sorted(judged | set(CONTEXT_KINDS), key=lambda k: (k.kind != "Namespace", k.group, k.kind)))


def list_cluster(dynamic_client: Any) -> Iterator[dict[str, Any]]:
    """Every object of the listed kinds, each with ``apiVersion`` and ``kind`` set (list items lack them)."""
    from kubernetes.dynamic.exceptions import ResourceNotFoundError  # noqa: PLC0415

    for wanted in listed_kinds():
        try:
            found = dynamic_client.resources.search(group=wanted.group, kind=wanted.kind)
        except ResourceNotFoundError:
            continue
        resources = [r for r in found if getattr(r, "kind", None) == wanted.kind and "list" in (r.verbs or [])]
        if not resources:
            continue  # the CRD is not installed
        resource = resources[0]
        listing = resource.get().to_dict()
        for item in listing.get("items") or []:
            item["apiVersion"] = resource.group_version
            item["kind"] = resource.kind
            yield item
