"""``tierguard check --namespace-tiers-from-cluster`` against a fake API server on 127.0.0.1 that serves a
NamespaceList: only Namespaces are read, their tier labels place the offline run, and plain ``check`` never
loads the kubernetes client."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tierguard.commands.root import main

NAMESPACES = {
    "apiVersion": "v1", "kind": "NamespaceList", "metadata": {},
    "items": [
        {"metadata": {"name": "app-dev", "labels": {"tierguard.io/tier": "dev"}}},
        {"metadata": {"name": "app-prod", "labels": {"tierguard.io/tier": "prod", "team": "a"}}},
        {"metadata": {"name": "scratch", "labels": {"team": "b"}}},
    ],
}
MIRROR = """\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: app-dev
  annotations: {reflector.v1.k8s.emberstack.com/reflects: app-prod/db}
"""


class FakeApiServer(BaseHTTPRequestHandler):
    requests: list[str]
    status = 200

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        url = urlparse(self.path)
        if url.path != "/api/v1/namespaces" or type(self).status != 200:
            self.send_response(type(self).status if type(self).status != 200 else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"kind": "Status", "status": "Failure"}')
            return
        selector = parse_qs(url.query).get("labelSelector", [""])[0]
        items = [i for i in NAMESPACES["items"] if not selector or selector in i["metadata"]["labels"]]
        body = json.dumps({**NAMESPACES, "items": items}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[tuple[Path, type[FakeApiServer]]]:
    handler = type("Handler", (FakeApiServer,), {"requests": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
        "users": [{"name": "fake", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
    }))
    try:
        yield kubeconfig, handler
    finally:
        server.shutdown()
        server.server_close()


def check(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str,
          stdin: str = MIRROR) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cluster_tiers_place_the_offline_run(api_server: tuple[Path, Any], capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig, handler = api_server
    assert check(capsys, monkeypatch)[0] == 0  # offline, app-dev is unknown: untiered
    code, out, err = check(capsys, monkeypatch, "--namespace-tiers-from-cluster", "--kubeconfig", str(kubeconfig))
    assert (code, err) == (1, "")
    assert "Secret app-dev/db (tier dev) is copied by reflector from Secret app-prod/db (tier prod)" in out
    # One request, for Namespaces with the tier label only: no Secret, no discovery.
    assert [urlparse(p).path for p in handler.requests] == ["/api/v1/namespaces"]
    assert parse_qs(urlparse(handler.requests[0]).query)["labelSelector"] == ["tierguard.io/tier"]


def test_input_and_flags_take_precedence(api_server: tuple[Path, Any], capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig, _ = api_server
    declared = "apiVersion: v1\nkind: Namespace\nmetadata: {name: app-prod, labels: {tierguard.io/tier: dev}}\n"
    code, _, _ = check(capsys, monkeypatch, "--namespace-tiers-from-cluster", "--kubeconfig", str(kubeconfig),
                       stdin=declared + "---\n" + MIRROR)
    assert code == 0  # the input's own Namespace says app-prod is dev: no crossing
    code, _, _ = check(capsys, monkeypatch, "--namespace-tiers-from-cluster", "--kubeconfig", str(kubeconfig),
                       "--namespace-tier", "app-prod=dev")
    assert code == 0


def test_unreachable_cluster_exits_2(api_server: tuple[Path, Any], capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig, handler = api_server
    handler.status = 403
    code, out, err = check(capsys, monkeypatch, "--namespace-tiers-from-cluster", "--kubeconfig", str(kubeconfig))
    assert (code, out) == (2, "")
    assert err.startswith("error: cannot read the cluster:") and "403" in err
    assert "not-a-real-token" not in err
    missing = check(capsys, monkeypatch, "--namespace-tiers-from-cluster", "--kubeconfig", "/nonexistent/config")
    assert missing[0] == 2 and missing[2].startswith("error: cannot read the cluster:")


def test_plain_check_does_not_load_the_client(tmp_path: Path) -> None:
    code = ("import sys\nfrom tierguard.commands.root import main\n"
            "main(['check', '-f', sys.argv[1]])\n"
            "print(','.join(m for m in ('kubernetes', 'kopf', 'aiohttp') if m in sys.modules), file=sys.stderr)")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MIRROR)
    done = subprocess.run([sys.executable, "-c", code, str(manifest)], capture_output=True, text=True, check=False)
    assert done.stderr.strip().splitlines()[-1:] in ([], [""])
