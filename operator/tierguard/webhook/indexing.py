"""kopf indexes that feed the live context, and the handlers that track readiness and the TierPolicy.

Index handlers keep only what rules need: namespace labels, Secret metadata with keyed fingerprints (the
values are hashed and dropped inside the handler), PV/PVC/StorageClass specs, role rules, secret stores.
kopf runs non-index handlers only after every index has its initial listing, so the first namespace event
marks the replica as synced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import kopf

from tierguard.engine.context import NamespaceView, SecretView, aggregation_selectors, is_default_storage_class
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.model import Malformed
from tierguard.policy import PolicyError, TierPolicy, load_policy
from tierguard.webhook.live_context import INDEX_NAMES, LiveContext, cluster_role_label_keys, secret_index_keys
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.state import RuntimeState, settle_heap

logger = logging.getLogger("tierguard.indexing")


def _plain(body: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """A detached copy of the named top-level fields (kopf bodies are live views)."""
    metadata = body.get("metadata") or {}
    copy: dict[str, Any] = {"kind": body.get("kind"), "metadata": {"name": metadata.get("name"),
                                                                    "namespace": metadata.get("namespace")}}
    for key in keys:
        if key in body:
            copy[key] = _detach(body[key])
    return copy


def _detach(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _detach(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_detach(v) for v in value]
    return value


def policy_from_body(body: Mapping[str, Any]) -> TierPolicy:
    return load_policy({"apiVersion": body.get("apiVersion"), "kind": body.get("kind"),
                        "metadata": {"name": (body.get("metadata") or {}).get("name")},
                        "spec": _detach(body.get("spec") or {})})


def apply_policy(state: RuntimeState, metrics: Metrics, body: Mapping[str, Any] | None) -> None:
    """Switch to the TierPolicy in ``body`` (None: it does not exist, so the defaults apply).

    An invalid policy is not applied: the last valid one stays in force (or, before any, the replica stays not
    ready), the reason is kept for /readyz and logs, and the reload is counted as invalid.
    """
    if body is None:
        state.use_policy(None)
        metrics.policy_reloads.labels("success").inc()
        logger.info("no TierPolicy %r: enforcing the defaults", state.policy_name)
        return
    try:
        policy = policy_from_body(body)
    except PolicyError as error:
        state.policy_error = f"TierPolicy {state.policy_name} is invalid: {error}"
        metrics.policy_reloads.labels("invalid").inc()
        logger.error("policy rejected, keeping the last valid one", extra={"detail": state.policy_error})
        return
    state.use_policy(policy)
    metrics.policy_reloads.labels("success").inc()
    logger.info("policy loaded", extra={"policy": state.policy_name})


def build_registry(state: RuntimeState, metrics: Metrics, fingerprinter: Callable[[], Fingerprinter]
                   ) -> kopf.OperatorRegistry:
    """All kopf handlers of ``tierguard run``. ``fingerprinter`` is read after startup loaded the key."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:
        return kopf.login_via_client(**kwargs)

    @kopf.index("namespaces", id="tg_namespaces", registry=registry)
    async def tg_namespaces(body: Any, name: str, **_: Any) -> Any:
        return {name: NamespaceView.from_object(body)}

    @kopf.index("secrets", id="tg_secrets", registry=registry)
    async def tg_secrets(body: Any, name: str, namespace: str | None, **_: Any) -> Any:
        raw = {"kind": "Secret", "metadata": body.get("metadata") or {}, "type": body.get("type"),
               "data": body.get("data")}
        try:
            view = SecretView.from_object(raw, fingerprinter(), namespace)
        except Malformed:
            view = SecretView(namespace or "", name, "Secret", dict(body.get("metadata", {}).get("labels") or {}),
                              dict(body.get("metadata", {}).get("annotations") or {}))
        del raw
        return secret_index_keys(view)

    @kopf.index("bitnami.com", "sealedsecrets", id="tg_sealed_secrets", registry=registry)
    async def tg_sealed_secrets(body: Any, name: str, namespace: str | None, **_: Any) -> Any:
        raw = {"kind": "SealedSecret", "metadata": body.get("metadata") or {}, "spec": _detach(
            {"template": (body.get("spec") or {}).get("template") or {}})}
        return {(namespace, name): SecretView.from_object(raw, fingerprinter(), namespace)}

    @kopf.index("persistentvolumes", id="tg_volumes", registry=registry)
    async def tg_volumes(body: Any, name: str, **_: Any) -> Any:
        volume = _plain(body, "spec")
        keys: dict[Any, Any] = {("name", name): volume}
        claim = (volume.get("spec") or {}).get("claimRef") or {}
        if claim.get("name"):
            keys[("claim", claim.get("namespace") or "default", claim["name"])] = volume
        return keys

    @kopf.index("persistentvolumeclaims", id="tg_claims", registry=registry)
    async def tg_claims(body: Any, name: str, namespace: str | None, **_: Any) -> Any:
        spec = body.get("spec") or {}
        return {(namespace, name): {"spec": {"volumeName": spec.get("volumeName"),
                                             "storageClassName": spec.get("storageClassName")}}}

    @kopf.index("storage.k8s.io", "storageclasses", id="tg_storage_classes", registry=registry)
    async def tg_storage_classes(body: Any, name: str, **_: Any) -> Any:
        storage_class = _plain(body, "parameters")
        keys: dict[Any, Any] = {name: storage_class}
        if is_default_storage_class(body):
            keys[("default",)] = storage_class  # for claim templates without storageClassName
        return keys

    @kopf.index("rbac.authorization.k8s.io", "roles", id="tg_roles", registry=registry)
    async def tg_roles(body: Any, name: str, namespace: str | None, **_: Any) -> Any:
        return {("Role", namespace, name): _detach(body.get("rules") or [])}

    @kopf.index("rbac.authorization.k8s.io", "clusterroles", id="tg_cluster_roles", registry=registry)
    async def tg_cluster_roles(body: Any, name: str, **_: Any) -> Any:
        return {("ClusterRole", None, name): _detach(body.get("rules") or [])}

    @kopf.index("rbac.authorization.k8s.io", "clusterroles", id="tg_cluster_role_labels", registry=registry)
    async def tg_cluster_role_labels(body: Any, name: str, **_: Any) -> Any:
        labels = dict((body.get("metadata") or {}).get("labels") or {})
        return cluster_role_label_keys(name, labels, aggregation_selectors(_detach(dict(body))))

    @kopf.index("external-secrets.io", "secretstores", id="tg_secret_stores", registry=registry)
    async def tg_secret_stores(body: Any, name: str, namespace: str | None, **_: Any) -> Any:
        return {("SecretStore", namespace, name): _plain(body, "spec")}

    @kopf.index("external-secrets.io", "clustersecretstores", id="tg_cluster_secret_stores", registry=registry)
    async def tg_cluster_secret_stores(body: Any, name: str, **_: Any) -> Any:
        return {("ClusterSecretStore", None, name): _plain(body, "spec")}

    @kopf.index("tierguard.io", "tierpolicies", id="tg_policies", registry=registry)
    async def tg_policies(body: Any, name: str, **_: Any) -> Any:
        return {name: {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"),
                       "metadata": {"name": name}, "spec": _detach(body.get("spec") or {})}}

    @kopf.on.event("namespaces", id="tg-readiness", registry=registry)
    async def mark_synced(**kwargs: Any) -> None:
        if state.indexes_synced:
            return
        indexes = {name: kwargs[name] for name in INDEX_NAMES if name in kwargs}
        state.context = LiveContext(fingerprinter(), indexes)
        if state.policy is None:
            stored = next(iter(indexes["tg_policies"].get(state.policy_name) or ()), None)
            apply_policy(state, metrics, stored)
        settle_heap()  # before readiness: its one full collection pauses no admission request
        state.indexes_synced = True
        logger.info("indexes synced", extra={"indexes": state.context.sizes()})

    @kopf.on.event("tierguard.io", "tierpolicies", id="tg-policy-reload", registry=registry)
    async def reload_policy(body: Any, name: str, type: str | None, **_: Any) -> None:
        if name != state.policy_name:
            return
        apply_policy(state, metrics, None if type == "DELETED" else dict(body))

    return registry
