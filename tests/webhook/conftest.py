"""Fixtures for the webhook shell without a cluster: a ready RuntimeState over in-memory indexes, and the real
HTTPS server (kopf's WebhookServer with tierguard's callback) on a loopback port."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tierguard.engine.context import NamespaceView, SecretView, aggregation_selectors
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.policy import DEFAULT_POLICY
from tierguard.webhook.admission import AdmissionService
from tierguard.webhook.certs import write_certificates
from tierguard.webhook.live_context import INDEX_NAMES, LiveContext, cluster_role_label_keys, secret_index_keys
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.state import RuntimeState

KEY = b"k" * 32


@dataclass
class FakeIndexes:
    """kopf.Index look-alikes: key -> list of values."""

    data: dict[str, dict[Any, list[Any]]] = field(default_factory=lambda: {n: {} for n in INDEX_NAMES})

    def add_namespace(self, name: str, tier: str | None = None, **labels: str) -> None:
        all_labels = dict(labels) | ({"tierguard.io/tier": tier} if tier else {})
        self.data["tg_namespaces"][name] = [NamespaceView(name, all_labels, {})]

    def add_secret(self, obj: Mapping[str, Any]) -> None:
        view = SecretView.from_object(obj, Fingerprinter(KEY))
        for key, value in secret_index_keys(view).items():  # the same keys kopf's index handler returns
            self.data["tg_secrets"].setdefault(key, []).append(value)


    def add_cluster_role(self, obj: Mapping[str, Any]) -> None:
        """The entries kopf's ClusterRole index handlers return (rules, labels and aggregation selectors)."""
        name = obj["metadata"]["name"]
        self.data["tg_cluster_roles"][("ClusterRole", None, name)] = [list(obj.get("rules") or [])]
        labels = dict(obj["metadata"].get("labels") or {})
        for key, value in cluster_role_label_keys(name, labels, aggregation_selectors(obj)).items():
            self.data["tg_cluster_role_labels"].setdefault(key, []).append(value)


@pytest.fixture
def indexes() -> FakeIndexes:
    fake = FakeIndexes()
    fake.add_namespace("dev", "dev")
    fake.add_namespace("prod", "prod")
    fake.add_namespace("default")
    return fake


@pytest.fixture
def state(indexes: FakeIndexes) -> RuntimeState:
    runtime = RuntimeState(own_namespace="tierguard-system")
    runtime.context = LiveContext(Fingerprinter(KEY), indexes.data)  # type: ignore[arg-type]
    runtime.indexes_synced = True
    runtime.use_policy(DEFAULT_POLICY)
    return runtime


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def service(state: RuntimeState, metrics: Metrics) -> AdmissionService:
    return AdmissionService(state, metrics)


def review(obj: Mapping[str, Any], *, operation: str = "CREATE", old: Mapping[str, Any] | None = None,
           groups: tuple[str, ...] = ("system:authenticated",), dry_run: bool = False,
           subresource: str | None = None) -> dict[str, Any]:
    metadata = obj.get("metadata", {})
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": "", "version": "v1", "kind": obj.get("kind")},
        "resource": {"group": "", "version": "v1", "resource": str(obj.get("kind", "")).lower() + "s"},
        "name": metadata.get("name", ""),
        "namespace": metadata.get("namespace"),
        "operation": operation,
        "userInfo": {"username": "alice", "groups": list(groups)},
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
    }
    if subresource:
        request["subResource"] = subresource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    ca: Path
    cert: Path
    key: Path

    def post(self, path: str, body: bytes | str | Mapping[str, Any]) -> tuple[int, Any]:
        import urllib.error  # noqa: PLC0415
        import urllib.request  # noqa: PLC0415

        data = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else
                                                     json.dumps(body).encode())
        context = ssl.create_default_context(cafile=str(self.ca))
        request = urllib.request.Request(self.url + path, data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, None


@pytest.fixture
def https_server(service: AdmissionService, tmp_path: Path) -> Iterator[RunningServer]:
    """The real TLS server, in a thread with its own event loop, as `tierguard run` starts it."""
    from tierguard.webhook.server import TierguardWebhookServer  # noqa: PLC0415

    paths = write_certificates(tmp_path / "certs", ["127.0.0.1", "localhost"])
    port = free_port()
    server = TierguardWebhookServer(service, addr="127.0.0.1", port=port, certfile=str(paths.cert),
                                    pkeyfile=str(paths.key), file_check_interval=0.2)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def serve() -> None:
        async for _config in server(lambda *a, **k: None):  # type: ignore[arg-type]
            started.set()

    task = loop.create_task(serve())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    assert started.wait(10), "webhook server did not start"
    yield RunningServer(f"https://127.0.0.1:{port}", paths.ca, paths.cert, paths.key)
    async def shutdown() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # lets the server close its connections

    asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()
