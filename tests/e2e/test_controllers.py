"""Controllers that move secret material between namespaces, judged at `kubectl apply` with their own CRDs
installed (the controllers themselves do not run: tierguard refuses the objects before anything reconciles them).

Vault Secrets Operator: a VaultStaticSecret reading another tier's kv-v2 path, a VaultAuth open to every
namespace, a vaultAuthRef into another tier; each with its admitted variant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .support.kube import Cluster, crds_while_absent
from .support.tierguard import TIER_LABEL, apply, assert_admitted, assert_refused, eventually, policy

NamespaceFactory = Callable[..., str]
CRDS = Path(__file__).parent / "crds"
VSO = "secrets.hashicorp.com/v1beta1"
PATHS = {"secrets": {"pathPatterns": {"prod": ["secret/data/prod/*", "database/creds/prod-*", "pki-prod/*"],
                                      "dev": ["secret/data/dev/*", "database/creds/dev-*", "pki-dev/*"]}}}


@pytest.fixture(scope="module")
def vault_secrets_operator(cluster: Cluster) -> Iterator[None]:
    """VSO's own CRDs (tests/e2e/crds/vault-secrets-operator/SOURCE.md), installed for the module when absent."""
    with crds_while_absent(cluster, sorted((CRDS / "vault-secrets-operator").glob("*.yaml"))):
        yield


def tiered(namespace: NamespaceFactory, tier: str) -> str:
    return namespace(labels={TIER_LABEL: tier})


def vso(kind: str, ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": VSO, "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec}


def static_secret(ns: str, path: str, **spec: Any) -> dict[str, Any]:
    return vso("VaultStaticSecret", ns, "db", {"mount": "secret", "type": "kv-v2", "path": path,
                                                 "destination": {"name": "db", "create": True}, **spec})


def auth(ns: str, **spec: Any) -> dict[str, Any]:
    return vso("VaultAuth", ns, "app", {"method": "kubernetes", "mount": "kubernetes",
                                        "kubernetes": {"role": "app", "serviceAccount": "default"}, **spec})


def test_vault_static_secret_reading_another_tiers_path(cluster: Cluster, namespace: NamespaceFactory,
                                                        vault_secrets_operator: None) -> None:
    dev = tiered(namespace, "dev")
    with policy(cluster, PATHS):
        def refused() -> str:
            result = apply(cluster, static_secret(dev, "prod/web"))
            assert_refused(result, "workload-secret-cross-tier")
            return result.stderr

        assert "'secret/data/prod/web' (kv-v2: <mount>/data/<path>)" in eventually(refused)
        assert_admitted(apply(cluster, static_secret(dev, "dev/web")))


def test_vault_auth_open_to_other_tiers(cluster: Cluster, namespace: NamespaceFactory,
                                        vault_secrets_operator: None) -> None:
    prod, prod_b, dev = tiered(namespace, "prod"), tiered(namespace, "prod"), tiered(namespace, "dev")
    eventually(lambda: assert_refused(apply(cluster, auth(prod, allowedNamespaces=["*"])),
                                      "workload-secret-cross-tier"))
    assert_refused(apply(cluster, auth(prod, allowedNamespaces=[prod_b, dev])), "workload-secret-cross-tier")
    assert_admitted(apply(cluster, auth(prod, allowedNamespaces=[prod_b])))
    # A dev object naming the prod VaultAuth would log in with prod's Vault role.
    assert_refused(apply(cluster, static_secret(dev, "dev/web", vaultAuthRef=f"{prod}/app")),
                   "workload-secret-cross-tier")
    assert_admitted(apply(cluster, static_secret(prod_b, "prod/web", vaultAuthRef=f"{prod}/app")))


def test_vault_dynamic_and_pki_secrets_of_another_tier(cluster: Cluster, namespace: NamespaceFactory,
                                                      vault_secrets_operator: None) -> None:
    """VSO joins ``<mount>/<path>`` for a dynamic secret and ``<mount>/issue/<role>`` for a PKI certificate."""
    dev = tiered(namespace, "dev")
    destination = {"name": "out", "create": True}
    with policy(cluster, PATHS):
        def refused() -> str:
            result = apply(cluster, vso("VaultDynamicSecret", dev, "db", {
                "mount": "database", "path": "creds/prod-ro", "destination": destination}))
            assert_refused(result, "workload-secret-cross-tier")
            return result.stderr

        assert "database/creds/prod-ro" in eventually(refused)
        assert_admitted(apply(cluster, vso("VaultDynamicSecret", dev, "db", {
            "mount": "database", "path": "creds/dev-ro", "destination": destination})))
        pki = apply(cluster, vso("VaultPKISecret", dev, "web", {
            "mount": "pki-prod", "role": "web", "commonName": "web.example", "destination": destination}))
        assert_refused(pki, "workload-secret-cross-tier")
        assert "pki-prod/issue/web" in pki.stderr
        assert_admitted(apply(cluster, vso("VaultPKISecret", dev, "web", {
            "mount": "pki-dev", "role": "web", "commonName": "web.example", "destination": destination})))
