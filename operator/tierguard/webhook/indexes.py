"""The live indexes: one descriptor per index (its id, the kind it watches, its projection), the key functions
and the projections. The informers fill each index through its projection (``indexing.py``), ``LiveContext``
reads them with the same key functions, and the tests' double fills them through the same projections too.

A projection is a pure function of one object's body (and the fingerprint key): it returns the entries that
object contributes, ``{key: value}`` (``store.LiveIndex`` keeps them per object). Projections keep only what rules
need: namespace labels, Secret metadata with keyed fingerprints (values are hashed and dropped here),
PV/PVC/StorageClass specs, role rules, secret stores, every stored TierPolicy (with its generation and status),
the names of the NetworkPolicies that deny all ingress (nothing of the others).
Key functions are the only way to spell a key.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tierguard.engine.context import NamespaceView, SecretView, aggregation_selectors, is_default_storage_class
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.model import Malformed
from tierguard.engine.objects import annotations_of, labels_of, name_of, namespace_of
from tierguard.engine.posture import denies_all_ingress
from tierguard.engine.secrets import kept_annotations
from tierguard.kinds import BY_KEY, GroupKind, KindInfo
from tierguard.policy import plain_copy, stored_document

Entries = dict[Any, Any]
Projection = Callable[[Mapping[str, Any], Fingerprinter], Entries]


@dataclass(frozen=True)
class IndexSpec:
    id: str
    """The kinds table's ``index``: the name the informers and ``LiveContext`` know the index by."""
    watches: KindInfo
    project: Projection


# --- keys ----------------------------------------------------------------------------------------------------

def namespace_key(name: str) -> str:
    return name


def secret_key(namespace: str, name: str) -> tuple[str, str, str]:
    return ("name", namespace, name)


def fingerprint_key(digest: bytes) -> bytes:
    """The digest itself: no other key of the Secret index is bytes, and a wrapping tuple per value would cost
    56 bytes a value (some 11 MB at 100k Secrets)."""
    return digest


def sealed_secret_key(namespace: str, name: str) -> tuple[str, str]:
    return (namespace, name)


def volume_key(name: str) -> tuple[str, str]:
    return ("name", name)


def volume_claim_key(namespace: str, claim: str) -> tuple[str, str, str]:
    """The PersistentVolume whose ``claimRef`` names this claim."""
    return ("claim", namespace, claim)


def claim_key(namespace: str, name: str) -> tuple[str, str]:
    return (namespace, name)


def storage_class_key(name: str) -> str:
    return name


def default_storage_class_key() -> tuple[str]:
    """Every StorageClass annotated as the default (claims without ``storageClassName`` use it)."""
    return ("default",)


def cluster_role_labels_key() -> tuple[str]:
    """Every ClusterRole's ``(name, labels)``: what an aggregation rule's selectors are matched against."""
    return ("labels",)


def aggregation_key(name: str) -> tuple[str, str]:
    """The aggregation rule's selectors of the ClusterRole ``name``, when it has one."""
    return ("aggregation", name)


def role_key(kind: str, namespace: str | None, name: str) -> tuple[str, str | None, str]:
    """Roles and SecretStores by kind, namespace (None for the cluster-scoped kinds) and name."""
    return (kind, namespace if kind in ("Role", "SecretStore") else None, name)


store_key = role_key


def policy_key(name: str) -> str:
    return name


def default_deny_key(namespace: str) -> str:
    """The names of the namespace's NetworkPolicies that deny all ingress (one value per such policy)."""
    return namespace


# --- projections: one object's body -> its entries ---------------------------------------------------------

# Not plain_copy: that copies one value whole; this keeps only an object's identity and the fields named.
def _trimmed(body: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """Kind, name, namespace and plain copies of the named top-level fields."""
    copy: dict[str, Any] = {"kind": body.get("kind"), "metadata": {"name": name_of(body),
                                                                   "namespace": namespace_of(body)}}
    for key in keys:
        if key in body:
            copy[key] = plain_copy(body[key])
    return copy


def _namespace(body: Mapping[str, Any]) -> str:
    return namespace_of(body) or "default"


def project_namespace(body: Mapping[str, Any], _: Fingerprinter) -> Entries:
    return {namespace_key(name_of(body)): NamespaceView.from_object(body)}


_NONE: Mapping[str, str] = MappingProxyType({})
"""Shared by every indexed view without labels or annotations: at 100k Secrets, 200k empty dicts fewer."""


def project_secret(body: Mapping[str, Any], fingerprinter: Fingerprinter) -> Entries:
    """By name, and by each keyed fingerprint it holds. The data is hashed here and never kept."""
    namespace = sys.intern(_namespace(body))  # one string per namespace, not one per Secret
    try:
        # What the API server stores: data only (it has merged stringData into it).
        fingerprints = fingerprinter.secret_fingerprints({"type": body.get("type"), "data": body.get("data")})
    except Malformed:  # kept without fingerprints: its own admission reported it
        fingerprints = ()
    # One view, made once (a listing makes 100k of them): SecretView.from_object's fields, built directly. The
    # annotations are stripped of value copies first, so a Secret `kubectl apply` wrote (its only annotation
    # the last applied configuration) shares the one empty map too.
    view = SecretView(namespace, name_of(body), "Secret", labels_of(body) or _NONE,
                      kept_annotations(annotations_of(body)) or _NONE, fingerprints)
    return secret_entries(view)


def secret_entries(view: SecretView) -> Entries:
    """The Secret index's entries of one view (also what the webhook remembers of a Secret it just admitted)."""
    entries: Entries = {secret_key(view.namespace, view.name): view}
    entries.update({fingerprint_key(fp.digest): view for fp in view.fingerprints})
    return entries


def project_sealed_secret(body: Mapping[str, Any], fingerprinter: Fingerprinter) -> Entries:
    spec = body.get("spec")
    template = spec.get("template") if isinstance(spec, Mapping) else None
    raw = {"kind": "SealedSecret", "metadata": body.get("metadata") or {},
           "spec": {"template": plain_copy(template or {})}}
    return {sealed_secret_key(_namespace(body), name_of(body)): SecretView.from_object(raw, fingerprinter,
                                                                                         _namespace(body))}


def project_volume(body: Mapping[str, Any], _: Fingerprinter) -> Entries:
    volume = _trimmed(body, "spec")
    entries: Entries = {volume_key(name_of(body)): volume}
    spec = volume.get("spec")
    claim = spec.get("claimRef") if isinstance(spec, Mapping) else None
    if isinstance(claim, Mapping) and claim.get("name"):
        entries[volume_claim_key(str(claim.get("namespace") or "default"), str(claim["name"]))] = volume
    return entries


def project_claim(body: Mapping[str, Any], _: Fingerprinter) -> Entries:
    spec = body.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    return {claim_key(_namespace(body), name_of(body)): {
        "spec": {"volumeName": spec.get("volumeName"), "storageClassName": spec.get("storageClassName")}}}


def project_storage_class(body: Mapping[str, Any], _: Fingerprinter) -> Entries:
    storage_class = _trimmed(body, "parameters")
    entries: Entries = {storage_class_key(name_of(body)): storage_class}
    if is_default_storage_class(body):
        entries[default_storage_class_key()] = storage_class
    return entries


def _project_rules(kind: str) -> Projection:
    def project(body: Mapping[str, Any], _: Fingerprinter) -> Entries:
        rules = body.get("rules")
        return {role_key(kind, namespace_of(body), name_of(body)): plain_copy(rules if isinstance(rules, list) else [])}
    return project


def _project_store(kind: str) -> Projection:
    def project(body: Mapping[str, Any], _: Fingerprinter) -> Entries:
        return {store_key(kind, namespace_of(body), name_of(body)): _trimmed(body, "spec")}
    return project


project_role = _project_rules("Role")
_project_cluster_role_rules = _project_rules("ClusterRole")


def project_cluster_role(body: Mapping[str, Any], fingerprinter: Fingerprinter) -> Entries:
    """Its rules, and what aggregation needs: its labels, and its own aggregation selectors if it has any (the
    aggregation controller fills ``rules`` live, but a rule may be judged before it has)."""
    entries = _project_cluster_role_rules(body, fingerprinter)
    entries[cluster_role_labels_key()] = (name_of(body), dict(labels_of(body)))
    selectors = aggregation_selectors(plain_copy(body))
    if selectors is not None:
        entries[aggregation_key(name_of(body))] = list(selectors)
    return entries
project_secret_store = _project_store("SecretStore")
project_cluster_secret_store = _project_store("ClusterSecretStore")


def project_policy(body: Mapping[str, Any], _: Fingerprinter) -> Entries:
    """Every TierPolicy, not only the one in force: each gets a status (``policy_status.py``). The stored
    document, plus what its status needs: ``metadata.generation`` and the ``status`` written last
    (``load_stored_policy`` drops both again, so loading judges the document alone)."""
    document = stored_document(body)
    metadata = body.get("metadata")
    generation = metadata.get("generation") if isinstance(metadata, Mapping) else None
    if isinstance(document.get("metadata"), dict) and isinstance(generation, int):
        document["metadata"]["generation"] = generation
    status = body.get("status")
    if isinstance(status, Mapping):
        document["status"] = plain_copy(status)
    return {policy_key(name_of(body)): document}


def project_network_policy(body: Mapping[str, Any], _: Fingerprinter) -> Entries:
    """Only a NetworkPolicy that denies all ingress contributes, its name: all ``namespace-security-missing``
    asks is which of a namespace's policies do (a cluster's other NetworkPolicies cost nothing)."""
    if not denies_all_ingress(body):
        return {}
    return {default_deny_key(_namespace(body)): sys.intern(name_of(body))}


# --- the descriptors -----------------------------------------------------------------------------------------

_RBAC, _ESO = "rbac.authorization.k8s.io", "external-secrets.io"
_PROJECTIONS: dict[GroupKind, Projection] = {
    GroupKind("", "Namespace"): project_namespace,
    GroupKind("", "Secret"): project_secret,
    GroupKind("bitnami.com", "SealedSecret"): project_sealed_secret,
    GroupKind("", "PersistentVolume"): project_volume,
    GroupKind("", "PersistentVolumeClaim"): project_claim,
    GroupKind("storage.k8s.io", "StorageClass"): project_storage_class,
    GroupKind(_RBAC, "Role"): project_role,
    GroupKind(_RBAC, "ClusterRole"): project_cluster_role,
    GroupKind(_ESO, "SecretStore"): project_secret_store,
    GroupKind(_ESO, "ClusterSecretStore"): project_cluster_secret_store,
    GroupKind("tierguard.io", "TierPolicy"): project_policy,
    GroupKind("networking.k8s.io", "NetworkPolicy"): project_network_policy,
}

INDEXES: tuple[IndexSpec, ...] = tuple(
    IndexSpec(info.index, info, _PROJECTIONS[key]) for key, info in BY_KEY.items() if info.index is not None
)
"""One per indexed row of the kinds table (a row without a projection fails at import)."""

INDEXES_BY_ID: dict[str, IndexSpec] = {spec.id: spec for spec in INDEXES}
INDEXES_BY_KIND: dict[str, IndexSpec] = {spec.watches.kind: spec for spec in INDEXES}
INDEX_NAMES: tuple[str, ...] = tuple(INDEXES_BY_ID)


NAMESPACES, SECRETS, SEALED_SECRETS = "tg_namespaces", "tg_secrets", "tg_sealed_secrets"
VOLUMES, CLAIMS, STORAGE_CLASSES, POLICIES = "tg_volumes", "tg_claims", "tg_storage_classes", "tg_policies"
"""The ids ``LiveContext`` reads by name (tests hold them to the table); the others via ``index_of``."""


def index_of(kind: str) -> str:
    """The id of the index that watches ``kind`` (by name: each indexed kind name is unique in the table)."""
    return INDEXES_BY_KIND[kind].id
