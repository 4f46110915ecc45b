"""cert-manager and Kyverno objects that open or copy a Secret into another tier, judged at `kubectl apply` with the
projects' own CRDs installed (the controllers do not run: tierguard refuses the objects before anything acts).

cert-manager: a Certificate whose secretTemplate has reflector mirror the issued Secret into every namespace; an
Ingress, a Gateway and a ListenerSet whose `cert-manager.io/secret-template` has kubernetes-replicator push it
into another tier. Kyverno: a ClusterPolicy cloning a Secret into every new namespace (kyverno/policies'
sync-secrets), a GeneratingPolicy doing the same in CEL, a NamespacedGeneratingPolicy reading another tier's
Secret into its own namespace. Each with its admitted variant.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .support.kube import Cluster
from .support.tierguard import TIER_LABEL, apply, assert_admitted, assert_refused, eventually

NamespaceFactory = Callable[..., str]
TESTS = Path(__file__).parents[1]
CERT_MANAGER_CRD = TESTS / "fixtures" / "cert-manager" / "cert-manager.io_certificates.yaml"
KYVERNO_CRDS = TESTS / "e2e" / "crds" / "kyverno"
GATEWAY_CRDS = TESTS / "e2e" / "crds" / "gateway-api"
REPLICATION = "secret-replication-cross-tier"
REFLECTOR = "reflector.v1.k8s.emberstack.com/"


def _installed(cluster: Cluster, crds: list[tuple[Path, str]]) -> Iterator[None]:
    """Install each CRD absent from the cluster for the module, and remove only those afterwards."""
    absent = [(path, name) for path, name in crds if cluster.kubectl("get", "crd", name, check=False).returncode]
    for path, _ in absent:
        cluster.kubectl("apply", "--server-side", "-f", str(path))
    for _, name in absent:
        # A CRD just created may have no status yet, which `kubectl wait` reports as an error: ask again.
        def established(crd: str = name) -> None:
            answer = cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=30s", check=False)
            assert answer.returncode == 0, answer.stderr

        eventually(established, timeout=120)
    yield
    for _, name in absent:
        cluster.kubectl("delete", "crd", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def cert_manager(cluster: Cluster) -> Iterator[None]:
    """cert-manager's Certificate CRD (tests/fixtures/README.md)."""
    yield from _installed(cluster, [(CERT_MANAGER_CRD, "certificates.cert-manager.io")])


@pytest.fixture(scope="module")
def gateway_api(cluster: Cluster) -> Iterator[None]:
    """Gateway API's Gateway and ListenerSet CRDs (tests/e2e/crds/gateway-api/SOURCE.md)."""
    yield from _installed(cluster, [(GATEWAY_CRDS / f"{plural}.yaml", f"{plural}.gateway.networking.k8s.io")
                                    for plural in ("gateways", "listenersets")])


@pytest.fixture(scope="module")
def kyverno(cluster: Cluster) -> Iterator[None]:
    """Kyverno's ClusterPolicy, GeneratingPolicy and NamespacedGeneratingPolicy CRDs (crds/kyverno/SOURCE.md)."""
    yield from _installed(cluster, [
        (KYVERNO_CRDS / "clusterpolicies.yaml", "clusterpolicies.kyverno.io"),
        (KYVERNO_CRDS / "generatingpolicies.yaml", "generatingpolicies.policies.kyverno.io"),
        (KYVERNO_CRDS / "namespacedgeneratingpolicies.yaml", "namespacedgeneratingpolicies.policies.kyverno.io"),
    ])


def tiered(namespace: NamespaceFactory, tier: str) -> str:
    return namespace(labels={TIER_LABEL: tier})


def certificate(ns: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "web", "namespace": ns},
            "spec": {"secretName": "web-tls", "commonName": "web", "issuerRef": {"name": "ca", "kind": "Issuer"},
                     "secretTemplate": {"annotations": annotations}}}


def ingress(ns: str, template: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": ns,
                         "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt",
                                         "cert-manager.io/secret-template": json.dumps(template)}},
            "spec": {"rules": [{"host": "web.example.com", "http": {"paths": [{
                "path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}],
                "tls": [{"hosts": ["web.example.com"], "secretName": "web-tls"}]}}


def test_certificate_secret_template_opening_the_secret_to_every_namespace(
        cluster: Cluster, namespace: NamespaceFactory, cert_manager: None) -> None:
    dev, dev_b = tiered(namespace, "dev"), tiered(namespace, "dev")

    def refused() -> str:
        result = apply(cluster, certificate(dev, {REFLECTOR + "reflection-allowed": "true",
                                                  REFLECTOR + "reflection-auto-enabled": "true"}))
        assert_refused(result, REPLICATION)
        return result.stderr

    stderr = eventually(refused)
    assert f"has cert-manager issue Secret {dev}/web-tls" in stderr and "spec.secretTemplate" in stderr
    assert_admitted(apply(cluster, certificate(dev, {REFLECTOR + "reflection-allowed": "true",
                                                     REFLECTOR + "reflection-allowed-namespaces": dev_b})))


def test_ingress_secret_template_pushing_the_secret_into_another_tier(
        cluster: Cluster, namespace: NamespaceFactory) -> None:
    dev, dev_b, prod = tiered(namespace, "dev"), tiered(namespace, "dev"), tiered(namespace, "prod")
    push = "replicator.v1.mittwald.de/replicate-to"
    result = eventually(lambda: _refused(apply(cluster, ingress(dev, {"annotations": {push: prod}}))))
    assert f"Secret {dev}/web-tls (spec.tls[0].secretName)" in result and f"{prod} (tier prod)" in result
    assert_admitted(apply(cluster, ingress(dev, {"annotations": {push: dev_b}})))


def gateway(ns: str, template: dict[str, Any], kind: str = "Gateway") -> dict[str, Any]:
    owner = {"parentRef": {"name": "shared"}} if kind == "ListenerSet" else {"gatewayClassName": "example"}
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": kind,
            "metadata": {"name": "web", "namespace": ns,
                         "annotations": {"cert-manager.io/issuer": "ca",
                                         "cert-manager.io/secret-template": json.dumps(template)}},
            "spec": {**owner, "listeners": [{
                "name": "https", "hostname": "web.example.com", "port": 443, "protocol": "HTTPS",
                "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "web-tls"}]}}]}}


@pytest.mark.parametrize("kind", ["Gateway", "ListenerSet"])
def test_gateway_secret_template_pushing_the_secret_into_another_tier(
        cluster: Cluster, namespace: NamespaceFactory, gateway_api: None, kind: str) -> None:
    dev, dev_b, prod = tiered(namespace, "dev"), tiered(namespace, "dev"), tiered(namespace, "prod")
    push = "replicator.v1.mittwald.de/replicate-to"
    result = eventually(lambda: _refused(apply(cluster, gateway(dev, {"annotations": {push: prod}}, kind))))
    assert f"{kind} {dev}/web has cert-manager's ingress-shim issue Secret {dev}/web-tls " \
           "(spec.listeners[0].tls.certificateRefs[0].name)" in result
    assert_admitted(apply(cluster, gateway(dev, {"annotations": {push: dev_b}}, kind)))


def _refused(result: Any) -> str:
    assert_refused(result, REPLICATION)
    return str(result.stderr)


@pytest.fixture
def cluster_objects(cluster: Cluster) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    """Names cluster-scoped objects uniquely and deletes the ones a test created."""
    made: list[tuple[str, str]] = []

    def named(manifest: dict[str, Any]) -> dict[str, Any]:
        name = f"{manifest['metadata']['name']}-{uuid.uuid4().hex[:6]}"
        made.append((manifest["kind"].lower(), name))
        return {**manifest, "metadata": {**manifest["metadata"], "name": name}}

    yield named
    for kind, name in made:
        cluster.kubectl("delete", kind, name, "--ignore-not-found", "--wait=false", check=False)


def sync_secrets(source: str, match: dict[str, Any]) -> dict[str, Any]:
    """kyverno/policies' other/sync-secrets, cloning regcred from ``source``."""
    return {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "sync-secrets"},
            "spec": {"rules": [{"name": "sync-image-pull-secret", "match": {"any": [{"resources": match}]},
                                "generate": {"apiVersion": "v1", "kind": "Secret", "name": "regcred",
                                             "namespace": "{{request.object.metadata.name}}", "synchronize": True,
                                             "clone": {"namespace": source, "name": "regcred"}}}]}}


def clone_pull_secret(source: str, selector: dict[str, Any] | None = None) -> dict[str, Any]:
    """Kyverno's GeneratingPolicy documentation example, cloning regcred from ``source``."""
    constraints: dict[str, Any] = {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                      "operations": ["CREATE"], "resources": ["namespaces"]}]}
    if selector is not None:
        constraints["namespaceSelector"] = selector
    return {"apiVersion": "policies.kyverno.io/v1", "kind": "GeneratingPolicy",
            "metadata": {"name": "clone-image-pull-secret"},
            "spec": {"matchConstraints": constraints,
                     "variables": [{"name": "targetNs", "expression": "object.metadata.name"},
                                   {"name": "sourceSecret",
                                    "expression": f'resource.Get("v1", "secrets", "{source}", "regcred")'}],
                     "generate": [{"expression": "generator.Apply(variables.targetNs, [variables.sourceSecret])"}]}}


def test_kyverno_cluster_policy_cloning_a_secret_into_every_namespace(
        cluster: Cluster, namespace: NamespaceFactory, kyverno: None,
        cluster_objects: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    prod = tiered(namespace, "prod")
    every = eventually(lambda: _refused(apply(cluster, cluster_objects(sync_secrets(prod, {"kinds": ["Namespace"]})))))
    assert f"copies Secret {prod}/regcred (tier prod) into" in every and "any new namespace" in every
    only_prod = {"kinds": ["Namespace"], "selector": {"matchLabels": {TIER_LABEL: "prod"}}}
    assert_admitted(apply(cluster, cluster_objects(sync_secrets(prod, only_prod))))


def test_kyverno_generating_policy_cloning_a_secret_into_every_namespace(
        cluster: Cluster, namespace: NamespaceFactory, kyverno: None,
        cluster_objects: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    prod = tiered(namespace, "prod")
    eventually(lambda: _refused(apply(cluster, cluster_objects(clone_pull_secret(prod)))))
    only_prod = {"matchLabels": {TIER_LABEL: "prod"}}
    assert_admitted(apply(cluster, cluster_objects(clone_pull_secret(prod, only_prod))))


def test_kyverno_namespaced_generating_policy_reading_another_tiers_secret(
        cluster: Cluster, namespace: NamespaceFactory, kyverno: None) -> None:
    dev, dev_b, prod = tiered(namespace, "dev"), tiered(namespace, "dev"), tiered(namespace, "prod")

    def policy_reading(source: str) -> dict[str, Any]:
        return {"apiVersion": "policies.kyverno.io/v1", "kind": "NamespacedGeneratingPolicy",
                "metadata": {"name": "copy-regcred", "namespace": dev},
                "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                                 "operations": ["CREATE"], "resources": ["pods"]}]},
                         "variables": [{"name": "source",
                                        "expression": f'resource.Get("v1", "secrets", "{source}", "regcred")'}],
                         "generate": [{"expression": "generator.Apply([variables.source])"}]}}

    refused = eventually(lambda: _refused(apply(cluster, policy_reading(prod))))
    assert f"copies Secret {prod}/regcred (tier prod) into namespace {dev} (tier dev)" in refused
    assert_admitted(apply(cluster, policy_reading(dev_b)))
