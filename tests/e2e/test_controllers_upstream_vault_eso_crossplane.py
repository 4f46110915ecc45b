"""Shapes found in the projects' own manifests, judged live with their own CRDs and no controller:
provider-kubernetes' Object reading another tier's Secret into a manifest (its patches-from example, cluster-scoped
and namespaced: a new webhook entry each), a PushSecret whose PushSecretMetadata has the kubernetes provider write
into another tier's namespace, and a VaultAuth whose allowedNamespaces holds a glob (VSO reads names exactly: it
lets no namespace in, so it is admitted), an HCPAuth open to every namespace and an HCPVaultSecretsApp using
another tier's HCPAuth (two new webhook entries), a Composition gathering every claim's connection Secrets into
a tiered namespace (a new webhook entry). Each with its admitted or refused variant."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .support.kube import Cluster, crds_while_absent
from .support.tierguard import apply, assert_admitted, assert_refused, eventually
from .test_controllers_crossplane import cluster_objects, provider_kubernetes, tiered

__all__ = ["cluster_objects", "provider_kubernetes"]  # the fixtures, imported for pytest

NamespaceFactory = Callable[..., str]
CRDS = Path(__file__).parent / "crds"
REPLICATION = "secret-replication-cross-tier"
WORKLOAD = "workload-secret-cross-tier"


@pytest.fixture(scope="module")
def external_secrets(cluster: Cluster) -> Iterator[None]:
    with crds_while_absent(cluster, sorted((CRDS / "external-secrets").glob("*.yaml"))):
        yield


@pytest.fixture(scope="module")
def vault_secrets_operator(cluster: Cluster) -> Iterator[None]:
    with crds_while_absent(cluster, sorted((CRDS / "vault-secrets-operator").glob("*.yaml"))):
        yield


def patching_object(api_version: str, name: str, source: str, target: str, own: str | None = None
                    ) -> dict[str, Any]:
    """provider-kubernetes' examples/*/object/references/patches-from-resource.yaml, reading Secret ``bar``."""
    metadata: dict[str, Any] = {"name": name, **({"namespace": own} if own else {})}
    return {"apiVersion": api_version, "kind": "Object", "metadata": metadata, "spec": {
        "references": [{"patchesFrom": {"apiVersion": "v1", "kind": "Secret", "name": "bar", "namespace": source,
                                        "fieldPath": "data.key"}, "toFieldPath": "data.key-from-bar"}],
        "forProvider": {"manifest": {"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"namespace": target}, "data": {"sample-key": "sample-value"}}},
        # The namespaced API requires the config's kind (ProviderConfig or ClusterProviderConfig).
        "providerConfigRef": {"name": "kubernetes-provider", **({"kind": "ClusterProviderConfig"} if own else {})}}}


def test_an_object_patching_another_tiers_secret_into_its_manifest(
        cluster: Cluster, namespace: NamespaceFactory, provider_kubernetes: None, cluster_objects: list[str]) -> None:
    dev, prod, prod_b = tiered(namespace, "dev"), tiered(namespace, "prod"), tiered(namespace, "prod")
    cluster_objects.extend([f"{dev}-foo", f"{prod_b}-foo"])

    def refused() -> str:
        result = apply(cluster, patching_object("kubernetes.crossplane.io/v1alpha2", f"{dev}-foo", prod, dev))
        assert_refused(result, REPLICATION)
        return result.stderr

    assert f"Secret {prod}/bar (tier prod)" in eventually(refused)
    assert_admitted(apply(cluster, patching_object("kubernetes.crossplane.io/v1alpha2", f"{prod_b}-foo", prod,
                                                   prod_b)))
    namespaced = "kubernetes.m.crossplane.io/v1alpha1"
    assert_refused(apply(cluster, patching_object(namespaced, "foo", prod, dev, own=dev)), REPLICATION)
    assert_admitted(apply(cluster, patching_object(namespaced, "foo", prod, prod_b, own=prod_b)))


def test_a_push_secret_writing_into_another_tier_by_its_metadata(
        cluster: Cluster, namespace: NamespaceFactory, external_secrets: None) -> None:
    dev, dev_b, prod = tiered(namespace, "dev"), tiered(namespace, "dev"), tiered(namespace, "prod")

    def push(remote: str) -> dict[str, Any]:
        return {"apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
                "metadata": {"name": "push", "namespace": dev},
                "spec": {"secretStoreRefs": [{"name": "kubernetes", "kind": "ClusterSecretStore"}],
                         "selector": {"secret": {"name": "local"}},
                         "data": [{"match": {"secretKey": "k", "remoteRef": {"remoteKey": "copy"}},
                                   "metadata": {"apiVersion": "kubernetes.external-secrets.io/v1alpha1",
                                                "kind": "PushSecretMetadata", "spec": {"remoteNamespace": remote}}}]}}

    def refused() -> str:
        result = apply(cluster, push(prod))
        assert_refused(result, WORKLOAD)
        return result.stderr

    assert "remoteNamespace" in eventually(refused)
    assert_admitted(apply(cluster, push(dev_b)))


def test_a_vault_auth_glob_lets_no_namespace_in(cluster: Cluster, namespace: NamespaceFactory,
                                                vault_secrets_operator: None) -> None:
    prod, dev = tiered(namespace, "prod"), tiered(namespace, "dev")

    def vault_auth(allowed: list[str]) -> dict[str, Any]:
        return {"apiVersion": "secrets.hashicorp.com/v1beta1", "kind": "VaultAuth",
                "metadata": {"name": "auth", "namespace": prod},
                "spec": {"method": "kubernetes", "mount": "kubernetes", "allowedNamespaces": allowed,
                         "kubernetes": {"role": "app", "serviceAccount": "default"}}}

    eventually(lambda: assert_refused(apply(cluster, vault_auth([dev])), WORKLOAD))
    assert_admitted(apply(cluster, vault_auth(["dev-*", "*", prod])))


def test_hcp_vault_secrets_auth_across_tiers(cluster: Cluster, namespace: NamespaceFactory,
                                            vault_secrets_operator: None) -> None:
    prod, dev = tiered(namespace, "prod"), tiered(namespace, "dev")

    def hcp_auth(allowed: list[str]) -> dict[str, Any]:
        return {"apiVersion": "secrets.hashicorp.com/v1beta1", "kind": "HCPAuth",
                "metadata": {"name": "hcp", "namespace": prod},
                "spec": {"method": "servicePrincipal", "organizationID": "org", "projectID": "project",
                         "servicePrincipal": {"secretRef": "hcp-sp"}, "allowedNamespaces": allowed}}

    def app(auth_ref: str) -> dict[str, Any]:
        return {"apiVersion": "secrets.hashicorp.com/v1beta1", "kind": "HCPVaultSecretsApp",
                "metadata": {"name": "web", "namespace": dev},
                "spec": {"appName": "web", "hcpAuthRef": auth_ref, "destination": {"name": "web", "create": True}}}

    eventually(lambda: assert_refused(apply(cluster, hcp_auth(["*"])), WORKLOAD))
    assert_admitted(apply(cluster, hcp_auth([prod])))
    assert_refused(apply(cluster, app(f"{prod}/hcp")), WORKLOAD)
    assert_admitted(apply(cluster, app("hcp")))


@pytest.fixture
def compositions(cluster: Cluster) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        cluster.kubectl("delete", "compositions.apiextensions.crossplane.io", name, "--wait=false",
                        "--ignore-not-found", check=False)


def test_a_composition_gathering_connection_secrets_into_a_tier(
        cluster: Cluster, namespace: NamespaceFactory, provider_kubernetes: None, compositions: list[str]) -> None:
    prod, untiered = tiered(namespace, "prod"), namespace()

    def composition(name: str, into: str) -> dict[str, Any]:
        """Crossplane's docs' connection-details.md Composition, its pipeline step's input left out."""
        compositions.append(name)
        return {"apiVersion": "apiextensions.crossplane.io/v1", "kind": "Composition", "metadata": {"name": name},
                "spec": {"writeConnectionSecretsToNamespace": into,
                         "compositeTypeRef": {"apiVersion": "example.org/v1alpha1", "kind": "XSecretTest"},
                         "mode": "Pipeline", "pipeline": [{"step": "patch-and-transform",
                                                           "functionRef": {"name": "function-patch-and-transform"}}]}}

    eventually(lambda: assert_refused(apply(cluster, composition(f"{prod}-xsecrettest", prod)), REPLICATION))
    assert_admitted(apply(cluster, composition(f"{untiered}-xsecrettest", untiered)))
