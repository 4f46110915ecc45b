"""Reading a live cluster for ``audit`` and ``parity``: the client, the TierPolicy, and every listed object as a
plain dict for the engine (the only network I/O of the audit).

Lists every kind a rule judges and every kind the context needs (namespaces, secrets, storage, roles, secret
stores): the judged and indexed rows of ``tierguard/kinds.py``. Kinds whose CRDs are absent are skipped. Secret
data is fingerprinted by the offline context built from these objects and never printed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from tierguard.errors import ClusterUnreadable
from tierguard.kinds import KindInfo, listed
from tierguard.policy import DEFAULT_POLICY, TierPolicy, load_stored_policy


def listed_kinds() -> tuple[KindInfo, ...]:
    """Every judged kind and every kind the context needs, from the kinds table; Namespaces first."""
    return listed()


def connect(kubeconfig: str | None) -> Any:
    """A dynamic client for the kubeconfig given, $KUBECONFIG, or the in-cluster config."""
    from kubernetes import client, config, dynamic  # noqa: PLC0415 - only audit and parity load the client

    try:
        if kubeconfig or os.environ.get("KUBECONFIG") or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_kube_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        else:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        return dynamic.DynamicClient(client.ApiClient())  # type: ignore[no-untyped-call]
    except Exception as error:
        raise ClusterUnreadable(_unreadable(error)) from None


def list_cluster(dynamic_client: Any) -> list[dict[str, Any]]:
    """Every listed object (see ``listed_kinds``); raises ClusterUnreadable."""
    try:
        return list(_listing(dynamic_client))
    except Exception as error:
        raise ClusterUnreadable(_unreadable(error)) from None


def cluster_policy(dynamic_client: Any, name: str) -> TierPolicy:
    """The cluster's TierPolicy ``name``; SPEC's defaults when it (or its CRD) does not exist."""
    from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError  # noqa: PLC0415

    try:
        resource = dynamic_client.resources.get(api_version="tierguard.io/v1alpha1", kind="TierPolicy")
        body = resource.get(name=name).to_dict()
    except (NotFoundError, ResourceNotFoundError):
        return DEFAULT_POLICY
    except Exception as error:
        raise ClusterUnreadable(_unreadable(error)) from None
    return load_stored_policy(body)


def _unreadable(error: Exception) -> str:
    status = getattr(error, "status", None)
    problem = f"HTTP {status} {getattr(error, 'reason', '')}" if status else str(error)[:300]
    return f"cannot read the cluster: {type(error).__name__}: {problem}"


def _listing(dynamic_client: Any) -> Iterator[dict[str, Any]]:
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


def cluster_namespace_tiers(kubeconfig: str | None, tier_label: str) -> dict[str, dict[str, str]]:
    """Each namespace's tier label, from the cluster (``check --namespace-tiers-from-cluster``).

    One request, ``GET /api/v1/namespaces`` (a list of Namespaces, nothing else: no Secret is ever read),
    with the kubeconfig given, $KUBECONFIG or the in-cluster config; namespaces without the label are left out
    (untiered, as offline). Raises ClusterUnreadable.
    """
    from kubernetes import client, config  # noqa: PLC0415 - only this flag (and audit, parity) loads the client

    try:
        if kubeconfig or os.environ.get("KUBECONFIG") or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            api_client: Any = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        else:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
            api_client = client.ApiClient()
        with api_client:
            # Raw JSON (no model objects): only names and labels are looked at.
            listing: Any = client.CoreV1Api(api_client).list_namespace(
                label_selector=tier_label, _preload_content=False, _request_timeout=30)
            body = json.loads(listing.data)
    except Exception as error:
        raise ClusterUnreadable(_unreadable(error)) from None
    tiers: dict[str, dict[str, str]] = {}
    for item in body.get("items") or []:
        metadata = item.get("metadata") if isinstance(item, dict) else None
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
            continue
        labels = metadata.get("labels") or {}
        if isinstance(labels, dict) and isinstance(labels.get(tier_label), str):
            tiers[metadata["name"]] = {tier_label: labels[tier_label]}
    return tiers
