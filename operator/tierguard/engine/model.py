"""Values the engine produces: rule ids, findings, violations and decisions. No logic beyond shaping them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from tierguard.errors import Malformed  # raised by rules; errors.py maps every error type

__all__ = ["UNTIERED", "Action", "Decision", "Finding", "Malformed", "ObjectRef", "Rule", "Violation", "in_tier"]


class Action(StrEnum):
    """What happens to an object that violates a rule: an engine output, from the tier's enforcement mode."""

    DENY = "deny"
    WARN = "warn"
    AUDIT = "audit"


class Rule(StrEnum):
    """Every rule id of SPEC's table: tests, metrics, reports and docs use exactly these strings."""

    NAMESPACE_TIER_UNKNOWN = "namespace-tier-unknown"
    NAMESPACE_TIER_CHANGED = "namespace-tier-changed"
    SECRET_REPLICATION_CROSS_TIER = "secret-replication-cross-tier"
    SECRET_VALUE_SHARED = "secret-value-shared"
    WORKLOAD_SECRET_CROSS_TIER = "workload-secret-cross-tier"
    VOLUME_SECRET_CROSS_TIER = "volume-secret-cross-tier"
    REFERENCE_GRANT_CROSS_TIER = "reference-grant-cross-tier"
    RBAC_CROSS_TIER_SUBJECT = "rbac-cross-tier-subject"
    SIDECAR_MISSING = "sidecar-missing"
    SIDECAR_INJECTION_DISABLED = "sidecar-injection-disabled"
    NAMESPACE_TIER_ASSIGNMENT = "namespace-tier-assignment"
    SESSION_CROSS_TIER = "session-cross-tier"
    NAMESPACE_SECURITY_MISSING = "namespace-security-missing"
    POLICY_INVALID = "policy-invalid"


UNTIERED = "untiered"
"""How messages name the tier of a namespace without a (known) tier label."""


def in_tier(tier: str | None) -> str:
    """How messages place a namespace: ``tier prod``, or ``untiered``."""
    return f"tier {tier}" if tier is not None else UNTIERED


@dataclass(frozen=True)
class Finding:
    """What a rule reports, before enforcement turns it into a Violation.

    ``tier`` is the tier whose enforcement mode applies, when it is not the object's own namespace's tier
    (cluster-scoped objects: a PersistentVolume takes its claim's tier, a ClusterRoleBinding its subject's).
    """

    rule: Rule
    message: str
    path: str
    tier: str | None = None
    related: tuple[ObjectRef, ...] = ()
    """The other objects of a cross-object finding (the Secret copied from, the other holder of a value)."""
    requester_message: str | None = None
    """What the requester may read, where ``message`` would tell them which object of another tier holds a value
    (SPEC: "a Secret of tier prod", unnamed). None: ``message`` names nothing they may not know."""


@dataclass(frozen=True)
class Violation:
    rule: Rule
    action: Action
    message: str
    path: str
    related: tuple[ObjectRef, ...] = ()
    """The other objects of a cross-object finding; not part of ``as_dict`` (SPEC's JSON shape)."""
    requester_message: str | None = None
    """See ``Finding.requester_message``; ``message`` stays for platform-side records (logs, cluster reports)."""

    @property
    def shown_to_requester(self) -> str:
        """The message for the admission answer and the reports in the requester's namespace."""
        return self.requester_message if self.requester_message is not None else self.message

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule.value, "action": self.action.value, "message": self.message, "path": self.path}


class ObjectRef(NamedTuple):
    # A named tuple, not a frozen dataclass: one is made per review (its construction costs a third), and it
    # stays immutable and hashable (findings are kept in sets).
    api_version: str
    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def as_dict(self) -> dict[str, str | None]:
        return {"apiVersion": self.api_version, "kind": self.kind, "namespace": self.namespace, "name": self.name}


# Slotted, not frozen: made once or more per review, and a frozen dataclass's __init__ sets each field through
# object.__setattr__ (about 0.5 us apiece). Nothing assigns to it after construction all the same.
@dataclass(slots=True)
class Decision:
    """The engine's answer for one object.

    ``skipped`` says why nothing was evaluated (exempt or untiered namespace); ``break_glass`` holds the
    reason when a privileged user's break-glass annotation turned denials into warnings; ``internal_errors``
    names the rule families that failed with a bug of tierguard's (each also denied the object as
    ``policy-invalid``, saying so), for the shells to count apart from the user's malformed objects.
    """

    violations: tuple[Violation, ...] = ()
    skipped: str | None = None
    break_glass: str | None = None
    internal_errors: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return not any(v.action is Action.DENY for v in self.violations)

    @property
    def denials(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.action is Action.DENY)

    @property
    def warnings(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.action is Action.WARN)

    @property
    def audits(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.action is Action.AUDIT)
