"""Bodies no API server sends, at tierguard's real HTTPS socket: each gets a clear 4xx, never a traceback (500)
or a connection held open."""

from __future__ import annotations

import socket
import ssl
import time
from urllib.parse import urlparse

import pytest

from tests.webhook.helpers import RunningServer
from tierguard.webhook import server


def test_deep_nesting_is_a_client_error(https_server: RunningServer) -> None:
    # Found while fuzzing: deeper than orjson's limit, json.loads raised RecursionError (an HTTP 500).
    status, _ = https_server.post("/pods", b"[" * 200_000 + b"]" * 200_000)
    assert status == 400


def test_a_body_over_16_mib_is_refused_as_too_large(https_server: RunningServer) -> None:
    status, _ = https_server.post("/pods", b'{"a": "' + b"x" * (server.MAX_REVIEW_BYTES + 1) + b'"}')
    assert status == 413


def test_a_trickling_body_is_cut_off_by_the_read_timeout(https_server: RunningServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "BODY_READ_TIMEOUT_S", 0.5)
    url = urlparse(https_server.url)
    context = ssl.create_default_context(cafile=str(https_server.ca))
    with socket.create_connection((url.hostname, url.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=url.hostname) as tls:
        tls.sendall(b"POST /pods HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 1000\r\n\r\n{")
        deadline = time.monotonic() + 5
        answer = b""
        while b"\r\n" not in answer and time.monotonic() < deadline:
            try:
                tls.sendall(b" ")
            except OSError:
                break
            tls.settimeout(0.3)
            try:
                answer += tls.recv(4096)
            except TimeoutError:
                continue
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]


def test_a_body_sent_after_its_headers_is_read_and_answered(https_server: RunningServer) -> None:
    """The read waits (under the timeout) for a body that is not there with the headers: not an empty body."""
    url = urlparse(https_server.url)
    context = ssl.create_default_context(cafile=str(https_server.ca))
    body = b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}'
    with socket.create_connection((url.hostname, url.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=url.hostname) as tls:
        tls.sendall(b"POST /pods HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        time.sleep(0.3)
        tls.sendall(body[:10])
        time.sleep(0.2)
        tls.sendall(body[10:])
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = tls.recv(4096)
            if not chunk:
                break
            answer += chunk
    # A JSON review without a request: answered (a 200 review refusing it), not a 400 for a half-read body.
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    assert b'"allowed":false' in answer and b"request.uid" in answer
