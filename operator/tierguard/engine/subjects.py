"""Whose tier a subject has: people (users, groups) by ``spec.subjects``, ServiceAccounts by their namespace.

SPEC's "Subjects" section: a ServiceAccount's tier is its namespace's (also as user
``system:serviceaccount:<ns>:<name>`` and group ``system:serviceaccounts:<ns>``); a user or group has the tiers
of the ``subjects.perTier`` entries its name matches; a request's subject has the tiers of its user and of each of
its groups. ``platform`` subjects, the group ``system:masters`` and ServiceAccounts of exempt namespaces act in
every tier. A subject with no tier is untiered. Pure: the namespace lookup is the caller's.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from tierguard.policy import SubjectNames, TierPolicy

SubjectKind = Literal["User", "Group", "ServiceAccount"]

MASTERS = "system:masters"
"""The group the API server's authorizer lets do anything: RBAC cannot narrow it, so neither does a tier."""
SERVICE_ACCOUNT_USER = "system:serviceaccount:"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts:"
EVERYONE = frozenset({"system:serviceaccounts", "system:authenticated", "system:unauthenticated"})
"""Groups every subject (of a kind) is in: bound, they reach every tier's subjects; held, they give no tier."""

NAMELESS = "a user without a name"
"""How a message names a requester without a username (the API server always sends one; a hand-made review may not)."""

NamespaceTier = Callable[[str], "str | None"]
"""A namespace's tier (None: untiered or unknown), as the caller's context knows it."""
NamespaceExempt = Callable[[str], bool]


@dataclass(frozen=True)
class SubjectTiers:
    """The tiers a subject belongs to; ``every``: it acts in every tier (platform, ``system:masters``, ...)."""

    tiers: frozenset[str] = frozenset()
    every: bool = False
    why_every: str = ""
    """What made it act in every tier, for messages ("platform group sre")."""

    @property
    def tiered(self) -> bool:
        """Judged at all: an untiered subject is neither refused a reach nor a session (SPEC)."""
        return self.every or bool(self.tiers)

    def may_reach(self, tier: str | None) -> bool:
        """Whether it may reach a namespace of ``tier`` (None: untiered, which no tier's subject belongs to)."""
        return self.every or (tier is not None and tier in self.tiers)

    def describe(self, order: Iterable[str]) -> str:
        """``tier dev``, ``tiers dev, qa`` (in the policy's order), ``every tier (platform group sre)``, ``no tier``."""
        if self.every:
            return f"every tier ({self.why_every})" if self.why_every else "every tier"
        names = [tier for tier in order if tier in self.tiers]
        if not names:
            return "no tier"
        return f"tier {names[0]}" if len(names) == 1 else "tiers " + ", ".join(names)

    def union(self, other: SubjectTiers) -> SubjectTiers:
        if self.every:
            return self
        if other.every:
            return other
        return SubjectTiers(self.tiers | other.tiers)


UNTIERED_SUBJECT = SubjectTiers()


@functools.lru_cache(maxsize=256)
def _globs(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex matching what any glob matches (``fnmatchcase``): each request's user and groups are asked."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(pattern)})" for pattern in patterns))


def _matches(names: SubjectNames, kind: Literal["User", "Group"], name: str) -> bool:
    pattern = _globs(names.users if kind == "User" else names.groups)
    return pattern is not None and pattern.match(name) is not None


def person_tiers(kind: Literal["User", "Group"], name: str, policy: TierPolicy) -> SubjectTiers:
    """A user's or group's own tiers by name: ``platform`` and ``system:masters`` act in every tier."""
    subjects = policy.subjects
    if kind == "Group" and name == MASTERS:
        return SubjectTiers(every=True, why_every=f"group {MASTERS}")
    if _matches(subjects.platform, kind, name):
        return SubjectTiers(every=True, why_every=f"platform {kind.lower()} {name}")
    return SubjectTiers(frozenset(tier for tier, names in subjects.per_tier.items() if _matches(names, kind, name)))


def service_account_tiers(namespace: str, tier_of: NamespaceTier, exempt: NamespaceExempt) -> SubjectTiers:
    """A ServiceAccount's tier is its namespace's; one of an exempt namespace acts in every tier."""
    if exempt(namespace):
        return SubjectTiers(every=True, why_every=f"ServiceAccount of exempt namespace {namespace}")
    tier = tier_of(namespace)
    return SubjectTiers(frozenset({tier})) if tier is not None else UNTIERED_SUBJECT


def service_account_namespace(kind: str, name: str) -> str | None:
    """The namespace a user or group name stands for (``system:serviceaccount:<ns>:<name>``,
    ``system:serviceaccounts:<ns>``); None for any other name."""
    if kind == "User" and name.startswith(SERVICE_ACCOUNT_USER):
        parts = name.split(":")
        return parts[2] if len(parts) == 4 and parts[2] else None
    if kind == "Group" and name.startswith(SERVICE_ACCOUNTS_GROUP):
        return name.removeprefix(SERVICE_ACCOUNTS_GROUP) or None
    return None


def name_tiers(kind: Literal["User", "Group"], name: str, policy: TierPolicy, tier_of: NamespaceTier,
               exempt: NamespaceExempt) -> SubjectTiers:
    """One user or group name's tiers: a person's by the policy, a ServiceAccount's name by its namespace unless
    ``platform`` names it (a GitOps controller's ``system:serviceaccount:argocd:...`` acts in every tier)."""
    namespace = service_account_namespace(kind, name)
    if namespace is None:
        return person_tiers(kind, name, policy)
    if _matches(policy.subjects.platform, kind, name):
        return SubjectTiers(every=True, why_every=f"platform {kind.lower()} {name}")
    return service_account_tiers(namespace, tier_of, exempt)


def requester_tiers(username: str, groups: Iterable[str], policy: TierPolicy, tier_of: NamespaceTier,
                    exempt: NamespaceExempt) -> SubjectTiers:
    """A request's subject: the tiers of its user and of each of its groups (``system:authenticated`` and the
    like give none: every requester holds them)."""
    found = name_tiers("User", username, policy, tier_of, exempt) if username else UNTIERED_SUBJECT
    for group in groups:
        if found.every:
            break
        if group not in EVERYONE:
            found = found.union(name_tiers("Group", group, policy, tier_of, exempt))
    return found


def requester_name(username: str) -> str:
    """How findings name a request's user: ``user bob``, or ``NAMELESS``."""
    return f"user {username}" if username else NAMELESS
