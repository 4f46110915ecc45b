"""A tier's set of keyed fingerprints in a form another cluster can hold: a Golomb-coded set (issue 28, the fleet).

Each member of a fleet publishes, per tier, the fingerprints of its Secrets' values so that the others can refuse a
value another cluster holds in another tier. What is published is neither a value nor an unkeyed hash: each item
is the first 64 bits of a fingerprint (HMAC-SHA256 under the fleet's shared key, ``fingerprints.py``), mapped onto
``[0, n * 2**p)`` and stored sorted as Golomb-Rice coded gaps (the construction of BIP 158's block filters). A
reader with the key asks "is this fingerprint in the set?"; an item that is not answers yes with probability
about ``2**-p`` (the set's false-positive rate: ``2**-40`` by default, about one in a trillion per lookup), and
an item that is answers yes always. Each item costs about ``p + 1.5`` bits: 100,000 Secrets' values at the default
fit in about 520 KB, under the API server's object size once base64-encoded (``split`` makes chunks if needed).

The encoding is versioned (``ENCODING``); the digests never leave memory in any other form, and the set has no
repr of its items.
"""

from __future__ import annotations

import base64
import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tierguard.engine.fingerprints import Fingerprinter

ENCODING = "gcs-v1"
"""The published encoding's name: Golomb-Rice coded gaps of sorted items, each item from a digest's first 8 bytes."""
DEFAULT_P = 40
"""Bits of the remainder: the false-positive rate per lookup is about 2**-p. A false match refuses a value no other
cluster holds: at 40, a cluster checking 100,000 values against the 36 sets of 9 other clusters x 4 tiers (3.6
million lookups) expects one in about 300,000 such full audits; at 32 it would be one in about 1,200."""
MAX_P = 48
KEY_ID_LABEL = b"tierguard fleet key id v1"
"""HMAC'd under the fleet key to name the key in what is published: members using another key (a rotation in
progress) are told apart without the key itself or any value being shown."""


class EncodingError(ValueError):
    """A published set that cannot be read: says what is wrong, never any content."""


def key_id(fingerprinter: Fingerprinter) -> str:
    """A short public name of the fingerprint key (16 hex digits): equal keys, equal ids."""
    return fingerprinter.digest(KEY_ID_LABEL)[:8].hex()


def key_ids(fingerprinter: Fingerprinter) -> tuple[str, ...]:
    """The ids of the fingerprinter's keys: its key's, then its secondary key's during a key rotation."""
    secondary = fingerprinter.secondary
    return (key_id(fingerprinter),) if secondary is None else (key_id(fingerprinter), key_id(secondary))


def _item(digest: bytes, range_size: int) -> int:
    # Lemire's fast range reduction of a uniform 64-bit number onto [0, range_size): unbiased enough at 2**-64.
    return (int.from_bytes(digest[:8], "big") * range_size) >> 64


@dataclass(frozen=True)
class FingerprintSet:
    """One published set: ``count`` items at ``p`` bits, looked up by digest. Built by ``of`` or ``decode``."""

    count: int
    p: int
    _items: Sequence[int] = field(repr=False, compare=False)

    @classmethod
    def of(cls, digests: Iterable[bytes], *, p: int = DEFAULT_P) -> FingerprintSet:
        """The set of ``digests`` (32-byte HMACs); duplicates count once."""
        _check_p(p)
        unique = set(digests)
        if any(len(digest) < 8 for digest in unique):
            raise ValueError("a digest shorter than 8 bytes")
        range_size = len(unique) << p
        # Two digests may map to one item (probability about 2**-p each): kept twice, a gap of 0, so that the count
        # of items is the count the range was made for.
        return cls(len(unique), p, sorted(_item(digest, range_size) for digest in unique))

    def __contains__(self, digest: object) -> bool:
        if not isinstance(digest, bytes) or self.count == 0:
            return False
        wanted = _item(digest, self.count << self.p)
        at = bisect.bisect_left(self._items, wanted)
        return at < len(self._items) and self._items[at] == wanted

    def __len__(self) -> int:
        return self.count

    def encode(self) -> bytes:
        """Golomb-Rice coded gaps: for each gap ``q = gap >> p`` ones, a zero, then ``p`` bits of remainder."""
        bits: list[str] = []
        previous = 0
        mask = (1 << self.p) - 1
        width = self.p
        for item in self._items:
            gap = item - previous
            previous = item
            bits.append("1" * (gap >> width))
            bits.append("0")
            bits.append(format(gap & mask, f"0{width}b") if width else "")
        text = "".join(bits)
        padding = -len(text) % 8
        text += "0" * padding
        if not text:
            return b""
        return int(text, 2).to_bytes(len(text) // 8, "big")

    @classmethod
    def decode(cls, data: bytes, *, count: int, p: int) -> FingerprintSet:
        """The set ``encode`` wrote for ``count`` items at ``p``; EncodingError when the bytes do not hold them."""
        _check_p(p)
        if count < 0:
            raise EncodingError(f"count {count} is negative")
        if count == 0:
            if data:
                raise EncodingError("an empty set with data")
            return cls(0, p, [])
        text = format(int.from_bytes(data, "big"), f"0{len(data) * 8}b") if data else ""
        items: list[int] = []
        position = previous = 0
        for number in range(count):
            end = text.find("0", position)
            if end < 0 or end + 1 + p > len(text):
                raise EncodingError(f"the data ends at item {number} of {count}")
            quotient = end - position
            remainder = int(text[end + 1:end + 1 + p], 2) if p else 0
            position = end + 1 + p
            previous += (quotient << p) | remainder
            items.append(previous)
        if "1" in text[position:]:
            raise EncodingError(f"data left after the {count} items")
        if previous >= count << p:
            raise EncodingError("an item beyond the set's range")
        return cls(count, p, items)

    def encode_text(self) -> str:
        """``encode`` as base64, for a field of a Kubernetes object."""
        return base64.b64encode(self.encode()).decode("ascii")

    @classmethod
    def decode_text(cls, text: str, *, count: int, p: int) -> FingerprintSet:
        try:
            data = base64.b64decode(text.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            raise EncodingError("the data is not base64") from None
        return cls.decode(data, count=count, p=p)


def split(digests: Iterable[bytes], *, max_bytes: int, p: int = DEFAULT_P) -> list[FingerprintSet]:
    """``digests`` as sets of at most about ``max_bytes`` encoded each (a membership is in any of them): each chunk
    is a set of its own, with its own range, so a chunk is read without the others."""
    _check_p(p)
    unique = sorted(set(digests))
    per_chunk = max(1, int(max_bytes * 8 / (p + 2)))  # p + 1.5 bits per item on average, with room
    return [FingerprintSet.of(unique[start:start + per_chunk], p=p)
            for start in range(0, len(unique), per_chunk)] or [FingerprintSet.of((), p=p)]


def _check_p(p: int) -> None:
    if not isinstance(p, int) or isinstance(p, bool) or not 0 <= p <= MAX_P:
        raise EncodingError(f"p must be an integer from 0 to {MAX_P}, not {p!r}")
