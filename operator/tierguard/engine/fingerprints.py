"""The only code that touches secret values: it turns each value into a keyed HMAC-SHA256 fingerprint.

Values are decoded, hashed with the caller's key and dropped; nothing here keeps, logs or returns a value or an
unkeyed hash of one. For a finding's advice, a value may also be shown to ``credentials.shape_of``, which says
what it looks like (an address, a URL carrying a secret) and keeps nothing. Fingerprints are compared only for
equality and never rendered (their repr is hidden).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tierguard.engine.credentials import Shape, shape_of
from tierguard.engine.model import Malformed

SERVICE_ACCOUNT_TOKEN_TYPE = "kubernetes.io/service-account-token"


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """One data key's keyed fingerprint. ``length`` lets the policy's ``minLength`` apply without the value."""

    key: str
    length: int
    digest: bytes = field(repr=False)
    secondary: bytes | None = field(default=None, repr=False)
    """The fingerprint under the key Secret's ``secondary`` key, during a fleet's key rotation only (docs/fleet.md):
    published and looked up beside ``digest`` in the fleet's sets, never compared within the cluster."""


class Fingerprinter:
    """Holds the HMAC key; the only way from a Secret's data to fingerprints. ``secondary``: a second key, during a
    fleet's key rotation (docs/fleet.md), under which each Secret's fingerprints also get their ``secondary``
    digest; one equal to ``key`` is no second key."""

    __slots__ = ("_inner", "_outer", "secondary")

    def __init__(self, key: bytes, secondary: bytes | None = None) -> None:
        if len(key) < 16:
            raise ValueError("the fingerprint key must be at least 16 bytes")
        self.secondary = Fingerprinter(secondary) if secondary is not None and secondary != key else None
        # HMAC (RFC 2104) with its two padded-key states hashed once: each value then costs two copies and two
        # short updates, about a third of hmac.digest(), which sets up both states again for every value (a
        # Secret review hashes each of its values, a listing every value of every Secret).
        block = hashlib.sha256().block_size
        padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in padded))
        self._outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in padded))

    @classmethod
    def random(cls) -> Fingerprinter:
        """A key for one run (the CLI): fingerprints are comparable within the run only."""
        return cls(secrets.token_bytes(32))

    def __repr__(self) -> str:
        return "Fingerprinter(<key hidden>)" if self.secondary is None else "Fingerprinter(<keys hidden>)"

    def digest(self, value: bytes) -> bytes:
        """HMAC-SHA256 of ``value`` under the key: the same bytes as ``hmac.digest(key, value, "sha256")``."""
        inner = self._inner.copy()
        inner.update(value)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def secret_fingerprints(self, secret: Mapping[str, object]) -> tuple[Fingerprint, ...]:
        """Fingerprints of every value in ``data`` and ``stringData`` (merged as the API server merges them).

        Service-account tokens are skipped: every namespace has its own and they are never copied by hand. A
        ``null`` entry is skipped: the API server drops it before admission and stores the Secret without it.
        Raises Malformed (naming the key, never the value) when data is not a mapping of base64 strings.
        """
        if secret.get("type") == SERVICE_ACCOUNT_TOKEN_TYPE:
            return ()
        # Key names are interned: twenty thousand Secrets with a ``password`` hold one string, not 20k copies.
        secondary = self.secondary
        return tuple(Fingerprint(sys.intern(key), len(value), self.digest(value),
                                 secondary.digest(value) if secondary is not None else None)
                     for key, value in _values(secret).items())


def value_shapes(secret: Mapping[str, object], keys: Iterable[str]) -> dict[str, Shape]:
    """The shape of the value of each of ``keys`` the Secret holds (``credentials.shape_of``), for a finding's
    advice: each value is looked at and dropped, and only its shape is returned. Raises Malformed as
    ``Fingerprinter.secret_fingerprints`` does."""
    values = _values(secret)
    return {key: shape_of(values[key]) for key in keys if key in values}


def _values(secret: Mapping[str, object]) -> dict[str, bytes]:
    """Every value of ``data`` and ``stringData``, decoded and merged as the API server merges them."""
    values: dict[str, bytes] = {}
    data = secret.get("data")
    if data is not None:
        if not isinstance(data, Mapping):
            raise Malformed("data", "must be a mapping of key to base64 value")
        for key, encoded in data.items():
            if encoded is None:
                continue
            if not isinstance(encoded, str):
                raise Malformed(f"data.{key}", "must be a base64 string")
            try:
                # Like the API server (Go's decoder), ignore line breaks: manifests fold long base64 values.
                folded = "\n" in encoded or "\r" in encoded
                plain = encoded.replace("\r", "").replace("\n", "") if folded else encoded
                values[str(key)] = base64.b64decode(plain, validate=True)
            except (binascii.Error, ValueError):
                raise Malformed(f"data.{key}", "is not valid base64") from None
    string_data = secret.get("stringData")
    if string_data is not None:
        if not isinstance(string_data, Mapping):
            raise Malformed("stringData", "must be a mapping of key to string")
        for key, text in string_data.items():
            if text is None:
                continue
            if not isinstance(text, str):
                raise Malformed(f"stringData.{key}", "must be a string")
            values[str(key)] = text.encode("utf-8")
    return values
