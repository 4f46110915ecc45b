"""tierguard as users run it: the chart's pods, from the image built from the Dockerfile, behind their Service.

These tests look at the in-cluster install (``hack/install-tierguard.sh``: ``helm install`` of the chart), on
the local kind cluster or any cluster given by ``TIERGUARD_E2E_KUBECONFIG``; without the chart's Deployment they
fail.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from .support.kube import REPO, Cluster, wait_until
from .support.tierguard import NAMESPACE, SELECTOR, TIER_LABEL, b64, eventually

RELEASE = "tierguard"
READY_BOUND_S = 30
"""A replica is Ready within this many seconds of its container starting (measured here: 1-3 s)."""
ROLLOUT_TIMEOUT_S = 180
TERMINATION_TIMEOUT_S = 200
"""A graceful termination: the preStop drain (5 s), then the replica answers until the API server has closed its
idle connections (90 s after their last use; the chart's connectionLingerSeconds, 95 s), within the grace period."""


@pytest.fixture(scope="module")
def deployment(cluster: Cluster) -> dict[str, Any]:
    found = cluster.kubectl("get", "deployment", RELEASE, "-n", NAMESPACE, "-o", "json", check=False)
    if found.returncode != 0:
        pytest.fail(f"no Deployment {NAMESPACE}/{RELEASE}: install the chart first\n{found.stderr}")
    document: dict[str, Any] = json.loads(found.stdout)
    return document


def pods(cluster: Cluster) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.get_json("pods", "-n", NAMESPACE, "-l", SELECTOR)["items"]
    return [pod for pod in items if not pod["metadata"].get("deletionTimestamp")]


def timestamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_two_replicas_of_the_built_image_are_ready(cluster: Cluster, deployment: dict[str, Any]) -> None:
    assert deployment["spec"]["replicas"] == 2
    running = pods(cluster)
    assert len(running) == 2, [pod["metadata"]["name"] for pod in running]
    images = {pod["spec"]["containers"][0]["image"] for pod in running}
    assert len(images) == 1, images
    if cluster.local:
        expected = subprocess.run([str(REPO / "hack" / "build-image.sh"), "ref"], capture_output=True, text=True,
                                  check=True).stdout.strip()
        assert images == {expected}, "the pods do not run the image built from this tree's Dockerfile"
    for pod in running:
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True", pod["metadata"]["name"]
        (status,) = pod["status"]["containerStatuses"]
        assert status["restartCount"] == 0, f"{pod['metadata']['name']} restarted: {status.get('lastState')}"


def test_webhook_is_called_through_the_service(cluster: Cluster, deployment: dict[str, Any]) -> None:
    configs = cluster.get_json("validatingwebhookconfigurations", "-l", SELECTOR)["items"]
    assert configs
    for webhook in configs[0]["webhooks"]:
        service = webhook["clientConfig"].get("service")
        assert service and service["namespace"] == NAMESPACE and "url" not in webhook["clientConfig"], webhook
    endpoints = cluster.get_json("endpointslices", "-n", NAMESPACE, "-l",
                                 f"kubernetes.io/service-name={service['name']}")["items"]
    addresses = {address for slice_ in endpoints for endpoint in slice_.get("endpoints", [])
                 if endpoint.get("conditions", {}).get("ready") for address in endpoint["addresses"]}
    assert addresses == {pod["status"]["podIP"] for pod in pods(cluster)}
    # The chart's NetworkPolicy (on by default) selects these pods and admits the webhook port, so it cannot
    # break the install; the admission calls of every other test pass through it.
    (netpol,) = cluster.get_json("networkpolicies", "-n", NAMESPACE, "-l", SELECTOR)["items"]
    assert netpol["spec"]["podSelector"]["matchLabels"].items() <= pods(cluster)[0]["metadata"]["labels"].items()
    assert {"port": "webhook", "protocol": "TCP"} in netpol["spec"]["ingress"][0]["ports"]


def test_replicas_become_ready_within_the_bound(cluster: Cluster, deployment: dict[str, Any]) -> None:
    for pod in pods(cluster):
        (status,) = pod["status"]["containerStatuses"]
        started = timestamp(status["state"]["running"]["startedAt"])
        ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
        delay = (timestamp(ready["lastTransitionTime"]) - started).total_seconds()
        assert delay <= READY_BOUND_S, f"{pod['metadata']['name']} took {delay:.0f} s from start to Ready"


def test_runs_as_a_non_root_uid_with_a_read_only_root(cluster: Cluster, deployment: dict[str, Any]) -> None:
    pod = pods(cluster)[0]
    name = pod["metadata"]["name"]
    probe = ("import os, tempfile; from pathlib import Path\n"
             "try:\n    Path('/usr/local/probe').write_text('x'); print('root-writable')\n"
             "except OSError:\n    print('root-read-only')\n"
             "print('uid', os.getuid())\n")
    result = cluster.kubectl("exec", "-n", NAMESPACE, name, "-c", "tierguard", "--", "python", "-c", probe)
    assert "root-read-only" in result.stdout, result.stdout
    uid = int(result.stdout.split("uid", 1)[1])
    assert uid != 0


# --- admissions keep being answered while replicas are replaced -------------------------------------------

@dataclass
class AdmissionProbe:
    """Sends a server-side dry run of an admissible Secret in a tiered namespace, over and over."""

    cluster: Cluster
    namespace: str
    answered: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def manifest(self, serial: int) -> str:
        return json.dumps({"apiVersion": "v1", "kind": "Secret",
                           "metadata": {"name": f"probe-{serial}", "namespace": self.namespace},
                           "data": {"password": b64(f"probe-{serial}-{time.monotonic_ns()}-not-shared")}})

    def run(self) -> None:
        serial = 0
        while not self.stop.is_set():
            serial += 1
            result = self.cluster.kubectl("create", "--dry-run=server", "-f", "-", input=self.manifest(serial),
                                          check=False, timeout=30)
            if result.returncode == 0:
                self.answered += 1
            else:
                self.failures.append(result.stderr.strip()[:300])
            time.sleep(0.1)


@contextmanager
def admissions_probed(cluster: Cluster, namespace: str) -> Iterator[AdmissionProbe]:
    probe = AdmissionProbe(cluster, namespace)
    thread = threading.Thread(target=probe.run, daemon=True)
    thread.start()
    try:
        yield probe
    finally:
        probe.stop.set()
        thread.join(timeout=60)


def stop_replicas(cluster: Cluster) -> None:
    """Scales tierguard to zero and waits until no pod of it is left. Each replica also gets a SIGTERM of ours at
    once: the kubelet's, after the preStop drain, is then its second signal, which cuts the connection linger short
    (as for a person at a terminal). The drain and linger are tested by the rollouts; here only "no replica serves"
    matters, and waiting out a linger cost about 100 s per test. (A shorter grace period given to a pod already
    terminating still took about 60 s on kind.)"""
    running = [pod["metadata"]["name"] for pod in pods(cluster)]
    cluster.kubectl("scale", f"deployment/{RELEASE}", "-n", NAMESPACE, "--replicas=0")
    for name in running:  # the image has no shell: Python sends the signal to tierguard, PID 1
        cluster.kubectl("exec", name, "-n", NAMESPACE, "--", "python", "-c",
                        "import os, signal; os.kill(1, signal.SIGTERM)", check=False)
    wait_until(lambda: not cluster.get_json("pods", "-n", NAMESPACE, "-l", SELECTOR)["items"],
               timeout=TERMINATION_TIMEOUT_S, what="every tierguard pod gone")


def wait_rolled_out(cluster: Cluster) -> None:
    cluster.kubectl("rollout", "status", f"deployment/{RELEASE}", "-n", NAMESPACE,
                    f"--timeout={ROLLOUT_TIMEOUT_S}s", timeout=ROLLOUT_TIMEOUT_S + 30)
    wait_until(lambda: len(pods(cluster)) == 2 and all(
        c["status"] == "True" for pod in pods(cluster) for c in pod["status"]["conditions"] if c["type"] == "Ready"),
        timeout=ROLLOUT_TIMEOUT_S, what="two ready replicas")
    wait_routed(cluster)


def wait_routed(cluster: Cluster) -> None:
    """The webhook answers through its Service. Ready replicas are not enough right after an install: until
    kube-proxy has programmed the new Service's endpoints its rule refuses the API server's connection, and a
    fail-closed webhook refuses the write (`connect: connection refused`, seen once in CI)."""

    def tiered_namespace_dry_run() -> None:  # a kind and namespace the webhook is called for
        manifest = {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": f"tg-e2e-routed-{time.monotonic_ns()}", "labels": {TIER_LABEL: "dev"}}}
        made = cluster.kubectl("create", "-f", "-", "--dry-run=server", input=json.dumps(manifest), check=False)
        assert made.returncode == 0, made.stderr

    eventually(tiered_namespace_dry_run, timeout=ROLLOUT_TIMEOUT_S, interval=0.5)


def test_rollout_restart_keeps_admissions_answered(cluster: Cluster, deployment: dict[str, Any],
                                                   namespace: Callable[..., str]) -> None:
    ns = namespace(labels={TIER_LABEL: "dev"})
    before = {pod["metadata"]["name"] for pod in pods(cluster)}
    with admissions_probed(cluster, ns) as probe:
        time.sleep(1)
        cluster.kubectl("rollout", "restart", f"deployment/{RELEASE}", "-n", NAMESPACE)
        wait_rolled_out(cluster)
        time.sleep(2)
    after = {pod["metadata"]["name"] for pod in pods(cluster)}
    assert not before & after, "the rollout replaced no replica"
    assert probe.answered > 5
    assert probe.failures == [], f"{len(probe.failures)} admissions failed during the rollout: {probe.failures[:3]}"


def test_deleting_a_replica_keeps_admissions_answered(cluster: Cluster, deployment: dict[str, Any],
                                                      namespace: Callable[..., str]) -> None:
    ns = namespace(labels={TIER_LABEL: "dev"})
    victim = pods(cluster)[0]["metadata"]["name"]
    with admissions_probed(cluster, ns) as probe:
        time.sleep(1)
        cluster.kubectl("delete", "pod", victim, "-n", NAMESPACE, "--wait=true", timeout=TERMINATION_TIMEOUT_S)
        wait_rolled_out(cluster)
        time.sleep(2)
    assert victim not in {pod["metadata"]["name"] for pod in pods(cluster)}
    assert probe.answered > 5
    assert probe.failures == [], f"{len(probe.failures)} admissions failed around the delete: {probe.failures[:3]}"


def helm(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(cluster.bin_dir / "helm"), *args], env=cluster.env(), capture_output=True,
                          text=True, timeout=ROLLOUT_TIMEOUT_S + 60, check=False)


def test_an_arbitrary_uid_runs_the_image(cluster: Cluster, deployment: dict[str, Any],
                                         namespace: Callable[..., str]) -> None:
    """A platform that assigns its own uid (no passwd entry in the image for it) gets working replicas."""
    if not (cluster.bin_dir / "helm").is_file():
        pytest.skip(f"no helm next to kubectl in {cluster.bin_dir}")
    uid = "43117"
    sets = [f"--set={ctx}.{key}={uid}" for ctx in ("podSecurityContext", "securityContext")
            for key in ("runAsUser", "runAsGroup")] + [f"--set=podSecurityContext.fsGroup={uid}"]
    upgraded = helm(cluster, "upgrade", RELEASE, str(REPO / "charts" / "tierguard"), "-n", NAMESPACE,
                    "--reuse-values", *sets, "--wait", f"--timeout={ROLLOUT_TIMEOUT_S}s")
    try:
        assert upgraded.returncode == 0, upgraded.stderr
        wait_rolled_out(cluster)
        for pod in pods(cluster):
            assert str(pod["spec"]["securityContext"]["runAsUser"]) == uid
            (status,) = pod["status"]["containerStatuses"]
            assert status["ready"] and status["restartCount"] == 0, status
        ns = namespace(labels={TIER_LABEL: "dev"})
        admitted = cluster.kubectl("create", "--dry-run=server", "-f", "-", check=False, input=json.dumps(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "uid", "namespace": ns},
             "data": {"password": b64("an-arbitrary-uid-serves-admissions")}}))
        assert admitted.returncode == 0, admitted.stderr
    finally:
        back = [f"--set={ctx}.{key}=65532" for ctx in ("podSecurityContext", "securityContext")
                for key in ("runAsUser", "runAsGroup")] + ["--set=podSecurityContext.fsGroup=65532"]
        restored = helm(cluster, "upgrade", RELEASE, str(REPO / "charts" / "tierguard"), "-n", NAMESPACE,
                        "--reuse-values", *back, "--wait", f"--timeout={ROLLOUT_TIMEOUT_S}s")
        assert restored.returncode == 0, restored.stderr
        wait_rolled_out(cluster)



def test_fresh_namespaces_are_indexed_at_once(cluster: Cluster, deployment: dict[str, Any],
                                              namespace: Callable[..., str]) -> None:
    """A review in a namespace created a moment before is judged, not refused as unknown (the index lag)."""
    slowest = 0.0
    for serial in range(10):
        ns = namespace(labels={TIER_LABEL: "qa"})
        started = time.monotonic()
        created = cluster.kubectl("create", "--dry-run=server", "-f", "-", check=False, input=json.dumps(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"fresh-{serial}", "namespace": ns},
             "data": {"password": b64(f"fresh-namespace-{serial}-{time.monotonic_ns()}")}}))
        slowest = max(slowest, time.monotonic() - started)
        assert created.returncode == 0, created.stderr
    assert slowest < 5, f"a review in a fresh namespace took {slowest:.1f} s"


def test_replicas_log_no_client_warnings(cluster: Cluster, deployment: dict[str, Any]) -> None:
    """No connection-pool retries (urllib3's ResponseNotReady) or tracebacks in what the replicas log."""
    for pod in pods(cluster):
        logs = cluster.kubectl("logs", "-n", NAMESPACE, pod["metadata"]["name"], "-c", "tierguard").stdout
        assert "ResponseNotReady" not in logs and '"logger": "urllib3' not in logs, pod["metadata"]["name"]
        assert "Traceback" not in logs, pod["metadata"]["name"]
