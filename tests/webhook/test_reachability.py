"""The API health check reuses its connections cleanly: no urllib3 retry warnings, no broken pool."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kubernetes import client

from tierguard.webhook.reachability import build_check

LISTING = json.dumps({"kind": "List", "apiVersion": "v1", "metadata": {}, "items": [
    {"metadata": {"name": "x" * 2000}}]}).encode()


class KeepAliveAPI(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set[int] = set()  # noqa: RUF012 - shared by the handler instances of one server
    requests: list[str] = []  # noqa: RUF012

    def do_GET(self) -> None:
        KeepAliveAPI.connections.add(id(self.connection))
        KeepAliveAPI.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(LISTING)))
        self.end_headers()
        self.wfile.write(LISTING)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    KeepAliveAPI.connections.clear()
    KeepAliveAPI.requests.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAliveAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_repeated_checks_reuse_connections_without_retries(api: str, caplog: pytest.LogCaptureFixture) -> None:
    configuration = client.Configuration()
    configuration.host = api
    check = build_check(client.ApiClient(configuration))
    with caplog.at_level(logging.WARNING, logger="urllib3"):
        for _ in range(5):
            check()
    assert not [r for r in caplog.records if r.name.startswith("urllib3")], [r.getMessage() for r in caplog.records]
    # Eight listings per check, each sent exactly once (a broken pooled connection would make urllib3 resend).
    assert len(KeepAliveAPI.requests) == 5 * 8
    assert all("limit=1" in path for path in KeepAliveAPI.requests)
    # Drained responses let the pool reuse its connection instead of opening one per request.
    assert len(KeepAliveAPI.connections) < len(KeepAliveAPI.requests)
