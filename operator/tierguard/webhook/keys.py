"""The HMAC key for secret fingerprints: kept in a Secret in tierguard's own namespace, created if absent, so
every replica computes the same fingerprints. The key is never logged."""

from __future__ import annotations

import base64
import logging
import secrets
from typing import Any

from tierguard.engine.fingerprints import Fingerprinter

logger = logging.getLogger("tierguard.keys")
KEY_FIELD = "key"


def load_or_create_fingerprinter(api_client: Any, namespace: str, name: str) -> Fingerprinter:
    """Read the key Secret, or create it with 32 random bytes; on a create race, read the winner's key.

    Plain REST (``kube/rest.py``), not the client's generated ``CoreV1Api``: importing that loads some 300
    generated model classes, 30 MB of a replica's memory and a second of its start."""
    from tierguard.kube.rest import HttpError, request, request_json  # noqa: PLC0415

    path = f"/api/v1/namespaces/{namespace}/secrets"
    for _attempt in range(3):
        try:
            secret = request_json(api_client, "GET", f"{path}/{name}")
            data = secret.get("data") if isinstance(secret, dict) else None
            encoded = data.get(KEY_FIELD) if isinstance(data, dict) else None
            if not encoded:
                raise RuntimeError(f"Secret {namespace}/{name} has no data key {KEY_FIELD!r}")
            return Fingerprinter(base64.b64decode(encoded))
        except HttpError as error:
            if error.status != 404:
                raise RuntimeError(f"cannot read Secret {namespace}/{name}: HTTP {error.status}") from None
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": namespace,
                             "labels": {"app.kubernetes.io/managed-by": "tierguard"}},
                "data": {KEY_FIELD: base64.b64encode(secrets.token_bytes(32)).decode("ascii")}}
        try:
            request(api_client, "POST", path, body=body)
            logger.info("created the fingerprint key Secret %s/%s", namespace, name)
        except HttpError as error:
            if error.status != 409:
                raise RuntimeError(f"cannot create Secret {namespace}/{name}: HTTP {error.status}") from None
        del body
    raise RuntimeError(f"could not read or create Secret {namespace}/{name}")
