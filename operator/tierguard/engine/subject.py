"""What a rule sees: the object under evaluation with its tier, the policy, and the context to ask."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tierguard.engine.context import Context
from tierguard.engine.model import ObjectRef
from tierguard.engine.tiers import tier_from_labels
from tierguard.policy import TierPolicy


@dataclass(frozen=True)
class Subject:
    obj: Mapping[str, Any]
    old: Mapping[str, Any] | None
    operation: str
    ref: ObjectRef
    tier: str | None
    """The tier of the object's namespace (a Namespace's own tier); None for cluster-scoped objects."""
    context: Context
    policy: TierPolicy

    @property
    def kind(self) -> str:
        return self.ref.kind

    @property
    def namespace(self) -> str | None:
        return self.ref.namespace

    def tier_of(self, namespace: str) -> str | None:
        """The tier of another namespace, as the context knows it (None: untiered or unknown)."""
        view = self.context.namespace(namespace)
        return tier_from_labels(view.labels, self.policy) if view is not None else None

    def is_other_tier(self, namespace: str, tier: str | None = None) -> bool:
        """Whether a namespace lies outside ``tier`` (default: the subject's). Untiered counts as another."""
        own = self.tier if tier is None else tier
        return self.tier_of(namespace) != own
