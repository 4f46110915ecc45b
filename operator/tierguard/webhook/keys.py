"""The HMAC key for secret fingerprints: kept in a Secret in tierguard's own namespace, created if absent, so
every replica computes the same fingerprints. The key is never logged.

During a fleet's key rotation (docs/fleet.md) the Secret also holds a ``secondary`` key: the fleet's sets are
published and looked up under both, everything else uses ``key``. Read at start: a changed Secret takes effect
when the replicas restart."""

from __future__ import annotations

import base64
import logging
import secrets
from typing import Any

from tierguard.engine.fingerprint_set import key_ids
from tierguard.engine.fingerprints import Fingerprinter

logger = logging.getLogger("tierguard.keys")
KEY_FIELD = "key"
SECONDARY_FIELD = "secondary"


def load_or_create_fingerprinter(api_client: Any, namespace: str, name: str) -> Fingerprinter:
    """Read the key Secret, or create it with 32 random bytes; on a create race, read the winner's key.

    Plain REST (``kube/rest.py``), not the client's generated ``CoreV1Api``: importing that loads some 300
    generated model classes, 30 MB of a replica's memory and a second of its start."""
    from tierguard.kube.rest import HttpError, request  # noqa: PLC0415

    path = f"/api/v1/namespaces/{namespace}/secrets"
    for _attempt in range(3):
        found = read_fingerprinter(api_client, namespace, name)
        if found is not None:
            return found
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


def read_fingerprinter(api_client: Any, namespace: str, name: str) -> Fingerprinter | None:
    """The key Secret's keys, or None when there is no such Secret; raises RuntimeError naming the Secret (and
    the field) when it cannot be read or used. Also what ``tierguard audit --fleet-hub`` reads: the member's keys
    are needed to look its values up in the sets the others published."""
    from tierguard.kube.rest import HttpError, request_json  # noqa: PLC0415

    try:
        secret = request_json(api_client, "GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
    except HttpError as error:
        if error.status == 404:
            return None
        raise RuntimeError(f"cannot read Secret {namespace}/{name}: HTTP {error.status}") from None
    data = secret.get("data") if isinstance(secret, dict) else None
    data = data if isinstance(data, dict) else {}
    encoded = data.get(KEY_FIELD)
    if not encoded:
        raise RuntimeError(f"Secret {namespace}/{name} has no data key {KEY_FIELD!r}")
    return _fingerprinter(f"Secret {namespace}/{name}", encoded, data.get(SECONDARY_FIELD) or None)


def _fingerprinter(where: str, encoded: str, secondary: str | None) -> Fingerprinter:
    keys = []
    for field, text in ((KEY_FIELD, encoded), (SECONDARY_FIELD, secondary)):
        if text is None:
            continue
        try:
            keys.append(base64.b64decode(text, validate=True))
        except ValueError:
            raise RuntimeError(f"{where}: data key {field!r} is not base64") from None
        if len(keys[-1]) < 16:
            raise RuntimeError(f"{where}: data key {field!r} holds {len(keys[-1])} bytes; a key has at least 16")
    fingerprinter = Fingerprinter(keys[0], keys[1] if len(keys) > 1 else None)
    if fingerprinter.secondary is not None:
        ids = key_ids(fingerprinter)
        logger.info("fingerprint keys of %s: key %s and, for the fleet's key rotation, secondary %s", where, *ids)
    elif len(keys) > 1:
        logger.warning("%s: data key %r equals %r, so there is no second key", where, SECONDARY_FIELD, KEY_FIELD)
    return fingerprinter
