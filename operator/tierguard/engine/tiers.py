"""The one tier lookup: which tier a namespace belongs to, and whether a namespace is exempt."""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase

from tierguard.policy import TierPolicy


def tier_from_labels(labels: Mapping[str, str], policy: TierPolicy) -> str | None:
    """The tier named by the labels, or None (untiered) when the label is absent or names no known tier."""
    value = labels.get(policy.tier_label)
    return value if value in policy.tiers else None


def is_exempt(namespace: str, policy: TierPolicy, own_namespace: str | None = None) -> bool:
    if own_namespace is not None and namespace == own_namespace:
        return True
    return any(fnmatchcase(namespace, pattern) for pattern in policy.exemptions.namespaces)


def tiers_of_path(path: str, policy: TierPolicy) -> tuple[str, ...]:
    """The tiers whose ``pathPatterns`` claim an external secret-store path."""
    normalized = path.strip().lstrip("/")
    return tuple(
        tier
        for tier, patterns in policy.secrets.path_patterns.items()
        if any(fnmatchcase(normalized, pattern.lstrip("/")) for pattern in patterns)
    )
