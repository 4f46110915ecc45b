"""namespace-tier-assignment: who may put a namespace in a tier, and who may write a TierPolicy.

Judged on requests only (a user), and only once ``spec.subjects.perTier`` gives people tiers. ``REQUESTS`` is the
rule's table (the coverage test counts its deny rows); the tests below it pin messages, modes and the edges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from tierguard.engine import EvaluationRequest, UserInfo, evaluate
from tierguard.engine.model import Action, Decision, Rule
from tierguard.engine.subjects import NAMELESS
from tierguard.policy import DEFAULT_POLICY, TierPolicy

from .helpers import STANDARD, Doc, context_of, namespace, policy

R = Rule.NAMESPACE_TIER_ASSIGNMENT
SUBJECTS = {
    "perTier": {"dev": {"groups": ["team-*-dev"]}, "prod": {"groups": ["team-*-prod"], "users": ["ana@example.com"]}},
    "platform": {"groups": ["sre"], "users": ["system:serviceaccount:argocd:argocd-application-controller"]},
}
POLICY = policy({"subjects": SUBJECTS})
OWN = "tierguard-system"

BOB = UserInfo("bob", ("team-payments-dev", "system:authenticated"))
"""A dev person."""
CAROL = UserInfo("carol", ("system:authenticated",))
"""A person of no tier."""
ANA = UserInfo("ana@example.com", ("team-web-dev", "system:authenticated"))
"""In dev by her group and in prod by her name."""
SRE = UserInfo("sam", ("sre", "system:authenticated"))
MASTERS = UserInfo("kubernetes-admin", ("system:masters", "system:authenticated"))


def service_account(ns: str, name: str = "ci") -> UserInfo:
    return UserInfo(f"system:serviceaccount:{ns}:{name}",
                    ("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"))


def tier_policy(spec: Mapping[str, Any] | None = None, name: str = "default") -> Doc:
    return {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": name},
            "spec": dict(spec or {})}


def judge(obj: Doc, user: UserInfo | None, *, old: Doc | None = None, operation: str = "CREATE",
          pol: TierPolicy = POLICY, own_namespace: str | None = OWN) -> Decision:
    return evaluate(EvaluationRequest(obj, old, operation, user), context_of(STANDARD), pol,
                    own_namespace=own_namespace)


def rules(decision: Decision) -> set[str]:
    return {v.rule.value for v in decision.violations}


@dataclass(frozen=True)
class Request:
    id: str
    obj: Doc
    user: UserInfo | None
    refused: bool
    old: Doc | None = None
    operation: str = "CREATE"
    pol: TierPolicy = POLICY

    def __repr__(self) -> str:
        return self.id

    def decide(self) -> Decision:
        return judge(self.obj, self.user, old=self.old, operation=self.operation, pol=self.pol)


PROD_NS, DEV_NS = namespace("payments-prod", "prod"), namespace("payments-dev", "dev")
BARE = namespace("payments")
REQUESTS = [
    Request("own tier: dev person creates a dev namespace", DEV_NS, BOB, refused=False),
    Request("other tier: dev person creates a prod namespace", PROD_NS, BOB, refused=True),
    Request("untiered person creates a dev namespace", DEV_NS, CAROL, refused=True),
    Request("a person of two tiers, in one of them", PROD_NS, ANA, refused=False),
    Request("a person of two tiers, in neither", namespace("payments-qa", "qa"), ANA, refused=True),
    Request("platform group", PROD_NS, SRE, refused=False),
    Request("system:masters", PROD_NS, MASTERS, refused=False),
    Request("ServiceAccount of an exempt namespace", PROD_NS, service_account("kube-system"), refused=False),
    Request("ServiceAccount of tierguard's own namespace", PROD_NS, service_account(OWN, "tierguard"),
            refused=False),
    Request("ServiceAccount named under platform users", PROD_NS,
            service_account("argocd", "argocd-application-controller"), refused=False),
    Request("ServiceAccount of a dev namespace, dev namespace", DEV_NS, service_account("dev"), refused=False),
    Request("ServiceAccount of a dev namespace, prod namespace", PROD_NS, service_account("dev"), refused=True),
    Request("ServiceAccount of an untiered namespace", DEV_NS, service_account("shared"), refused=True),
    Request("no tier label: nothing assigned", BARE, CAROL, refused=False),
    Request("unknown tier value: namespace-tier-unknown's", namespace("payments", "prd"), CAROL, refused=False),
    Request("exempt namespace: not judged", namespace("kube-system", "prod"), BOB, refused=False),
    Request("subjects not configured", PROD_NS, BOB, refused=False, pol=DEFAULT_POLICY),
    Request("platform only: nobody has a tier", PROD_NS, BOB, refused=False,
            pol=policy({"subjects": {"platform": {"groups": ["sre"]}}})),
    Request("no user (tierguard check, the audits)", PROD_NS, None, refused=False),
    Request("label added to an untiered namespace", PROD_NS, BOB, refused=True, old=namespace("payments-prod"),
            operation="UPDATE"),
    Request("own tier label added", DEV_NS, BOB, refused=False, old=namespace("payments-dev"), operation="UPDATE"),
    Request("a typo corrected is an assignment", PROD_NS, BOB, refused=True, old=namespace("payments-prod", "prd"),
            operation="UPDATE"),
    Request("label kept", PROD_NS | {"metadata": {**PROD_NS["metadata"], "annotations": {"a": "b"}}}, BOB,
            refused=False, old=PROD_NS, operation="UPDATE"),
    Request("tier changed: namespace-tier-changed's", namespace("payments-prod", "dev"), BOB, refused=False,
            old=PROD_NS, operation="UPDATE"),
    Request("TierPolicy created by a dev person", tier_policy(), BOB, refused=True),
    Request("TierPolicy spec changed by a dev person", tier_policy({"tiers": ["dev", "prod"]}), BOB, refused=True,
            old=tier_policy(), operation="UPDATE"),
    Request("TierPolicy deleted by a dev person", tier_policy(), BOB, refused=True, old=tier_policy(),
            operation="DELETE"),
    Request("TierPolicy written by a ServiceAccount of a tiered namespace", tier_policy(), service_account("prod"),
            refused=True),
    Request("TierPolicy written by an untiered person", tier_policy(), CAROL, refused=True),
    Request("TierPolicy metadata only", tier_policy() | {"metadata": {"name": "default", "labels": {"a": "b"}}}, BOB,
            refused=False, old=tier_policy(), operation="UPDATE"),
    Request("TierPolicy by the platform", tier_policy(), SRE, refused=False),
    Request("TierPolicy deleted by system:masters", tier_policy(), MASTERS, refused=False, old=tier_policy(),
            operation="DELETE"),
    Request("TierPolicy by an exempt namespace's ServiceAccount", tier_policy(), service_account("kube-system"),
            refused=False),
    Request("TierPolicy without subjects configured", tier_policy(), BOB, refused=False, pol=DEFAULT_POLICY),
]


@pytest.mark.parametrize("case", REQUESTS, ids=repr)
def test_namespace_tier_assignment(case: Request) -> None:
    assert (R.value in rules(case.decide())) == case.refused


def test_messages_name_the_namespace_tier_requester_and_their_tiers() -> None:
    (violation,) = judge(PROD_NS, BOB).violations
    assert violation.action is Action.DENY
    assert violation.message == (
        "Namespace payments-prod is created in tier prod by user bob, who is in tier dev; only subjects of that "
        "tier or of the platform (spec.subjects) may put a namespace in it")
    assert violation.path == "metadata.labels[tierguard.io/tier]"
    (untiered,) = judge(DEV_NS, CAROL).violations
    assert "by user carol, who is in no tier;" in untiered.message
    (two,) = judge(namespace("payments-qa", "qa"), ANA).violations
    assert "who is in tiers dev, prod;" in two.message  # the policy's order of tiers
    (labelled,) = judge(PROD_NS, BOB, old=BARE | {"metadata": {"name": "payments-prod"}}, operation="UPDATE").violations
    assert labelled.message.startswith("Namespace payments-prod is labelled tier prod by user bob, who is in tier dev")
    (account,) = judge(PROD_NS, service_account("dev")).violations
    assert "by user system:serviceaccount:dev:ci, who is in tier dev;" in account.message
    (nameless,) = judge(PROD_NS, UserInfo("", ())).violations
    assert f"by {NAMELESS}, who is in no tier;" in nameless.message


@pytest.mark.parametrize(("operation", "verb"), [("CREATE", "created"), ("UPDATE", "changed"),
                                                 ("DELETE", "deleted")])
def test_tierpolicy_messages(operation: str, verb: str) -> None:
    old = None if operation == "CREATE" else tier_policy({"tiers": ["dev"]})
    (violation,) = judge(tier_policy(), BOB, old=old, operation=operation).violations
    assert violation.message == (
        f"TierPolicy default is {verb} by user bob, who does not act in every tier; only the platform "
        f"(spec.subjects.platform, system:masters, ServiceAccounts of exempt namespaces) may write a TierPolicy: it "
        f"decides who belongs to which tier")
    assert violation.path == "spec"


def test_a_person_in_every_tier_by_groups_is_still_not_platform() -> None:
    every = policy({"subjects": {"perTier": {t: {"groups": ["all"]} for t in ("dev", "qa", "stage", "prod")}}})
    assert rules(judge(PROD_NS, UserInfo("dan", ("all",)), pol=every)) == set()
    assert rules(judge(tier_policy(), UserInfo("dan", ("all",)), pol=every)) == {R.value}


def test_everyone_groups_give_no_tier_even_when_a_glob_matches_them() -> None:
    broad = policy({"subjects": {"perTier": {"dev": {"groups": ["system:*"]}}, "platform": {"groups": ["*"]}}})
    assert rules(judge(DEV_NS, CAROL, pol=broad)) == {R.value}
    assert rules(judge(tier_policy(), CAROL, pol=broad)) == {R.value}


def test_tierguards_own_serviceaccount_needs_the_own_namespace() -> None:
    """Its namespace is exempt because the engine is told it is tierguard's (as the webhook always does)."""
    account = service_account(OWN, "tierguard")
    assert rules(judge(PROD_NS, account, own_namespace=OWN)) == set()
    assert rules(judge(PROD_NS, account, own_namespace=None)) == {R.value}


def test_a_namespace_violation_takes_the_mode_of_the_tier_assigned() -> None:
    """The new namespace is in no index yet (its candidate tier is None): the label's tier decides the mode."""
    modes = policy({"subjects": SUBJECTS, "enforcement": {"default": "enforce", "perTier": {"prod": "warn",
                                                                                         "qa": "audit"}}})
    assert [v.action for v in judge(PROD_NS, BOB, pol=modes).violations] == [Action.WARN]
    assert [v.action for v in judge(namespace("x", "qa"), BOB, pol=modes).violations] == [Action.AUDIT]
    assert [v.action for v in judge(namespace("x", "stage"), BOB, pol=modes).violations] == [Action.DENY]


def test_a_tierpolicy_violation_takes_the_default_mode() -> None:
    modes = policy({"subjects": SUBJECTS, "enforcement": {"default": "warn", "perTier": {"prod": "enforce"}}})
    assert [v.action for v in judge(tier_policy(), BOB, pol=modes).violations] == [Action.WARN]
    audit = policy({"subjects": SUBJECTS, "enforcement": {"default": "audit"}})
    assert [v.action for v in judge(tier_policy(), BOB, pol=audit).violations] == [Action.AUDIT]


def test_break_glass_softens_it() -> None:
    glass = policy({"subjects": SUBJECTS, "exemptions": {"breakGlass": {"groups": ["team-payments-dev"]}}})
    annotated = PROD_NS | {"metadata": {**PROD_NS["metadata"], "annotations": {"tierguard.io/break-glass": "INC-7"}}}
    decision = judge(annotated, BOB, pol=glass)
    assert decision.allowed and decision.break_glass == "INC-7"
    assert [v.rule for v in decision.warnings] == [R]


def test_a_changed_tier_is_only_namespace_tier_changed() -> None:
    assert rules(judge(namespace("payments-prod", "dev"), BOB, old=PROD_NS, operation="UPDATE")) == {
        "namespace-tier-changed"}


def test_a_broken_stored_tierpolicy_stays_deletable_by_the_platform() -> None:
    """A DELETE judges the stored object: policy-invalid must not make a broken policy undeletable."""
    broken = tier_policy({"tiers": ["dev", "dev"]})
    assert judge(broken, SRE, old=broken, operation="DELETE").violations == ()
    assert rules(judge(broken, SRE)) == {"policy-invalid"}  # still refused when written
    assert rules(judge(broken, BOB, old=broken, operation="DELETE")) == {R.value}


def test_offline_check_never_judges_it() -> None:
    """``tierguard check`` has no requester: the documents it reads are not requests."""
    from .helpers import violations  # noqa: PLC0415

    assert violations([*STANDARD, PROD_NS, tier_policy()], POLICY) == set()
