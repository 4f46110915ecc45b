"""namespace-tier-unknown and namespace-tier-changed."""

from __future__ import annotations

import pytest

from tierguard.engine import EvaluationRequest, evaluate
from tierguard.engine.model import Action, Decision, Rule
from tierguard.policy import DEFAULT_POLICY, TierPolicy

from .helpers import Case, context_of, ids, namespace, policy

CASES = [
    Case("known tier", [namespace("web", "prod")]),
    Case("no tier label: untiered", [namespace("web")]),
    Case("typo in the tier", [namespace("web", "prd")], {("namespace-tier-unknown", "web")}),
    Case("tier of another policy", [namespace("web", "production")], {("namespace-tier-unknown", "web")}),
    Case("empty tier value", [namespace("web", "")], {("namespace-tier-unknown", "web")}),
    Case("case matters", [namespace("web", "Prod")], {("namespace-tier-unknown", "web")}),
    Case("custom tier label: the default label means nothing", [namespace("web", "nonsense")],
         policy=policy({"tierLabel": "example.com/env"})),
    Case("custom tier label with a typo", [namespace("web", labels={"example.com/env": "prd"})],
         {("namespace-tier-unknown", "web")}, policy=policy({"tierLabel": "example.com/env"})),
    Case("custom tier list", [namespace("web", "qa")], {("namespace-tier-unknown", "web")},
         policy=policy({"tiers": ["dev", "prod"]}), namespaces=[]),
    Case("exempt namespace is not judged", [namespace("kube-system", "prd")]),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_namespace_tier_unknown(case: Case) -> None:
    assert case.run() == case.expected


def tier_change(old_tier: str | None, new_tier: str | None, pol: TierPolicy = DEFAULT_POLICY) -> Decision:
    old, new = namespace("web", old_tier), namespace("web", new_tier)
    return evaluate(EvaluationRequest(new, old, "UPDATE"), context_of([old]), pol)


CHANGES = [
    ("prod", "dev", {"namespace-tier-changed"}),
    ("dev", "prod", {"namespace-tier-changed"}),
    ("prod", None, {"namespace-tier-changed"}),
    ("prod", "prd", {"namespace-tier-changed", "namespace-tier-unknown"}),
    ("prod", "prod", set()),
    (None, "dev", set()),  # labelling an untiered namespace
    ("prd", "prod", set()),  # correcting a value that was never a valid tier
    ("prd", None, set()),
    (None, None, set()),
]


@pytest.mark.parametrize(("old", "new", "expected"), CHANGES)
def test_namespace_tier_changed(old: str | None, new: str | None, expected: set[str]) -> None:
    assert {v.rule.value for v in tier_change(old, new).violations} == expected


def test_tier_change_on_create_is_not_a_change() -> None:
    doc = namespace("web", "dev")
    decision = evaluate(EvaluationRequest(doc, namespace("web", "prod"), "CREATE"), context_of([doc]), policy({}))
    assert decision.violations == ()


def test_tier_change_takes_the_old_tiers_enforcement() -> None:
    """Leaving a tier is judged by the tier being left: warn-only for dev, denied for prod."""
    pol = policy({"enforcement": {"perTier": {"dev": "warn"}}})
    for old, new, action in (("dev", "prod", Action.WARN), ("prod", "dev", Action.DENY)):
        old_doc, new_doc = namespace("web", old), namespace("web", new)
        decision = evaluate(EvaluationRequest(new_doc, old_doc, "UPDATE"), context_of([old_doc]), pol)
        assert [(v.rule, v.action) for v in decision.violations] == [(Rule.NAMESPACE_TIER_CHANGED, action)]


def test_messages_name_namespace_and_tiers() -> None:
    old, new = namespace("web", "prod"), namespace("web", "dev")
    decision = evaluate(EvaluationRequest(new, old, "UPDATE"), context_of([old]), policy({}))
    (violation,) = decision.violations
    assert "Namespace web" in violation.message
    assert "prod" in violation.message and "dev" in violation.message
    assert violation.path == "metadata.labels[tierguard.io/tier]"
