"""External Secrets Operator's generators and pushes, judged live (issue 25) with ESO's own CRDs
(tests/e2e/crds/external-secrets/SOURCE.md) and no operator: a VaultDynamicSecret generator reading another
tier's path, a ClusterGenerator of a tier's path (it serves every tier), a PushSecret and a ClusterPushSecret
writing into another tier's path, each refused; the variants of their own tier admitted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .support.kube import Cluster, crds_while_absent
from .support.tierguard import TIER_LABEL, apply, assert_admitted, assert_refused, eventually, policy

NamespaceFactory = Callable[..., str]
CRDS = Path(__file__).parent / "crds" / "external-secrets"
RULE = "workload-secret-cross-tier"
PATHS = {"secrets": {"pathPatterns": {"prod": ["prod/*", "database/creds/prod-*"],
                                      "dev": ["dev/*", "database/creds/dev-*"]}}}
GENERATORS = "generators.external-secrets.io/v1alpha1"


@pytest.fixture(scope="module")
def external_secrets(cluster: Cluster) -> Iterator[None]:
    with crds_while_absent(cluster, sorted(CRDS.glob("*.yaml"))):
        yield


def vault_generator_spec(path: str) -> dict[str, Any]:
    return {"path": path, "method": "GET", "provider": {
        "server": "http://vault:8200", "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "eso"}}}}


def push_spec(key: str) -> dict[str, Any]:
    return {"secretStoreRefs": [{"name": "vault", "kind": "ClusterSecretStore"}],
            "selector": {"secret": {"name": "local"}},
            "data": [{"match": {"secretKey": "k", "remoteRef": {"remoteKey": key}}}]}


def test_a_generator_reading_another_tiers_path(cluster: Cluster, namespace: NamespaceFactory,
                                                external_secrets: None) -> None:
    dev = namespace(labels={TIER_LABEL: "dev"})

    def generator(path: str) -> dict[str, Any]:
        return {"apiVersion": GENERATORS, "kind": "VaultDynamicSecret", "metadata": {"name": "db", "namespace": dev},
                "spec": vault_generator_spec(path)}

    with policy(cluster, PATHS):
        def refused() -> str:
            result = apply(cluster, generator("database/creds/prod-ro"))
            assert_refused(result, RULE)
            return result.stderr

        assert "database/creds/prod-ro" in eventually(refused)
        assert_admitted(apply(cluster, generator("database/creds/dev-ro")))


def test_a_cluster_generator_of_a_tiers_path_serves_every_tier(cluster: Cluster, external_secrets: None) -> None:
    name = "tg-e2e-gen"

    def cluster_generator(generator: dict[str, Any], kind: str = "VaultDynamicSecret") -> dict[str, Any]:
        return {"apiVersion": GENERATORS, "kind": "ClusterGenerator", "metadata": {"name": name},
                "spec": {"kind": kind, "generator": generator}}

    with policy(cluster, PATHS):
        try:
            eventually(lambda: assert_refused(apply(cluster, cluster_generator(
                {"vaultDynamicSecretSpec": vault_generator_spec("database/creds/prod-ro")}), "--dry-run=server"),
                RULE))
            assert_admitted(apply(cluster, cluster_generator({"passwordSpec": {"length": 42}}, "Password"),
                                  "--dry-run=server"))
        finally:
            cluster.kubectl("delete", "clustergenerator", name, "--ignore-not-found", check=False)


def test_push_secrets_writing_into_another_tiers_path(cluster: Cluster, namespace: NamespaceFactory,
                                                      external_secrets: None) -> None:
    dev = namespace(labels={TIER_LABEL: "dev"})

    def push(key: str) -> dict[str, Any]:
        return {"apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
                "metadata": {"name": "push", "namespace": dev}, "spec": push_spec(key)}

    def cluster_push(key: str, tier: str) -> dict[str, Any]:
        return {"apiVersion": "external-secrets.io/v1alpha1", "kind": "ClusterPushSecret",
                "metadata": {"name": "tg-e2e-cps"},
                "spec": {"pushSecretName": "push", "pushSecretSpec": push_spec(key),
                         "namespaceSelectors": [{"matchLabels": {TIER_LABEL: tier}}]}}

    with policy(cluster, PATHS):
        eventually(lambda: assert_refused(apply(cluster, push("prod/db")), RULE))
        assert_admitted(apply(cluster, push("dev/db")))
        assert_refused(apply(cluster, cluster_push("prod/db", "dev"), "--dry-run=server"), RULE)
        assert_admitted(apply(cluster, cluster_push("prod/db", "prod"), "--dry-run=server"))
