"""The webhook over real HTTPS: tierguard's own server (webhook/server.py) serving its admission callback."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

from tests.webhook.helpers import RunningServer, review
from tierguard.webhook.certs import write_certificates

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "dev"},
       "spec": {"containers": [{"name": "app", "image": "nginx"}]}}


def test_review_round_trip(https_server: RunningServer) -> None:
    body = review(POD)
    status, answer = https_server.post("/pods", body)
    assert status == 200
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    assert answer["response"] == {"uid": body["request"]["uid"], "allowed": True}


def test_unknown_path_denied_over_https(https_server: RunningServer) -> None:
    status, answer = https_server.post("/does-not-exist", review(POD))
    assert status == 200
    assert answer["response"]["allowed"] is False


def test_non_json_body_is_a_client_error(https_server: RunningServer) -> None:
    status, _ = https_server.post("/pods", b"{not json")
    assert status == 400  # the API server treats this as a webhook failure: failurePolicy Fail denies


def test_rotated_certificate_is_served_without_restart(https_server: RunningServer) -> None:
    import socket  # noqa: PLC0415
    import ssl  # noqa: PLC0415
    from urllib.parse import urlparse  # noqa: PLC0415

    def served_cert() -> bytes:
        url = urlparse(https_server.url)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection((url.hostname, url.port), timeout=5) as raw, \
                context.wrap_socket(raw) as tls:
            return tls.getpeercert(binary_form=True) or b""

    before = served_cert()
    rotated = write_certificates(https_server.cert.parent / "rotated", ["127.0.0.1"])
    https_server.cert.write_bytes(rotated.cert.read_bytes())
    https_server.key.write_bytes(rotated.key.read_bytes())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if served_cert() != before:
                break
        except OSError:
            pass  # the listener restarts to load the new files
        time.sleep(0.2)
    assert served_cert() != before


def test_large_object_update_is_judged_not_rejected_for_size(https_server: RunningServer) -> None:
    big = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "big", "namespace": "dev"},
           "data": {"blob": base64.b64encode(b"x" * 1_000_000).decode()}}
    body = review(big, operation="UPDATE", old=big)
    assert len(json.dumps(body)) > 2 * 1024 * 1024
    status, answer = https_server.post("/secrets", body)
    assert status == 200
    assert answer["response"]["allowed"] is True


def test_a_half_written_rotation_keeps_the_served_certificate(tmp_path: Path) -> None:
    """cert-manager writes tls.crt and tls.key one after the other: a mismatched pair is never served."""
    from tierguard.webhook.server import AdmissionServer  # noqa: PLC0415

    first = write_certificates(tmp_path / "first", ["127.0.0.1"])
    second = write_certificates(tmp_path / "second", ["127.0.0.1"])

    async def callback(review: Any, **_: Any) -> dict[str, Any]:
        return {}

    server = AdmissionServer(callback, addr="127.0.0.1", port=0, certfile=str(first.cert), keyfile=str(first.key))
    assert server.reload_if_changed() is False  # nothing changed
    first.cert.write_bytes(second.cert.read_bytes())  # the new certificate, the old key
    assert server.reload_if_changed() is False
    first.key.write_bytes(second.key.read_bytes())
    assert server.reload_if_changed() is True
    assert server.reload_if_changed() is False


def test_random_bytes_at_the_tls_socket_leave_the_server_serving(https_server: RunningServer) -> None:
    """Bytes that are not TLS (random, plain HTTP, a truncated ClientHello) and TLS that stops halfway reach the
    socket itself, below the admission service the fuzzing drives: each connection is dropped, the server keeps
    answering reviews, and nothing reaches the client but a close or a TLS alert."""
    import random  # noqa: PLC0415
    import socket  # noqa: PLC0415
    import ssl  # noqa: PLC0415
    from urllib.parse import urlparse  # noqa: PLC0415

    url = urlparse(https_server.url)
    assert url.hostname is not None and url.port is not None
    generator = random.Random(1234)
    inputs = [generator.randbytes(generator.randint(1, 4096)) for _ in range(40)]
    inputs += [b"POST /pods HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
               bytes.fromhex("16030100a5010000a10303") + generator.randbytes(20),  # a ClientHello, cut short
               b"\x16\x03\x01\xff\xff" + generator.randbytes(200)]  # a record longer than what follows
    for data in inputs:
        with socket.create_connection((url.hostname, url.port), timeout=5) as raw:
            raw.sendall(data)
            raw.shutdown(socket.SHUT_WR)
            answer = b""
            try:
                while chunk := raw.recv(4096):
                    answer += chunk
            except (ConnectionResetError, TimeoutError):
                pass
            assert b"HTTP/1." not in answer  # plain HTTP is never answered on the TLS port
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((url.hostname, url.port), timeout=5) as raw, context.wrap_socket(raw) as tls:
        tls.sendall(b"POST /pods HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")  # then hangs up
    body = review(POD)
    status, answer = https_server.post("/pods", body)
    assert status == 200 and answer["response"] == {"uid": body["request"]["uid"], "allowed": True}
