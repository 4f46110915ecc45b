"""What a rule sees: the Candidate, the object under evaluation with its tier, the policy and the context to ask.

(Named for the object that is a candidate for admission; RBAC's "subjects" are the users, groups and
ServiceAccounts a binding names, which ``rules/rbac.py`` judges.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tierguard.engine.context import Context
from tierguard.engine.model import ObjectRef
from tierguard.engine.podspec import PodSite
from tierguard.engine.request import EvaluationRequest, UserInfo
from tierguard.engine.secrets import SecretView
from tierguard.engine.subjects import SubjectTiers, requester_tiers
from tierguard.engine.tiers import is_exempt, tier_from_labels
from tierguard.policy import TierPolicy


# Slotted, not frozen: made once or more per review, and a frozen dataclass's __init__ sets each field through
# object.__setattr__ (about 0.5 us apiece). Nothing assigns to it after construction all the same.
@dataclass(slots=True)
class Candidate:
    request: EvaluationRequest
    ref: ObjectRef
    tier: str | None
    """The tier of the object's namespace (a Namespace's own tier); None for cluster-scoped objects."""
    context: Context
    policy: TierPolicy
    own_namespace: str | None = None
    """tierguard's own namespace: exempt like ``exemptions.namespaces`` (its ServiceAccounts act in every tier)."""

    @property
    def obj(self) -> Mapping[str, Any]:
        return self.request.obj

    @property
    def old(self) -> Mapping[str, Any] | None:
        return self.request.old

    @property
    def operation(self) -> str:
        return self.request.operation

    @property
    def standing(self) -> bool:
        """Judged by an audit as it stands in the cluster (``EvaluationRequest.standing``)."""
        return self.request.standing

    @property
    def kind(self) -> str:
        return self.ref.kind

    @property
    def namespace(self) -> str | None:
        return self.ref.namespace

    def secret_view(self) -> SecretView:
        """The candidate Secret (or SealedSecret) as a SecretView, fingerprinted once per request however many
        rules (and the webhook after them) ask. Raises Malformed."""
        return self.request.secret_view(self.context.fingerprinter, self.namespace)

    def pod_site(self) -> PodSite | None:
        """The object's pod spec (a Pod's, a workload template's), walked once per request. Raises Malformed."""
        return self.request.pod_site()

    def tier_of(self, namespace: str) -> str | None:
        """The tier of another namespace, as the context knows it (None: untiered or unknown)."""
        view = self.context.namespace(namespace)
        return tier_from_labels(view.labels, self.policy) if view is not None else None

    def is_exempt(self, namespace: str) -> bool:
        """Whether a namespace is exempt (``exemptions.namespaces``, or tierguard's own)."""
        return is_exempt(namespace, self.policy, self.own_namespace)

    def requester_tiers(self, user: UserInfo) -> SubjectTiers:
        """The tiers of who sent the request (``engine/subjects.py``), namespaces as the context knows them."""
        return requester_tiers(user.username, user.groups, self.policy, self.tier_of, self.is_exempt)

    def is_foreign(self, namespace: str) -> bool:
        """Whether a namespace is of another tier than the candidate's (untiered counts) and not exempt: an exempt
        namespace is the platform's, whose shared objects (a Flux source, VSO's default VaultAuth) serve every
        tier."""
        return not self.is_exempt(namespace) and self.is_other_tier(namespace)

    def is_other_tier(self, namespace: str, tier: str | None = None) -> bool:
        """Whether a namespace lies outside ``tier`` (default: the candidate's). Untiered counts as another."""
        own = self.tier if tier is None else tier
        return self.tier_of(namespace) != own
