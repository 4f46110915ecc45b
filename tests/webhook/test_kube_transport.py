"""The informers' HTTP side (kube/transport.py) through the real kubernetes client and urllib3, against a
tiny HTTP server: pages, watch events across chunks, 410 and 404 as typed errors, and a watch that goes silent
broken by the read timeout (the bound on a dead connection the staleness bound rests on)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from tierguard.kube.rest import Expired
from tierguard.kube.transport import KubeTransport, NotServed


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: ClassVar[dict[str, Any]] = {}
    seen: ClassVar[list[str]] = []

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append(self.path)
        route = self.routes.get(self.path.split("?")[0] + ("?watch" if "watch=true" in self.path else ""))
        if route is None:
            self._json(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
        elif isinstance(route, tuple):
            self._json(*route)
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in route:
                if chunk == "pause":
                    time.sleep(3)
                    continue
                data = chunk.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def server(routes: dict[str, Any]) -> Iterator[KubeTransport]:
    from kubernetes import client  # noqa: PLC0415

    Handler.routes, Handler.seen = routes, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield KubeTransport(client.ApiClient(configuration))
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_page_and_its_continue_token() -> None:
    listing = {"apiVersion": "v1", "kind": "SecretList", "metadata": {"resourceVersion": "42", "continue": "c1"},
               "items": [{"metadata": {"name": "a", "namespace": "dev"}}]}
    with server({"/api/v1/secrets": (200, listing)}) as transport:
        page = transport.list_page("/api/v1/secrets", 500, "c0")
    assert page.resource_version == "42" and page.continue_token == "c1" and page.api_version == "v1"
    assert [item["metadata"]["name"] for item in page.items] == ["a"]
    assert "limit=500" in Handler.seen[0] and "continue=c0" in Handler.seen[0]


def test_watch_events_arrive_whole_across_chunks() -> None:
    first = json.dumps({"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "5"}}}) + "\n"
    second = json.dumps({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "6"}}}) + "\n"
    chunks = [first[:10], first[10:] + second[:5], second[5:]]
    with server({"/api/v1/secrets?watch": chunks}) as transport:
        stream = transport.watch("/api/v1/secrets", "4", 30, 40)
        events = list(stream.events())
        stream.close()
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    query = Handler.seen[0]
    assert "resourceVersion=4" in query and "allowWatchBookmarks=true" in query and "timeoutSeconds=30" in query


@pytest.mark.parametrize(("status", "error"), [(410, Expired), (404, NotServed)])
def test_gone_and_not_found_are_typed(status: int, error: type[Exception]) -> None:
    body = {"kind": "Status", "code": status, "reason": "Expired" if status == 410 else "NotFound"}
    with server({"/api/v1/secrets": (status, body), "/api/v1/secrets?watch": (status, body)}) as transport:
        with pytest.raises(error):
            transport.list_page("/api/v1/secrets", 500, None)
        with pytest.raises(error):
            transport.watch("/api/v1/secrets", "1", 30, 40)


def test_a_silent_watch_is_broken_by_the_read_timeout() -> None:
    event = json.dumps({"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "5"}}}) + "\n"
    with server({"/api/v1/secrets?watch": [event, "pause", event]}) as transport:
        stream = transport.watch("/api/v1/secrets", "4", 30, read_timeout_s=1.0)
        seen: list[str] = []
        started = time.monotonic()
        with pytest.raises(Exception) as raised:  # urllib3's ReadTimeoutError (the informer retries on any)
            for item in stream.events():
                seen.append(item["type"])
        stream.close()
    assert seen == ["ADDED"] and time.monotonic() - started < 2.9, raised.value
    assert "timed out" in str(raised.value).lower() or "timeout" in type(raised.value).__name__.lower()
