"""Reliability of the in-cluster install under load and faults (issue: reliability with figures).

A load process (``tests/e2e/support/load.py``) creates and deletes Pods and Secrets in a tiered namespace at a steady
rate, half of them objects tierguard must refuse, while replicas are replaced. Each outcome is right, wrong or
failed (no decision). Figures land in ``$TIERGUARD_RELIABILITY_REPORT`` (JSON lines) when it is set, for
docs/reliability.md. Bounded: ``TIERGUARD_RELIABILITY_SECONDS`` (default 20) of load per test, at most 600.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from .support.kube import REPO, Cluster, wait_until
from .support.load import POLICY, pod_body
from .support.tierguard import NAMESPACE, TIER_LABEL, apply, policy, refused, secret, tierguard_logs
from .test_install import RELEASE, TERMINATION_TIMEOUT_S, deployment, helm, pods, stop_replicas, wait_rolled_out

__all__ = ["deployment"]  # the module fixture, shared with test_install

LOAD_SECONDS = min(float(os.environ.get("TIERGUARD_RELIABILITY_SECONDS", "20")), 600.0)
RATE = float(os.environ.get("TIERGUARD_RELIABILITY_RATE", "50"))


def record(figure: str, **values: Any) -> None:
    if path := os.environ.get("TIERGUARD_RELIABILITY_REPORT"):
        with open(path, "a") as report:
            report.write(json.dumps({"figure": figure, **values}) + "\n")


@contextmanager
def load(cluster: Cluster, namespace: str, source: str, seconds: float = LOAD_SECONDS,
         pods: bool = True, *, until_block_ends: bool = False) -> Iterator[dict[str, Any]]:
    """Runs the load process for ``seconds`` around the block; the dict is filled with its result after.
    ``pods`` mixes in Pods, which need ``load.POLICY`` enforced; without them only the default policy counts.
    With ``until_block_ends``, ``seconds`` is only the upper bound: the load stops when the block ends (after at
    least ``LOAD_SECONDS``), so a disruption of unknown length is under load from start to end."""
    result: dict[str, Any] = {}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.support.load", "--kubeconfig", str(cluster.kubeconfig),
         "--namespace", namespace, "--source", source, "--rate", str(RATE), "--duration", str(seconds),
         *(["--pods"] if pods else [])],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    watching = watch_admission_objects(cluster, started)
    try:
        time.sleep(2)  # steady load before the disruption
        yield result
    finally:
        if until_block_ends and process.poll() is None:
            time.sleep(max(0.0, started + LOAD_SECONDS - time.monotonic()))
            process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=seconds + 120)
        changes = stopped_watching(watching)
        assert process.returncode == 0, err
        result.update(json.loads(out.strip().splitlines()[-1]))
        if result.get("wrong"):
            # What wrote the admission objects meanwhile (seconds from the load's start, as the load's wrong_at):
            # the judges of Pods the webhook never sees are the API server's admission policies.
            result["admission_objects"] = changes
            result["tierguard_lines"] = [line[-300:] for line in tierguard_logs(cluster).splitlines()
                                         if "ValidatingAdmissionPolicies" in line or "TierPolicy" in line
                                         or "policy loaded" in line][-30:]


WATCHED = ("validatingadmissionpolicies", "validatingadmissionpolicybindings", "validatingwebhookconfigurations")


@dataclass
class Watching:
    """``kubectl get -w`` of each kind of admission object, each event stamped with the seconds since ``started``
    as it arrives (the load's ``wrong_at`` clock)."""

    started: float
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def read(self, kind: str, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip():
                self.events.append((round(time.monotonic() - self.started, 2), f"{kind} {' '.join(line.split())}"))


def watch_admission_objects(cluster: Cluster, started: float) -> Watching:
    columns = "E:.type,N:.object.metadata.name,RV:.object.metadata.resourceVersion,G:.object.metadata.generation"
    watching = Watching(started)
    for kind in (*WATCHED, "pods"):
        scope = ["-n", NAMESPACE] if kind == "pods" else []  # tierguard's replicas: when each came and went
        process = subprocess.Popen([str(cluster.kubectl_path), "--kubeconfig", str(cluster.kubeconfig), "get", kind,
                                    *scope, "-w", "--output-watch-events", "-o", f"custom-columns={columns}",
                                    "--no-headers"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        thread = threading.Thread(target=watching.read, args=(kind, process), daemon=True)
        thread.start()
        watching.processes.append(process)
        watching.threads.append(thread)
    return watching


def stopped_watching(watching: Watching) -> list[str]:
    """What changed after the initial listing (whose events arrive in the first second), in order of arrival."""
    for process in watching.processes:
        process.terminate()
    for thread in watching.threads:
        thread.join(timeout=10)
    return [f"{at} s: {what}" for at, what in sorted(watching.events) if at > 1.0]


@pytest.fixture
def load_namespaces(cluster: Cluster, namespace: Callable[..., str]) -> Iterator[tuple[str, str]]:
    source = namespace(labels={TIER_LABEL: "prod"})
    target = namespace(labels={TIER_LABEL: "dev"})
    with policy(cluster, POLICY):
        wait_sidecar_enforced(cluster, target)
        yield target, source


def wait_sidecar_enforced(cluster: Cluster, namespace: str, in_a_row: int = 5) -> None:
    """Until ``load.POLICY`` refuses the load's Pods everywhere they are judged: a Pod that references nothing is
    not sent to the webhook (webhook.skipCertain), so the API server's admission policies alone judge its sidecar,
    and it compiles a changed policy a moment after tierguard writes it (CI: 13 Pods admitted in the load's first
    second after a fixed 3 s wait). Several refusals in a row, each a new connection, so both replicas (when Pods
    do reach them) have reloaded it too."""
    probe = pod_body("tg-e2e-sidecar-probe", refused=True)
    streak = 0

    def enforced() -> bool | None:
        nonlocal streak
        result = apply(cluster, {**probe, "metadata": {**probe["metadata"], "namespace": namespace}},
                       "--dry-run=server")
        streak = streak + 1 if refused(result, "sidecar-missing") else 0
        return streak >= in_a_row or None

    wait_until(enforced, timeout=60, interval=0.5, what=f"{in_a_row} refusals in a row of a Pod without the sidecar")


def ready_addresses(cluster: Cluster) -> set[str]:
    slices = cluster.get_json("endpointslices", "-n", NAMESPACE, "-l",
                              f"kubernetes.io/service-name={RELEASE}")["items"]
    # A slice of a Service without ready pods has "endpoints": null.
    return {address for item in slices for endpoint in item.get("endpoints") or []
            if (endpoint.get("conditions") or {}).get("ready") for address in endpoint.get("addresses") or []}


def assert_answered(result: dict[str, Any], what: str) -> None:
    assert result["attempted"] >= 0.5 * RATE * LOAD_SECONDS, f"the load ran short: {result}"
    assert result["wrong"] == 0, f"{what}: {result['wrong']} wrong decisions: {result}"
    assert result["failed"] == 0, f"{what}: {result['failed']} admissions failed: {result['failures']}"


def test_rollout_restart_under_load(cluster: Cluster, deployment: dict[str, Any],
                                    load_namespaces: tuple[str, str]) -> None:
    target, source = load_namespaces
    with load(cluster, target, source) as result:
        cluster.kubectl("rollout", "restart", f"deployment/{RELEASE}", "-n", NAMESPACE)
        wait_rolled_out(cluster)
    record("rollout-restart", **{k: result[k] for k in ("attempted", "right", "wrong", "failed", "rate")})
    assert_answered(result, "rollout restart")


def test_graceful_delete_under_load(cluster: Cluster, deployment: dict[str, Any],
                                    load_namespaces: tuple[str, str]) -> None:
    target, source = load_namespaces
    victim = pods(cluster)[0]["metadata"]["name"]
    with load(cluster, target, source) as result:
        cluster.kubectl("delete", "pod", victim, "-n", NAMESPACE, "--wait=true", timeout=TERMINATION_TIMEOUT_S)
        wait_rolled_out(cluster)
    record("graceful-delete", **{k: result[k] for k in ("attempted", "right", "wrong", "failed", "rate")})
    assert_answered(result, "graceful delete")


def test_killed_replica_under_load(cluster: Cluster, deployment: dict[str, Any],
                                   load_namespaces: tuple[str, str]) -> None:
    """A replica killed without a grace period: reviews in flight on it may fail (reported), none is wrong."""
    target, source = load_namespaces
    victim = pods(cluster)[0]
    address = victim["status"]["podIP"]
    with load(cluster, target, source) as result:
        killed = time.monotonic()
        cluster.kubectl("delete", "pod", victim["metadata"]["name"], "-n", NAMESPACE, "--grace-period=0",
                        "--force", timeout=90)
        wait_until(lambda: address not in ready_addresses(cluster), timeout=60, interval=0.1,
                   what="the killed replica to leave the Service's endpoints")
        unrouted_s = time.monotonic() - killed
        wait_rolled_out(cluster)
    record("sigkill", unrouted_s=round(unrouted_s, 2),
           **{k: result[k] for k in ("attempted", "right", "wrong", "failed", "rate")})
    assert result["wrong"] == 0, result
    # Bounded by what was in flight on the killed replica while the Service still routed to it.
    assert result["failed"] <= max(5, RATE * (unrouted_s + 1)), result


# --- never lock the cluster -------------------------------------------------------------------------------

def create_secret(cluster: Cluster, namespace: str, name: str) -> subprocess.CompletedProcess[str]:
    """A Secret: a kind tierguard judges, so the webhook is asked wherever its namespaceSelector matches."""
    return cluster.kubectl("create", "secret", "generic", name, "-n", namespace,
                           f"--from-literal=k={os.urandom(8).hex()}", check=False)


def test_no_replica_never_locks_the_cluster(cluster: Cluster, deployment: dict[str, Any],
                                            namespace: Callable[..., str]) -> None:
    if deployment["spec"].get("replicas") != 2:
        pytest.skip("expects the chart's two replicas")
    tiered = namespace(labels={TIER_LABEL: "dev"})
    untiered = namespace()
    marker = f"lock-{int(time.time())}"
    try:
        # Gone, not only terminating: a terminating replica keeps serving through its preStop pause and linger.
        stop_replicas(cluster)
        wait_until(lambda: not ready_addresses(cluster), timeout=60, what="no ready address left")
        # Fail closed where tierguard judges...
        refused = create_secret(cluster, tiered, marker)
        assert refused.returncode != 0 and "failed calling webhook" in refused.stderr, refused.stderr
        # ...and nowhere else: the control plane's namespaces, untiered ones, tierguard's own.
        for ns in ("kube-system", "kube-node-lease", "default", untiered, NAMESPACE):
            made = create_secret(cluster, ns, marker)
            assert made.returncode == 0, f"{ns}: {made.stderr}"
            cluster.kubectl("delete", "secret", marker, "-n", ns, "--wait=false", check=False)
        nodes = cluster.get_json("nodes")["items"]
        assert all(c["status"] == "True" for n in nodes for c in n["status"]["conditions"] if c["type"] == "Ready")
        # helm upgrade brings the release back while no replica runs: every object of the release is either in
        # tierguard's own namespace (never judged) or excluded by name (its own ClusterRoleBinding).
        if (cluster.bin_dir / "helm").is_file():
            back = helm(cluster, "upgrade", RELEASE, str(REPO / "charts" / "tierguard"), "-n", NAMESPACE,
                        "--reuse-values", "--wait", "--timeout=180s")
            assert back.returncode == 0, back.stderr
    finally:
        # Whatever failed above, later tests need tierguard back.
        if len(pods(cluster)) < 2:
            cluster.kubectl("scale", f"deployment/{RELEASE}", "-n", NAMESPACE, "--replicas=2", check=False)
        wait_rolled_out(cluster)
    made = create_secret(cluster, tiered, marker)
    assert made.returncode == 0, made.stderr


# --- posture ------------------------------------------------------------------------------------------------

def test_webhook_port_speaks_tls_1_2_or_later_only(cluster: Cluster, deployment: dict[str, Any]) -> None:
    # Pod IPs are not reachable from this host (kind's are inside its Docker network): the replica's webhook port
    # is forwarded to loopback, and the handshakes below are end to end with it.
    name = pods(cluster)[0]["metadata"]["name"]
    with cluster.port_forward(NAMESPACE, f"pod/{name}", 8443) as port:
        tls_posture(("127.0.0.1", port))


def tls_posture(address: tuple[str, int]) -> None:
    """TLS 1.1 refused, 1.2 or later spoken, plain HTTP answered with no admission decision."""
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    with warnings.catch_warnings():  # deprecated on purpose: this client must be refused
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection(address, timeout=5) as raw, pytest.raises(ssl.SSLError):
        old.wrap_socket(raw).do_handshake()
    modern = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    modern.check_hostname, modern.verify_mode = False, ssl.CERT_NONE
    modern.minimum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(address, timeout=5) as raw, modern.wrap_socket(raw) as tls:
        assert tls.version() in {"TLSv1.2", "TLSv1.3"}
    # Plain HTTP on the webhook port gets no admission answer.
    with socket.create_connection(address, timeout=5) as raw:
        raw.sendall(b"POST /secrets HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        raw.settimeout(5)
        try:
            reply = raw.recv(4096)
        except (ConnectionResetError, TimeoutError):
            reply = b""
    assert b'"allowed"' not in reply


def test_service_account_holds_least_privilege(cluster: Cluster, deployment: dict[str, Any]) -> None:
    account = f"system:serviceaccount:{NAMESPACE}:{deployment['spec']['template']['spec']['serviceAccountName']}"

    def can(*args: str) -> bool:
        return cluster.kubectl("auth", "can-i", *args, "--as", account, check=False).stdout.strip() == "yes"

    for allowed in (("list", "secrets", "-A"), ("watch", "namespaces"), ("list", "clusterroles"),
                    ("get", "tierpolicies.tierguard.io"),
                    ("patch", f"validatingadmissionpolicies/{RELEASE}-workloads-deny"),
                    ("delete", f"validatingadmissionpolicybindings/{RELEASE}-namespaces-warn")):
        assert can(*allowed), allowed
    for forbidden in (("create", "secrets", "-n", "default"), ("delete", "secrets", "-n", NAMESPACE),
                      ("update", "secrets", "-n", "default"), ("create", "pods", "-n", NAMESPACE),
                      ("create", "pods/exec", "-n", NAMESPACE), ("impersonate", "users"),
                      ("escalate", "clusterroles"), ("bind", "clusterroles"),
                      ("patch", "validatingwebhookconfigurations"), ("*", "*"),
                      ("delete", "validatingadmissionpolicies/another-policy"),
                      ("patch", "validatingadmissionpolicybindings/another-binding"),
                      ("list", "validatingadmissionpolicies")):
        assert not can(*forbidden), forbidden


def test_canary_value_never_leaves_tierguard(cluster: Cluster, deployment: dict[str, Any],
                                             namespace: Callable[..., str]) -> None:
    """A distinctive value planted in Secrets (admitted and refused ones) is in no pod log or metric."""
    canary = f"tg-canary-{os.urandom(12).hex()}"
    prod = namespace(labels={TIER_LABEL: "prod"})
    dev = namespace(labels={TIER_LABEL: "dev"})
    apply(cluster, secret(prod, "db", canary))
    refused = apply(cluster, secret(dev, "db", canary))
    assert refused.returncode != 0 and "[secret-value-shared]" in refused.stderr
    assert canary not in refused.stderr and canary not in refused.stdout
    outputs: list[str] = []
    for pod in pods(cluster):
        name = pod["metadata"]["name"]
        outputs.append(cluster.kubectl("logs", "-n", NAMESPACE, name, "-c", "tierguard").stdout)
        outputs.append(cluster.kubectl("get", "--raw",
                                       f"/api/v1/namespaces/{NAMESPACE}/pods/{name}:8080/proxy/metrics").stdout)
    outputs.append(cluster.kubectl("get", "events", "-A", "-o", "json").stdout)
    found = sum(text.count(canary) for text in outputs)
    record("canary", occurrences=found, places=len(outputs))
    assert found == 0, "the planted value appeared in tierguard's output"



# --- certificate rotation -------------------------------------------------------------------------------------

SERVED_PROBE = "import ssl; print(ssl.get_server_certificate(('127.0.0.1', 8443), timeout=5))"


def served_certificate(cluster: Cluster, pod: dict[str, Any]) -> str:
    """The certificate the replica serves on its webhook port, asked from inside its pod (its Python: pod IPs are
    not reachable from this host); empty when the pod cannot be asked (say, it is going away)."""
    asked = cluster.kubectl("exec", "-n", NAMESPACE, pod["metadata"]["name"], "-c", "tierguard", "--", "python",
                            "-c", SERVED_PROBE, check=False)
    return asked.stdout if asked.returncode == 0 else ""


def serves(cluster: Cluster, pod: dict[str, Any], crt: str) -> bool:
    served = served_certificate(cluster, pod)
    return bool(served.strip()) and same_certificate(served, crt)


def secret_certificate(cluster: Cluster, deployment: dict[str, Any]) -> str:
    """The serving certificate in the chart's Secret (``tls.crt`` only: a certificate, public)."""
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    name = next(v["secret"]["secretName"] for v in volumes if "secret" in v)
    encoded = cluster.kubectl("get", "secret", name, "-n", NAMESPACE, "-o", "jsonpath={.data.tls\\.crt}").stdout
    return base64.b64decode(encoded).decode()


def same_certificate(a: str, b: str) -> bool:
    return ssl.PEM_cert_to_DER_cert(a) == ssl.PEM_cert_to_DER_cert(b.split("-----END CERTIFICATE-----", maxsplit=1)[0]
                                                                   + "-----END CERTIFICATE-----\n")


def test_generated_certificate_rotation_under_load(cluster: Cluster, deployment: dict[str, Any],
                                                   load_namespaces: tuple[str, str]) -> None:
    """`helm upgrade` renewing the chart's certificates (caBundle trusting old and new CA first) while reviews
    flow: none fails, and every replica serves the new certificate within the reload bound."""
    if not (cluster.bin_dir / "helm").is_file():
        pytest.skip(f"no helm next to kubectl in {cluster.bin_dir}")
    target, source = load_namespaces
    before = secret_certificate(cluster, deployment)
    chart = str(REPO / "charts" / "tierguard")
    with load(cluster, target, source, seconds=max(LOAD_SECONDS, 30.0)) as result:
        # The current certificate expires in ~3650 days; renewing before 3999 makes this upgrade rotate.
        started = time.monotonic()
        upgraded = helm(cluster, "upgrade", RELEASE, chart, "-n", NAMESPACE, "--reuse-values",
                        "--set", "certs.validityDays=4000", "--set", "certs.renewBeforeDays=3999",
                        "--wait", "--timeout=180s")
        assert upgraded.returncode == 0, upgraded.stderr
        after = secret_certificate(cluster, deployment)
        assert not same_certificate(before, after), "the upgrade did not rotate the certificate"
        wait_until(lambda: all(serves(cluster, pod, after) for pod in pods(cluster)), timeout=180, interval=1,
                   what="every replica serving the new certificate")
        served_s = round(time.monotonic() - started, 1)
        wait_rolled_out(cluster)
    try:
        record("certificate-rotation", served_new_after_s=served_s,
               **{k: result[k] for k in ("attempted", "right", "wrong", "failed", "rate")})
        assert_answered(result, "certificate rotation")
    finally:
        back = helm(cluster, "upgrade", RELEASE, chart, "-n", NAMESPACE, "--reuse-values", "--set",
                    "certs.validityDays=3650", "--set", "certs.renewBeforeDays=90", "--wait", "--timeout=180s")
        assert back.returncode == 0, back.stderr
        wait_rolled_out(cluster)


def test_deleted_tierpolicy_enforces_the_defaults(cluster: Cluster, deployment: dict[str, Any],
                                                  namespace: Callable[..., str]) -> None:
    """Deleting the TierPolicy is not a way around tierguard: SPEC's defaults are enforced until it is back."""
    from .support.tierguard import current_policy, eventually  # noqa: PLC0415

    previous = current_policy(cluster)
    assert previous is not None, "the chart renders a TierPolicy named default"
    prod = namespace(labels={TIER_LABEL: "prod"})
    dev = namespace(labels={TIER_LABEL: "dev"})
    shared = f"tg-e2e-deleted-policy-{os.urandom(8).hex()}"
    cluster.kubectl("delete", "tierpolicies.tierguard.io", "default")
    try:
        apply(cluster, secret(prod, "db", shared))

        def refused() -> None:
            result = apply(cluster, secret(dev, "db", shared), "--dry-run=server")
            assert result.returncode != 0 and "[secret-value-shared]" in result.stderr, result.stderr

        eventually(refused, timeout=30)
    finally:
        cluster.kubectl("create", "-f", "-", input=json.dumps(previous), check=False)


def test_deleted_fingerprint_key_is_recreated_and_values_still_compared(
        cluster: Cluster, deployment: dict[str, Any], namespace: Callable[..., str]) -> None:
    """Each replica fingerprints its index and its requests with the key it loaded, so a deleted key Secret
    changes no decision of a running replica; a replica that starts without it creates a new one, rebuilds its
    index with it, and still finds shared values."""
    from .support.tierguard import eventually  # noqa: PLC0415

    args = [a for a in deployment["spec"]["template"]["spec"]["containers"][0]["args"] if a.startswith("--hmac")]
    key_name = args[0].split("=", 1)[1] if args else "tierguard-fingerprint-key"
    prod = namespace(labels={TIER_LABEL: "prod"})
    dev = namespace(labels={TIER_LABEL: "dev"})
    shared = f"tg-e2e-key-rotation-{os.urandom(8).hex()}"
    apply(cluster, secret(prod, "db", shared))
    before = cluster.get_json("secret", key_name, "-n", NAMESPACE)["metadata"]["uid"]
    cluster.kubectl("delete", "secret", key_name, "-n", NAMESPACE)

    def still_refused() -> None:
        result = apply(cluster, secret(dev, "db", shared), "--dry-run=server")
        assert result.returncode != 0 and "[secret-value-shared]" in result.stderr, result.stderr

    still_refused()  # the running replicas keep their key
    cluster.kubectl("rollout", "restart", f"deployment/{RELEASE}", "-n", NAMESPACE)
    wait_rolled_out(cluster)
    after = cluster.get_json("secret", key_name, "-n", NAMESPACE)["metadata"]["uid"]
    assert after != before, "no replica recreated the key Secret"
    eventually(still_refused, timeout=30)  # the new replicas' index, rebuilt with the new key
    record("fingerprint-key-deleted", recreated=True)
