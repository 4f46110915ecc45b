"""Judging one object: ``evaluate()`` runs the rule families that judge its kind, then applies enforcement
(per-tier mode, exempt namespaces, break-glass). No I/O: every cross-object question goes to the Context."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

from tierguard.engine.context import Context
from tierguard.engine.model import Action, Decision, Finding, Malformed, Rule, Violation
from tierguard.engine.objects import annotations_of, object_ref
from tierguard.engine.request import EvaluationRequest, UserInfo
from tierguard.engine.rules import (
    gateway,
    namespaces,
    policy_document,
    rbac,
    replication,
    shared_values,
    sidecars,
    volumes,
    workloads,
)
from tierguard.engine.subject import Subject
from tierguard.engine.tiers import is_exempt, tier_from_labels
from tierguard.policy import EnforcementMode, TierPolicy

RULE_FAMILIES: tuple[ModuleType, ...] = (
    namespaces,
    replication,
    shared_values,
    workloads,
    volumes,
    gateway,
    rbac,
    sidecars,
    policy_document,
)
"""The rule table: a new rule family is one module here."""

ACTION_BY_MODE = {EnforcementMode.ENFORCE: Action.DENY, EnforcementMode.WARN: Action.WARN,
                  EnforcementMode.AUDIT: Action.AUDIT}
"""The action a violation gets in a tier enforced with each mode."""

_FAMILIES_BY_KIND: dict[str, tuple[ModuleType, ...]] = {}
for _family in RULE_FAMILIES:
    for _kind in _family.KINDS:
        _FAMILIES_BY_KIND[_kind] = (*_FAMILIES_BY_KIND.get(_kind, ()), _family)


def judged_kinds() -> frozenset[str]:
    """Every kind some rule judges: the webhook registers handlers for exactly these."""
    return frozenset(_FAMILIES_BY_KIND)


def evaluate(
    request: EvaluationRequest,
    context: Context,
    policy: TierPolicy,
    *,
    own_namespace: str | None = None,
) -> Decision:
    """Judge one object. ``own_namespace`` (tierguard's own) is always exempt."""
    subject = _subject(request, context, policy, own_namespace)
    if isinstance(subject, Decision):
        return subject
    findings = list(_run_rules(subject))
    violations = _enforce(findings, subject)
    return _break_glass(Decision(violations=violations), request.obj, request.user, policy)


def sidecar_parity(
    request: EvaluationRequest,
    context: Context,
    policy: TierPolicy,
    *,
    own_namespace: str | None = None,
) -> tuple[str | None, list[tuple[str, sidecars.SidecarState]]]:
    """The object's tier and each required sidecar's state in it; no states where nothing is enforced."""
    subject = _subject(request, context, policy, own_namespace)
    if isinstance(subject, Decision) or subject.tier is None:
        return None, []
    try:
        return subject.tier, [(s.name, state) for s, state in sidecars.sidecar_states(subject)]
    except Malformed:
        return subject.tier, []


def _subject(request: EvaluationRequest, context: Context, policy: TierPolicy, own_namespace: str | None
             ) -> Subject | Decision:
    """The Subject to judge, or the Decision already reached (malformed, exempt, untiered)."""
    obj = request.obj
    ref = object_ref(obj, request.namespace)
    if not ref.kind or not isinstance(obj.get("metadata", {}), Mapping):
        return _invalid("the object has no kind or its metadata is not an object", "kind")
    if ref.namespace is not None and is_exempt(ref.namespace, policy, own_namespace):
        return Decision(skipped=f"namespace {ref.namespace} is exempt")
    if ref.kind == "Namespace":
        if is_exempt(ref.name, policy, own_namespace):
            return Decision(skipped=f"namespace {ref.name} is exempt")
        view = context.namespace(ref.name)
        tier = tier_from_labels(view.labels, policy) if view is not None else None
    elif ref.namespace is not None:
        view = context.namespace(ref.namespace)
        tier = tier_from_labels(view.labels, policy) if view is not None else None
        if tier is None:
            return Decision(skipped=f"namespace {ref.namespace} is untiered")
    else:
        tier = None
    return Subject(obj, request.old, request.operation, ref, tier, context, policy)


def _run_rules(subject: Subject) -> Iterator[Finding]:
    seen: set[Finding] = set()
    for family in _FAMILIES_BY_KIND.get(subject.kind, ()):
        try:
            found = list(family.check(subject))
        except Malformed as error:
            found = [Finding(Rule.POLICY_INVALID, f"{subject.ref} cannot be evaluated: {error}", error.path)]
        except Exception as error:  # a rule bug must deny with a reason, not crash the caller
            # Only the exception's type: its text could quote a value of the object.
            found = [Finding(Rule.POLICY_INVALID, f"{subject.ref} cannot be evaluated: internal error in rule "
                             f"family {family.__name__.rsplit('.', 1)[-1]} ({type(error).__name__})", "")]
        for finding in found:
            if finding not in seen:
                seen.add(finding)
                yield finding


def _enforce(findings: list[Finding], subject: Subject) -> tuple[Violation, ...]:
    violations = []
    for finding in findings:
        tier = finding.tier if finding.tier is not None else subject.tier
        action = (
            Action.DENY
            if finding.rule is Rule.POLICY_INVALID
            else ACTION_BY_MODE[subject.policy.enforcement.mode_for(tier)]
        )
        violations.append(Violation(finding.rule, action, finding.message, finding.path))
    return tuple(violations)


def _break_glass(decision: Decision, obj: Mapping[str, Any], user: UserInfo | None, policy: TierPolicy
                 ) -> Decision:
    """Turn denials into warnings when a member of a break-glass group gives a reason on the object."""
    settings = policy.exemptions.break_glass
    reason = annotations_of(obj).get(settings.annotation, "").strip()
    if not reason or not settings.groups or user is None or not set(user.groups) & set(settings.groups):
        return decision
    if not decision.denials:
        return decision
    softened = tuple(
        Violation(v.rule, Action.WARN, f"{v.message} (admitted by break-glass: {reason})", v.path)
        if v.action is Action.DENY and v.rule is not Rule.POLICY_INVALID
        else v
        for v in decision.violations
    )
    return Decision(violations=softened, break_glass=reason)


def _invalid(problem: str, path: str) -> Decision:
    return Decision(violations=(Violation(Rule.POLICY_INVALID, Action.DENY, problem, path),))
