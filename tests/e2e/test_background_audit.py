"""The background audit of ``tierguard run`` on a real cluster: reports appear for what exists (objects admitted in
audit mode, and objects that were never judged because their namespace got its tier label later), go when fixed,
follow a relabel or a second Secret from watch events without a full pass, in both report APIs; with two
replicas exactly one writes (the Lease holder), and writing moves when it is killed.

Needs the chart's install (a Deployment: ``hack/local-cluster.sh`` node mode, or kind): the test switches the audit's
settings with ``helm upgrade --reuse-values`` and puts the previous ones back. "Created before tierguard" is played
by Secrets created in an untiered namespace (nothing is enforced there, as before an install) that is then
labelled with a tier: from then on they are in a tier, and were never judged as such; and, literally, by objects
created in enforced namespaces while the chart's webhook configuration is deleted (the API server calls no webhook,
as before an install), which ``helm upgrade`` then puts back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .support.kube import REPO, Cluster, wait_until
from .support.tierguard import (
    NAMESPACE,
    SELECTOR,
    TIER_LABEL,
    apply,
    assert_admitted,
    policy,
    refused,
    secret,
    secret_value,
)
from .test_install import RELEASE, deployment, helm, pods, wait_rolled_out

__all__ = ["deployment"]  # the fixture, imported for pytest

SHORT_INTERVAL_S = 5
LONG_INTERVAL_S = 3600
LEASE_S = 10
REPORTS = {"wgpolicyk8s": "policyreports.wgpolicyk8s.io", "openreports": "reports.openreports.io"}
AUDIT_POLICY = {"enforcement": {"default": "audit"}}


def upgrade(cluster: Cluster, *sets: str) -> None:
    done = helm(cluster, "upgrade", RELEASE, str(REPO / "charts" / "tierguard"), "-n", NAMESPACE, "--reuse-values",
                *(f"--set={s}" for s in sets), "--wait", "--timeout=180s")
    assert done.returncode == 0, done.stderr
    wait_rolled_out(cluster)


@pytest.fixture(scope="module")
def audit_install(cluster: Cluster, deployment: dict[str, Any]) -> Iterator[None]:
    if not (cluster.bin_dir / "helm").is_file():
        pytest.skip(f"no helm next to kubectl in {cluster.bin_dir}")
    upgrade(cluster, "audit.enabled=true", f"audit.interval={SHORT_INTERVAL_S}", "audit.reports.api=both",
            "audit.reports.installCRDs=true", f"audit.lease.durationSeconds={LEASE_S}")
    try:
        yield
    finally:
        # The CRDs stay (helm.sh/resource-policy: keep): deleting them would delete every tool's reports.
        upgrade(cluster, "audit.interval=600", "audit.reports.api=wgpolicyk8s", "audit.reports.installCRDs=auto",
                "audit.lease.durationSeconds=15")


def report(cluster: Cluster, api: str, namespace: str) -> dict[str, Any] | None:
    got = cluster.kubectl("get", REPORTS[api], "tierguard", "-n", namespace, "-o", "json", check=False)
    if got.returncode != 0:
        assert "NotFound" in got.stderr, got.stderr
        return None
    found: dict[str, Any] = json.loads(got.stdout)
    return found


def cluster_report(cluster: Cluster) -> dict[str, Any] | None:
    got = cluster.kubectl("get", "clusterpolicyreports.wgpolicyk8s.io", "tierguard", "-o", "json", check=False)
    if got.returncode != 0:
        assert "NotFound" in got.stderr, got.stderr
        return None
    found: dict[str, Any] = json.loads(got.stdout)
    return found


def findings(cluster: Cluster, api: str, namespace: str) -> set[tuple[str, str]] | None:
    """(rule, object name) of each listed result; None: no report."""
    found = report(cluster, api, namespace)
    if found is None:
        return None
    return {(r["rule"], r["resources"][0]["name"]) for r in found.get("results") or []}


def wait_findings(cluster: Cluster, namespace: str, expected: set[tuple[str, str]] | None, *, timeout: float,
                  apis: tuple[str, ...] = ("wgpolicyk8s", "openreports")) -> None:
    for api in apis:
        wait_until(lambda api=api: findings(cluster, api, namespace) == expected or None,  # type: ignore[misc]
                   timeout=timeout, what=f"{api} report of {namespace} to be {expected}", interval=1)


def holder(cluster: Cluster) -> str:
    lease = cluster.get_json("lease", "tierguard-audit", "-n", NAMESPACE)
    return str(lease["spec"].get("holderIdentity") or "")


def audit_passes(cluster: Cluster, pod: str) -> list[dict[str, Any]]:
    logs = cluster.kubectl("logs", pod, "-n", NAMESPACE, check=False).stdout
    passes = []
    for line in logs.splitlines():
        if '"audit pass done"' in line:
            passes.append(json.loads(line))
    return passes


def leadership_story(cluster: Cluster, successor: str) -> str:
    """What a failure needs to be understood: the Lease, the replicas, and the successor's lines about the Lease
    and the audit (tierguard logs no secret value)."""
    lease = cluster.get_json("lease", "tierguard-audit", "-n", NAMESPACE).get("spec", {})
    replicas = [(p["metadata"]["name"], p["status"].get("phase"), bool(p["metadata"].get("deletionTimestamp")),
                 [c.get("restartCount") for c in p["status"].get("containerStatuses") or []])
                for p in cluster.get_json("pods", "-n", NAMESPACE, "-l", SELECTOR)["items"]]
    logs = cluster.kubectl("logs", successor, "-n", NAMESPACE, check=False)
    lines = [line for line in logs.stdout.splitlines() if "lease" in line or "audit" in line or "report" in line]
    return (f"lease: {lease}\nreplicas (name, phase, terminating, restarts): {replicas}\n"
            f"kubectl logs {successor}: exit {logs.returncode} {logs.stderr.strip()[:300]}\n" + "\n".join(lines[-25:]))


def test_reports_list_existing_and_audit_mode_findings_and_fixing_clears_them(
        cluster: Cluster, audit_install: None, namespace: Callable[..., str]) -> None:
    value = secret_value()
    with policy(cluster, AUDIT_POLICY):
        dev, prod = namespace(labels={TIER_LABEL: "dev"}), namespace(labels={TIER_LABEL: "prod"})
        time.sleep(2)  # the policy reload
        assert_admitted(apply(cluster, secret(dev, "db", value)))
        assert_admitted(apply(cluster, secret(prod, "db", value)))  # admitted: audit mode
        old = namespace()  # untiered: nothing is enforced, as before an install
        assert_admitted(apply(cluster, secret(old, "legacy", value)))
        cluster.kubectl("label", "namespace", old, f"{TIER_LABEL}=qa")
        shared = {("secret-value-shared", "db")}
        wait_findings(cluster, dev, shared, timeout=SHORT_INTERVAL_S * 2 + 30)
        wait_findings(cluster, prod, shared, timeout=SHORT_INTERVAL_S * 2 + 30)
        wait_findings(cluster, old, {("secret-value-shared", "legacy")}, timeout=SHORT_INTERVAL_S * 2 + 30)
        polr = report(cluster, "wgpolicyk8s", dev)
        assert polr is not None and polr["kind"] == "PolicyReport"
        assert polr["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "tierguard"
        results = polr["results"]
        assert len(results) == 2  # one per other-tier holder: prod/db and the legacy Secret, now in qa
        for result in results:
            assert result["policy"] == "tierguard" and result["result"] == "fail"
            assert result["category"] == "tier-isolation"
        assert value not in json.dumps(polr) and value not in json.dumps(report(cluster, "openreports", dev))
        # dev's users read that prod holds the value, never where (SPEC); the cluster report, for the platform, names
        # the holder.
        assert f"{prod}/" not in json.dumps(polr), polr["results"]
        assert any("the same value as a Secret of tier prod" in r["message"] for r in results), results
        wait_until(lambda: any(r["resources"][0].get("namespace") == dev and f"Secret {prod}/db (tier prod)"
                               in r["message"] for r in (cluster_report(cluster) or {}).get("results", [])) or None,
                   timeout=SHORT_INTERVAL_S * 2 + 30, what="the cluster report to name prod's holder", interval=1)
        assert polr["summary"]["fail"] == 2
        rep = report(cluster, "openreports", dev)
        assert rep is not None and rep["apiVersion"] == "openreports.io/v1alpha1" and rep["kind"] == "Report"

        # Fixing: each tier its own credential. Every report of these namespaces goes (clean).
        cluster.kubectl("delete", "secret", "db", "-n", prod)
        cluster.kubectl("delete", "secret", "legacy", "-n", old)
        for ns in (dev, prod, old):
            wait_findings(cluster, ns, None, timeout=SHORT_INTERVAL_S * 2 + 30)


def test_objects_created_while_no_webhook_was_registered_are_reported(
        cluster: Cluster, audit_install: None, namespace: Callable[..., str]) -> None:
    dev, prod = namespace(labels={TIER_LABEL: "dev"}), namespace(labels={TIER_LABEL: "prod"})
    value = secret_value()
    assert_admitted(apply(cluster, secret(dev, "seed", value)))
    assert refused(apply(cluster, secret(prod, "seed", value)), "secret-value-shared")  # enforced: the default
    (config,) = cluster.get_json("validatingwebhookconfigurations", "-l", SELECTOR)["items"]
    cluster.kubectl("delete", "validatingwebhookconfiguration", config["metadata"]["name"])
    try:
        # Nothing calls tierguard now: the copy is stored, as it would have been before tierguard was installed.
        wait_until(lambda: apply(cluster, secret(prod, "seed", value)).returncode == 0 or None, timeout=30,
                   what="the API server to stop calling the deleted webhook")
    finally:
        upgrade(cluster)  # helm puts the webhook configuration back
    assert cluster.get_json("validatingwebhookconfigurations", "-l", SELECTOR)["items"]
    shared = {("secret-value-shared", "seed")}
    wait_findings(cluster, prod, shared, timeout=SHORT_INTERVAL_S * 2 + 30)
    wait_findings(cluster, dev, shared, timeout=SHORT_INTERVAL_S * 2 + 30)
    polr = report(cluster, "wgpolicyk8s", prod)
    assert polr is not None and {r["result"] for r in polr["results"]} == {"fail"}  # deny in force: fail
    assert value not in json.dumps(polr)


def test_relabel_and_a_second_secret_show_up_without_a_full_pass(
        cluster: Cluster, audit_install: None, namespace: Callable[..., str]) -> None:
    upgrade(cluster, f"audit.interval={LONG_INTERVAL_S}")
    try:
        with policy(cluster, AUDIT_POLICY):
            dev, qa = namespace(labels={TIER_LABEL: "dev"}), namespace(labels={TIER_LABEL: "qa"})
            time.sleep(2)
            names = {pod["metadata"]["name"] for pod in pods(cluster)}
            writer = wait_until(lambda: (h := holder(cluster)) in names and h or None,  # noqa: RUF021
                                timeout=LEASE_S * 2 + 30, what="a holder among the new replicas")
            wait_until(lambda: audit_passes(cluster, writer) or None, timeout=60, what="the first full pass")
            full_before = sum(1 for p in audit_passes(cluster, writer) if p.get("pass") == "full")
            value = secret_value()
            assert_admitted(apply(cluster, secret(dev, "api", value)))
            assert_admitted(apply(cluster, secret(qa, "api", value)))  # the second Secret makes it shared
            wait_findings(cluster, dev, {("secret-value-shared", "api")}, timeout=60)
            wait_findings(cluster, qa, {("secret-value-shared", "api")}, timeout=60)
            cluster.kubectl("label", "namespace", qa, f"{TIER_LABEL}=dev", "--overwrite")  # same tier now
            wait_findings(cluster, dev, None, timeout=60)
            assert findings(cluster, "wgpolicyk8s", qa) is None
            assert holder(cluster) == writer
            full_after = sum(1 for p in audit_passes(cluster, writer) if p.get("pass") == "full")
            assert full_after == full_before, "a full pass ran: the interval is an hour"
            assert any(p.get("pass") == "incremental" for p in audit_passes(cluster, writer))
    finally:
        upgrade(cluster, f"audit.interval={SHORT_INTERVAL_S}")


def test_exactly_one_replica_writes_and_killing_it_moves_the_writing(
        cluster: Cluster, audit_install: None, namespace: Callable[..., str]) -> None:
    running = [pod["metadata"]["name"] for pod in pods(cluster)]
    assert len(running) == 2
    writer = wait_until(lambda: (h := holder(cluster)) in running and h or None,  # noqa: RUF021
                        timeout=LEASE_S * 2 + 30, what="a Lease holder among the replicas")
    (other,) = [name for name in running if name != writer]
    wait_until(lambda: audit_passes(cluster, writer) or None, timeout=60, what="the holder's first pass")
    assert audit_passes(cluster, other) == [], "the replica without the Lease judged and wrote"

    cluster.kubectl("delete", "pod", writer, "-n", NAMESPACE, "--grace-period=0", "--force", check=False)
    successor = wait_until(lambda: ((h := holder(cluster)) not in ("", writer) and h) or None,
                           timeout=LEASE_S * 2 + 30, what="another holder of the Lease")
    # Not a replica on its way out (one of the previous rollout still draining): it would drop the Lease again.
    assert successor in [pod["metadata"]["name"] for pod in pods(cluster)], leadership_story(cluster, successor)
    with policy(cluster, AUDIT_POLICY):
        dev, prod = namespace(labels={TIER_LABEL: "dev"}), namespace(labels={TIER_LABEL: "prod"})
        time.sleep(2)
        value = secret_value()
        assert_admitted(apply(cluster, secret(dev, "after", value)))
        assert_admitted(apply(cluster, secret(prod, "after", value)))
        wait_findings(cluster, dev, {("secret-value-shared", "after")}, timeout=SHORT_INTERVAL_S * 2 + 60)
    # The findings may come from the successor's watch events before its first full pass is logged.
    try:
        wait_until(lambda: audit_passes(cluster, successor) or None, timeout=SHORT_INTERVAL_S * 2 + 60,
                   what=f"a pass of the new holder {successor}")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{leadership_story(cluster, successor)}") from None
    wait_rolled_out(cluster)
