"""A tiny Kubernetes API server for tests of the cluster listing: plain HTTP on 127.0.0.1, discovery of a few core
kinds, the RBAC kinds and NetworkPolicies (built in: listed without discovery), and list endpoints that page with
``limit`` / ``continue`` the way kube-apiserver does, so the real kubernetes client (and tierguard's paging over
it) runs unmodified.

Knobs: ``expire`` makes the Nth continued request of a resource answer ``410 Gone`` (reason ``Expired``), as
when a continue token outlives etcd's compaction window; ``created_on_expiry`` objects appear in the listing from
then on (created while the list ran); ``delay_s`` slows a resource down (timeouts); ``fail`` answers a resource
with an HTTP error. Every list request is recorded.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

RESOURCES = {  # plural -> (kind, namespaced)
    "namespaces": ("Namespace", False),
    "secrets": ("Secret", True),
    "pods": ("Pod", True),
}
GROUP_RESOURCES = {  # plural -> (group version, kind, namespaced): built-in kinds of a group, listed at /apis/...
    "roles": ("rbac.authorization.k8s.io/v1", "Role", True),
    "clusterroles": ("rbac.authorization.k8s.io/v1", "ClusterRole", False),
    "rolebindings": ("rbac.authorization.k8s.io/v1", "RoleBinding", True),
    "clusterrolebindings": ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", False),
    "networkpolicies": ("networking.k8s.io/v1", "NetworkPolicy", True),
}
EXPIRED_MESSAGE = ("The provided continue parameter is too old to display a consistent list result. You can start "
                   "a new list without the continue parameter.")


@dataclass
class ListRequest:
    resource: str
    limit: int | None
    continued: bool


@dataclass
class FakeApiServer:
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """plural -> objects as the API server stores them (without apiVersion/kind, as list items come)."""
    expire: dict[str, list[int]] = field(default_factory=dict)
    """plural -> which continued requests (1-based, counted per resource) answer 410 Gone."""
    created_on_expiry: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    delay_s: dict[str, float] = field(default_factory=dict)
    fail: dict[str, tuple[int, str]] = field(default_factory=dict)
    """plural -> (status, message)."""
    custom: dict[str, tuple[str, str, bool, tuple[str, ...]]] = field(default_factory=dict)
    """plural -> (group version, kind, namespaced, categories): custom resources served and discovered (``/apis``
    lists their groups; their objects are in ``objects`` under the plural)."""
    paths: dict[str, Any] = field(default_factory=dict)
    """Exact paths answered with this body as they stand (one object, or a list the listing does not page: a
    fleet hub's sets and heartbeats, a key Secret); query parameters are ignored."""
    requests: list[ListRequest] = field(default_factory=list)
    url: str = ""
    _continued: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def kubeconfig(self, directory: Path) -> Path:
        path = directory / "kubeconfig"
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        }))
        return path

    # --- the API ------------------------------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path in self.paths:
            return 200, self.paths[path]
        if path == "/version":
            return 200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"]}
        if path == "/apis":
            versions = sorted({group_version for group_version, *_ in self.custom.values()})
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": gv.partition("/")[0], "versions": [{"groupVersion": gv, "version": gv.partition("/")[2]}],
                 "preferredVersion": {"groupVersion": gv, "version": gv.partition("/")[2]}} for gv in versions]}
        for plural, (group_version, _, _, _) in self.custom.items():
            if path == f"/apis/{group_version}":
                return 200, {"kind": "APIResourceList", "groupVersion": group_version, "resources": [
                    {"name": name, "kind": kind, "namespaced": namespaced, "categories": list(categories),
                     "verbs": ["get", "list", "watch"]}
                    for name, (gv, kind, namespaced, categories) in self.custom.items() if gv == group_version]
                    + [{"name": f"{plural}/status", "kind": "", "namespaced": False, "verbs": ["get"]}]}
            if path == f"/apis/{group_version}/{plural}":
                return self.list(plural, query)
        if path == "/api/v1":
            return 200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                 "verbs": ["get", "list", "watch", "create", "delete"]}
                for plural, (kind, namespaced) in RESOURCES.items()]}
        for plural, (group_version, _, _) in GROUP_RESOURCES.items():
            if path == f"/apis/{group_version}/{plural}":
                return self.list(plural, query)
        plural = path.removeprefix("/api/v1/")
        if plural not in RESOURCES:
            return 404, status(404, "NotFound", f"the server could not find the requested resource ({path})")
        return self.list(plural, query)

    def list(self, plural: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        limit = int(query["limit"][0]) if "limit" in query else None
        token = query.get("continue", [""])[0]
        with self._lock:
            self.requests.append(ListRequest(plural, limit, bool(token)))
            delay = self.delay_s.get(plural, 0.0)
            if plural in self.fail:
                code, message = self.fail[plural]
                return code, status(code, "Forbidden" if code == 403 else "InternalError", message)
            offset = 0
            if token:
                count = self._continued[plural] = self._continued.get(plural, 0) + 1
                if count in self.expire.get(plural, []):
                    self.objects.setdefault(plural, []).extend(self.created_on_expiry.pop(plural, []))
                    return 410, status(410, "Expired", EXPIRED_MESSAGE)
                offset = int(base64.b64decode(token))
            items = sorted(self.objects.get(plural, []), key=lambda o: (o["metadata"].get("namespace", ""),
                                                                         o["metadata"]["name"]))
        if delay:
            time.sleep(delay)
        end = len(items) if limit is None else offset + limit
        metadata: dict[str, Any] = {"resourceVersion": "100"}
        if end < len(items):
            metadata["continue"] = base64.b64encode(str(end).encode()).decode()
            metadata["remainingItemCount"] = len(items) - end
        api_version, kind = (GROUP_RESOURCES[plural][:2] if plural in GROUP_RESOURCES
                             else self.custom[plural][:2] if plural in self.custom else ("v1", RESOURCES[plural][0]))
        return 200, {"kind": f"{kind}List", "apiVersion": api_version, "metadata": metadata,
                     "items": items[offset:end]}


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


@contextmanager
def serving(api: FakeApiServer) -> Iterator[FakeApiServer]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            code, body = api.answer(parts.path, parse_qs(parts.query))
            data = json.dumps(body).encode()
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


def namespace(name: str, tier: str | None = None) -> dict[str, Any]:
    labels = {"tierguard.io/tier": tier} if tier else {}
    return {"metadata": {"name": name, "uid": f"uid-ns-{name}", "labels": labels}}


def secret(ns: str, name: str, value: bytes, **annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "uid": f"uid-secret-{ns}-{name}",
                         "annotations": annotations,
                         "managedFields": [{"manager": "kubectl", "operation": "Update"}]},
            "type": "Opaque", "data": {"value": base64.b64encode(value).decode()}}
