"""What tierguard knows about each kind, in one table keyed by API group and kind.

Every other list of kinds is derived from ``KINDS``: the webhook's routes (``webhook/routes.py``, and through
tests the chart's ValidatingWebhookConfiguration), the audit's cluster listing (``audit/listing.py``), the API
checks behind readiness (``webhook/reachability.py``), the chart's ClusterRole (tested), the engine's
cluster-scoped kinds (``engine/objects.py``) and the kinds each rule family declares (``engine/rules/*.py``,
tested against ``judged``). A new kind is one row here; a new rule for it is one module in ``engine/rules``.

A row is *judged* (a rule family judges it: the webhook intercepts it, the audit reports it), *indexed* (the
webhook watches it into a live index because rules look it up: the chart grants list/watch), both, or neither
(known only so that reports place it: a cluster-scoped kind has no namespace). Pure data, no imports of ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple


class Scope(StrEnum):
    """As the API server (and a webhook rule's ``scope``) names it."""

    NAMESPACED = "Namespaced"
    CLUSTER = "Cluster"


class GroupKind(NamedTuple):
    """How a kind is identified: ``("batch", "Job")`` is not ``("batch.volcano.sh", "Job")``."""

    group: str
    kind: str


@dataclass(frozen=True)
class Connect:
    """A subresource the API server sends as a CONNECT (a session into the object: ``pods/exec``), with the kind
    of its options body, which is both ``request.kind`` and ``request.object`` of the review (k8s.io/apiserver's
    ConnectResource admits the options, and the installer registers the options' kind for the subresource).
    The body has no metadata: ``request.name`` and ``request.namespace`` name the object."""

    subresource: str
    kind: str


@dataclass(frozen=True)
class KindInfo:
    group: str
    version: str
    """``v1`` for built-in kinds; ``*`` for custom resources, whose served versions tierguard does not pin."""
    kind: str
    resource: str
    """The plural resource name, as in RBAC rules, webhook rules and API paths."""
    scope: Scope
    judged: bool = False
    """A rule family judges it: the webhook intercepts CREATE and UPDATE (and DELETE: ``deletes``), the audit
    reports it."""
    index: str | None = None
    """The live index the webhook keeps of it (``webhook/indexes.py``): rules look it up. None: not watched."""
    subresources: tuple[str, ...] = ()
    """Subresources judged too, on UPDATE only (``pods/ephemeralcontainers``: a debug container can mount any
    Secret of the namespace)."""
    connects: tuple[Connect, ...] = ()
    """Subresources judged on CONNECT (``pods/exec``: a session reads what the pod mounts)."""
    route: str = ""
    """The webhook's route id (``/<id>``) when the plural is another judged row's too (External Secrets' and Vault
    Secrets Operator's ``vaultdynamicsecrets``); empty: the plural."""
    deletes: bool = False
    """DELETE judged too (the TierPolicy: deleting the one in force puts SPEC's defaults in force, in which no
    person has a tier, so ``namespace-tier-assignment`` holds it to the platform; a NetworkPolicy: deleting a
    namespace's last default-deny-ingress one is ``namespace-security-missing``)."""

    @property
    def key(self) -> GroupKind:
        return GroupKind(self.group, self.kind)

    @property
    def route_id(self) -> str:
        return self.route or self.resource

    @property
    def namespaced(self) -> bool:
        return self.scope is Scope.NAMESPACED

    @property
    def api_version(self) -> str:
        """``v1``, ``apps/v1``; a custom resource's (version ``*``) is not pinned and reads ``<group>/*``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def builtin(self) -> bool:
        """Served by every API server (not a custom resource whose CRD may be absent)."""
        return self.version != "*"


@dataclass(frozen=True)
class FieldJudged:
    """Objects of ANY group and kind, judged because they carry a field: a controller whose API groups are not
    fixed, since every provider and every definition makes its own (Crossplane's managed resources, composite
    resources and claims carry ``spec.writeConnectionSecretToRef``). No row of ``KINDS`` can list them: the
    webhook has one route for them (every group and resource, which the chart narrows with a matchCondition to
    objects carrying the field), the engine chooses the family by the field (``engine/evaluation.py``), and the
    audit finds them by their CRDs' ``categories`` in API discovery."""

    id: str
    """The webhook's route id (``/<id>``) and the chart's entry."""
    path: tuple[str, ...]
    """The field, from the object's root: ``("spec", "writeConnectionSecretToRef")``."""
    categories: tuple[str, ...]
    """The CRD categories (``kubectl get managed``) that name the kinds carrying it, for the audit's listing."""

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    def carried_by(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object has the field (null or not): what the chart's matchCondition asks the API server."""
        at: object = obj
        for key in self.path:
            if not isinstance(at, Mapping) or key not in at:
                return False
            at = at[key]
        return True


_N, _C = Scope.NAMESPACED, Scope.CLUSTER
_RBAC, _ESO, _GATEWAY = "rbac.authorization.k8s.io", "external-secrets.io", "gateway.networking.k8s.io"
_VSO, _ESO_GENERATORS = "secrets.hashicorp.com", "generators.external-secrets.io"
_FLUX_HELM, _FLUX_KUSTOMIZE = "helm.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io"
_CERT_MANAGER, _KYVERNO, _KYVERNO_POLICIES = "cert-manager.io", "kyverno.io", "policies.kyverno.io"
_XP_KUBERNETES, _XP_KUBERNETES_M = "kubernetes.crossplane.io", "kubernetes.m.crossplane.io"

KINDS: tuple[KindInfo, ...] = (
    # Judged, in the order of the webhook's routes (and of the chart's webhook entries).
    KindInfo("", "v1", "Namespace", "namespaces", _C, judged=True, index="tg_namespaces"),
    KindInfo("", "v1", "Secret", "secrets", _N, judged=True, index="tg_secrets"),
    KindInfo("", "v1", "Pod", "pods", _N, judged=True, subresources=("ephemeralcontainers",),
             connects=(Connect("exec", "PodExecOptions"), Connect("attach", "PodAttachOptions"),
                       Connect("portforward", "PodPortForwardOptions"))),
    KindInfo("", "v1", "ReplicationController", "replicationcontrollers", _N, judged=True),
    KindInfo("apps", "v1", "Deployment", "deployments", _N, judged=True),
    KindInfo("apps", "v1", "StatefulSet", "statefulsets", _N, judged=True),
    KindInfo("apps", "v1", "DaemonSet", "daemonsets", _N, judged=True),
    KindInfo("apps", "v1", "ReplicaSet", "replicasets", _N, judged=True),
    KindInfo("batch", "v1", "Job", "jobs", _N, judged=True),
    KindInfo("batch", "v1", "CronJob", "cronjobs", _N, judged=True),
    KindInfo(_RBAC, "v1", "RoleBinding", "rolebindings", _N, judged=True),
    KindInfo(_RBAC, "v1", "ClusterRoleBinding", "clusterrolebindings", _C, judged=True),
    KindInfo("", "v1", "PersistentVolume", "persistentvolumes", _C, judged=True, index="tg_volumes"),
    KindInfo("storage.k8s.io", "v1", "StorageClass", "storageclasses", _C, judged=True, index="tg_storage_classes"),
    KindInfo(_GATEWAY, "*", "ReferenceGrant", "referencegrants", _N, judged=True),
    KindInfo("secrets-store.csi.x-k8s.io", "*", "SecretProviderClass", "secretproviderclasses", _N, judged=True),
    KindInfo(_ESO, "*", "ExternalSecret", "externalsecrets", _N, judged=True),
    KindInfo(_ESO, "*", "ClusterExternalSecret", "clusterexternalsecrets", _C, judged=True),
    KindInfo(_ESO, "*", "PushSecret", "pushsecrets", _N, judged=True),
    KindInfo(_ESO, "*", "ClusterPushSecret", "clusterpushsecrets", _C, judged=True),
    KindInfo(_ESO, "*", "SecretStore", "secretstores", _N, judged=True, index="tg_secret_stores"),
    KindInfo(_ESO, "*", "ClusterSecretStore", "clustersecretstores", _C, judged=True,
             index="tg_cluster_secret_stores"),
    KindInfo("bitnami.com", "*", "SealedSecret", "sealedsecrets", _N, judged=True, index="tg_sealed_secrets"),
    KindInfo(_VSO, "*", "VaultStaticSecret", "vaultstaticsecrets", _N, judged=True),
    KindInfo(_VSO, "*", "VaultDynamicSecret", "vaultdynamicsecrets", _N, judged=True),
    KindInfo(_VSO, "*", "VaultPKISecret", "vaultpkisecrets", _N, judged=True),
    KindInfo(_VSO, "*", "VaultAuth", "vaultauths", _N, judged=True),
    KindInfo(_VSO, "*", "VaultAuthGlobal", "vaultauthglobals", _N, judged=True),
    KindInfo(_VSO, "*", "HCPAuth", "hcpauths", _N, judged=True),
    KindInfo(_VSO, "*", "HCPVaultSecretsApp", "hcpvaultsecretsapps", _N, judged=True),
    KindInfo(_ESO_GENERATORS, "*", "VaultDynamicSecret", "vaultdynamicsecrets", _N, judged=True,
             route="generators-vaultdynamicsecrets"),
    KindInfo(_ESO_GENERATORS, "*", "ClusterGenerator", "clustergenerators", _C, judged=True),
    KindInfo(_FLUX_HELM, "*", "HelmRelease", "helmreleases", _N, judged=True),
    KindInfo(_FLUX_KUSTOMIZE, "*", "Kustomization", "kustomizations", _N, judged=True),
    KindInfo(_CERT_MANAGER, "*", "Certificate", "certificates", _N, judged=True),
    KindInfo("networking.k8s.io", "v1", "Ingress", "ingresses", _N, judged=True),
    KindInfo(_GATEWAY, "*", "Gateway", "gateways", _N, judged=True),
    KindInfo(_GATEWAY, "*", "ListenerSet", "listenersets", _N, judged=True),
    KindInfo(_KYVERNO, "*", "ClusterPolicy", "clusterpolicies", _C, judged=True),
    KindInfo(_KYVERNO_POLICIES, "*", "GeneratingPolicy", "generatingpolicies", _C, judged=True),
    KindInfo(_KYVERNO_POLICIES, "*", "NamespacedGeneratingPolicy", "namespacedgeneratingpolicies", _N, judged=True),
    KindInfo("apiextensions.crossplane.io", "*", "Composition", "compositions", _C, judged=True),
    KindInfo(_XP_KUBERNETES, "*", "Object", "objects", _C, judged=True, route="xp-kubernetes-objects"),
    KindInfo(_XP_KUBERNETES_M, "*", "Object", "objects", _N, judged=True, route="xp-kubernetes-m-objects"),
    KindInfo("tierguard.io", "*", "TierPolicy", "tierpolicies", _C, judged=True, index="tg_policies", deletes=True),
    KindInfo("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", _N, judged=True,
             index="tg_network_policies", deletes=True),
    # Context only: rules look them up, nothing judges them.
    KindInfo("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", _N, index="tg_claims"),
    KindInfo(_RBAC, "v1", "Role", "roles", _N, index="tg_roles"),
    KindInfo(_RBAC, "v1", "ClusterRole", "clusterroles", _C, index="tg_cluster_roles"),
    # Known only for their scope: reports name them without a namespace.
    KindInfo("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", _C),
    KindInfo("", "v1", "Node", "nodes", _C),
    KindInfo("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", _C),
    KindInfo("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
             "validatingwebhookconfigurations", _C),
    KindInfo("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
             "mutatingwebhookconfigurations", _C),
    KindInfo("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", _C),
    KindInfo("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding",
             "validatingadmissionpolicybindings", _C),
    KindInfo("networking.k8s.io", "v1", "IngressClass", "ingressclasses", _C),
    KindInfo("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", _C),
    KindInfo("storage.k8s.io", "v1", "CSIDriver", "csidrivers", _C),
    KindInfo(_CERT_MANAGER, "*", "ClusterIssuer", "clusterissuers", _C),
    KindInfo("apiregistration.k8s.io", "v1", "APIService", "apiservices", _C),
    KindInfo("snapshot.storage.k8s.io", "*", "VolumeSnapshotClass", "volumesnapshotclasses", _C),
    KindInfo(_GATEWAY, "*", "GatewayClass", "gatewayclasses", _C),
)

BY_FIELD: tuple[FieldJudged, ...] = (
    # Crossplane (crossplane-runtime pkg/xcrd/crd.go, apis/core/v2): its managed resources (category
    # ``managed``), legacy composite resources (``composite``) and claims (``claim``) name the Secret their
    # connection details are written to.
    FieldJudged("crossplane-connection-secrets", ("spec", "writeConnectionSecretToRef"),
                ("managed", "composite", "claim")),
)
"""Judged by a field, whatever their group and kind (``FieldJudged``); after the rows' routes in the webhook's."""

FIELD_BY_ID: dict[str, FieldJudged] = {field.id: field for field in BY_FIELD}


def categories_of(fields: Iterable[FieldJudged]) -> tuple[str, ...]:
    """The CRD categories naming the kinds that carry any of ``fields`` (sorted, once each)."""
    return tuple(sorted({category for field in fields for category in field.categories}))

BY_KEY: dict[GroupKind, KindInfo] = {info.key: info for info in KINDS}

DISCOVERY = BY_KEY[GroupKind("apiextensions.k8s.io", "CustomResourceDefinition")]
"""Watched by kopf itself (not an index of ours) to learn which custom resources are served: the chart grants
list/watch on it besides the indexed rows."""

JUDGED: tuple[KindInfo, ...] = tuple(info for info in KINDS if info.judged)
INDEXED: tuple[KindInfo, ...] = tuple(info for info in KINDS if info.index is not None)
CONNECTS: dict[GroupKind, tuple[KindInfo, Connect]] = {
    GroupKind(info.group, connect.kind): (info, connect) for info in JUDGED for connect in info.connects}
"""The options kind of each CONNECT subresource (``("", "PodExecOptions")``) -> the row it opens a session
into and the subresource: a review's body is the options, the object is the row's, named by the request."""
AMBIGUOUS_KINDS: frozenset[str] = frozenset({info.kind for info in KINDS if info.scope is Scope.CLUSTER}
                                            & {info.kind for info in KINDS if info.scope is Scope.NAMESPACED})
"""Kind names one group serves cluster-scoped and another namespaced (provider-kubernetes' ``Object``): placed by
name, their scope is read from the object (its namespace, or none), never assumed."""
CLUSTER_SCOPED_KINDS: frozenset[str] = frozenset(
    info.kind for info in KINDS if info.scope is Scope.CLUSTER) - AMBIGUOUS_KINDS
"""By kind name: the engine places objects by kind until lookups use (group, kind) everywhere."""


def group_kinds(*names: str, group: str | None = None) -> frozenset[GroupKind]:
    """The judged rows of these kind names (a rule family's ``KINDS``), of one API ``group`` when two groups
    judge a kind of the same name (Vault Secrets Operator's and External Secrets' ``VaultDynamicSecret``); an
    unknown name is a bug here."""
    found = frozenset(info.key for info in JUDGED if info.kind in names and group in (None, info.group))
    missing = set(names) - {key.kind for key in found}
    if missing:
        raise LookupError(f"not judged kinds in tierguard.kinds.KINDS: {sorted(missing)}")
    return found


def connect_kinds(*names: str) -> frozenset[GroupKind]:
    """The options kinds of these names (a rule family's ``KINDS``); an unknown name is a bug here."""
    found = frozenset(key for key in CONNECTS if key.kind in names)
    missing = set(names) - {key.kind for key in found}
    if missing:
        raise LookupError(f"not CONNECT options kinds in tierguard.kinds.KINDS: {sorted(missing)}")
    return found


def listed() -> tuple[KindInfo, ...]:
    """What the audit lists: every judged or indexed kind, Namespaces first (tiers before anything judged)."""
    rows = {info.key: info for info in (*JUDGED, *INDEXED)}
    return tuple(sorted(rows.values(), key=lambda info: (info.kind != "Namespace", info.group, info.kind)))


BY_NAME: dict[str, KindInfo] = {}
"""Kind name -> its row, for objects that carry no apiVersion (each name is one row of the table)."""
for _info in KINDS:
    BY_NAME.setdefault(_info.kind, _info)


def group_of(api_version: str) -> str:
    """``apps/v1`` -> ``apps``; ``v1`` (the core group) -> ``""``."""
    return api_version.rpartition("/")[0]


def row_of(api_version: object, kind: object) -> KindInfo | None:
    """The row an object is by its apiVersion's group and its kind: a Volcano ``batch.volcano.sh/v1alpha1`` Job
    is not the ``batch/v1`` Job. An object without an apiVersion (a hand-written fragment) is taken by its kind
    name. None: not a kind tierguard knows."""
    if not isinstance(kind, str) or not kind:
        return None
    if not isinstance(api_version, str) or not api_version:
        return BY_NAME.get(kind)
    return BY_KEY.get(GroupKind(group_of(api_version), kind))


def connect_of(api_version: object, kind: object) -> tuple[KindInfo, Connect] | None:
    """The row and subresource a CONNECT options body (``v1`` ``PodExecOptions``) opens a session into; None
    for any other body. Without an apiVersion, by its kind name, as ``row_of``."""
    if not isinstance(kind, str) or not kind:
        return None
    if not isinstance(api_version, str) or not api_version:
        return next((found for key, found in CONNECTS.items() if key.kind == kind), None)
    return CONNECTS.get(GroupKind(group_of(api_version), kind))
