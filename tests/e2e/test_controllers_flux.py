"""Flux's HelmRelease and Kustomization judged at `kubectl apply`, with Flux's own CRDs installed (the controllers
do not run: tierguard refuses the objects before anything reconciles them).

A dev HelmRelease whose values from a Secret reach a release (or its release record) in prod, or whose chart
source is prod's; a dev Kustomization deploying into prod, decrypting with its SOPS keys into prod, building
from prod's source, or pushing every Secret it deploys into prod (commonMetadata); each with its admitted variant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .support.kube import Cluster, crds_while_absent
from .support.tierguard import TIER_LABEL, apply, assert_admitted, assert_refused, eventually

NamespaceFactory = Callable[..., str]
CRDS = Path(__file__).parent / "crds" / "flux"
REPLICATION, WORKLOAD = "secret-replication-cross-tier", "workload-secret-cross-tier"


@pytest.fixture(scope="module")
def flux(cluster: Cluster) -> Iterator[None]:
    """Flux's own HelmRelease and Kustomization CRDs (tests/e2e/crds/flux/SOURCE.md), installed when absent."""
    with crds_while_absent(cluster, [CRDS / "helmreleases.yaml", CRDS / "kustomizations.yaml"]):
        yield


def tiered(namespace: NamespaceFactory, tier: str) -> str:
    return namespace(labels={TIER_LABEL: tier})


def release(ns: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("chart", {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}})
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": ns}, "spec": {"interval": "5m", **spec}}


def kustomization(ns: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("sourceRef", {"kind": "GitRepository", "name": "podinfo"})
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "podinfo", "namespace": ns},
            "spec": {"interval": "10m", "path": "./kustomize", "prune": True, **spec}}


def test_helm_release_values_from_a_secret_into_another_tier(cluster: Cluster, namespace: NamespaceFactory,
                                                             flux: None) -> None:
    dev, dev_b, prod = tiered(namespace, "dev"), tiered(namespace, "dev"), tiered(namespace, "prod")
    values = [{"kind": "Secret", "name": "podinfo-values"}]

    def refused() -> str:
        result = apply(cluster, release(dev, targetNamespace=prod, storageNamespace=prod, valuesFrom=values))
        assert_refused(result, REPLICATION)
        return result.stderr

    message = eventually(refused)
    assert f"takes values from Secret {dev}/podinfo-values" in message
    assert f"namespace {prod} (tier prod)" in message
    assert_refused(apply(cluster, release(dev, storageNamespace=prod, valuesFrom=values)), REPLICATION)
    # The release record in dev would hold the rendered manifests of a release in prod.
    assert_refused(apply(cluster, release(dev, targetNamespace=prod)), REPLICATION)
    assert_admitted(apply(cluster, release(dev, targetNamespace=dev_b, storageNamespace=dev_b, valuesFrom=values)))


def test_helm_release_chart_from_another_tiers_source(cluster: Cluster, namespace: NamespaceFactory,
                                                      flux: None) -> None:
    dev, dev_b, prod = tiered(namespace, "dev"), tiered(namespace, "dev"), tiered(namespace, "prod")

    def chart(source_namespace: str) -> dict[str, Any]:
        return {"spec": {"chart": "podinfo",
                         "sourceRef": {"kind": "HelmRepository", "name": "podinfo", "namespace": source_namespace}}}

    eventually(lambda: assert_refused(apply(cluster, release(dev, chart=chart(prod))), WORKLOAD))
    assert_admitted(apply(cluster, release(dev, chart=chart(dev_b))))


def test_kustomization_into_or_from_another_tier(cluster: Cluster, namespace: NamespaceFactory, flux: None) -> None:
    dev, dev_b, prod = tiered(namespace, "dev"), tiered(namespace, "dev"), tiered(namespace, "prod")
    sops = {"provider": "sops", "secretRef": {"name": "sops-age"}}

    def refused() -> str:
        result = apply(cluster, kustomization(dev, targetNamespace=prod, decryption=sops))
        assert_refused(result, REPLICATION)
        return result.stderr

    assert f"SOPS keys of Secret {dev}/sops-age into namespace {prod} (tier prod)" in eventually(refused)
    assert_refused(apply(cluster, kustomization(dev, targetNamespace=prod)), WORKLOAD)
    assert_refused(apply(cluster, kustomization(dev, targetNamespace=prod, kubeConfig={
        "secretRef": {"name": "kubeconfig"}})), WORKLOAD)
    assert_refused(apply(cluster, kustomization(dev, sourceRef={"kind": "GitRepository", "name": "podinfo",
                                                                "namespace": prod})), WORKLOAD)
    assert_refused(apply(cluster, kustomization(dev, commonMetadata={
        "annotations": {"replicator.v1.mittwald.de/replicate-to": prod}})), REPLICATION)
    assert_admitted(apply(cluster, kustomization(dev, targetNamespace=dev_b, decryption=sops,
                                                 sourceRef={"kind": "GitRepository", "name": "podinfo",
                                                            "namespace": dev_b})))
