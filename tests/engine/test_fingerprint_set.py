"""The fleet's published fingerprint set (engine/fingerprint_set.py): exact for members, a false-positive rate of
about 2**-p for others, measured at 100,000 items; its size; round trips; malformed data refused by name."""

from __future__ import annotations

import base64
import secrets

import pytest

from tierguard.engine.fingerprint_set import (
    DEFAULT_P,
    ENCODING,
    EncodingError,
    FingerprintSet,
    key_id,
    split,
)
from tierguard.engine.fingerprints import Fingerprinter

KEY = Fingerprinter(b"k" * 32)


def digests(count: int, salt: str) -> list[bytes]:
    return [KEY.digest(f"{salt}-{number}".encode()) for number in range(count)]


def test_every_member_is_found_after_a_round_trip_through_base64() -> None:
    members = digests(2_000, "in")
    published = FingerprintSet.of(members)
    read = FingerprintSet.decode_text(published.encode_text(), count=len(published), p=published.p)
    assert all(digest in read for digest in members)
    assert ENCODING == "gcs-v1" and read.p == DEFAULT_P == 40


def test_at_100k_the_false_positive_rate_is_about_2_to_the_minus_p_and_the_size_about_p_plus_1_5_bits() -> None:
    members = digests(100_000, "in")
    others = digests(100_000, "out")
    coarse = FingerprintSet.of(members, p=10)  # 2**-10: about 98 of 100,000 others match; measurable
    false = sum(digest in coarse for digest in others)
    assert 50 <= false <= 160, false
    assert len(coarse.encode()) <= 100_000 * (10 + 2) / 8
    published = FingerprintSet.of(members)
    encoded = published.encode()
    assert len(encoded) <= 100_000 * (DEFAULT_P + 2) / 8  # about 520 KB
    assert len(base64.b64encode(encoded)) < 1_000_000  # one object: the API server takes about 1.5 MB
    read = FingerprintSet.decode(encoded, count=len(published), p=DEFAULT_P)
    assert not any(digest in read for digest in others)  # 2**-40 x 100,000 lookups: never, in practice
    assert all(digest in read for digest in members[::97])


def test_the_published_form_holds_no_digest() -> None:
    members = digests(50, "in")
    encoded = FingerprintSet.of(members).encode()
    for digest in members:
        assert digest[:4] not in encoded and digest[:8].hex() not in repr(FingerprintSet.of(members))


def test_duplicates_and_the_empty_set() -> None:
    members = digests(10, "in")
    assert len(FingerprintSet.of(members + members)) == 10
    empty = FingerprintSet.of([])
    assert empty.encode() == b"" and members[0] not in empty
    assert len(FingerprintSet.decode(b"", count=0, p=DEFAULT_P)) == 0


def test_chunks_each_readable_alone_and_together_exact() -> None:
    members = digests(5_000, "in")
    chunks = split(members, max_bytes=4_000)
    assert len(chunks) > 1 and all(len(chunk.encode()) <= 4_000 for chunk in chunks)
    assert sum(len(chunk) for chunk in chunks) == 5_000
    assert all(any(digest in chunk for chunk in chunks) for digest in members)


def test_the_key_id_names_the_key_and_nothing_else() -> None:
    assert key_id(KEY) == key_id(Fingerprinter(b"k" * 32)) != key_id(Fingerprinter(secrets.token_bytes(32)))
    assert len(key_id(KEY)) == 16


@pytest.mark.parametrize(("data", "count", "p", "says"), [
    (b"", 3, 32, "ends at item 0 of 3"),
    (b"\x00" * 4, 3, 32, "ends at item"),
    (b"\xff" * 64, 1, 8, "ends at item 0"),
    (b"", -1, 32, "negative"),
    (b"\x01", 0, 32, "empty set with data"),
    (b"", 0, 49, "p must be"),
])
def test_malformed_data_is_refused_by_what_is_wrong(data: bytes, count: int, p: int, says: str) -> None:
    with pytest.raises(EncodingError, match=says):
        FingerprintSet.decode(data, count=count, p=p)


def test_trailing_data_and_bad_base64_are_refused() -> None:
    encoded = FingerprintSet.of(digests(3, "in")).encode()
    with pytest.raises(EncodingError, match="left after"):
        FingerprintSet.decode(encoded + b"\xff", count=3, p=DEFAULT_P)
    with pytest.raises(EncodingError, match="not base64"):
        FingerprintSet.decode_text("%%%", count=3, p=DEFAULT_P)
