"""``webhook.clientCA`` on a real cluster: the local kind cluster's API server holds a client certificate for webhooks
(its AdmissionConfiguration ``kubeConfigFile``, ``hack/local-cluster.sh``) and the chart is installed with its CA, so
every admission of the suite passes through it; a client without that certificate (a pod posting reviews of its own
making) gets no answer (docs/security.md). On another cluster the test runs when its release sets ``clientCA``."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

from .support.kube import Cluster, local_state_dir
from .support.tierguard import NAMESPACE
from .test_install import deployment, pods

__all__ = ["deployment"]  # the fixture, imported for pytest

REVIEW = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": "forged", "kind": {"group": "", "version": "v1", "kind": "Secret"},
    "resource": {"group": "", "version": "v1", "resource": "secrets"}, "namespace": "default", "operation": "CREATE",
    "userInfo": {"username": "forged", "groups": ["system:masters"]},
    "object": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "guess", "namespace": "default"}}}}


def post(address: tuple[str, int], client: tuple[Path, Path] | None) -> bytes:
    """The raw reply to a review posted over TLS (b"" when the connection is refused or closed)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    if client is not None:
        context.load_cert_chain(str(client[0]), str(client[1]))
    body = json.dumps(REVIEW).encode()
    request = (b"POST /secrets HTTP/1.1\r\nHost: tierguard\r\nContent-Type: application/json\r\n"
               b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    reply = b""
    try:
        with socket.create_connection(address, timeout=10) as raw, context.wrap_socket(raw) as tls:
            tls.sendall(request)
            while chunk := tls.recv(65536):
                reply += chunk
    except (ssl.SSLError, ConnectionError, TimeoutError):
        pass  # TLS 1.2 refuses in the handshake; TLS 1.3 on the first read, after the server checked the certificate
    return reply


def test_only_the_api_servers_client_certificate_is_answered(cluster: Cluster, deployment: dict[str, Any]) -> None:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    if not any(arg.startswith("--client-ca") for arg in container["args"]):
        if cluster.local:
            pytest.fail("the local cluster's release does not require client certificates (webhook.clientCA)")
        pytest.skip("this cluster's release does not set webhook.clientCA")
    # Every admission of the suite shows that the API server's certificate is accepted; this one proves it anew.
    dry_run = cluster.kubectl("create", "namespace", "tg-client-ca-probe", "--dry-run=server", "-o", "name",
                              check=False)
    assert dry_run.returncode == 0, dry_run.stderr
    name = pods(cluster)[0]["metadata"]["name"]
    with cluster.port_forward(NAMESPACE, f"pod/{name}", 8443) as port:
        refused = post(("127.0.0.1", port), None)
        assert b'"allowed"' not in refused, "a client without a certificate got an admission answer"
        if cluster.local:  # the API server's own client certificate, kept in the state dir: answered
            admission = local_state_dir() / "admission"
            answered = post(("127.0.0.1", port), (admission / "client.crt", admission / "client.key"))
            assert b" 200 " in answered.split(b"\r\n", 1)[0] and b'"allowed"' in answered, answered[:200]
