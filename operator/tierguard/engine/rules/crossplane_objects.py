"""provider-kubernetes' ``Object`` (Crossplane): one that copies a Secret of one tier into a namespace of another.

Reported as ``secret-replication-cross-tier`` (the rule's facts live in ``replication.py``). What the provider does,
from its source (crossplane-contrib/provider-kubernetes at 350ef9a, after v1.2.1: ``apis/{cluster,namespaced}/
object``, ``internal/controller/{cluster,namespaced}/object/object.go``): an ``Object`` applies
``spec.forProvider.manifest`` as it is (its namespace is never defaulted, not even to a namespaced Object's own), and

- ``spec.references[].patchesFrom`` reads a field of any object of the control plane, in whatever namespace it
  names (``resolveReferencies``), and patches it into the manifest (at ``toFieldPath``, by default the same
  path): a Secret's ``data`` there lands in the manifest's namespace;
- ``spec.connectionDetails[]`` reads a field of any object, in whatever namespace it names, into the Object's
  connection Secret: ``writeConnectionSecretToRef.namespace`` for the cluster-scoped ``kubernetes.crossplane.io``
  Object, the Object's own namespace for the namespaced ``kubernetes.m.crossplane.io`` one (v2);
- a namespaced Object whose manifest is itself a Secret writes that Secret into the manifest's namespace.

Refused when a Secret read that way is of another tier than where it lands (untiered counts as another, both
ends untiered is nothing to protect), and a namespaced Object writing a Secret into another tier's namespace. A
cluster-scoped Object has no tier: it is enforced in the tier the Secret comes from (or else where it lands).
Namespaces exempt from tierguard (Crossplane's own) are the platform's: not judged. A manifest naming no namespace
is not judged (the provider cannot apply a namespaced one; a cluster-scoped one is in no tier), nor is a ``Secret``
read from another cluster through a ProviderConfig's kubeconfig, which tierguard cannot tell apart offline: it
reads the names as the control plane's. ``dependsOn`` only waits for an object: not judged.

Refused: a cluster-scoped Object whose ``references[0].patchesFrom`` reads Secret ``prod/db`` into a manifest in
namespace ``dev``. Allowed: the same manifest in ``prod-b`` (tier prod).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule, in_tier
from tierguard.engine.objects import mapping_at, mappings_at, str_at
from tierguard.engine.rules import RuleFacts, RuleFamily
from tierguard.engine.secrets import secret_ref
from tierguard.kinds import GroupKind

FACTS: tuple[RuleFacts, ...] = ()
"""It owns no rule id: what it finds is ``secret-replication-cross-tier`` (``replication.py``)."""
RULES = frozenset({Rule.SECRET_REPLICATION_CROSS_TIER, Rule.POLICY_INVALID})
CLUSTER_GROUP, NAMESPACED_GROUP = "kubernetes.crossplane.io", "kubernetes.m.crossplane.io"
KINDS = frozenset({GroupKind(CLUSTER_GROUP, "Object"), GroupKind(NAMESPACED_GROUP, "Object")})


def check(subject: Candidate) -> Iterator[Finding]:
    spec = mapping_at(subject.obj, "spec", "spec")
    manifest = mapping_at(mapping_at(spec, "forProvider", "spec.forProvider"), "manifest",
                          "spec.forProvider.manifest")
    manifest_namespace = _manifest_namespace(manifest)
    if manifest_namespace:
        for reference, path in mappings_at(spec, "references", "spec.references"):
            source = mapping_at(reference, "patchesFrom", f"{path}.patchesFrom")
            yield from _copy(subject, source, f"{path}.patchesFrom", manifest_namespace,
                             "patches it into its manifest, applied in namespace")
    landing = _connection_namespace(subject, spec)
    if landing:
        for detail, path in mappings_at(spec, "connectionDetails", "spec.connectionDetails"):
            yield from _copy(subject, detail, path, landing, "writes it into its connection Secret in namespace")
    if subject.namespace is not None and manifest_namespace and _is_secret(manifest):
        yield from _secret_written(subject, manifest, manifest_namespace)


def _manifest_namespace(manifest: Mapping[str, Any]) -> str:
    return str_at(mapping_at(manifest, "metadata", "spec.forProvider.manifest.metadata"), "namespace",
                  "spec.forProvider.manifest.metadata.namespace")


def _connection_namespace(subject: Candidate, spec: Mapping[str, Any]) -> str:
    """Where the connection Secret is written: a namespaced Object's own namespace (a name only), a cluster-scoped
    one's ``writeConnectionSecretToRef.namespace``; empty when it writes none."""
    at = "spec.writeConnectionSecretToRef"
    ref = mapping_at(spec, "writeConnectionSecretToRef", at)
    if not ref:
        return ""
    return subject.namespace or str_at(ref, "namespace", f"{at}.namespace")


def _is_secret(reference: Mapping[str, Any]) -> bool:
    return reference.get("kind") == "Secret" and reference.get("apiVersion") == "v1"


def _copy(subject: Candidate, source: Mapping[str, Any], path: str, landing: str, how: str) -> Iterator[Finding]:
    """A Secret read at ``path`` that lands in namespace ``landing`` of another tier."""
    if not _is_secret(source):
        return
    namespace = str_at(source, "namespace", f"{path}.namespace")
    name = str_at(source, "name", f"{path}.name")
    if not namespace or namespace == landing or subject.is_exempt(namespace) or subject.is_exempt(landing):
        return
    source_tier, landing_tier = subject.tier_of(namespace), subject.tier_of(landing)
    if source_tier == landing_tier:
        return  # one tier, or both untiered: nothing crosses a tier
    yield Finding(
        Rule.SECRET_REPLICATION_CROSS_TIER,
        f"{_who(subject)} reads Secret {namespace}/{name or '?'} ({in_tier(source_tier)}) by {path} and {how} "
        f"{landing} ({in_tier(landing_tier)}); read only Secrets of {in_tier(landing_tier)} there",
        f"{path}.namespace",
        tier=None if subject.namespace is not None else source_tier or landing_tier,
        related=(secret_ref(namespace, name),) if name else (),
    )


def _secret_written(subject: Candidate, manifest: Mapping[str, Any], namespace: str) -> Iterator[Finding]:
    if namespace == subject.namespace or not subject.is_foreign(namespace):
        return
    name = str_at(mapping_at(manifest, "metadata", "spec.forProvider.manifest.metadata"), "name",
                  "spec.forProvider.manifest.metadata.name")
    where = in_tier(subject.tier_of(namespace))
    yield Finding(
        Rule.SECRET_REPLICATION_CROSS_TIER,
        f"{_who(subject)} applies Secret {namespace}/{name or subject.ref.name} ({where}) from its "
        f"manifest; write Secrets only into namespaces of {in_tier(subject.tier)}",
        "spec.forProvider.manifest.metadata.namespace",
    )


def _who(subject: Candidate) -> str:
    return f"{subject.ref} ({in_tier(subject.tier)})" if subject.namespace is not None else f"{subject.ref}"


FAMILY = RuleFamily("crossplane-objects", KINDS, RULES, check, FACTS)
