"""Report CRDs installed after tierguard (issue 27): replicas that started while the wgpolicyk8s CRDs were absent
say so once, then write the reports within a minute of a ``helm upgrade`` that installs them (the chart's
``installCRDs: auto`` finding none), without a restart.

The CRDs are deleted for the test (with every report in them: other tests wait for their own reports, none keeps
one across tests) and the state found is put back afterwards: the release's values, and each CRD as it was
(absent, or its saved object: owner annotations included).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .support.kube import Cluster, wait_until
from .support.tierguard import NAMESPACE, TIER_LABEL, apply, assert_admitted, policy, secret, secret_value
from .test_background_audit import AUDIT_POLICY, audit_passes, holder, upgrade
from .test_install import RELEASE, deployment, helm, pods

__all__ = ["deployment"]  # the fixture, imported for pytest

CRDS = ("policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io")
WRITTEN_WITHIN_S = 60
NOT_SERVED = "wgpolicyk8s.io/v1alpha2 is not served"
SERVED_NOW = "wgpolicyk8s.io/v1alpha2 is served now"
RESTORED = ("audit.reports.api", "audit.reports.installCRDs", "audit.interval")


def saved_crd(cluster: Cluster, name: str) -> dict[str, Any] | None:
    got = cluster.kubectl("get", "crd", name, "-o", "json", check=False)
    if got.returncode != 0:
        assert "NotFound" in got.stderr, got.stderr
        return None
    crd: dict[str, Any] = json.loads(got.stdout)
    crd.pop("status", None)
    for field in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        crd["metadata"].pop(field, None)
    return crd


def restore_crd(cluster: Cluster, name: str, saved: dict[str, Any] | None) -> None:
    current = saved_crd(cluster, name)
    if saved is None:
        if current is not None:
            cluster.kubectl("delete", "crd", name, "--wait=true", timeout=180)
        return
    if current is None:
        cluster.kubectl("create", "-f", "-", input=json.dumps(saved))
    elif current != saved:  # the test's helm upgrade made it the release's: back to its owner's metadata
        version = cluster.get_json("crd", name)["metadata"]["resourceVersion"]
        replaced = {**saved, "metadata": {**saved["metadata"], "resourceVersion": version}}
        cluster.kubectl("replace", "-f", "-", input=json.dumps(replaced))


def release_values(cluster: Cluster) -> dict[str, str]:
    got = helm(cluster, "get", "values", RELEASE, "-n", NAMESPACE, "--all", "-o", "json")
    assert got.returncode == 0, got.stderr
    values = json.loads(got.stdout)
    found: dict[str, str] = {}
    for key in RESTORED:
        node: Any = values
        for part in key.split("."):
            node = node[part]
        found[key] = str(node).lower() if isinstance(node, bool) else str(node)
    return found


def polr_served(cluster: Cluster) -> bool:
    got = cluster.kubectl("api-resources", "--api-group=wgpolicyk8s.io", "-o", "name", check=False)
    return got.returncode == 0 and "policyreports" in got.stdout


def findings(cluster: Cluster, namespace: str) -> set[tuple[str, str]] | None:
    got = cluster.kubectl("get", "policyreports.wgpolicyk8s.io", "tierguard", "-n", namespace, "-o", "json",
                          check=False)
    if got.returncode != 0:
        return None
    found = json.loads(got.stdout)
    return {(r["rule"], r["resources"][0]["name"]) for r in found.get("results") or []}


def holder_logs(cluster: Cluster, pod: str) -> str:
    return cluster.kubectl("logs", pod, "-n", NAMESPACE, check=False).stdout


@pytest.fixture
def without_report_crds(cluster: Cluster, deployment: dict[str, Any]) -> Iterator[None]:
    """Replicas started while the wgpolicyk8s CRDs are absent; afterwards, the CRDs and values found before."""
    if not (cluster.bin_dir / "helm").is_file():
        pytest.skip(f"no helm next to kubectl in {cluster.bin_dir}")
    before = release_values(cluster)
    saved = {name: saved_crd(cluster, name) for name in CRDS}
    try:
        for name in CRDS:
            cluster.kubectl("delete", "crd", name, "--ignore-not-found", "--wait=true", timeout=180)
        # New replicas (a pod annotation of this run): they start with the API absent, as after the upgrade.
        upgrade(cluster, "audit.reports.api=wgpolicyk8s", "audit.reports.installCRDs=false", "audit.interval=3600",
                f"podAnnotations.tierguard-e2e/run={uuid.uuid4().hex[:8]}")
        assert not polr_served(cluster)
        yield
    finally:
        upgrade(cluster, *(f"{key}={value}" for key, value in before.items()), "podAnnotations=null")
        for name in CRDS:
            restore_crd(cluster, name, saved[name])


def test_crds_installed_after_tierguard_started_get_its_reports_within_a_minute(
        cluster: Cluster, without_report_crds: None, namespace: Callable[..., str]) -> None:
    with policy(cluster, AUDIT_POLICY):  # admitted in audit mode; once enforced again, each is a failure to report
        dev, prod = namespace(labels={TIER_LABEL: "dev"}), namespace(labels={TIER_LABEL: "prod"})
        time.sleep(2)  # the policy reload
        value = secret_value()
        assert_admitted(apply(cluster, secret(dev, "db", value)))
        assert_admitted(apply(cluster, secret(prod, "db", value)))
    # helm upgrade owns the TierPolicy too: the policy is the chart's again before it runs.
    running = {pod["metadata"]["name"] for pod in pods(cluster)}
    writer = wait_until(lambda: (h := holder(cluster)) in running and h or None,  # noqa: RUF021
                        timeout=60, what="a Lease holder among the new replicas")
    wait_until(lambda: audit_passes(cluster, writer) or None, timeout=60, what="the holder's first pass")
    wait_until(lambda: NOT_SERVED in holder_logs(cluster, writer) or None, timeout=30,
               what="the holder to say the report API is absent")
    time.sleep(35)  # a recheck (every 30 s) finds it still absent: no second warning

    upgrade(cluster, "audit.reports.installCRDs=auto")  # the chart finds no report CRD: installs them
    installed = time.monotonic()
    assert polr_served(cluster)
    shared = {("secret-value-shared", "db")}
    wait_until(lambda: findings(cluster, dev) == shared or None, timeout=WRITTEN_WITHIN_S,
               what="the dev report, written without a restart", interval=1)
    assert time.monotonic() - installed < WRITTEN_WITHIN_S
    assert findings(cluster, prod) == shared
    assert {pod["metadata"]["name"] for pod in pods(cluster)} == running, "the replicas were restarted"
    logs = holder_logs(cluster, writer)
    assert logs.count(NOT_SERVED) == 1, "the absent API is warned of once, not at every pass or recheck"
    assert SERVED_NOW in logs
    crd = cluster.get_json("crd", CRDS[0])
    assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASE
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
