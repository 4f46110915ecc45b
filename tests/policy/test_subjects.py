"""``spec.subjects`` (SPEC "Subjects"): strict loading, and whose tiers a user, group, ServiceAccount or request has."""

from __future__ import annotations

from typing import Any

import pytest

from tierguard.engine.subjects import SubjectTiers, name_tiers, person_tiers, requester_tiers
from tierguard.policy import PolicyError, SubjectNames, load_policy

TIERS = {"dev-app": "dev", "prod-app": "prod"}


def policy_with(subjects: Any) -> Any:
    return load_policy({"spec": {"subjects": subjects}})


POLICY = policy_with({
    "perTier": {"dev": {"groups": ["team-*-dev"]}, "prod": {"groups": ["sre"], "users": ["ana@example.com"]}},
    "platform": {"groups": ["platform-admins"], "users": ["root@example.com", "system:serviceaccount:argocd:*"]},
})


def tiers_of(username: str, *groups: str, exempt: frozenset[str] = frozenset({"kube-system"})) -> SubjectTiers:
    return requester_tiers(username, groups, POLICY, TIERS.get, exempt.__contains__)


def test_loading_keeps_the_globs_per_tier_and_the_platform() -> None:
    assert POLICY.subjects.per_tier["prod"] == SubjectNames(groups=("sre",), users=("ana@example.com",))
    assert POLICY.subjects.platform.groups == ("platform-admins",)
    assert POLICY.subjects.configured
    assert not load_policy({}).subjects.configured


@pytest.mark.parametrize(("subjects", "path", "problem"), [
    ({"perTier": {"dev": {"group": ["x"]}}}, "spec.subjects.perTier.dev.group", "unknown field"),
    ({"perTier": {"preprod": {"groups": ["x"]}}}, "spec.subjects.perTier.preprod", "unknown tier"),
    ({"perTier": {"dev": {"groups": "team-dev"}}}, "spec.subjects.perTier.dev.groups", "expected a list"),
    ({"perTier": {"dev": {"groups": [""]}}}, "spec.subjects.perTier.dev.groups[0]", "must not be empty"),
    ({"perTier": {"dev": {"users": ["a", "a"]}}}, "spec.subjects.perTier.dev.users[1]", "listed twice"),
    ({"platform": {"groups": ["team-[dev"]}}, "spec.subjects.platform.groups[0]", "unbalanced"),
    ({"platform": ["sre"]}, "spec.subjects.platform", "expected a mapping"),
    ({"people": {}}, "spec.subjects.people", "unknown field"),
])
def test_a_flawed_subjects_field_is_named(subjects: Any, path: str, problem: str) -> None:
    with pytest.raises(PolicyError) as raised:
        policy_with(subjects)
    assert raised.value.field == path
    assert problem in str(raised.value)


def test_a_group_matches_by_glob_and_a_user_by_name() -> None:
    assert tiers_of("bob", "team-payments-dev").tiers == {"dev"}
    assert tiers_of("ana@example.com").tiers == {"prod"}
    assert not tiers_of("eve", "team-payments-qa").tiered


def test_a_request_has_the_tiers_of_its_user_and_of_each_group() -> None:
    both = tiers_of("ana@example.com", "team-payments-dev", "system:authenticated")
    assert both.tiers == {"dev", "prod"} and not both.every
    assert both.may_reach("dev") and both.may_reach("prod") and not both.may_reach("qa")
    assert not both.may_reach(None)
    assert both.describe(POLICY.tiers) == "tiers dev, prod"


def test_everyone_groups_give_no_tier() -> None:
    assert not tiers_of("eve", "system:authenticated", "system:serviceaccounts").tiered


@pytest.mark.parametrize(("username", "groups", "why"), [
    ("root@example.com", (), "platform user root@example.com"),
    ("bob", ("team-payments-dev", "platform-admins"), "platform group platform-admins"),
    ("admin", ("system:masters",), "group system:masters"),
    ("system:serviceaccount:argocd:argocd-application-controller", (),
     "platform user system:serviceaccount:argocd:argocd-application-controller"),
    ("system:serviceaccount:kube-system:replicaset-controller", ("system:serviceaccounts",),
     "ServiceAccount of exempt namespace kube-system"),
])
def test_platform_masters_and_exempt_service_accounts_act_in_every_tier(username: str, groups: tuple[str, ...],
                                                                        why: str) -> None:
    found = tiers_of(username, *groups)
    assert found.every and found.may_reach("prod") and found.may_reach(None)
    assert found.describe(POLICY.tiers) == f"every tier ({why})"


def test_a_service_account_has_its_namespace_tier_by_user_or_group_name() -> None:
    assert tiers_of("system:serviceaccount:dev-app:ci", "system:serviceaccounts:dev-app").tiers == {"dev"}
    assert name_tiers("Group", "system:serviceaccounts:prod-app", POLICY, TIERS.get, lambda _: False).tiers == {"prod"}
    assert not tiers_of("system:serviceaccount:elsewhere:ci").tiered
    assert not tiers_of("system:serviceaccount:malformed").tiered


def test_people_are_untiered_without_subjects() -> None:
    assert not person_tiers("Group", "team-payments-dev", load_policy({})).tiered
    assert person_tiers("Group", "system:masters", load_policy({})).every
