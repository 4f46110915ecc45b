"""``check --namespace-tiers-from-cluster``: each namespace's tier label, read from the cluster."""

from __future__ import annotations

from typing import Any

from tierguard.errors import ClusterUnreadable
from tierguard.kube.config import api_client
from tierguard.kube.rest import describe, request_json

TIMEOUT_S = 30


def cluster_namespace_tiers(kubeconfig: str | None, tier_label: str) -> dict[str, dict[str, str]]:
    """Each namespace's tier label, from the cluster.

    One request, ``GET /api/v1/namespaces`` (a list of Namespaces, nothing else: no Secret is ever read), with
    ``kube/config.py``'s credentials; namespaces without the label are left out (untiered, as offline). Raises
    ClusterUnreadable.
    """
    try:
        with api_client(kubeconfig) as client:
            # Raw JSON: only names and labels are looked at.
            body: Any = request_json(client, "GET", "/api/v1/namespaces", query=[("labelSelector", tier_label)],
                                     timeout=TIMEOUT_S)
    except Exception as error:
        raise ClusterUnreadable(f"cannot read the cluster: listing Namespaces failed: "
                                f"{describe(error, TIMEOUT_S)}") from None
    tiers: dict[str, dict[str, str]] = {}
    for item in (body.get("items") if isinstance(body, dict) else None) or []:
        metadata = item.get("metadata") if isinstance(item, dict) else None
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
            continue
        labels = metadata.get("labels") or {}
        if isinstance(labels, dict) and isinstance(labels.get(tier_label), str):
            tiers[metadata["name"]] = {tier_label: labels[tier_label]}
    return tiers
