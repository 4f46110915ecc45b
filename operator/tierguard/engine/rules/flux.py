"""Flux (``helm.toolkit.fluxcd.io`` HelmRelease, ``kustomize.toolkit.fluxcd.io`` Kustomization): releases and
Kustomizations that deploy across tiers or read another tier's source.

It owns no rule id: writing its own namespace's secret material into another tier is
``secret-replication-cross-tier`` (``replication.py``), reading another tier's source or deploying into another
tier is ``workload-secret-cross-tier`` (``workloads.py``). What Flux does, from its own source and docs
(fluxcd/helm-controller ``api/v2/helmrelease_types.go``, ``internal/action/config.go``,
``docs/spec/v2/helmreleases.md``; fluxcd/kustomize-controller ``api/v1/kustomization_types.go``,
``docs/spec/v1/kustomizations.md``):

- HelmRelease: ``valuesFrom[]`` reads ConfigMaps and Secrets of the HelmRelease's own namespace; the chart is
  rendered with them into ``targetNamespace`` and Helm's release record (a Secret holding the values and the
  rendered manifests, the default ``secret`` storage driver) is written into ``storageNamespace``; both default
  to the HelmRelease's namespace. A ``valuesFrom`` Secret whose values reach a namespace of another tier through
  either is refused (replication); so is a target and a storage of different tiers, since the record in one holds
  the rendered Secrets of the other (replication); a target of another tier otherwise (workload: what the release
  runs there reads that tier's Secrets, under this tier's control). ``chart.spec.sourceRef.namespace`` (the
  HelmChart is made in the source's namespace, with its credentials) and ``chartRef.namespace`` into another
  tier: workload.
- Kustomization: ``sourceRef.namespace`` into another tier (its manifests, fetched with that source's
  credentials): workload. ``targetNamespace`` in another tier: the Secrets it decrypts (``decryption``, SOPS keys
  of ``decryption.secretRef``) and the values of ``postBuild.substituteFrom[]`` Secrets are written there
  (replication); without either, deploying there is workload.
- ``kubeConfig`` (``secretRef`` or ``configMapRef``) points the release at the cluster of the kubeconfig: its
  target and storage namespaces are that cluster's, so only a namespace known here with a tier is judged (taken
  to be the same namespace), with the kubeconfig's credentials named in the message.
- ``commonMetadata`` (both kinds) puts its labels and annotations on every object deployed, each Secret among
  them: replication annotations there (reflector, kubernetes-replicator, config-syncer) are judged as on a Secret
  of the target namespace (replication). So are those kustomize patches put on the Secrets they select (a
  Kustomization's ``patches``, a HelmRelease's ``postRenderers[].kustomize``: ``flux_patches.py``).
- ``serviceAccountName`` and the controllers' ``--no-cross-namespace-refs`` / ``--default-service-account``
  lockdown do not change the verdict: tierguard cannot see the controllers' flags, and under them such an
  object only fails later, at reconcile.

Refused, in ``dev``: a HelmRelease with ``targetNamespace: prod`` and ``valuesFrom: [{kind: Secret, name: db}]``.
Allowed: ``targetNamespace: dev-b`` (tier dev).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule, in_tier
from tierguard.engine.objects import mapping_at, mappings_at, str_at, string_map_at
from tierguard.engine.rules import RuleFacts, RuleFamily
from tierguard.engine.rules.flux_patches import SecretPatch, secret_patches
from tierguard.engine.rules.replication import replication_findings
from tierguard.engine.secrets import SecretView
from tierguard.kinds import group_kinds

FACTS: tuple[RuleFacts, ...] = ()
"""It owns no rule id: what it finds is ``secret-replication-cross-tier`` (``replication.py``) or
``workload-secret-cross-tier`` (``workloads.py``)."""
RULES = frozenset({Rule.SECRET_REPLICATION_CROSS_TIER, Rule.WORKLOAD_SECRET_CROSS_TIER, Rule.POLICY_INVALID})
HELM_RELEASE = "HelmRelease"
KUSTOMIZATION = "Kustomization"
KINDS = group_kinds(HELM_RELEASE, KUSTOMIZATION)

_UNPLACED = "\0unplaced"
"""A namespace of a kubeconfig's cluster that tierguard cannot place (not known here with a tier)."""


@dataclass(frozen=True)
class Place:
    """A namespace the object writes into, as it lies in this cluster's tiers."""

    namespace: str
    field: str
    """The field naming it; empty when it is the object's own namespace by default."""
    tier: str | None
    shown: str
    """``namespace prod (tier prod)``, or ``... (not known, so untiered)``."""


def check(subject: Candidate) -> Iterator[Finding]:
    spec = mapping_at(subject.obj, "spec", "spec")
    if subject.kind == HELM_RELEASE:
        yield from _helm_release(subject, spec)
    else:
        yield from _kustomization(subject, spec)


def _helm_release(subject: Candidate, spec: Mapping[str, Any]) -> Iterator[Finding]:
    chart = mapping_at(mapping_at(spec, "chart", "spec.chart"), "spec", "spec.chart.spec")
    yield from _source_finding(subject, mapping_at(chart, "sourceRef", "spec.chart.spec.sourceRef"),
                               "spec.chart.spec.sourceRef", "takes its chart from",
                               "the HelmChart is made in that namespace, with that source's credentials")
    yield from _source_finding(subject, mapping_at(spec, "chartRef", "spec.chartRef"), "spec.chartRef",
                               "takes its chart from", "that tier's artifact, fetched with its credentials")
    kubeconfig = _kubeconfig(subject, spec)
    target = _place(subject, spec, "targetNamespace", kubeconfig)
    storage = _place(subject, spec, "storageNamespace", kubeconfig)
    reached = []
    if _crosses(subject, target):
        reached.append(f"renders them into its release in {target.shown} ({target.field})")
    if _crosses(subject, storage):
        reached.append(f"keeps them in Helm's release record (a Secret) in {storage.shown} ({storage.field})")
    secrets = [(str_at(item, "name", f"{path}.name"), path)
               for item, path in mappings_at(spec, "valuesFrom", "spec.valuesFrom")
               if str_at(item, "kind", f"{path}.kind") == "Secret"]
    if reached:
        for name, path in secrets:
            yield Finding(
                Rule.SECRET_REPLICATION_CROSS_TIER,
                f"{_head(subject)} takes values from Secret {subject.namespace}/{name} and {' and '.join(reached)}"
                f"{kubeconfig}; keep the release and its record in tier {subject.tier}, or give the HelmRelease "
                "of the other tier a Secret of its own",
                path,
            )
    if target.tier != storage.tier and _UNPLACED not in (target.tier, storage.tier):
        yield Finding(
            Rule.SECRET_REPLICATION_CROSS_TIER,
            f"{_head(subject)} keeps Helm's release record in {storage.shown}: a Secret holding the rendered "
            f"manifests, Secrets included, of its release in {target.shown}{kubeconfig}; set storageNamespace and "
            "targetNamespace to namespaces of one tier",
            storage.field or target.field,
        )
    elif _crosses(subject, target) and not secrets:
        yield _deploys_into(subject, target, kubeconfig)
    yield from _deployed_metadata(subject, spec, target, _post_renderer_patches(spec))


def _post_renderer_patches(spec: Mapping[str, Any]) -> Iterator[SecretPatch]:
    for renderer, path in mappings_at(spec, "postRenderers", "spec.postRenderers"):
        kustomize = mapping_at(renderer, "kustomize", f"{path}.kustomize")
        yield from secret_patches(kustomize, f"{path}.kustomize")


def _kustomization(subject: Candidate, spec: Mapping[str, Any]) -> Iterator[Finding]:
    yield from _source_finding(subject, mapping_at(spec, "sourceRef", "spec.sourceRef"), "spec.sourceRef",
                               "builds its manifests from",
                               "that tier's manifests, fetched with that source's credentials")
    kubeconfig = _kubeconfig(subject, spec)
    target = _place(subject, spec, "targetNamespace", kubeconfig)
    yield from _deployed_metadata(subject, spec, target, secret_patches(spec, "spec"))
    # Without targetNamespace each manifest keeps its own namespace, which only the source holds.
    if not target.field or not _crosses(subject, target):
        return
    carried = []
    decryption = mapping_at(spec, "decryption", "spec.decryption")
    if decryption:
        keys = str_at(mapping_at(decryption, "secretRef", "spec.decryption.secretRef"), "name",
                      "spec.decryption.secretRef.name")
        carried.append((f"the Secrets it decrypts with the SOPS keys of Secret {subject.namespace}/{keys}" if keys
                        else "the Secrets it decrypts (SOPS)",
                        "spec.decryption.secretRef.name" if keys else "spec.decryption"))
    post_build = mapping_at(spec, "postBuild", "spec.postBuild")
    for item, path in mappings_at(post_build, "substituteFrom", "spec.postBuild.substituteFrom"):
        if str_at(item, "kind", f"{path}.kind") == "Secret":
            name = str_at(item, "name", f"{path}.name")
            carried.append((f"values of Secret {subject.namespace}/{name} (postBuild.substituteFrom)", path))
    for what, path in carried:
        yield Finding(
            Rule.SECRET_REPLICATION_CROSS_TIER,
            f"{_head(subject)} writes {what} into {target.shown} ({target.field}){kubeconfig}; target a namespace "
            f"of tier {subject.tier}, or deploy there from a Kustomization of that tier with its own keys",
            path,
        )
    if not carried:
        yield _deploys_into(subject, target, kubeconfig)


def _head(subject: Candidate) -> str:
    return f"{subject.ref} ({in_tier(subject.tier)})"


def _kubeconfig(subject: Candidate, spec: Mapping[str, Any]) -> str:
    """How the message names the kubeconfig the object deploys with; empty: this cluster."""
    config = mapping_at(spec, "kubeConfig", "spec.kubeConfig")
    if not config:
        return ""
    secret = str_at(mapping_at(config, "secretRef", "spec.kubeConfig.secretRef"), "name",
                    "spec.kubeConfig.secretRef.name")
    if secret:
        return f", with the kubeconfig credentials of Secret {subject.namespace}/{secret}"
    return ", with the kubeconfig of spec.kubeConfig"


def _place(subject: Candidate, spec: Mapping[str, Any], key: str, kubeconfig: str) -> Place:
    written = str_at(spec, key, f"spec.{key}")
    namespace = written or subject.namespace or "default"
    field = f"spec.{key}" if written else ""
    if namespace == subject.namespace:
        return Place(namespace, field, subject.tier, f"namespace {namespace} ({in_tier(subject.tier)})")
    known = subject.context.namespace(namespace) is not None
    tier = subject.tier_of(namespace)
    if kubeconfig and tier is None:
        # The kubeconfig's cluster: a namespace tierguard cannot place there is not judged.
        return Place(namespace, field, _UNPLACED, f"namespace {namespace}")
    where = in_tier(tier) if known else "not known, so untiered"
    return Place(namespace, field, tier, f"namespace {namespace} ({where})")


def _crosses(subject: Candidate, place: Place) -> bool:
    return place.tier not in (subject.tier, _UNPLACED)


def _deploys_into(subject: Candidate, target: Place, kubeconfig: str) -> Finding:
    return Finding(
        Rule.WORKLOAD_SECRET_CROSS_TIER,
        f"{_head(subject)} deploys into {target.shown}{kubeconfig}, where what it runs reads that tier's Secrets "
        f"under tier {subject.tier}'s control; target a namespace of tier {subject.tier}, or deploy there from a "
        f"{subject.kind} of that tier",
        target.field,
    )


def _deployed_metadata(subject: Candidate, spec: Mapping[str, Any], target: Place, patched: Iterable[SecretPatch]
                       ) -> Iterator[Finding]:
    """Replication annotations ``commonMetadata`` puts on every Secret deployed, and those kustomize patches put on
    the Secrets they select (``flux_patches.py``), judged as on a Secret of the target namespace (the object's own
    without ``targetNamespace``); a target of another tier is refused already."""
    if _crosses(subject, target):
        return
    common = mapping_at(spec, "commonMetadata", "spec.commonMetadata")
    if common:
        every = SecretPatch("spec.commonMetadata", "*", string_map_at(common, "labels", "spec.commonMetadata.labels"),
                            string_map_at(common, "annotations", "spec.commonMetadata.annotations"))
        yield from _judged_metadata(subject, target, every, f"every Secret {subject.ref} deploys (spec.commonMetadata)",
                                    lambda path: path.replace("metadata.", "spec.commonMetadata.", 1))
    for patch in patched:
        what = f"Secret {target.namespace}/{patch.name} that" if patch.name != "*" else "every Secret"
        yield from _judged_metadata(subject, target, patch, f"{what} {subject.ref} deploys ({patch.path})",
                                    _at(patch.path))


def _at(field: str) -> Callable[[str], str]:
    """Every finding at the patch's field: a patch is a string, its lines are not fields of the object."""
    return lambda _path: field


def _judged_metadata(subject: Candidate, target: Place, patch: SecretPatch, shown: str,
                     path_of: Callable[[str], str]) -> Iterator[Finding]:
    view = SecretView(target.namespace, patch.name, "Secret", patch.labels, patch.annotations)
    prefix = f"{view.kind} {view.ref}"
    for finding in replication_findings(view, subject):
        yield Finding(
            finding.rule,
            finding.message.replace(prefix, shown, 1),
            path_of(finding.path),
            related=finding.related,
            requester_message=None if finding.requester_message is None
            else finding.requester_message.replace(prefix, shown, 1),
        )


def _source_finding(subject: Candidate, ref: Mapping[str, Any], base: str, verb: str, why: str
                    ) -> Iterator[Finding]:
    namespace = str_at(ref, "namespace", f"{base}.namespace")
    # An exempt namespace is the platform's (a flux-system listed in exemptions): its shared sources serve every tier.
    if namespace and namespace != subject.namespace and subject.is_foreign(namespace):
        kind = str_at(ref, "kind", f"{base}.kind") or "source"
        name = str_at(ref, "name", f"{base}.name")
        yield Finding(
            Rule.WORKLOAD_SECRET_CROSS_TIER,
            f"{_head(subject)} {verb} {kind} {namespace}/{name} ({in_tier(subject.tier_of(namespace))}): {why}; "
            f"use a source of tier {subject.tier}",
            f"{base}.namespace",
        )


FAMILY = RuleFamily("flux", KINDS, RULES, check, FACTS)
