"""namespace-security-missing on a real cluster: a tiered namespace without the required Pod Security level is
refused (by the generated ValidatingAdmissionPolicy and by the webhook, with the same message), the last
default-deny-ingress NetworkPolicy of a tiered namespace cannot be deleted or opened while a second one can, a
namespace holding one is still deleted to the end (the namespace controller's DELETEs are admitted), and the
audits report a tiered namespace without one.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tierguard.engine.posture import LabelGap
from tierguard.engine.rules import posture
from tierguard.webhook.admission import MAX_WARNING_LENGTH

from .support.kube import Cluster, wait_until
from .support.tierguard import (
    TIER_LABEL,
    apply,
    assert_admitted,
    assert_refused,
    eventually,
    policy,
    refused,
    tierguard_logs,
)
from .test_admission_policies import assert_policy_answer, tierguard_stopped, wait_in_step
from .test_audit import run_audit
from .test_background_audit import SHORT_INTERVAL_S, audit_install, cluster_report
from .test_install import deployment

__all__ = ["audit_install", "deployment"]  # fixtures, imported for pytest

ENFORCE = "pod-security.kubernetes.io/enforce"
LEVELS = {"requiredLabels": {ENFORCE: ["baseline", "restricted"]}}
DENY_INGRESS = {"defaultDenyIngress": True}
RULE = "namespace-security-missing"
NamespaceFactory = Callable[..., str]


def namespace_manifest(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def network_policy(namespace: str, name: str, *, deny: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": {}, "policyTypes": ["Ingress"]}
    if not deny:
        spec["ingress"] = [{"from": [{"podSelector": {}}]}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def delete_policy(cluster: Cluster, namespace: str, name: str) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("delete", "networkpolicy", name, "-n", namespace, "--wait=false", check=False)


def posture_in_force(cluster: Cluster, tier: str, action: str) -> str:
    """Wait until the API server itself judges a bare namespace of ``tier`` by the posture policy (its policies
    take a moment to reach the admission plugin after tierguard wrote them); the policies' name prefix."""
    prefix = wait_in_step(cluster)
    probe = json.dumps(namespace_manifest(f"tg-e2e-probe-{uuid.uuid4().hex[:6]}", **{TIER_LABEL: tier}))
    name = f"{prefix}-posture-{action}"
    wait_until(lambda: f"ValidatingAdmissionPolicy '{name}'" in cluster.kubectl(
        "create", "--dry-run=server", "-f", "-", input=probe, check=False).stderr or None,
        timeout=60, what=f"the API server to judge namespaces by {name}", interval=1)
    return prefix


@pytest.fixture
def created(cluster: Cluster) -> Iterator[list[str]]:
    """Names of namespaces a test creates itself (refusals leave none): deleted afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


# --- required labels -------------------------------------------------------------------------------------------

def test_a_namespace_without_the_required_pod_security_level_is_refused(
        cluster: Cluster, namespace: NamespaceFactory, created: list[str]) -> None:
    older = namespace(labels={TIER_LABEL: "dev"})  # tiered before the policy asked for a level
    with policy(cluster, {"namespaces": LEVELS}):
        prefix = posture_in_force(cluster, "dev", "deny")
        name = f"tg-e2e-{uuid.uuid4().hex[:8]}"
        expected = (f"[{RULE}] " + posture.label_message(
            name, "dev", LabelGap(ENFORCE, ("baseline", "restricted"), None)))
        # The API server's own policy refuses first, with the webhook's exact message.
        bare = apply(cluster, namespace_manifest(name, **{TIER_LABEL: "dev"}))
        assert_policy_answer(bare, "deny", prefix, "posture", expected)
        privileged = namespace_manifest(name, **{TIER_LABEL: "dev", ENFORCE: "privileged"})
        expected_privileged = f"[{RULE}] " + posture.label_message(
            name, "dev", LabelGap(ENFORCE, ("baseline", "restricted"), "privileged"))
        assert_policy_answer(apply(cluster, privileged), "deny", prefix, "posture", expected_privileged)

        prod = f"tg-e2e-{uuid.uuid4().hex[:8]}"
        created.append(prod)
        assert_admitted(apply(cluster, namespace_manifest(prod, **{TIER_LABEL: "prod", ENFORCE: "restricted"})))
        untiered = f"tg-e2e-{uuid.uuid4().hex[:8]}"
        created.append(untiered)
        assert_admitted(apply(cluster, namespace_manifest(untiered)))

        # An UPDATE is refused for the gap it makes, and admitted when it leaves one the namespace had.
        assert_refused(cluster.kubectl("label", "namespace", prod, f"{ENFORCE}=privileged", "--overwrite",
                                       check=False), RULE)
        assert_refused(cluster.kubectl("label", "namespace", prod, f"{ENFORCE}-", check=False), RULE)
        assert_admitted(cluster.kubectl("label", "namespace", older, "team=payments", check=False))
        assert_refused(cluster.kubectl("label", "namespace", untiered, f"{TIER_LABEL}=qa", check=False), RULE)


def test_in_a_warn_tier_the_policy_and_the_webhook_warn_alike(cluster: Cluster) -> None:
    """Both answer a warn tier's request (the API server's policy does not stop it): the same text, the webhook's
    cut to one line (``admission.MAX_WARNING_LENGTH``)."""
    with policy(cluster, {"namespaces": LEVELS, "enforcement": {"perTier": {"qa": "warn"}}}):
        prefix = posture_in_force(cluster, "qa", "warn")
        name = f"tg-e2e-{uuid.uuid4().hex[:8]}"
        expected = f"[{RULE}] " + posture.label_message(
            name, "qa", LabelGap(ENFORCE, ("baseline", "restricted"), None))
        manifest = json.dumps(namespace_manifest(name, **{TIER_LABEL: "qa"}))

        def both_warn() -> None:
            answer = cluster.kubectl("create", "--dry-run=server", "-f", "-", input=manifest, check=False)
            assert_policy_answer(answer, "warn", prefix, "posture", expected)
            assert f"Warning: {expected[:MAX_WARNING_LENGTH - 3]}..." in answer.stderr, answer.stderr

        eventually(both_warn, timeout=30)


# --- the last default-deny-ingress NetworkPolicy ---------------------------------------------------------------

def test_the_last_default_deny_cannot_be_deleted_and_a_namespace_still_deletes(
        cluster: Cluster, created: list[str]) -> None:
    with policy(cluster, {"namespaces": DENY_INGRESS}):
        time.sleep(2)  # the policy reload
        prod = f"tg-e2e-{uuid.uuid4().hex[:8]}"
        created.append(prod)
        cluster.kubectl("create", "-f", "-", input=json.dumps(namespace_manifest(prod, **{TIER_LABEL: "prod"})))
        assert_admitted(apply(cluster, network_policy(prod, "default-deny-ingress")))
        assert_admitted(apply(cluster, network_policy(prod, "allow-same-namespace", deny=False)))

        def last_refused() -> None:
            assert_refused(delete_policy(cluster, prod, "default-deny-ingress"), RULE)

        eventually(last_refused, timeout=30)  # the watch indexes the new policy within a second
        opened = network_policy(prod, "default-deny-ingress", deny=False)
        assert_refused(apply(cluster, opened), RULE)
        assert_admitted(delete_policy(cluster, prod, "allow-same-namespace"))  # not a default-deny: its own

        # A second one: either may go, not both.
        assert_admitted(apply(cluster, network_policy(prod, "deny-all")))
        eventually(lambda: assert_admitted(delete_policy(cluster, prod, "default-deny-ingress")), timeout=30)
        eventually(lambda: assert_refused(delete_policy(cluster, prod, "deny-all"), RULE), timeout=30)
        assert cluster.get_json("networkpolicy", "deny-all", "-n", prod)["metadata"]["name"] == "deny-all"

        # Deleting the namespace deletes its last default-deny too: the namespace controller must finish.
        started = time.monotonic()
        cluster.kubectl("delete", "namespace", prod, "--wait=false")
        wait_until(lambda: cluster.kubectl("get", "namespace", prod, check=False).returncode != 0 or None,
                   timeout=120, what=f"namespace {prod} to be deleted", interval=1)
        assert time.monotonic() - started < 60
        # Its DELETE of deny-all was admitted at once, not after retries: tierguard never refused the controller.
        assert not [line for line in tierguard_logs(cluster).splitlines()
                    if '"violation"' in line and prod in line and "namespace-controller" in line]


def test_a_namespace_is_deleted_to_the_end_while_tierguard_is_down(cluster: Cluster, created: list[str]) -> None:
    """The chart does not send the namespace controller's DELETEs: a namespace's deletion never waits for
    tierguard, while a person's DELETE of the same NetworkPolicy fails closed (``failurePolicy: Fail``)."""
    with policy(cluster, {"namespaces": DENY_INGRESS}):
        time.sleep(2)
        prod = f"tg-e2e-{uuid.uuid4().hex[:8]}"
        created.append(prod)
        cluster.kubectl("create", "-f", "-", input=json.dumps(namespace_manifest(prod, **{TIER_LABEL: "prod"})))
        assert_admitted(apply(cluster, network_policy(prod, "default-deny-ingress")))
        with tierguard_stopped(cluster):
            by_a_person = delete_policy(cluster, prod, "default-deny-ingress")
            assert by_a_person.returncode != 0 and "networkpolicies.tierguard.io" in by_a_person.stderr, \
                by_a_person.stderr
            cluster.kubectl("delete", "namespace", prod, "--wait=false")
            wait_until(lambda: cluster.kubectl("get", "namespace", prod, check=False).returncode != 0 or None,
                       timeout=60, what=f"namespace {prod} to be deleted with tierguard down", interval=1)


def test_other_namespaces_and_the_policy_off_are_not_held(cluster: Cluster, namespace: NamespaceFactory) -> None:
    untiered = namespace()
    prod = namespace(labels={TIER_LABEL: "prod"})
    for ns in (untiered, prod):
        assert_admitted(apply(cluster, network_policy(ns, "default-deny-ingress")))
    with policy(cluster, {"namespaces": DENY_INGRESS}):
        time.sleep(2)
        assert_admitted(delete_policy(cluster, untiered, "default-deny-ingress"))
    time.sleep(2)  # SPEC's defaults again: defaultDenyIngress off
    eventually(lambda: assert_admitted(delete_policy(cluster, prod, "default-deny-ingress")), timeout=30)


# --- the audits ------------------------------------------------------------------------------------------------

def namespace_findings(report: dict[str, Any], name: str) -> list[str]:
    return [v["message"] for r in report["results"] if r["object"]["kind"] == "Namespace"
            and r["object"]["name"] == name for v in r["violations"] if v["rule"] == RULE]


def test_tierguard_audit_reports_a_tiered_namespace_without_default_deny(
        cluster: Cluster, namespace: NamespaceFactory) -> None:
    bare = namespace(labels={TIER_LABEL: "prod"})
    closed = namespace(labels={TIER_LABEL: "prod"})
    untiered = namespace()
    assert_admitted(apply(cluster, network_policy(closed, "deny-all")))
    with policy(cluster, {"namespaces": DENY_INGRESS}):
        done = run_audit(cluster, "-o", "json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert namespace_findings(report, bare) == [
        f"Namespace {bare} (tier prod) has no NetworkPolicy denying all ingress; {posture.CREATE_ONE}"]
    assert namespace_findings(report, closed) == []
    assert namespace_findings(report, untiered) == []


def cluster_namespace_findings(cluster: Cluster) -> set[str]:
    found = cluster_report(cluster) or {}
    return {r["resources"][0]["name"] for r in found.get("results") or []
            if r["rule"] == RULE and r["resources"][0]["kind"] == "Namespace"}


def test_the_background_audit_follows_network_policies(
        cluster: Cluster, audit_install: None, namespace: NamespaceFactory) -> None:
    with policy(cluster, {"namespaces": DENY_INGRESS, "enforcement": {"perTier": {"stage": "audit"}}}):
        stage = namespace(labels={TIER_LABEL: "stage"})
        timeout = SHORT_INTERVAL_S * 2 + 30
        wait_until(lambda: stage in cluster_namespace_findings(cluster) or None, timeout=timeout,
                   what=f"the cluster report to list namespace {stage}", interval=1)
        assert_admitted(apply(cluster, network_policy(stage, "deny-all")))
        wait_until(lambda: stage not in cluster_namespace_findings(cluster) or None, timeout=timeout,
                   what=f"namespace {stage} to leave the cluster report", interval=1)
        # In audit mode the last one may go: the report says so again.
        eventually(lambda: assert_admitted(delete_policy(cluster, stage, "deny-all")), timeout=30)
        wait_until(lambda: stage in cluster_namespace_findings(cluster) or None, timeout=timeout,
                   what=f"namespace {stage} to come back to the cluster report", interval=1)
        assert not refused(apply(cluster, network_policy(stage, "deny-all")), RULE)
