"""A gated HTTP relay in front of `kubectl proxy`: it holds every request under a path prefix until opened.

Lets a test keep one of tierguard's initial listings (say, all Secrets) from completing, to watch the webhook
refuse admission while its indexes are unsynced. Plain HTTP on loopback; responses are streamed, so watches
pass through.
"""

from __future__ import annotations

import http.client
import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .kube import Cluster

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "proxy-connection"}


class Gate:
    def __init__(self, upstream_port: int, held_prefix: str) -> None:
        self.upstream_port = upstream_port
        self.held_prefix = held_prefix
        self.opened = threading.Event()
        self.failing = threading.Event()
        self.held = 0
        gate = self

        class Relay(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass

            def relay(self) -> None:
                if gate.failing.is_set():
                    body = b'{"kind":"Status","apiVersion":"v1","status":"Failure","code":503}'
                    self.send_response(503)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if self.path.startswith(gate.held_prefix) and not gate.opened.is_set():
                    gate.held += 1
                    gate.opened.wait(timeout=300)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                upstream = http.client.HTTPConnection("127.0.0.1", gate.upstream_port, timeout=600)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    while chunk := response.read1(65536):
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except (OSError, http.client.HTTPException):
                    pass  # either side went away: a watch ended or the test is tearing down
                finally:
                    upstream.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = relay

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # connections cut at teardown are expected

        self.server = QuietServer(("127.0.0.1", 0), Relay)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def open(self) -> None:
        self.opened.set()

    def fail(self, failing: bool) -> None:
        """Answer every new request with 503, as an unreachable or broken API server would."""
        if failing:
            self.failing.set()
        else:
            self.failing.clear()

    def close(self) -> None:
        self.opened.set()
        self.server.shutdown()


@contextmanager
def gated_kubeconfig(cluster: Cluster, held_prefix: str, directory: Path) -> Iterator[tuple[Path, Gate]]:
    """A kubeconfig whose requests under ``held_prefix`` wait until ``gate.open()``."""
    proxy = subprocess.Popen(
        [str(cluster.kubectl_path), "--kubeconfig", str(cluster.kubeconfig), "proxy", "--port=0",
         "--address=127.0.0.1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proxy.stdout is not None
        line = proxy.stdout.readline()
        port = re.search(r":(\d+)", line)
        assert port, f"kubectl proxy did not start: {line!r}"
        gate = Gate(int(port.group(1)), held_prefix)
        kubeconfig = directory / "gated-kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: gated\n"
            f"clusters: [{{name: gated, cluster: {{server: 'http://127.0.0.1:{gate.port}'}}}}]\n"
            "users: [{name: gated, user: {}}]\n"
            "contexts: [{name: gated, context: {cluster: gated, user: gated}}]\n")
        try:
            yield kubeconfig, gate
        finally:
            gate.close()
    finally:
        proxy.terminate()
        proxy.wait(10)
