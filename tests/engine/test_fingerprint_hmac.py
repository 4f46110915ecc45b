"""The Fingerprinter's HMAC (padded-key states hashed once, copied per value) gives the bytes the standard
library's HMAC gives, for keys shorter than, equal to and longer than SHA-256's block, and any value."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tierguard.engine.fingerprints import Fingerprinter

KEYS = [b"k" * 16, bytes(range(32)), b"\xff" * 63, b"b" * 64, b"c" * 65, bytes(range(200))]
VALUES = [b"", b"x", b"not-a-real-value-0123456789", bytes(range(256)) * 40]


@pytest.mark.parametrize("key", KEYS, ids=lambda key: f"{len(key)}-byte key")
def test_digest_is_hmac_sha256(key: bytes) -> None:
    fingerprinter = Fingerprinter(key)
    for value in VALUES:
        # Compared as booleans: a failure message must not print a digest of even a test value.
        same = fingerprinter.digest(value) == hmac.digest(key, value, hashlib.sha256)
        assert same, f"{len(value)}-byte value"


def test_repeated_digests_do_not_share_state() -> None:
    fingerprinter = Fingerprinter(b"k" * 32)
    first = fingerprinter.digest(b"one")
    fingerprinter.digest(b"two")
    stable = fingerprinter.digest(b"one") == first
    distinct = fingerprinter.digest(b"one") != fingerprinter.digest(b"two")
    assert stable
    assert distinct


def test_keys_differ() -> None:
    distinct = Fingerprinter(b"a" * 32).digest(b"v") != Fingerprinter(b"b" * 32).digest(b"v")
    assert distinct
