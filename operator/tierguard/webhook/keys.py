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


def load_or_create_fingerprinter(core_api: Any, namespace: str, name: str) -> Fingerprinter:
    """Read the key Secret, or create it with 32 random bytes; on a create race, read the winner's key."""
    from kubernetes.client import V1ObjectMeta, V1Secret  # noqa: PLC0415 - keep the engine import-light
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

    for _attempt in range(3):
        try:
            secret = core_api.read_namespaced_secret(name, namespace)
            encoded = (secret.data or {}).get(KEY_FIELD)
            if not encoded:
                raise RuntimeError(f"Secret {namespace}/{name} has no data key {KEY_FIELD!r}")
            return Fingerprinter(base64.b64decode(encoded))
        except ApiException as error:
            if error.status != 404:
                raise RuntimeError(f"cannot read Secret {namespace}/{name}: HTTP {error.status}") from None
        body = V1Secret(
            metadata=V1ObjectMeta(name=name, namespace=namespace,
                                  labels={"app.kubernetes.io/managed-by": "tierguard"}),
            type="Opaque",
            data={KEY_FIELD: base64.b64encode(secrets.token_bytes(32)).decode("ascii")},
        )
        try:
            core_api.create_namespaced_secret(namespace, body)
            logger.info("created the fingerprint key Secret %s/%s", namespace, name)
        except ApiException as error:
            if error.status != 409:
                raise RuntimeError(f"cannot create Secret {namespace}/{name}: HTTP {error.status}") from None
    raise RuntimeError(f"could not read or create Secret {namespace}/{name}")
