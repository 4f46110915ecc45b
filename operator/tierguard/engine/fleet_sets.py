"""What the other clusters of a fleet hold, as one member knows it: per member and tier, the published sets of
keyed fingerprints (``fingerprint_set.py``), asked "who else holds this value?" (docs/fleet.md).

Only sets made under one of the reader's own keys (equal ``key_id``) can answer: a digest under another key says
nothing. During a key rotation a member holds two keys, publishes under both and looks each set up with the digest
under that set's key, so two members that share either key see each other's values. A member's own publications
are not others' holdings (its Secrets are judged from its own index).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tierguard.engine.fingerprint_set import FingerprintSet
from tierguard.engine.fingerprints import Fingerprint


@dataclass(frozen=True)
class PublishedTier:
    """One member's tier as published: every chunk of one generation."""

    member: str
    tier: str
    key_id: str
    generation: int
    chunks: tuple[FingerprintSet, ...]

    def __contains__(self, digest: object) -> bool:
        return any(digest in chunk for chunk in self.chunks)

    @property
    def count(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)


@dataclass(frozen=True, order=True)
class ForeignHolder:
    """A cluster of the fleet and one of its tiers whose published set holds a value."""

    member: str
    tier: str


class FleetSets:
    """The other members' tiers under our keys, looked up by digest."""

    def __init__(self, tiers: Iterable[PublishedTier], *, key_ids: Sequence[str], own_member: str) -> None:
        """``key_ids``: our keys' ids, the primary's first, then the secondary's during a key rotation."""
        self.key_ids, self.own_member = tuple(key_ids), own_member
        self._tiers: list[tuple[ForeignHolder, int, PublishedTier]] = sorted(
            ((ForeignHolder(tier.member, tier.tier), self.key_ids.index(tier.key_id), tier) for tier in tiers
             if tier.key_id in self.key_ids and tier.member != own_member), key=lambda entry: entry[:2])
        """Each set with the slot of the digest that looks it up (0: ``digest``, 1: ``secondary``)."""

    @classmethod
    def empty(cls) -> FleetSets:
        return cls((), key_ids=(), own_member="")

    def holders(self, digest: bytes, secondary: bytes | None = None) -> list[ForeignHolder]:
        """The members and tiers whose set holds the value of ``digest`` (under our primary key) or ``secondary``
        (under our secondary key), sorted (each up to the set's false-positive rate)."""
        digests = (digest, secondary)
        found: list[ForeignHolder] = []
        for holder, slot, published in self._tiers:
            looked_up = digests[slot]
            if looked_up is not None and (not found or found[-1] != holder) and looked_up in published:
                found.append(holder)
        return found

    def members(self) -> Mapping[str, tuple[str, ...]]:
        """Each member known, with its published tiers."""
        known: dict[str, list[str]] = {}
        for holder, _, _ in self._tiers:
            tiers = known.setdefault(holder.member, [])
            if holder.tier not in tiers:
                tiers.append(holder.tier)
        return {member: tuple(tiers) for member, tiers in known.items()}

    def __len__(self) -> int:
        """The other members' tiers held (a tier published under both our keys counts once)."""
        return len({holder for holder, _, _ in self._tiers})


def published_digests(tiers: Mapping[str, Iterable[Fingerprint]], key_ids: Sequence[str]
                      ) -> dict[str, dict[str, set[bytes]]]:
    """What a member publishes: per key id (``key_ids``: the primary's, then the secondary's during a rotation),
    each tier's digests under that key (``shared_values.publishable`` gives the fingerprints)."""
    sets: dict[str, dict[str, set[bytes]]] = {key: {} for key in key_ids}
    for tier, fingerprints in tiers.items():
        slots = [sets[key].setdefault(tier, set()) for key in key_ids]
        for fingerprint in fingerprints:
            slots[0].add(fingerprint.digest)
            if len(slots) > 1 and fingerprint.secondary is not None:
                slots[1].add(fingerprint.secondary)
    return sets
