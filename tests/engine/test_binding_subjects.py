"""engine/binding_subjects.py: a binding's subject entry read with its tiers, and the crossing predicate that
rbac-cross-tier-subject and ``tierguard access`` share (tests/access/test_access_agrees_with_rule.py holds the two
to each other)."""

from __future__ import annotations

from typing import Any

import pytest

from tierguard.engine.binding_subjects import NoSubject, Standing, Subject, binding_subject
from tierguard.engine.model import Malformed
from tierguard.engine.subjects import SubjectTiers

from .helpers import policy

POLICY = policy({"subjects": {"perTier": {"dev": {"groups": ["team-dev"]}, "prod": {"users": ["pat"]}},
                              "platform": {"users": ["system:serviceaccount:argocd:*"]}}})
TIERS = {"dev-app": "dev", "prod-app": "prod"}
ORDER = POLICY.tiers


def read(entry: dict[str, Any], binding_namespace: str | None = "prod-app") -> tuple[Subject, Standing]:
    return binding_subject(entry, "subjects[0]", binding_namespace, policy=POLICY, tier_of=TIERS.get,
                           exempt=lambda namespace: namespace == "kube-system")


def test_a_service_account_by_kind_by_user_name_or_by_the_binding_namespace_is_one_subject() -> None:
    by_kind = read({"kind": "ServiceAccount", "name": "ci", "namespace": "dev-app"})
    by_user = read({"kind": "User", "name": "system:serviceaccount:dev-app:ci"})
    assert by_kind == by_user
    assert by_kind == (Subject("ServiceAccount", "ci", "dev-app"),
                       Standing(SubjectTiers(frozenset({"dev"})), service_account=True))
    assert str(by_kind[0]) == "ServiceAccount dev-app/ci"
    assert read({"kind": "ServiceAccount", "name": "app"})[0] == Subject("ServiceAccount", "app", "prod-app")


def test_tiers_of_people_platform_exempt_and_everyone() -> None:
    assert read({"kind": "Group", "name": "team-dev"})[1].tiers.tiers == {"dev"}
    assert read({"kind": "User", "name": "pat"})[1].describe(ORDER) == "tier prod"
    assert read({"kind": "ServiceAccount", "name": "x", "namespace": "argocd"})[1].tiers.every  # platform
    assert read({"kind": "ServiceAccount", "name": "x", "namespace": "kube-system"})[1].tiers.every  # exempt
    everyone = read({"kind": "Group", "name": "system:authenticated"})[1]
    assert everyone.everyone and everyone.describe(ORDER) == "everyone"
    person = read({"kind": "User", "name": "bob"})[1]
    assert not person.tiered and not person.service_account and person.describe(ORDER) == "untiered"
    namespace_group = read({"kind": "Group", "name": "system:serviceaccounts:tools"})
    assert namespace_group[0] == Subject("Group", "system:serviceaccounts:tools")
    assert namespace_group[1].service_account and not namespace_group[1].tiered


def test_entries_that_name_no_one_and_malformed_ones() -> None:
    with pytest.raises(NoSubject, match=r"subjects\[0\]\.namespace: is required for a ServiceAccount"):
        read({"kind": "ServiceAccount", "name": "ci"}, binding_namespace=None)
    with pytest.raises(NoSubject, match=r"subjects\[0\]\.kind: unknown subject kind 'Robot'"):
        read({"kind": "Robot", "name": "r2"})
    with pytest.raises(Malformed, match=r"subjects\[0\]\.name: is required") as raised:
        read({"kind": "User"})
    assert not isinstance(raised.value, NoSubject)  # the rule refuses it as policy-invalid, not skipped


DEV = Standing(SubjectTiers(frozenset({"dev"})))
UNTIERED_SA = Standing(SubjectTiers(), service_account=True)
UNTIERED_PERSON = Standing(SubjectTiers())
EVERYONE = Standing(SubjectTiers(), everyone=True)
PLATFORM = Standing(SubjectTiers(every=True))


@pytest.mark.parametrize(("standing", "cluster_wide", "tier", "expected"), [
    (DEV, False, "prod", ("prod",)),
    (DEV, False, "dev", ()),
    (DEV, False, None, ()),  # an untiered or exempt namespace: no reach crosses into it
    (DEV, True, None, ("qa", "stage", "prod")),
    (UNTIERED_SA, False, "prod", ("prod",)),  # belongs to no tier, so not to prod (SPEC "Tiers")
    (UNTIERED_SA, True, None, ()),  # a platform controller's, cluster-wide
    (UNTIERED_PERSON, False, "prod", ()),
    (UNTIERED_PERSON, True, None, ()),
    (EVERYONE, False, "qa", ("qa",)),
    (EVERYONE, True, None, ORDER),
    (PLATFORM, True, None, ()),
    (Standing(SubjectTiers(frozenset(ORDER))), True, None, ()),
])
def test_crosses(standing: Standing, cluster_wide: bool, tier: str | None, expected: tuple[str, ...]) -> None:
    assert standing.crosses(cluster_wide=cluster_wide, tier=tier, order=ORDER) == expected
