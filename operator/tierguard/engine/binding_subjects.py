"""A binding's subjects with their tiers, and when a binding's reach crosses tiers for one of them.

The one reading of a RoleBinding's or ClusterRoleBinding's ``subjects`` that ``rbac-cross-tier-subject``
(``rules/rbac.py``) refuses by and ``tierguard access`` (``access.py``) marks by, so the matrix shows exactly
what admission refuses. Tiers are SPEC's "Subjects" (``engine/subjects.py``): a ServiceAccount its namespace's
(also named as user ``system:serviceaccount:<ns>:<name>``, which is that ServiceAccount, and as group
``system:serviceaccounts:<ns>``), a user or group those of the ``spec.subjects.perTier`` entries its name
matches; ``platform`` subjects, ``system:masters`` and ServiceAccounts of exempt namespaces act in every tier;
the groups every subject (of a kind) is in are *everyone*.

A binding's reach *crosses* into a tier when:

- everyone reaches it (every tier's subjects are let in);
- a tiered subject reaches a tier it does not belong to: a RoleBinding in a namespace of that tier, or a
  ClusterRoleBinding, which reaches every tier;
- a ServiceAccount of an untiered namespace is bound by a RoleBinding in a tiered namespace: it belongs to no
  tier, so not to that one (SPEC "Tiers": an untiered namespace is "another tier" when tiered material flows out
  of or into it). In a ClusterRoleBinding it crosses nothing: platform controllers (cert-manager, External
  Secrets) live in untiered namespaces and need cluster-wide access.

An untiered person (no ``perTier`` entry matches) is never judged. A RoleBinding in an untiered or exempt
namespace reaches no tier, so crosses nothing (the engine does not judge objects there). Pure: the namespace
lookups are the caller's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tierguard.engine.model import UNTIERED, Malformed
from tierguard.engine.objects import str_at
from tierguard.engine.subjects import (
    EVERYONE,
    SERVICE_ACCOUNT_USER,
    NamespaceExempt,
    NamespaceTier,
    SubjectKind,
    SubjectTiers,
    name_tiers,
    service_account_namespace,
)
from tierguard.policy import TierPolicy


class NoSubject(Malformed):
    """A subject entry that names no one RBAC would match: a ServiceAccount without a namespace in a
    ClusterRoleBinding (the API server refuses such a binding) or a kind RBAC does not know. The rule has nothing
    to judge in it; ``tierguard access`` lists the binding as not judged, with this reason."""


@dataclass(frozen=True)
class Subject:
    """Who a binding names, as RBAC's authorizer sees it: a user ``system:serviceaccount:<ns>:<name>`` is that
    ServiceAccount (one subject, however a binding names it)."""

    kind: SubjectKind
    name: str
    namespace: str | None = None
    """A ServiceAccount's namespace; None for users and groups."""

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def as_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "name": self.name, "namespace": self.namespace}


@dataclass(frozen=True)
class Standing:
    """A subject's tiers (SPEC "Subjects"), or that it is everyone, and whether it stands for ServiceAccounts."""

    tiers: SubjectTiers
    everyone: bool = False
    service_account: bool = False
    """A ServiceAccount, or every ServiceAccount of one namespace (by kind, user or group name): judged by a
    RoleBinding even when its namespace is untiered."""

    @property
    def tiered(self) -> bool:
        """Belongs to a tier (or to every tier), or is everyone."""
        return self.everyone or self.tiers.tiered

    def crosses(self, *, cluster_wide: bool, tier: str | None, order: Sequence[str]) -> tuple[str, ...]:
        """The tiers a binding's reach crosses into for this subject, in ``order`` (the policy's tiers): what
        ``rbac-cross-tier-subject`` refuses. A ClusterRoleBinding reaches every tier; a RoleBinding its
        namespace's ``tier`` (None: untiered or exempt, which no reach crosses into)."""
        judged = self.tiered or (self.service_account and not cluster_wide)
        if not judged:
            return ()
        reached = order if cluster_wide else (() if tier is None else (tier,))
        # Everyone's tiers are empty: it may reach none, so it crosses into every tier it reaches.
        return tuple(reached_tier for reached_tier in reached if not self.tiers.may_reach(reached_tier))

    def describe(self, order: Iterable[str]) -> str:
        """``tier dev``, ``every tier (platform group sre)``, ``everyone``, ``untiered``."""
        if self.everyone:
            return "everyone"
        return self.tiers.describe(order) if self.tiers.tiered else UNTIERED


def binding_subject(entry: Mapping[str, Any], path: str, binding_namespace: str | None, *, policy: TierPolicy,
                    tier_of: NamespaceTier, exempt: NamespaceExempt) -> tuple[Subject, Standing]:
    """One ``subjects`` entry (at ``path``) of a binding in ``binding_namespace`` (None: a ClusterRoleBinding),
    with its standing; ``tier_of`` and ``exempt`` are the caller's namespace lookups. Raises Malformed (a missing
    kind or name) and NoSubject."""
    kind = str_at(entry, "kind", f"{path}.kind", required=True)
    name = str_at(entry, "name", f"{path}.name", required=True)
    if kind == "ServiceAccount":
        namespace = str_at(entry, "namespace", f"{path}.namespace") or binding_namespace
        if namespace is None:
            raise NoSubject(f"{path}.namespace", "is required for a ServiceAccount of a ClusterRoleBinding")
        return _service_account(namespace, name, policy, tier_of, exempt)
    if kind == "User":
        parts = name.split(":")
        if name.startswith(SERVICE_ACCOUNT_USER) and len(parts) == 4 and parts[2] and parts[3]:
            return _service_account(parts[2], parts[3], policy, tier_of, exempt)
        return Subject("User", name), _person("User", name, policy, tier_of, exempt)
    if kind == "Group":
        if name in EVERYONE:
            return Subject("Group", name), Standing(SubjectTiers(), everyone=True)
        return Subject("Group", name), _person("Group", name, policy, tier_of, exempt)
    raise NoSubject(f"{path}.kind", f"unknown subject kind {kind!r} (expected User, Group or ServiceAccount)")


def _service_account(namespace: str, name: str, policy: TierPolicy, tier_of: NamespaceTier,
                     exempt: NamespaceExempt) -> tuple[Subject, Standing]:
    # As its user name: platform may name a ServiceAccount (a GitOps controller acting in every tier).
    user = f"{SERVICE_ACCOUNT_USER}{namespace}:{name}"
    return (Subject("ServiceAccount", name, namespace),
            Standing(name_tiers("User", user, policy, tier_of, exempt), service_account=True))


def _person(kind: Literal["User", "Group"], name: str, policy: TierPolicy, tier_of: NamespaceTier,
            exempt: NamespaceExempt) -> Standing:
    """A user or group; a ServiceAccount's name that is no single ServiceAccount (``system:serviceaccounts:<ns>``)
    stands for that namespace's ServiceAccounts."""
    return Standing(name_tiers(kind, name, policy, tier_of, exempt),
                    service_account=service_account_namespace(kind, name) is not None)
