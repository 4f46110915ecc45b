"""Shapes found in Flux's, Kyverno's and cert-manager's own manifests, judged at `kubectl
apply` with the projects' CRDs installed (the controllers do not run).

Flux: a Kustomization's `patches` and a HelmRelease's `postRenderers` putting kubernetes-replicator's annotation
on the Secrets they deploy. Kyverno: kyverno/policies' argo-cluster-generation-from-rancher-capi shape (a Secret
made from `data` read by `apiCall` in every triggering namespace, into one namespace), and a GeneratingPolicy in
Kyverno 1.18's camelCase (`resource.get`, `generator.apply`). cert-manager: an Ingress whose
`cert-manager.io/secret-template` the shim rejects is admitted (the shim then issues nothing). Each refused
shape with its admitted variant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .support.kube import Cluster
from .support.tierguard import TIER_LABEL, apply, assert_admitted, assert_refused, eventually
from .test_controllers_cmky import cluster_objects, ingress, kyverno  # noqa: F401 - fixtures and helpers
from .test_controllers_flux import flux, kustomization, release  # noqa: F401 - fixtures and helpers

NamespaceFactory = Callable[..., str]
REPLICATION = "secret-replication-cross-tier"
PUSH = "replicator.v1.mittwald.de/replicate-to"
Named = Callable[[dict[str, Any]], dict[str, Any]]


def tiered(namespace: NamespaceFactory, tier: str) -> str:
    return namespace(labels={TIER_LABEL: tier})


def _secret_patch(into: str) -> list[dict[str, Any]]:
    return [{"target": {"kind": "Secret"},
             "patch": f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: any\n  annotations:\n    {PUSH}: {into}\n"}]


def test_flux_patches_pushing_every_secret_into_another_tier(cluster: Cluster, namespace: NamespaceFactory,
                                                             flux: None) -> None:  # noqa: F811
    dev, dev_b, prod = tiered(namespace, "dev"), tiered(namespace, "dev"), tiered(namespace, "prod")

    def refused() -> str:
        result = apply(cluster, kustomization(dev, patches=_secret_patch(prod)))
        assert_refused(result, REPLICATION)
        return result.stderr

    assert "(spec.patches[0].patch)" in eventually(refused)
    renderers = [{"kustomize": {"patches": _secret_patch(prod)}}]
    assert_refused(apply(cluster, release(dev, postRenderers=renderers)), REPLICATION)
    assert_admitted(apply(cluster, kustomization(dev, patches=_secret_patch(dev_b))))


def rancher_clusters(target: str, namespace_selector: dict[str, Any] | None = None) -> dict[str, Any]:
    """kyverno/policies' argo-cluster-generation-from-rancher-capi, cut down to its read and its write."""
    resources: dict[str, Any] = {"kinds": ["provisioning.cattle.io/v1/Cluster"]}
    if namespace_selector is not None:
        resources["namespaceSelector"] = namespace_selector
    return {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "argo-clusters"},
            "spec": {"rules": [{
                "name": "source-rancher-cluster-secret", "match": {"all": [{"resources": resources}]},
                "context": [{"name": "kubeconfigData", "apiCall": {
                    "urlPath": "/api/v1/namespaces/{{request.object.metadata.namespace}}/secrets/"
                               "{{request.object.metadata.name}}-kubeconfig",
                    "jmesPath": "data | to_string(@)"}}],
                "generate": {"apiVersion": "v1", "kind": "Secret", "name": "cluster-{{request.object.metadata.name}}",
                             "namespace": target, "synchronize": True,
                             "data": {"type": "Opaque", "data": {"config": "{{ kubeconfigData | base64_encode(@) }}"}}},
            }]}}


def camel_case_clone(source: str, selector: dict[str, Any] | None = None) -> dict[str, Any]:
    """kyverno/kyverno's conformance test generating-policies/clone/nosync/generate-secrets (Kyverno 1.18 names)."""
    constraints: dict[str, Any] = {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                      "operations": ["CREATE", "UPDATE"], "resources": ["namespaces"]}]}
    if selector is not None:
        constraints["namespaceSelector"] = selector
    return {"apiVersion": "policies.kyverno.io/v1", "kind": "GeneratingPolicy",
            "metadata": {"name": "generate-secrets"},
            "spec": {"matchConstraints": constraints,
                     "variables": [{"name": "nsName", "expression": "object.metadata.name"},
                                   {"name": "sources", "expression": f'resource.list("v1", "secrets", "{source}")'}],
                     "generate": [{"expression": "generator.apply(variables.nsName, [variables.sources])"}]}}


def test_kyverno_policies_gathering_or_cloning_secrets_across_tiers(
        cluster: Cluster, namespace: NamespaceFactory, kyverno: None,  # noqa: F811
        cluster_objects: Named) -> None:  # noqa: F811
    prod = tiered(namespace, "prod")
    only_prod = {"matchLabels": {TIER_LABEL: "prod"}}

    def refused() -> str:
        result = apply(cluster, cluster_objects(rancher_clusters(prod)))
        assert_refused(result, REPLICATION)
        return result.stderr

    assert f"into a Secret of namespace {prod} (tier prod)" in eventually(refused)
    assert_admitted(apply(cluster, cluster_objects(rancher_clusters(prod, only_prod))))
    assert_refused(apply(cluster, cluster_objects(camel_case_clone(prod))), REPLICATION)
    assert_admitted(apply(cluster, cluster_objects(camel_case_clone(prod, only_prod))))


def test_ingress_secret_template_the_shim_rejects_is_admitted(cluster: Cluster, namespace: NamespaceFactory) -> None:
    dev, prod = tiered(namespace, "dev"), tiered(namespace, "prod")
    eventually(lambda: assert_refused(apply(cluster, ingress(dev, {"annotations": {PUSH: prod}})), REPLICATION))
    assert_admitted(apply(cluster, ingress(dev, {"annotations": {PUSH: prod}, "data": {}})))
