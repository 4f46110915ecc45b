"""What the other clusters of a fleet hold, as one member knows it: per member and tier, the published sets of
keyed fingerprints (``fingerprint_set.py``), asked "who else holds this value?" (docs/fleet.md).

Only sets made under the reader's own key (equal ``key_id``) can answer: a digest under another key says nothing.
A member's own publications are not others' holdings (its Secrets are judged from its own index).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tierguard.engine.fingerprint_set import FingerprintSet


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
    """The other members' tiers under our key, looked up by digest."""

    def __init__(self, tiers: Iterable[PublishedTier], *, key_id: str, own_member: str) -> None:
        self.key_id, self.own_member = key_id, own_member
        self._tiers: dict[tuple[str, str], PublishedTier] = {}
        for tier in tiers:
            if tier.key_id == key_id and tier.member != own_member:
                self._tiers[(tier.member, tier.tier)] = tier

    @classmethod
    def empty(cls) -> FleetSets:
        return cls((), key_id="", own_member="")

    def holders(self, digest: bytes) -> list[ForeignHolder]:
        """The members and tiers whose set holds ``digest``, sorted (each up to the set's false-positive rate)."""
        return sorted(ForeignHolder(member, tier) for (member, tier), published in self._tiers.items()
                      if digest in published)

    def members(self) -> Mapping[str, tuple[str, ...]]:
        """Each member known, with its published tiers."""
        known: dict[str, list[str]] = {}
        for member, tier in sorted(self._tiers):
            known.setdefault(member, []).append(tier)
        return {member: tuple(tiers) for member, tiers in known.items()}

    def __len__(self) -> int:
        return len(self._tiers)
