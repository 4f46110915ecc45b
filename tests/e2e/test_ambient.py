"""Istio ambient (a required sidecar's ``providedBy``) on a real cluster. No Istio runs here: tierguard judges labels
and annotations only, so the CNI's mark on a captured pod is put on by hand (``kubectl annotate``).

- Istio's bookinfo sample (tests/corpus/ambient) in an ambient tier: its Deployments are admitted and their
  ReplicaSets' Pods are created (admitted by the webhook and the ValidatingAdmissionPolicies alike); in a tier
  nobody enrolled the same apply is refused.
- A Pod opting out (``istio.io/dataplane-mode: none``) and a hostNetwork Pod are refused by the API server's
  policies with exactly the webhook's text.
- ``tierguard audit`` reports a running ambient pod without ``ambient.istio.io/redirection: enabled``, not once the
  annotation is added, and again once it is removed; so does the background audit's PolicyReport, where the pod's
  start (only its ``status.phase`` changes) is what makes the incremental pass judge it again.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .support.kube import REPO, Cluster, wait_until
from .support.tierguard import TIER_LABEL, assert_admitted, assert_refused, policy
from .test_admission_policies import dry_run, expected_message, wait_in_step
from .test_audit import run_audit
from .test_background_audit import (
    LEASE_S,
    LONG_INTERVAL_S,
    SHORT_INTERVAL_S,
    audit_install,
    audit_passes,
    findings,
    holder,
    upgrade,
    wait_findings,
)
from .test_install import deployment, pods
from .test_sessions import image

__all__ = ["audit_install", "deployment", "image"]  # fixtures, imported for pytest

AMBIENT = {"istio.io/dataplane-mode": "ambient"}
OPT_OUT = {"istio.io/dataplane-mode": "none"}
MARK = "ambient.istio.io/redirection"
SPEC: dict[str, Any] = {"sidecars": {"required": [{
    "name": "istio-proxy",
    "injection": {"namespaceLabels": {"istio-injection": "enabled"},
                  "podLabels": {"sidecar.istio.io/inject": "true"},
                  "disabledBy": {"podLabels": {"sidecar.istio.io/inject": "false", **OPT_OUT}}},
    "providedBy": {"namespaceLabels": AMBIENT, "podLabels": AMBIENT, "runningPodAnnotations": {MARK: "enabled"}},
}]}}
BOOKINFO = REPO / "tests" / "corpus" / "ambient" / "bookinfo.yaml"
BOOKINFO_DEPLOYMENTS = {"details-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3", "productpage-v1"}
STARTUP_S = 120


@pytest.fixture(scope="module")
def ambient_policy(cluster: Cluster) -> Iterator[None]:
    """SPEC enforced, with the admission policies generated from it in step and enforced by the API server: a Pod
    that references nothing is not sent to the webhook (webhook.skipCertain), so only those policies judge its
    sidecar, and the API server compiles a changed policy a moment after the object changes."""
    with policy(cluster, SPEC):
        wait_in_step(cluster)
        probe = f"tg-ambient-probe-{uuid.uuid4().hex[:6]}"
        cluster.kubectl("create", "namespace", probe)
        try:
            cluster.kubectl("label", "namespace", probe, f"{TIER_LABEL}=prod")

            def enforced() -> bool:
                return "nor does a label provide it" in dry_run(cluster, bare_pod(probe, "probe"), probe).stderr

            wait_until(lambda: enforced() or None, timeout=60, interval=1,
                       what="the API server enforcing the ambient policy's sidecar rule")
        finally:
            cluster.kubectl("delete", "namespace", probe, "--wait=false", check=False)
        yield


def bare_pod(ns: str, name: str, *, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": {"containers": [{"name": "app", "image": "registry.local/app:1"}], **spec}}


def sleeping_pod(ns: str, image: str, *, init_s: int = 0) -> dict[str, Any]:
    """A pod ``api`` that runs (tierguard's image, which every node holds); ``init_s``: Pending that long first."""
    sleep = {"image": image, "imagePullPolicy": "IfNotPresent"}
    spec: dict[str, Any] = {"containers": [{"name": "app", **sleep,
                                            "command": ["python", "-c", "import time; time.sleep(3600)"]}],
                            "terminationGracePeriodSeconds": 0}
    if init_s:
        spec["initContainers"] = [{"name": "wait", **sleep,
                                   "command": ["python", "-c", f"import time; time.sleep({init_s})"]}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api", "namespace": ns}, "spec": spec}


def phase(cluster: Cluster, ns: str) -> str:
    return str(cluster.get_json("pod", "api", "-n", ns).get("status", {}).get("phase", ""))


def wait_running(cluster: Cluster, ns: str) -> None:
    wait_until(lambda: phase(cluster, ns) == "Running" or None, timeout=STARTUP_S, what=f"pod {ns}/api to run")


def apply_file(cluster: Cluster, ns: str) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("apply", "-n", ns, "-f", str(BOOKINFO), check=False)


def test_an_ambient_tiers_deployments_are_admitted_and_their_pods_created(
        cluster: Cluster, ambient_policy: None, namespace: Callable[..., str]) -> None:
    ambient = namespace(labels={TIER_LABEL: "prod", **AMBIENT})
    done = apply_file(cluster, ambient)
    assert done.returncode == 0, done.stderr

    def created() -> set[str] | None:
        items = cluster.get_json("pods", "-n", ambient)["items"]
        apps = {f"{p['metadata']['labels']['app']}-{p['metadata']['labels']['version']}" for p in items}
        return apps if apps == BOOKINFO_DEPLOYMENTS else None

    # Every ReplicaSet's Pod got through admission (their images need not be pulled: the Pods exist).
    wait_until(created, timeout=STARTUP_S, what="a Pod of every bookinfo Deployment")

    plain = namespace(labels={TIER_LABEL: "prod"})
    refused = apply_file(cluster, plain)
    assert refused.returncode != 0
    for name in BOOKINFO_DEPLOYMENTS:
        assert f'deployments.apps "{name}"' in refused.stderr or f"Deployment {plain}/{name} lacks" in refused.stderr
    assert refused.stderr.count("[sidecar-missing]") == len(BOOKINFO_DEPLOYMENTS), refused.stderr
    assert "nor does a label provide it without a container" in refused.stderr
    assert cluster.get_json("deployments", "-n", plain)["items"] == []


ODD_PODS = {"opted-out": ({"labels": OPT_OUT}, "sidecar-injection-disabled"),
            "host-network": ({"hostNetwork": True}, "sidecar-missing")}


@pytest.mark.parametrize("odd", list(ODD_PODS))
def test_the_api_servers_policies_refuse_with_the_webhooks_text(
        cluster: Cluster, ambient_policy: None, namespace: Callable[..., str], odd: str) -> None:
    fields, rule = ODD_PODS[odd]
    ns = namespace(labels={TIER_LABEL: "dev", **AMBIENT})
    assert_admitted(dry_run(cluster, bare_pod(ns, "plain"), ns))
    obj = bare_pod(ns, odd, **fields)
    done = dry_run(cluster, obj, ns)
    assert_refused(done, rule)
    expected = expected_message(cluster, obj, ns)
    assert expected.startswith(f"[{rule}] ")
    # The ValidatingAdmissionPolicy answers first, with the engine's words.
    assert f"denied request: {expected}" in done.stderr, done.stderr


def audited(cluster: Cluster, ns: str) -> tuple[int, dict[str, list[str]], str]:
    done = run_audit(cluster, "-n", ns, "-o", "json", "-q")
    assert done.returncode in (0, 1), done.stderr
    results = json.loads(done.stdout)["results"]
    return (done.returncode, {r["object"]["name"]: [v["rule"] for v in r["violations"]] for r in results},
            json.dumps(results))


def test_tierguard_audit_reports_a_running_pod_the_mesh_has_not_marked(
        cluster: Cluster, ambient_policy: None, namespace: Callable[..., str], image: str) -> None:
    ns = namespace(labels={TIER_LABEL: "dev", **AMBIENT})
    assert_admitted(cluster.apply(sleeping_pod(ns, image), check=False))
    wait_running(cluster, ns)

    status, found, text = audited(cluster, ns)
    assert (status, found) == (1, {"api": ["sidecar-missing"]})
    assert (f"namespace label istio.io/dataplane-mode=ambient provides it without a container, but the service is "
            f"claimed, not in force: the running pod lacks annotation {MARK}=enabled") in text

    cluster.kubectl("annotate", "pod", "api", "-n", ns, f"{MARK}=enabled")
    assert audited(cluster, ns)[:2] == (0, {"api": []})

    cluster.kubectl("annotate", "pod", "api", "-n", ns, f"{MARK}-")
    assert audited(cluster, ns)[:2] == (1, {"api": ["sidecar-missing"]})


def incremental_passes(cluster: Cluster, writer: str) -> int:
    return sum(1 for p in audit_passes(cluster, writer) if p.get("pass") == "incremental")


def test_the_background_audit_reports_it_when_the_pod_starts_and_follows_the_mark(
        cluster: Cluster, audit_install: None, namespace: Callable[..., str], image: str) -> None:
    """With full passes an hour apart, only watch events make the audit judge the pod again: its start (a change
    of ``status.phase`` alone) and the annotation added and removed."""
    upgrade(cluster, f"audit.interval={LONG_INTERVAL_S}")
    try:
        with policy(cluster, SPEC):
            time.sleep(2)  # the policy reload
            names = {pod["metadata"]["name"] for pod in pods(cluster)}
            writer = wait_until(lambda: (h := holder(cluster)) in names and h or None,  # noqa: RUF021
                                timeout=LEASE_S * 2 + 30, what="a holder among the new replicas")
            wait_until(lambda: audit_passes(cluster, writer) or None, timeout=60, what="the first full pass")
            ns = namespace(labels={TIER_LABEL: "dev", **AMBIENT})
            before = incremental_passes(cluster, writer)
            assert_admitted(cluster.apply(sleeping_pod(ns, image, init_s=30), check=False))
            # The pod's creation is judged while it is Pending (its init container sleeps): nothing to report.
            wait_until(lambda: incremental_passes(cluster, writer) > before or None, timeout=25,
                       what="an incremental pass after the pod's creation")
            assert phase(cluster, ns) == "Pending"
            assert findings(cluster, "wgpolicyk8s", ns) in (None, set())
            wait_running(cluster, ns)
            wait_findings(cluster, ns, {("sidecar-missing", "api")}, timeout=60)

            cluster.kubectl("annotate", "pod", "api", "-n", ns, f"{MARK}=enabled")
            wait_findings(cluster, ns, None, timeout=60)
            cluster.kubectl("annotate", "pod", "api", "-n", ns, f"{MARK}-")
            wait_findings(cluster, ns, {("sidecar-missing", "api")}, timeout=60)
    finally:
        upgrade(cluster, f"audit.interval={SHORT_INTERVAL_S}")
