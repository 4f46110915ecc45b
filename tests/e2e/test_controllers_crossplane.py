"""Crossplane's connection Secrets judged at `kubectl apply`, with provider-kubernetes' own CRDs installed (neither
Crossplane nor the provider runs: tierguard refuses the objects before anything reconciles them).

Crossplane's kinds have no fixed API group, so the chart's webhook entry for them is every group and resource,
narrowed by a CEL matchCondition to objects carrying ``spec.writeConnectionSecretToRef``: a managed resource of a
dev claim writing its connection Secret into prod is refused, its admitted variants are admitted, with no
tierguard replica running nothing that lacks the field is held up (the condition never errs), and `tierguard audit`
finds such a managed resource admitted earlier by its CRD's category.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .support.kube import Cluster, crds_while_absent
from .support.tierguard import (
    NAMESPACE,
    SELECTOR,
    TIER_LABEL,
    apply,
    assert_admitted,
    assert_refused,
    eventually,
    policy,
)
from .test_audit import run_audit
from .test_install import RELEASE, pods, stop_replicas, wait_rolled_out

NamespaceFactory = Callable[..., str]
CRDS = Path(__file__).parent / "crds" / "crossplane"
OBJECT = "kubernetes.crossplane.io/v1alpha2"
NAMESPACED_OBJECT = "kubernetes.m.crossplane.io/v1alpha1"
RULE = "secret-replication-cross-tier"


@pytest.fixture(scope="module")
def provider_kubernetes(cluster: Cluster) -> Iterator[None]:
    """provider-kubernetes' own CRDs (tests/e2e/crds/crossplane/SOURCE.md), installed for the module when absent."""
    with crds_while_absent(cluster, sorted(CRDS.glob("*.yaml"))):
        yield


LOOSE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "looses.tg-e2e.example.org"},
    "spec": {"group": "tg-e2e.example.org", "scope": "Cluster",
             "names": {"plural": "looses", "singular": "loose", "kind": "Loose", "listKind": "LooseList"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
}
"""Written for the test (no project's): a kind whose objects may give ``spec`` any type, for the matchCondition's
never-erring steps (``object.spec`` a string, a list, a number)."""


@pytest.fixture
def loose_kind(cluster: Cluster) -> Iterator[str]:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(LOOSE_CRD))
    cluster.kubectl("wait", "--for=condition=Established", "crd/looses.tg-e2e.example.org", "--timeout=60s")
    yield "tg-e2e.example.org/v1"
    cluster.kubectl("delete", "crd", "looses.tg-e2e.example.org", "--wait=false", check=False)


@pytest.fixture
def cluster_objects(cluster: Cluster) -> Iterator[list[str]]:
    """Names of cluster-scoped Objects a test made, deleted after it (no namespace takes them away)."""
    made: list[str] = []
    yield made
    for name in made:
        cluster.kubectl("delete", "objects.kubernetes.crossplane.io", name, "--wait=false", "--ignore-not-found",
                        check=False)


def tiered(namespace: NamespaceFactory, tier: str) -> str:
    return namespace(labels={TIER_LABEL: tier})


def managed(made: list[str], target: dict[str, str] | None, claim_namespace: str | None = None) -> dict[str, Any]:
    """A cluster-scoped provider-kubernetes Object (its examples' connection-details shape), labelled as Crossplane
    labels what a claim's composite composes when ``claim_namespace`` is given."""
    name = f"tg-e2e-{uuid.uuid4().hex[:8]}"
    made.append(name)
    labels = ({"crossplane.io/claim-namespace": claim_namespace, "crossplane.io/claim-name": "app-db",
               "crossplane.io/composite": "app-db-x7k2p"} if claim_namespace else {})
    spec: dict[str, Any] = {"forProvider": {"manifest": {"apiVersion": "v1", "kind": "ConfigMap",
                                                         "metadata": {"name": name, "namespace": "default"}}},
                            "providerConfigRef": {"name": "kubernetes-provider"}}
    if target is not None:
        spec["writeConnectionSecretToRef"] = target
    return {"apiVersion": OBJECT, "kind": "Object", "metadata": {"name": name, "labels": labels}, "spec": spec}


def test_managed_resource_writing_into_another_tier(cluster: Cluster, namespace: NamespaceFactory,
                                                    provider_kubernetes: None, cluster_objects: list[str]) -> None:
    dev, dev_b, prod = tiered(namespace, "dev"), tiered(namespace, "dev"), tiered(namespace, "prod")

    def refused() -> str:
        result = apply(cluster, managed(cluster_objects, {"namespace": prod, "name": "db-conn"}, dev))
        assert_refused(result, RULE)
        return result.stderr

    message = eventually(refused)
    assert f"serves claim {dev}/app-db (tier dev; its label crossplane.io/claim-namespace)" in message
    assert f"into Secret {prod}/db-conn (tier prod)" in message
    assert "set spec.writeConnectionSecretToRef.namespace to a namespace of tier dev" in message
    # Admitted: a namespace of the claim's tier; an Object serving no claim (no tier to compare).
    assert_admitted(apply(cluster, managed(cluster_objects, {"namespace": dev_b, "name": "db-conn"}, dev)))
    assert_admitted(apply(cluster, managed(cluster_objects, {"namespace": prod, "name": "db-conn"})))
    # The prod claim's credentials written into dev are refused too.
    assert_refused(apply(cluster, managed(cluster_objects, {"namespace": dev, "name": "db-conn"}, prod)), RULE)


def test_namespaced_managed_resource_writes_beside_itself(cluster: Cluster, namespace: NamespaceFactory,
                                                          provider_kubernetes: None) -> None:
    """Crossplane v2's namespaced Object (``*.m.*`` group) has a name-only reference: never cross-tier."""
    dev = tiered(namespace, "dev")
    obj = {"apiVersion": NAMESPACED_OBJECT, "kind": "Object", "metadata": {"name": "conn", "namespace": dev},
           "spec": {"forProvider": {"manifest": {"apiVersion": "v1", "kind": "ConfigMap",
                                                 "metadata": {"name": "conn", "namespace": dev}}},
                    "writeConnectionSecretToRef": {"name": "db-conn"}}}
    eventually(lambda: assert_admitted(apply(cluster, obj)))


def test_the_entry_on_every_group_holds_up_nothing_else_while_tierguard_is_down(
        cluster: Cluster, namespace: NamespaceFactory, provider_kubernetes: None,
        cluster_objects: list[str], loose_kind: str) -> None:
    """The API server accepted the entry (rules on every group, the matchCondition) and evaluates the condition
    itself: with no replica, an object carrying the field is refused (fail closed, as any judged kind), while a
    ConfigMap, a Lease, a ProviderConfigUsage (a Crossplane kind without the field), a custom resource without a
    spec and ones whose spec is a string, a list or a number (where an erring condition would refuse them) still
    apply. provider-kubernetes' Object has entries of its own (its references), so it is held as any judged kind."""
    (config,) = cluster.get_json("validatingwebhookconfigurations", "-l", SELECTOR)["items"]
    webhooks = config["webhooks"]
    (entry,) = (hook for hook in webhooks if hook["name"] == "crossplane-connection-secrets.tierguard.io")
    assert entry["rules"][0]["apiGroups"] == ["*"] and entry["matchConditions"][0]["expression"].endswith(
        "has(object.spec.writeConnectionSecretToRef)")
    dev = tiered(namespace, "dev")
    try:
        stop_replicas(cluster)
        judged = apply(cluster, managed(cluster_objects, {"namespace": dev, "name": "db-conn"}, dev))
        assert judged.returncode != 0 and "failed calling webhook" in judged.stderr, judged.stderr
        usage = {"apiVersion": "kubernetes.crossplane.io/v1alpha1", "kind": "ProviderConfigUsage",
                 "metadata": {"name": f"tg-e2e-{uuid.uuid4().hex[:8]}"},
                 "providerConfigRef": {"name": "default"},
                 "resourceRef": {"apiVersion": OBJECT, "kind": "Object", "name": "none"}}
        unrelated = [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain", "namespace": dev},
             "data": {"k": "v"}},
            {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "plain", "namespace": dev},
             "spec": {"holderIdentity": "someone"}},
            usage,
            *({"apiVersion": loose_kind, "kind": "Loose", "metadata": {"name": f"tg-e2e-{index}"}, "spec": spec}
              for index, spec in enumerate(("a string", ["a", "list"], 7))),
        ]
        for manifest in unrelated:
            made = apply(cluster, manifest)
            assert made.returncode == 0, f"{manifest['kind']}: {made.stderr}"
        cluster.kubectl("delete", "-f", "-", "--wait=false", input=json.dumps(usage), check=False)
    finally:
        # Whatever failed above, later tests need tierguard back.
        if len(pods(cluster)) < 2:
            cluster.kubectl("scale", f"deployment/{RELEASE}", "-n", NAMESPACE, "--replicas=2", check=False)
        wait_rolled_out(cluster)


def test_audit_finds_a_cross_tier_managed_resource_by_its_category(cluster: Cluster, namespace: NamespaceFactory,
                                                                   provider_kubernetes: None,
                                                                   cluster_objects: list[str]) -> None:
    """No row of the kinds table names provider-kubernetes' Object: the audit finds it by the category ``managed``
    its CRD gives it, lists it and judges it (admitted while dev was in audit mode, denied under the policy now)."""
    dev, prod = tiered(namespace, "dev"), tiered(namespace, "prod")
    crossing = managed(cluster_objects, {"namespace": prod, "name": "db-conn"}, dev)
    with policy(cluster, {"enforcement": {"perTier": {"dev": "audit"}}}):
        eventually(lambda: assert_admitted(apply(cluster, crossing)))
    done = run_audit(cluster, "-o", "json")
    assert done.returncode == 1, done.stderr
    results = {(r["object"]["kind"], r["object"]["name"]): r for r in json.loads(done.stdout)["results"]}
    found = results[("Object", crossing["metadata"]["name"])]
    assert found["object"]["namespace"] is None
    assert [(v["rule"], v["action"]) for v in found["violations"]] == [(RULE, "deny")]
    assert f"into Secret {prod}/db-conn (tier prod)" in found["violations"][0]["message"]
