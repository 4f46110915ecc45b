"""Reviews never sent (`webhook.skipCertain`): the API server evaluates the pod kinds' matchConditions itself and
admits a Pod or Deployment that references nothing tierguard reads without calling it (tierguard's review count
for them does not move), while a Pod that reads a Secret is still sent: admitted when the Secret is its tier's,
refused when the Secret crosses tiers."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tierguard.vap.skip import CONDITION_NAME, conditions

from .support.kube import Cluster
from .support.tierguard import (
    NAMESPACE,
    SELECTOR,
    TIER_LABEL,
    apply,
    assert_admitted,
    assert_refused,
    eventually,
    policy,
    secret,
    secret_value,
)

NamespaceFactory = Callable[..., str]
PAUSE = "registry.k8s.io/pause:3.10"


def reviews(cluster: Cluster, kind: str) -> float:
    """``tierguard_admission_requests_total`` of ``kind``, every operation and decision, summed over the
    replicas."""
    total = 0.0
    for replica in cluster.get_json("pods", "-n", NAMESPACE, "-l", SELECTOR)["items"]:
        if replica["metadata"].get("deletionTimestamp"):
            continue
        text = cluster.kubectl("get", "--raw", f"/api/v1/namespaces/{NAMESPACE}/pods/"
                                               f"{replica['metadata']['name']}:8080/proxy/metrics").stdout
        total += sum(float(value) for value in re.findall(
            rf'^tierguard_admission_requests_total\{{[^}}]*kind="{kind}"[^}}]*\}} (\S+)$', text, re.MULTILINE))
    return total


def exclusions(cluster: Cluster, entry: str) -> float | None:
    """The API server's ``apiserver_admission_match_condition_exclusions_total`` for a webhook entry (requests its
    matchConditions kept from it); None where /metrics cannot be read or has no such counter yet."""
    got = cluster.kubectl("get", "--raw", "/metrics", check=False)
    if got.returncode != 0 or "apiserver_admission_match_condition_exclusions_total" not in got.stdout:
        return None
    return sum(float(value) for value in re.findall(
        rf'^apiserver_admission_match_condition_exclusions_total\{{[^}}]*name="{re.escape(entry)}"[^}}]*\}} (\S+)$',
        got.stdout, re.MULTILINE))


def pod(ns: str, name: str, **container: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [{"name": "app", "image": PAUSE, **container}]}}


def deployment(ns: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": PAUSE}]}}}}


def test_the_installed_entries_carry_the_generated_conditions(cluster: Cluster) -> None:
    entries = {entry["name"].removesuffix(".tierguard.io"): entry
               for config in cluster.get_json("validatingwebhookconfigurations")["items"]
               for entry in config.get("webhooks") or [] if entry["name"].endswith(".tierguard.io")}
    for route, expression in conditions().items():
        assert {"name": CONDITION_NAME, "expression": expression} in entries[route].get("matchConditions", []), route


def test_a_pod_that_references_nothing_is_never_sent_and_a_crossing_secret_is_still_refused(
        cluster: Cluster, namespace: NamespaceFactory) -> None:
    dev, prod = namespace(labels={TIER_LABEL: "dev"}), namespace(labels={TIER_LABEL: "prod"})
    copied = secret(dev, "copied", secret_value(), **{"replicator.v1.mittwald.de/replicate-from": f"{prod}/db"})
    with policy(cluster, {"enforcement": {"perTier": {"dev": "audit"}}}):
        # Admitted only because dev is in audit mode, as a Secret created before tierguard would be.
        eventually(lambda: assert_admitted(apply(cluster, copied)))
    assert_admitted(apply(cluster, secret(dev, "own", secret_value())))
    eventually(lambda: assert_refused(apply(cluster, pod(dev, "probe", envFrom=[{"secretRef": {"name": "copied"}}]),
                                            "--dry-run=server"), "workload-secret-cross-tier"))

    pods, deployments = reviews(cluster, "Pod"), reviews(cluster, "Deployment")
    excluded = exclusions(cluster, "pods.tierguard.io")
    for _ in range(3):
        assert_admitted(apply(cluster, pod(dev, "plain"), "--dry-run=server"))
        assert_admitted(apply(cluster, deployment(dev, "plain"), "--dry-run=server"))
    assert (reviews(cluster, "Pod"), reviews(cluster, "Deployment")) == (pods, deployments), (
        "tierguard reviewed a Pod or Deployment that references nothing it reads")
    now = exclusions(cluster, "pods.tierguard.io")
    if now is not None:  # and the API server says why: its matchCondition kept them from the webhook
        assert now >= (excluded or 0.0) + 3, (excluded, now)

    # Still sent: a Pod reading a Secret of its own tier (admitted, and counted), one reading a crossing Secret.
    assert_admitted(apply(cluster, pod(dev, "reads", envFrom=[{"secretRef": {"name": "own"}}]), "--dry-run=server"))
    assert reviews(cluster, "Pod") == pods + 1
    consumer = pod(dev, "consumer", env=[{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "copied",
                                                                                     "key": "password"}}}])
    assert_refused(apply(cluster, consumer, "--dry-run=server"), "workload-secret-cross-tier")
    assert reviews(cluster, "Pod") == pods + 2
