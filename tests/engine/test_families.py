"""Rule families are typed declarations: each judges rows of the kinds table and reports only the rule ids it
declares; a bug inside one is tierguard's internal error, denied and said so, not the user's malformed object.
Each rule id's facts are declared once, by the module of the family that owns it."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tierguard.engine import EvaluationRequest, evaluate
from tierguard.engine.candidate import Candidate
from tierguard.engine.context import Context
from tierguard.engine.evaluation import (
    _FAMILIES_BY_KEY,
    RULE_FACTS,
    RULE_FAMILIES,
    candidate_for,
    families_for,
    families_of,
)
from tierguard.engine.model import Finding, Malformed, Rule
from tierguard.engine.rules import RuleFamily
from tierguard.kinds import BY_FIELD, CONNECTS, JUDGED, GroupKind, group_kinds
from tierguard.policy import DEFAULT_POLICY, TierPolicy

from .helpers import STANDARD, context_of, namespace
from .test_assignment import OWN, REQUESTS
from .test_rule_coverage import REQUEST_TABLES, TABLES


def test_families_judge_exactly_the_judged_rows() -> None:
    """The judged rows, and the options kinds of their CONNECT subresources (``PodExecOptions``)."""
    assert frozenset().union(*(family.kinds for family in RULE_FAMILIES)) == {info.key for info in JUDGED} | set(
        CONNECTS)
    assert len({family.name for family in RULE_FAMILIES}) == len(RULE_FAMILIES)


def test_families_judge_exactly_the_fields_judged_whatever_the_kind() -> None:
    """``kinds.BY_FIELD`` (Crossplane's connection Secrets) is judged by a family each, chosen by the field: an
    object of a group and kind no row names is judged when it carries it, and not otherwise."""
    assert [field for family in RULE_FAMILIES for field in family.fields] == list(BY_FIELD)
    (crossplane,) = (family for family in RULE_FAMILIES if family.fields)
    managed = {"apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "Instance", "metadata": {"name": "db"},
               "spec": {"writeConnectionSecretToRef": {"name": "db", "namespace": "dev"}}}
    assert families_for(managed["apiVersion"], managed["kind"]) == ()
    assert families_of(managed) == (crossplane,)
    assert families_of({**managed, "spec": {"forProvider": {}}}) == ()
    assert families_of({**managed, "spec": "not a map"}) == ()


def test_every_rule_id_has_a_family() -> None:
    assert frozenset().union(*(family.rules for family in RULE_FAMILIES)) == set(Rule)


def test_the_rule_enum_is_the_union_of_the_modules_facts() -> None:
    """Each id declared by exactly one module, in ``Rule``'s order (SARIF's ``ruleIndex`` counts in it)."""
    declared = [facts.rule for family in RULE_FAMILIES for facts in family.facts]
    assert declared == list(Rule)
    assert list(RULE_FACTS) == list(Rule)


@pytest.mark.parametrize("family", RULE_FAMILIES, ids=lambda family: family.name)
def test_a_family_reports_the_ids_it_owns_and_documents_them(family: RuleFamily) -> None:
    module = sys.modules[family.check.__module__]
    assert getattr(module, "FACTS", None) == family.facts
    for facts in family.facts:
        assert facts.rule in family.rules
        assert facts.description.endswith(".") and "\n" not in facts.description
        assert f"``{facts.id}``" in (module.__doc__ or ""), f"{module.__name__}'s docstring does not explain {facts.id}"


def findings_by_family() -> Iterator[tuple[RuleFamily, Finding]]:
    for module in TABLES:
        for case in module.CASES:
            context = context_of(case.docs, pol=case.policy)
            for doc in case.docs:
                yield from _findings(EvaluationRequest.from_manifest(doc), context, case.policy)
    for request_module in REQUEST_TABLES:  # rules of a request, not of a document alone (who sends it)
        for row in request_module.CASES:
            yield from _findings(row.request, request_module.context_for(row.policy), row.policy)
    for request in REQUESTS:  # namespace-tier-assignment's requests (a user), which manifests do not carry
        yield from _findings(EvaluationRequest(request.obj, request.old, request.operation, request.user),
                             context_of(STANDARD), request.pol, OWN)


def _findings(request: EvaluationRequest, context: Context, pol: TierPolicy, own_namespace: str | None = None
              ) -> Iterator[tuple[RuleFamily, Finding]]:
    candidate = candidate_for(request, context, pol, own_namespace)
    if not isinstance(candidate, Candidate):
        return
    for family in families_of(candidate.obj):
        try:
            found = list(family.check(candidate))
        except Malformed:
            continue  # the engine's policy-invalid, not the family's
        yield from ((family, finding) for finding in found)


def test_every_finding_is_a_rule_its_family_declares() -> None:
    seen: dict[str, set[Rule]] = {}
    for family, finding in findings_by_family():
        assert finding.rule in family.rules, (family.name, finding)
        seen.setdefault(family.name, set()).add(finding.rule)
    # Not vacuous: every family reported something, and workloads reported its policy-invalid too.
    assert set(seen) == {family.name for family in RULE_FAMILIES}
    assert Rule.POLICY_INVALID in seen["workloads"]


def _broken(name: str) -> RuleFamily:
    def check(_: Candidate) -> Iterator[Finding]:
        raise KeyError("a value from the object")

    return RuleFamily(name, group_kinds("ReferenceGrant"), frozenset({Rule.REFERENCE_GRANT_CROSS_TIER}), check)


GRANT = {"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
         "metadata": {"name": "rg", "namespace": "prod"},
         "spec": {"from": [{"group": "", "kind": "Gateway", "namespace": "prod"}], "to": [{"kind": "Service"}]}}


def test_a_bug_in_a_rule_denies_and_says_it_is_tierguards(monkeypatch: pytest.MonkeyPatch) -> None:
    grant = GroupKind("gateway.networking.k8s.io", "ReferenceGrant")
    monkeypatch.setitem(_FAMILIES_BY_KEY, grant, (_broken("gateway"),))
    decision = evaluate(EvaluationRequest.from_manifest(GRANT), context_of([*STANDARD, GRANT]),
                        DEFAULT_POLICY)
    assert not decision.allowed
    (violation,) = decision.violations
    assert violation.rule is Rule.POLICY_INVALID
    assert "internal error in rule family gateway (KeyError)" in violation.message
    assert "bug in tierguard" in violation.message and "a value from the object" not in violation.message
    assert decision.internal_errors == ("gateway",)


def test_a_malformed_object_is_not_an_internal_error() -> None:
    broken = {**GRANT, "spec": {"to": "Secret"}}
    decision = evaluate(EvaluationRequest.from_manifest(broken), context_of([namespace("prod", "prod"), broken]),
                        DEFAULT_POLICY)
    assert [v.rule for v in decision.violations] == [Rule.POLICY_INVALID]
    assert decision.internal_errors == ()
