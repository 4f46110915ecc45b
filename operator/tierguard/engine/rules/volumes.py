"""``volume-secret-cross-tier``: storage whose secret references cross tiers.

A PersistentVolume's CSI/legacy secret refs name a namespace; a tiered one must be its claim's tier (a PV bound to
no claim may be claimed by any tier, so it must not name a tiered namespace). A StorageClass is usable by every
tier, so its ``*-secret-namespace`` parameters must be ``${pvc.namespace}``, not a fixed tiered namespace. A Pod
or template whose claim is backed by such storage is refused too. A secret ref into an *untiered* namespace is the
platform's storage credential (e.g. ``ceph-csi``), allowed for every tier: the StorageClass rule allows it, and the
PVs its provisioner creates carry the same ref, so refusing them would break dynamic provisioning.

Refused: a PV with ``claimRef.namespace: dev`` and ``csi.nodePublishSecretRef.namespace: prod``; a StorageClass
with ``csi.storage.k8s.io/node-publish-secret-namespace: prod``. Allowed: ``${pvc.namespace}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule, in_tier
from tierguard.engine.objects import mapping_at, mappings_at, name_of, str_at
from tierguard.engine.podspec import SECRET_REF_PLUGINS, WORKLOAD_KINDS, ClaimUse, claim_uses
from tierguard.engine.rules import RuleFacts, RuleFamily, owned
from tierguard.kinds import group_kinds

FACTS = (
    RuleFacts(Rule.VOLUME_SECRET_CROSS_TIER,
              "A volume or storage class whose secret references point into another tier."),
)
RULES = owned(FACTS)
KINDS = group_kinds(*WORKLOAD_KINDS, "PersistentVolume", "StorageClass")

CLAIM_TEMPLATES = "volumeClaimTemplates"
"""A StatefulSet's claim templates (``spec.<this>``): each provisions storage from a StorageClass."""

_CSI_SECRET_REFS = (
    "nodePublishSecretRef", "nodeStageSecretRef", "controllerPublishSecretRef",
    "controllerExpandSecretRef", "nodeExpandSecretRef",
)


def check(subject: Candidate) -> Iterator[Finding]:
    if subject.kind == "PersistentVolume":
        yield from _volume_findings(subject, subject.obj)
    elif subject.kind == "StorageClass":
        yield from _storage_class_findings(subject, subject.obj)
    else:
        yield from _workload_findings(subject)


def volume_secret_namespaces(volume: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(namespace, field path) of every secret reference of a PersistentVolume that names a namespace."""
    spec = mapping_at(volume, "spec", "spec")
    found: list[tuple[str, str]] = []
    csi = mapping_at(spec, "csi", "spec.csi")
    for field in _CSI_SECRET_REFS:
        ref = mapping_at(csi, field, f"spec.csi.{field}")
        namespace = str_at(ref, "namespace", f"spec.csi.{field}.namespace")
        if namespace:
            found.append((namespace, f"spec.csi.{field}.namespace"))
    for plugin in SECRET_REF_PLUGINS:
        ref = mapping_at(mapping_at(spec, plugin, f"spec.{plugin}"), "secretRef", f"spec.{plugin}.secretRef")
        namespace = str_at(ref, "namespace", f"spec.{plugin}.secretRef.namespace")
        if namespace:
            found.append((namespace, f"spec.{plugin}.secretRef.namespace"))
    azure = mapping_at(spec, "azureFile", "spec.azureFile")
    namespace = str_at(azure, "secretNamespace", "spec.azureFile.secretNamespace")
    if namespace:
        found.append((namespace, "spec.azureFile.secretNamespace"))
    return found


def storage_class_secret_namespaces(storage_class: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(fixed namespace, path) of StorageClass secret-namespace parameters that are not per-claim templates."""
    parameters = mapping_at(storage_class, "parameters", "parameters")
    found = []
    for key, value in parameters.items():
        lowered = str(key).lower()
        if not (lowered.endswith("secret-namespace") or lowered.endswith("secretnamespace")):
            continue
        if isinstance(value, str) and value and "${" not in value:
            found.append((value, f"parameters[{key}]"))
    return found


def _reached_by_workload(subject: Candidate, how: str, path: str, namespace: str, *, secret_tier: str,
                         via: str) -> Iterator[Finding]:
    """A workload whose storage (reached ``how``) reads a Secret of another tier's namespace."""
    if secret_tier != subject.tier:
        yield Finding(
            Rule.VOLUME_SECRET_CROSS_TIER,
            f"{subject.ref} ({in_tier(subject.tier)}) {how}, whose {path} names namespace {namespace} "
            f"(tier {secret_tier})",
            via,
        )


def _volume_findings(subject: Candidate, volume: Mapping[str, Any], *, via: str = "") -> Iterator[Finding]:
    claim_ref = mapping_at(mapping_at(volume, "spec", "spec"), "claimRef", "spec.claimRef")
    claim_namespace = str_at(claim_ref, "namespace", "spec.claimRef.namespace")
    claim_tier = subject.tier_of(claim_namespace) if claim_namespace else None
    for namespace, path in volume_secret_namespaces(volume):
        secret_tier = subject.tier_of(namespace)
        name = f"PersistentVolume {name_of(volume)}"
        if secret_tier is None:
            continue  # an untiered (platform) namespace: see the module docstring
        if via:
            yield from _reached_by_workload(subject, f"mounts {name}", path, namespace, secret_tier=secret_tier,
                                            via=via)
        elif claim_namespace and secret_tier != claim_tier:
            yield Finding(
                Rule.VOLUME_SECRET_CROSS_TIER,
                f"{name} is claimed from namespace {claim_namespace} ({in_tier(claim_tier)}) but its "
                f"secret reference names namespace {namespace} ({in_tier(secret_tier)}); "
                f"reference a Secret of the claim's tier",
                path,
                tier=claim_tier or secret_tier,
            )
        elif not claim_namespace:
            yield Finding(
                Rule.VOLUME_SECRET_CROSS_TIER,
                f"{name} names a Secret in namespace {namespace} (tier {secret_tier}) but is not bound to a "
                f"claim, so any tier could claim it; pre-bind it with spec.claimRef to a {secret_tier} claim",
                path,
                tier=secret_tier,
            )


def _storage_class_findings(subject: Candidate, storage_class: Mapping[str, Any], *, via: str = ""
                            ) -> Iterator[Finding]:
    name = f"StorageClass {name_of(storage_class)}"
    for namespace, path in storage_class_secret_namespaces(storage_class):
        secret_tier = subject.tier_of(namespace)
        if secret_tier is None:
            continue  # an untiered (platform) namespace: see the module docstring
        if via:
            yield from _reached_by_workload(subject, f"provisions storage from {name}", path, namespace,
                                            secret_tier=secret_tier, via=via)
        else:
            yield Finding(
                Rule.VOLUME_SECRET_CROSS_TIER,
                f"{name} is usable by every tier but its {path} names namespace {namespace} (tier "
                f"{secret_tier}); use ${{pvc.namespace}} so each claim uses a Secret of its own namespace",
                path,
                tier=secret_tier,
            )


def _workload_findings(subject: Candidate) -> Iterator[Finding]:
    site = subject.pod_site()
    if site is None:
        return
    namespace = subject.namespace or "default"
    uses = list(claim_uses(site))
    if subject.kind == "StatefulSet":
        spec = mapping_at(subject.obj, "spec", "spec")
        for template, path in mappings_at(spec, CLAIM_TEMPLATES, f"spec.{CLAIM_TEMPLATES}"):
            template_spec = mapping_at(template, "spec", f"{path}.spec")
            storage_class = str_at(template_spec, "storageClassName", f"{path}.spec.storageClassName")
            if storage_class:
                uses.append(ClaimUse(path=path, storage_class=storage_class))
            elif template_spec.get("storageClassName") is None:
                uses.append(ClaimUse(path=path, default_class=True))
    for use in uses:
        storage_class_name, default_class = use.storage_class, use.default_class
        if use.claim:
            volume = subject.context.volume_for_claim(namespace, use.claim)
            if volume is not None:
                yield from _volume_findings(subject, volume, via=use.path)
                continue
            claim = subject.context.claim(namespace, use.claim)
            claim_spec = claim.get("spec") if claim else None
            value = claim_spec.get("storageClassName") if isinstance(claim_spec, Mapping) else None
            storage_class_name = value if isinstance(value, str) else ""
            # No storageClassName at all (not ""): the API server gives the claim the default StorageClass.
            default_class = isinstance(claim_spec, Mapping) and value is None
        if default_class:
            for default in subject.context.default_storage_classes():
                yield from _storage_class_findings(subject, default, via=use.path)
            continue
        provisioner = subject.context.storage_class(storage_class_name) if storage_class_name else None
        if provisioner is not None:
            yield from _storage_class_findings(subject, provisioner, via=use.path)


FAMILY = RuleFamily("volumes", KINDS, RULES, check, FACTS)
