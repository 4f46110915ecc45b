"""A SecretView never keeps `kubectl apply`'s last-applied annotation, which copies the Secret's values."""

from __future__ import annotations

import json

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.secrets import SecretView
from tierguard.webhook.indexes import project_secret

from .helpers import b64

PLANTED = "last-applied-planted-value-7Qz"


def applied_secret() -> dict[str, object]:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "dev"},
              "data": {"password": b64(PLANTED)}}
    metadata = {"name": "db", "namespace": "dev", "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(secret), "team": "payments"}}
    return {**secret, "metadata": metadata}


def test_the_view_drops_the_copy_and_keeps_the_rest() -> None:
    view = SecretView.from_object(applied_secret(), Fingerprinter(b"k" * 32))
    assert dict(view.annotations) == {"team": "payments"}
    assert PLANTED not in repr(view) and b64(PLANTED) not in repr(view)


def test_the_live_index_keeps_no_copy_either() -> None:
    entries = project_secret(applied_secret(), Fingerprinter(b"k" * 32))
    assert entries
    for view in entries.values():
        assert "kubectl.kubernetes.io/last-applied-configuration" not in view.annotations
    malformed = applied_secret()
    malformed["data"] = {"password": "not base64 !"}  # the index's fallback view, built by hand
    for view in project_secret(malformed, Fingerprinter(b"k" * 32)).values():
        assert "kubectl.kubernetes.io/last-applied-configuration" not in view.annotations
