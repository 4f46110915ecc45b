"""The e2e cluster is a real control plane: versioned API server, RBAC bootstrap, controllers, webhooks."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .support.kube import Cluster, owned_by, pinned_versions, url_host, wait_until

pytestmark = pytest.mark.e2e

DENY_LABEL = "e2e.tierguard.dev/deny"
WEBHOOK_NAME = "deny.e2e.tierguard.dev"


def test_server_version(cluster: Cluster) -> None:
    server = json.loads(cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]
    if cluster.local:  # the version hack/local-cluster.sh creates the cluster with
        wanted = os.environ.get("TIERGUARD_KUBERNETES_VERSION") or pinned_versions()["KUBERNETES_VERSION"]
        assert server["gitVersion"] == wanted
    else:
        assert server["gitVersion"].startswith("v1.")


def test_bootstrap_cluster_roles_exist(cluster: Cluster) -> None:
    names = cluster.kubectl("get", "clusterrole", "edit", "view", "-o", "name").stdout.split()
    assert names == [
        "clusterrole.rbac.authorization.k8s.io/edit",
        "clusterrole.rbac.authorization.k8s.io/view",
    ]


def test_new_namespace_gets_default_service_account(cluster: Cluster, namespace: Callable[..., str]) -> None:
    ns = namespace()
    wait_until(
        lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", ns, check=False).returncode == 0,
        timeout=30,
        what=f"ServiceAccount {ns}/default (kube-controller-manager's serviceaccount controller)",
    )


def test_deployment_makes_replicaset_and_pods(cluster: Cluster, namespace: Callable[..., str]) -> None:
    ns = namespace()
    labels = {"app": "e2e-pause"}
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "pause", "namespace": ns},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10"}]},
                },
            },
        }
    )
    replica_sets = wait_until(
        lambda: owned_by(cluster.get_json("replicasets", "-n", ns)["items"], "Deployment", "pause"),
        timeout=30,
        what=f"a ReplicaSet of Deployment {ns}/pause",
    )
    rs_name = replica_sets[0]["metadata"]["name"]

    # Pods exist; whether they run yet is not what this test is about.
    def two_pods() -> list[Any] | None:
        pods = owned_by(cluster.get_json("pods", "-n", ns)["items"], "ReplicaSet", rs_name)
        return pods if len(pods) == 2 else None

    pods = wait_until(two_pods, timeout=30, what=f"2 Pods of ReplicaSet {ns}/{rs_name}")
    assert {p["status"].get("phase") for p in pods} <= {"Pending", "Running"}


def test_job_makes_pod(cluster: Cluster, namespace: Callable[..., str]) -> None:
    ns = namespace()
    cluster.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "once", "namespace": ns},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "once", "image": "registry.k8s.io/pause:3.10"}],
                    }
                }
            },
        }
    )
    wait_until(
        lambda: owned_by(cluster.get_json("pods", "-n", ns)["items"], "Job", "once"),
        timeout=30,
        what=f"a Pod of Job {ns}/once",
    )


# --- a validating webhook on this host, called by the API server ----------------------------------------


@dataclass
class WebhookServer:
    """A tiny HTTPS admission webhook: denies objects labelled DENY_LABEL=true, allows the rest."""

    address: str
    port: int
    ca_pem: bytes
    reviews: list[dict[str, Any]] = field(default_factory=list)


def make_test_pki(directory: Path, address: str) -> tuple[bytes, Path, Path]:
    """A throwaway CA and a serving certificate for the IP ``address``; returns (CA PEM, cert file, key file)."""
    now = datetime.datetime.now(datetime.UTC)

    def cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None, signer: Any, ca: bool):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
                critical=False,
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = cert("tierguard-e2e-test-ca", ca_key, None, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = cert(address, key, ca_cert.subject, ca_key, ca=False)
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_cert.public_bytes(serialization.Encoding.PEM), cert_file, key_file


@pytest.fixture
def webhook_server(host_address: str) -> Iterator[WebhookServer]:
    """Listens on the address at which the API server reaches this host (kind's Docker network gateway)."""
    with tempfile.TemporaryDirectory() as tmp:
        ca_pem, cert_file, key_file = make_test_pki(Path(tmp), host_address)
        reviews: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                reviews.append(review)
                request = review["request"]
                labels = request["object"]["metadata"].get("labels", {})
                response: dict[str, Any] = {
                    "uid": request["uid"],
                    "allowed": labels.get(DENY_LABEL) != "true",
                }
                if not response["allowed"]:
                    response["status"] = {"code": 403, "message": f"e2e webhook refuses {request['name']}"}
                body = json.dumps(
                    {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host_address else socket.AF_INET

        server = Server((host_address, 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield WebhookServer(address=host_address, port=int(server.server_address[1]), ca_pem=ca_pem,
                                reviews=reviews)
        finally:
            server.shutdown()
            server.server_close()


def test_validating_webhook_denial_reaches_kubectl(
    cluster: Cluster, namespace: Callable[..., str], webhook_server: WebhookServer
) -> None:
    ns = namespace()
    config_name = f"tierguard-e2e-{uuid.uuid4().hex[:8]}"
    cluster.apply(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": config_name},
            "webhooks": [
                {
                    "name": WEBHOOK_NAME,
                    "clientConfig": {
                        "url": f"https://{url_host(webhook_server.address)}:{webhook_server.port}/validate",
                        "caBundle": base64.b64encode(webhook_server.ca_pem).decode(),
                    },
                    "rules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["configmaps"],
                            "scope": "Namespaced",
                        }
                    ],
                    # Only this test's namespace: a leftover configuration must not block anything else.
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                    "admissionReviewVersions": ["v1"],
                    "sideEffects": "None",
                    "failurePolicy": "Fail",
                    "timeoutSeconds": 5,
                }
            ],
        }
    )
    attempts = iter(range(1000))

    def apply_config_map(name: str, deny: bool) -> subprocess.CompletedProcess[str]:
        labels = {DENY_LABEL: "true"} if deny else {}
        manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}
        return cluster.apply(manifest, "-n", ns, check=False)

    def refused() -> tuple[str, subprocess.CompletedProcess[str]] | None:
        # A fresh name each time, so every attempt is a CREATE the webhook must see (a repeated apply of an
        # unchanged object sends nothing).
        name = f"refused-{next(attempts)}"
        proc = apply_config_map(name, deny=True)
        return (name, proc) if proc.returncode != 0 else None

    try:
        # The API server picks up a new webhook configuration within a moment: retry until it is in force.
        name, denied = wait_until(refused, timeout=20, what="the webhook configuration to take effect")
        assert f'admission webhook "{WEBHOOK_NAME}" denied the request: e2e webhook refuses {name}' in denied.stderr, (
            denied.stderr
        )
        assert cluster.kubectl("get", "configmap", name, "-n", ns, check=False).returncode != 0

        welcome = apply_config_map("welcome", deny=False)
        assert welcome.returncode == 0, welcome.stderr
        seen = {(r["request"]["operation"], r["request"]["name"]) for r in webhook_server.reviews}
        assert {("CREATE", name), ("CREATE", "welcome")} <= seen
    finally:
        cluster.kubectl("delete", "validatingwebhookconfiguration", config_name, "--ignore-not-found", check=False)
