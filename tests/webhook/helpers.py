"""Builders the webhook tests (and bench/) share: AdmissionReviews, base64, a free port, a client of the running
HTTPS server, and the in-memory indexes (``tests/fakes/indexes.py``) with the tests' key.
Fixtures are in conftest.py; nothing here is a fixture."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import uuid
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakes.indexes import FakeIndexes
from tierguard.engine.fingerprints import Fingerprinter

KEY = b"k" * 32


def fake_indexes(*objects: Mapping[str, Any]) -> FakeIndexes:
    """The index double, with the tests' fingerprint key."""
    return FakeIndexes(Fingerprinter(KEY), objects)


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


