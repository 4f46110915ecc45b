"""What rules may ask about other objects: the Context protocol and the offline implementation.

Rules never do I/O; every cross-object question goes through a Context. The webhook answers from kopf
indexes (a LiveContext), ``tierguard check`` from the input documents (OfflineContext). Every lookup is a dict
access or a walk over its matches, never a scan of all objects per question.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tierguard.engine.fingerprints import Fingerprint, Fingerprinter
from tierguard.engine.fleet_sets import FleetSets, ForeignHolder
from tierguard.engine.model import Malformed
from tierguard.engine.objects import annotations_of, is_terminating, labels_of, name_of, namespace_of
from tierguard.engine.posture import denies_all_ingress
from tierguard.engine.projection import Projected, check_fingerprinter
from tierguard.engine.secrets import SecretView
from tierguard.kinds import row_of

__all__ = ["EMPTY", "Context", "NamespaceView", "OfflineContext", "SecretView"]

EMPTY: Mapping[str, str] = {}


@dataclass(frozen=True)
class NamespaceView:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    terminating: bool = False
    """Being deleted: the namespace controller is deleting its objects, which no rule may hold up."""

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> NamespaceView:
        return cls(name_of(obj), labels_of(obj), annotations_of(obj), is_terminating(obj))


class Context(Protocol):
    """Cross-object lookups the rules need. Implementations must answer from memory, without I/O."""

    @property
    def fingerprinter(self) -> Fingerprinter: ...

    def namespace(self, name: str) -> NamespaceView | None: ...

    def namespaces(self) -> Iterable[NamespaceView]:
        """Every known namespace: replication targets given as regexes or selectors resolve against these."""
        ...

    def secret(self, namespace: str, name: str) -> SecretView | None: ...

    def fingerprint_holders(self, digest: bytes) -> Iterable[SecretView]:
        """Secrets holding a value with this keyed digest (under any key)."""
        ...

    def persistent_volume(self, name: str) -> Mapping[str, Any] | None: ...

    def volume_for_claim(self, namespace: str, claim: str) -> Mapping[str, Any] | None:
        """The PersistentVolume bound (or pre-bound) to a claim, if known: ``claimed_volume(self, ...)``."""
        ...

    def volume_claimed_by(self, namespace: str, claim: str) -> Mapping[str, Any] | None:
        """The PersistentVolume whose ``spec.claimRef`` names this claim, if known."""
        ...

    def claim(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...

    def storage_class(self, name: str) -> Mapping[str, Any] | None: ...

    def default_storage_classes(self) -> Iterable[Mapping[str, Any]]:
        """StorageClasses annotated as the default: a claim without ``storageClassName`` gets one of them."""
        ...

    def role_rules(self, kind: str, namespace: str | None, name: str) -> Sequence[Mapping[str, Any]] | None:
        """Rules of a Role (namespaced) or ClusterRole (namespace None); None when the role is unknown."""
        ...

    def secret_store(self, kind: str, namespace: str | None, name: str) -> Mapping[str, Any] | None: ...

    def cluster_role_aggregation(self, name: str) -> Sequence[Mapping[str, Any]] | None:
        """``aggregationRule.clusterRoleSelectors`` of a ClusterRole; None when it has none or is unknown."""
        ...

    def cluster_role_labels(self) -> Iterable[tuple[str, Mapping[str, str]]]:
        """(name, labels) of every ClusterRole: an aggregated role's selectors resolve against these."""
        ...

    def default_deny_ingress_policies(self, namespace: str) -> Collection[str]:
        """Names of the namespace's NetworkPolicies that deny all ingress (``posture.denies_all_ingress``)."""
        ...

    def foreign_holders(self, fingerprint: Fingerprint) -> Sequence[ForeignHolder]:
        """Other clusters of the fleet, with their tiers, whose published set holds this value (docs/fleet.md);
        empty without a fleet."""
        ...


class OfflineContext:
    """A Context built from a set of manifests, as ``tierguard check`` reads them."""

    def __init__(self, fingerprinter: Fingerprinter) -> None:
        self._fingerprinter = fingerprinter
        self._namespaces: dict[str, NamespaceView] = {}
        self._secrets: dict[tuple[str, str], SecretView] = {}
        self._holders: dict[bytes, list[SecretView]] = defaultdict(list)
        self._volumes: dict[str, Mapping[str, Any]] = {}
        self._volume_by_claim: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._claims: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._storage_classes: dict[str, Mapping[str, Any]] = {}
        self._default_storage_classes: dict[str, Mapping[str, Any]] = {}
        self._roles: dict[tuple[str, str | None, str], Sequence[Mapping[str, Any]]] = {}
        self._stores: dict[tuple[str, str | None, str], Mapping[str, Any]] = {}
        self._aggregations: dict[str, Sequence[Mapping[str, Any]]] = {}
        self._cluster_role_labels: dict[str, Mapping[str, str]] = {}
        self._default_deny: dict[str, set[str]] = defaultdict(set)
        self.fleet = FleetSets.empty()
        """What the other clusters of a fleet published (``tierguard audit`` of several clusters sets it)."""

    @property
    def fingerprinter(self) -> Fingerprinter:
        return self._fingerprinter

    @classmethod
    def from_objects(
        cls,
        objects: Iterable[Mapping[str, Any] | Projected],
        fingerprinter: Fingerprinter,
        namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> OfflineContext:
        """Index the objects; ``namespace_labels`` adds namespaces known only by name (``--namespace-tier``).

        Objects that cannot be indexed (malformed) are left out: their own evaluation reports them. A projected
        Secret must have been fingerprinted with ``fingerprinter`` (ValueError otherwise: its data is gone).
        """
        context = cls(fingerprinter)
        for item in objects:
            if isinstance(item, Projected):
                check_fingerprinter(item, fingerprinter)
                if isinstance(item.secret, Malformed):
                    continue
            try:
                if isinstance(item, Projected):
                    context.add(item.obj, item.secret if isinstance(item.secret, SecretView) else None)
                else:
                    context.add(item)
            except Exception:
                continue
        for name, labels in (namespace_labels or {}).items():
            known = context._namespaces.get(name)
            merged = {**(known.labels if known else {}), **labels}
            context._namespaces[name] = NamespaceView(name, merged, known.annotations if known else {},
                                                      known.terminating if known else False)
        return context

    def add(self, obj: Mapping[str, Any], view: SecretView | None = None) -> None:
        """Index one object; ``view``: a Secret's view made earlier with this context's fingerprinter (its
        ``obj`` may then hold no data, see ``engine/projection.py``)."""
        row = row_of(obj.get("apiVersion"), obj.get("kind"))
        if row is None:  # a kind of another group that shares a name (a CRD's "Secret") is not context
            return
        kind = row.kind
        name = name_of(obj)
        namespace = namespace_of(obj) or "default"
        if kind == "Namespace":
            self._namespaces[name] = NamespaceView.from_object(obj)
        elif kind in ("Secret", "SealedSecret"):
            if view is None:
                view = SecretView.from_object(obj, self._fingerprinter, namespace)
            existing = self._secrets.get((namespace, name))
            if existing is None or existing.kind == "SealedSecret":
                self._secrets[(namespace, name)] = view
            for fingerprint in view.fingerprints:
                self._holders[fingerprint.digest].append(view)
        elif kind == "PersistentVolume":
            self._volumes[name] = obj
            claim_ref = _spec(obj).get("claimRef")
            if isinstance(claim_ref, Mapping) and claim_ref.get("name"):
                key = (str(claim_ref.get("namespace") or "default"), str(claim_ref["name"]))
                self._volume_by_claim[key] = obj
        elif kind == "PersistentVolumeClaim":
            self._claims[(namespace, name)] = obj
        elif kind == "StorageClass":
            self._storage_classes[name] = obj
            if is_default_storage_class(obj):
                self._default_storage_classes[name] = obj
        elif kind in ("Role", "ClusterRole"):
            rules = obj.get("rules") or []
            if isinstance(rules, list):
                scope = namespace if kind == "Role" else None
                self._roles[(str(kind), scope, name)] = [r for r in rules if isinstance(r, Mapping)]
            if kind == "ClusterRole":
                self._cluster_role_labels[name] = labels_of(obj)
                selectors = aggregation_selectors(obj)
                if selectors is not None:
                    self._aggregations[name] = selectors
        elif kind in ("SecretStore", "ClusterSecretStore"):
            scope = namespace if kind == "SecretStore" else None
            self._stores[(str(kind), scope, name)] = obj
        elif kind == "NetworkPolicy" and denies_all_ingress(obj):
            self._default_deny[namespace].add(name)

    def namespace(self, name: str) -> NamespaceView | None:
        return self._namespaces.get(name)

    def namespaces(self) -> Iterable[NamespaceView]:
        return self._namespaces.values()

    def secret(self, namespace: str, name: str) -> SecretView | None:
        return self._secrets.get((namespace, name))

    def fingerprint_holders(self, digest: bytes) -> Iterable[SecretView]:
        return self._holders.get(digest, ())

    def secret_views(self) -> Iterable[SecretView]:
        """Every Secret known (one view each): what a cluster of a several-cluster audit holds per tier."""
        return self._secrets.values()

    def persistent_volume(self, name: str) -> Mapping[str, Any] | None:
        return self._volumes.get(name)

    def volume_for_claim(self, namespace: str, claim: str) -> Mapping[str, Any] | None:
        return claimed_volume(self, namespace, claim)

    def volume_claimed_by(self, namespace: str, claim: str) -> Mapping[str, Any] | None:
        return self._volume_by_claim.get((namespace, claim))

    def claim(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._claims.get((namespace, name))

    def storage_class(self, name: str) -> Mapping[str, Any] | None:
        return self._storage_classes.get(name)

    def default_storage_classes(self) -> Iterable[Mapping[str, Any]]:
        return self._default_storage_classes.values()

    def role_rules(self, kind: str, namespace: str | None, name: str) -> Sequence[Mapping[str, Any]] | None:
        return self._roles.get((kind, namespace if kind == "Role" else None, name))

    def secret_store(self, kind: str, namespace: str | None, name: str) -> Mapping[str, Any] | None:
        return self._stores.get((kind, namespace if kind == "SecretStore" else None, name))

    def cluster_role_aggregation(self, name: str) -> Sequence[Mapping[str, Any]] | None:
        return self._aggregations.get(name)

    def cluster_role_labels(self) -> Iterable[tuple[str, Mapping[str, str]]]:
        return self._cluster_role_labels.items()

    def default_deny_ingress_policies(self, namespace: str) -> Collection[str]:
        return self._default_deny.get(namespace, frozenset())

    def foreign_holders(self, fingerprint: Fingerprint) -> Sequence[ForeignHolder]:
        return self.fleet.holders(fingerprint.digest, fingerprint.secondary)


DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")


def is_default_storage_class(storage_class: Mapping[str, Any]) -> bool:
    """As the API server's DefaultStorageClass admission reads it: the annotation set to "true"."""
    annotations = annotations_of(storage_class)
    return any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS)


def aggregation_selectors(cluster_role: Mapping[str, Any]) -> Sequence[Mapping[str, Any]] | None:
    """The label selectors of a ClusterRole's ``aggregationRule``; None when it is not aggregated."""
    rule = cluster_role.get("aggregationRule")
    if not isinstance(rule, Mapping):
        return None
    selectors = rule.get("clusterRoleSelectors")
    return [s for s in selectors if isinstance(s, Mapping)] if isinstance(selectors, list) else []


def claimed_volume(context: Context, namespace: str, claim: str) -> Mapping[str, Any] | None:
    """The one answer to ``Context.volume_for_claim``: the PV whose claimRef names the claim, else the PV the
    claim names in ``spec.volumeName`` (pre-bound), else None."""
    bound = context.volume_claimed_by(namespace, claim)
    if bound is not None:
        return bound
    volume_name = _spec(context.claim(namespace, claim)).get("volumeName")
    return context.persistent_volume(volume_name) if isinstance(volume_name, str) and volume_name else None


def _spec(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    spec = obj.get("spec") if obj else None
    return spec if isinstance(spec, Mapping) else EMPTY
