"""Judging one object: ``evaluate()`` runs the rule families that judge its kind, then applies enforcement
(per-tier mode, exempt namespaces, break-glass). No I/O: every cross-object question goes to the Context."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tierguard.engine.candidate import Candidate
from tierguard.engine.context import Context
from tierguard.engine.model import Action, Decision, Finding, Malformed, Rule, Violation
from tierguard.engine.objects import annotations_of
from tierguard.engine.request import EvaluationRequest, UserInfo
from tierguard.engine.rules import (
    RuleFacts,
    RuleFamily,
    assignment,
    cert_manager,
    crossplane,
    crossplane_objects,
    eso_generators,
    external_secrets,
    flux,
    gateway,
    kyverno,
    namespaces,
    policy_document,
    posture,
    rbac,
    replication,
    sessions,
    shared_values,
    sidecars,
    vault_operator,
    volumes,
    workloads,
)
from tierguard.engine.tiers import is_exempt, tier_from_labels
from tierguard.kinds import BY_KEY, FieldJudged, GroupKind, connect_of, row_of
from tierguard.policy import EnforcementMode, TierPolicy

RULE_FAMILIES: tuple[RuleFamily, ...] = (
    namespaces.FAMILY,
    replication.FAMILY,
    shared_values.FAMILY,
    workloads.FAMILY,
    external_secrets.FAMILY,
    eso_generators.FAMILY,
    vault_operator.FAMILY,
    flux.FAMILY,
    cert_manager.FAMILY,
    kyverno.FAMILY,
    crossplane.FAMILY,
    crossplane_objects.FAMILY,
    volumes.FAMILY,
    gateway.FAMILY,
    rbac.FAMILY,
    sidecars.FAMILY,
    assignment.FAMILY,
    sessions.FAMILY,
    posture.FAMILY,
    policy_document.FAMILY,
)
"""The rule table: a new rule family is one module here (and, for a new kind, one row in ``tierguard.kinds``)."""

RULE_FACTS: Mapping[Rule, RuleFacts] = {facts.rule: facts for family in RULE_FAMILIES for facts in family.facts}
"""Each rule id's facts, as its module declares them, in the families' order (which is ``Rule``'s: tested)."""

BREAK_GLASS_BY_GROUP: frozenset[Rule] = frozenset(rule for rule, facts in RULE_FACTS.items()
                                                  if facts.break_glass_by_group)
"""Rules a member of a break-glass group is admitted past without a reason annotation (``session-cross-tier``:
a CONNECT has no object to annotate)."""

ACTION_BY_MODE = {EnforcementMode.ENFORCE: Action.DENY, EnforcementMode.WARN: Action.WARN,
                  EnforcementMode.AUDIT: Action.AUDIT}
"""The action a violation gets in a tier enforced with each mode."""

_FAMILIES_BY_KEY: dict[GroupKind, tuple[RuleFamily, ...]] = {}
"""(group, kind) -> families: an object's apiVersion chooses its rules, so a kind of another group that shares
a judged kind's name (a Volcano Job, kubernetes-external-secrets' ExternalSecret) is not judged as it."""
for _family in RULE_FAMILIES:
    for _key in sorted(_family.kinds):
        _FAMILIES_BY_KEY[_key] = (*_FAMILIES_BY_KEY.get(_key, ()), _family)


_FAMILIES_BY_FIELD: tuple[tuple[FieldJudged, RuleFamily], ...] = tuple(
    (field, family) for family in RULE_FAMILIES for field in family.fields)
"""Families that judge any object carrying a field (``kinds.BY_FIELD``), whatever its group and kind."""


def judged_kinds() -> frozenset[str]:
    """Every stored kind some rule judges (names): the judged rows of the kinds table, which a test holds to this.
    A CONNECT's options (``PodExecOptions``) are judged too, but are never stored, listed or audited."""
    return frozenset(key.kind for key in _FAMILIES_BY_KEY if key in BY_KEY)


_ROW_KEYS_SEEN: dict[tuple[str, str], GroupKind | None] = {}
"""(apiVersion, kind) -> the kinds table's row key, for the pairs already met: every review asks (``row_of``
parses the apiVersion), and a served cluster has a few dozen. Bounded, since a manifest may name any."""


def families_for(api_version: object, kind: object) -> tuple[RuleFamily, ...]:
    """The families judging an object of this apiVersion and kind (``row_of``: by group and kind; a CONNECT's
    options body by its options kind, ``connect_of``)."""
    if isinstance(api_version, str) and isinstance(kind, str):
        pair = (api_version, kind)
        if pair in _ROW_KEYS_SEEN:
            key = _ROW_KEYS_SEEN[pair]
        else:
            key = _key_of(api_version, kind)
            if len(_ROW_KEYS_SEEN) < 512:
                _ROW_KEYS_SEEN[pair] = key
    else:
        key = _key_of(api_version, kind)
    return _FAMILIES_BY_KEY.get(key, ()) if key is not None else ()


def families_of(obj: Mapping[str, Any]) -> tuple[RuleFamily, ...]:
    """The families judging this object: those of its group and kind (``families_for``), then those of a field it
    carries (Crossplane's ``spec.writeConnectionSecretToRef`` on a kind of any group)."""
    found = families_for(obj.get("apiVersion"), obj.get("kind"))
    for field, family in _FAMILIES_BY_FIELD:
        if family not in found and field.carried_by(obj):
            found = (*found, family)
    return found


def _key_of(api_version: object, kind: object) -> GroupKind | None:
    row = row_of(api_version, kind)
    if row is not None:
        return row.key
    session = connect_of(api_version, kind)
    return GroupKind(session[0].group, session[1].kind) if session is not None else None


def evaluate(
    request: EvaluationRequest,
    context: Context,
    policy: TierPolicy,
    *,
    own_namespace: str | None = None,
) -> Decision:
    """Judge one object. ``own_namespace`` (tierguard's own) is always exempt."""
    candidate = candidate_for(request, context, policy, own_namespace)
    if isinstance(candidate, Decision):
        return candidate
    internal_errors: list[str] = []
    findings = list(_run_rules(candidate, internal_errors))
    violations = _enforce(findings, candidate)
    return _break_glass(Decision(violations=violations, internal_errors=tuple(internal_errors)), request.obj,
                        request.user, policy)


def sidecar_parity(
    request: EvaluationRequest,
    context: Context,
    policy: TierPolicy,
    *,
    own_namespace: str | None = None,
) -> tuple[str | None, list[tuple[str, sidecars.SidecarState]]]:
    """The object's tier and each required sidecar's state in it; no states where nothing is enforced."""
    candidate = candidate_for(request, context, policy, own_namespace)
    if isinstance(candidate, Decision) or candidate.tier is None:
        return None, []
    try:
        return candidate.tier, [(s.name, state) for s, state in sidecars.sidecar_states(candidate)]
    except Malformed:
        return candidate.tier, []


def candidate_for(request: EvaluationRequest, context: Context, policy: TierPolicy, own_namespace: str | None = None
                  ) -> Candidate | Decision:
    """The Candidate to judge, or the Decision already reached (malformed, exempt, untiered). A CONNECT's
    candidate is the pod the request names (``EvaluationRequest.ref``), judged by the rules of its options kind."""
    obj = request.obj
    ref = request.ref()
    metadata = obj.get("metadata", {})
    if not ref.kind or (type(metadata) is not dict and not isinstance(metadata, Mapping)):
        return _invalid("the object has no kind or its metadata is not an object", "kind")
    if request.operation == "CONNECT" and (not ref.name or ref.namespace is None):
        # The API server always names both; only a hand-made review lacks them.
        missing = "request.name" if not ref.name else "request.namespace"
        return _invalid(f"the CONNECT request has no {missing}: it names no {ref.kind} to open a session into",
                        missing)
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
    return Candidate(request, ref, tier, context, policy, own_namespace)


def _run_rules(candidate: Candidate, internal_errors: list[str]) -> Iterator[Finding]:
    seen: set[Finding] = set()
    # The object's own kind, not the candidate's: a CONNECT's candidate is a Pod, its body PodExecOptions.
    for family in families_of(candidate.obj):
        try:
            found = list(family.check(candidate))
        except Malformed as error:
            found = [Finding(Rule.POLICY_INVALID, f"{candidate.ref} cannot be evaluated: {error}", error.path)]
        except Exception as error:  # a bug in tierguard: deny, say whose fault it is, count it apart
            internal_errors.append(family.name)
            # Only the exception's type: its text could quote a value of the object.
            found = [Finding(Rule.POLICY_INVALID, f"{candidate.ref} cannot be evaluated: internal error in rule "
                             f"family {family.name} ({type(error).__name__}); this is a bug in tierguard, not a "
                             f"fault of the object: report it", "")]
        for finding in found:
            if finding not in seen:
                seen.add(finding)
                yield finding


def _enforce(findings: list[Finding], candidate: Candidate) -> tuple[Violation, ...]:
    violations = []
    for finding in findings:
        tier = finding.tier if finding.tier is not None else candidate.tier
        action = (
            Action.DENY
            if finding.rule is Rule.POLICY_INVALID
            else ACTION_BY_MODE[candidate.policy.enforcement.mode_for(tier)]
        )
        violations.append(Violation(finding.rule, action, finding.message, finding.path, finding.related,
                                    finding.requester_message))
    return tuple(violations)


def _break_glass(decision: Decision, obj: Mapping[str, Any], user: UserInfo | None, policy: TierPolicy
                 ) -> Decision:
    """Turn denials into warnings when a member of a break-glass group gives a reason on the object; for the
    rules of ``BREAK_GLASS_BY_GROUP`` alone (a session, which has no object to annotate), membership is enough
    and the reason names the group."""
    settings = policy.exemptions.break_glass
    if not decision.denials or not settings.groups or user is None:  # the cheap questions first
        return decision
    member = next((group for group in settings.groups if group in user.groups), None)
    if member is None:
        return decision
    reason = annotations_of(obj).get(settings.annotation, "").strip()
    if not reason:
        if not all(v.rule in BREAK_GLASS_BY_GROUP for v in decision.denials):
            return decision
        reason = f"member of break-glass group {member}"
    glass = f" (admitted by break-glass: {reason})"
    softened = tuple(
        Violation(v.rule, Action.WARN, v.message + glass, v.path, v.related,
                  None if v.requester_message is None else v.requester_message + glass)
        if v.action is Action.DENY and v.rule is not Rule.POLICY_INVALID
        else v
        for v in decision.violations
    )
    return Decision(violations=softened, break_glass=reason, internal_errors=decision.internal_errors)


def _invalid(problem: str, path: str) -> Decision:
    return Decision(violations=(Violation(Rule.POLICY_INVALID, Action.DENY, problem, path),))
