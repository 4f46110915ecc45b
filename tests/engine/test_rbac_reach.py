"""rbac-cross-tier-subject by reach (issue 24, item 3): every path to a namespace's Secrets, for people (by
``spec.subjects``) and ServiceAccounts alike (SPEC "Subjects")."""

from __future__ import annotations

import pytest

from tierguard.engine import OfflineContext
from tierguard.engine.model import Action, Rule
from tierguard.engine.reach import PATHS, reach_of
from tierguard.engine.rules.rbac import cluster_role_rules
from tierguard.policy import DEFAULT_POLICY, TierPolicy

from .helpers import FINGERPRINTER, STANDARD, Case, Doc, decisions, ids, namespace, policy
from .test_aggregated_roles import AGGREGATE, cluster_role
from .test_rbac_gateway import binding, group, role, rule, sa, user

RB = Rule.RBAC_CROSS_TIER_SUBJECT.value
RBAC = "rbac.authorization.k8s.io"
PEOPLE = policy({"subjects": {
    "perTier": {"dev": {"groups": ["team-*-dev"], "users": ["dana@example.com"]},
                "qa": {"users": ["quinn@example.com"]},
                "prod": {"groups": ["team-*-prod"], "users": ["pat@example.com", "quinn@example.com"]}},
    "platform": {"groups": ["sre"], "users": ["system:serviceaccount:argocd:application-controller"]},
}})
"""dev and prod teams by group glob, people by user (quinn is in qa and prod), the platform team."""

PATH_RULES: dict[str, tuple[Doc, str]] = {
    "read-secrets": (rule(["secrets"], ["watch"]), "can read Secrets in prod"),
    "create-pods": (rule(["pods"], ["create"]), "can create pods in prod, which mounts its Secrets"),
    "create-workloads": (rule(["deployments"], ["create"], ["apps"]),
                         "can create deployments.apps in prod, whose pods mount its Secrets"),
    "exec": (rule(["pods/exec"], ["create"]), "can create pods/exec in prod, which reads its pods' mounted Secrets"),
    "attach": (rule(["pods/attach"], ["create"]), "can create pods/attach in prod"),
    "portforward": (rule(["pods/portforward"], ["create"]), "can create pods/portforward in prod"),
    "ephemeral-containers": (rule(["pods/ephemeralcontainers"], ["update"]),
                             "can update pods/ephemeralcontainers in prod"),
    "serviceaccount-token": (rule(["serviceaccounts/token"], ["create"]), "can create serviceaccounts/token in prod"),
    "impersonate": (rule(["users"], ["impersonate"]), "can impersonate users in prod"),
    "bind": (rule(["clusterroles"], ["bind"], [RBAC]), "can bind clusterroles.rbac.authorization.k8s.io in prod"),
    "escalate": (rule(["roles"], ["escalate"], [RBAC]), "can escalate roles.rbac.authorization.k8s.io in prod"),
}
"""A Role granting only that path, and the phrase its refusal names."""

REFUSED_SUBJECTS = {
    "dev group by glob": group("team-payments-dev"),
    "dev user": user("dana@example.com"),
    "qa ServiceAccount by its user name": user("system:serviceaccount:qa:ci"),
    "dev ServiceAccount": sa("dev"),
    "every ServiceAccount of dev": group("system:serviceaccounts:dev"),
    "every authenticated user": group("system:authenticated"),
}
ADMITTED_SUBJECTS = {
    "prod group by glob": group("team-payments-prod"),
    "prod user": user("pat@example.com"),
    "user of qa and prod": user("quinn@example.com"),
    "prod ServiceAccount": sa("prod-b"),
    "platform group": group("sre"),
    "platform user naming a ServiceAccount": sa("argocd", "application-controller"),
    "system:masters": group("system:masters"),
    "ServiceAccount of an exempt namespace": sa("kube-system"),
    "untiered person": group("contractors"),
}


def test_every_path_has_a_case() -> None:
    assert set(PATH_RULES) == {path.id for path in PATHS}


def judge(*docs: Doc, pol: TierPolicy = PEOPLE) -> list[str]:
    """The rbac-cross-tier-subject messages for the last document."""
    found = decisions([*STANDARD, *docs], pol)
    return [v.message for v in found[-1][1].violations if v.rule.value == RB]


@pytest.mark.parametrize("path", PATH_RULES)
@pytest.mark.parametrize("who", REFUSED_SUBJECTS)
def test_each_path_is_refused_to_a_subject_of_another_tier(path: str, who: str) -> None:
    granted, phrase = PATH_RULES[path]
    (message,) = judge(role("r", granted), binding("r", REFUSED_SUBJECTS[who], role_kind="Role"))
    assert f"reach its Secrets: {phrase}" in message and "(Role r)" in message


@pytest.mark.parametrize("path", PATH_RULES)
@pytest.mark.parametrize("who", ADMITTED_SUBJECTS)
def test_each_path_is_admitted_to_a_subject_who_may_reach_the_tier(path: str, who: str) -> None:
    granted, _ = PATH_RULES[path]
    assert judge(role("r", granted), binding("r", ADMITTED_SUBJECTS[who], role_kind="Role")) == []


def test_the_message_names_binding_subject_path_role_and_fix() -> None:
    (message,) = judge(role("deployer", rule(["pods"], ["create"])),
                       binding("deployer", group("team-payments-dev"), role_kind="Role"))
    assert message == ("RoleBinding prod/grant (tier prod) lets Group team-payments-dev (tier dev) reach its Secrets: "
                       "can create pods in prod, which mounts its Secrets (Role deployer); bind only subjects of "
                       "tier prod")


def test_the_message_names_the_first_path_and_counts_the_others() -> None:
    (message,) = judge(role("ops", rule(["pods/exec", "pods"], ["create"]), rule(["secrets"], ["list"])),
                       binding("ops", user("dana@example.com"), role_kind="Role"))
    assert "User dana@example.com (tier dev) reach its Secrets: can read Secrets in prod (Role ops, and 2 more " \
           "paths)" in message


def test_a_subject_of_several_tiers_is_described_with_them() -> None:
    (message,) = judge(role("r", rule(["pods"], ["create"]), ns="dev"),
                       binding("r", user("quinn@example.com"), ns="dev", role_kind="Role"))
    assert "User quinn@example.com (tiers qa, prod)" in message and "bind only subjects of tier dev" in message


def test_everyone_is_every_tiers_subjects() -> None:
    (message,) = judge(role("r", rule(["pods"], ["create"])), binding("r", group("system:authenticated"),
                                                                       role_kind="Role"))
    assert "Group system:authenticated (every tier's subjects) reach its Secrets: can create pods in prod" in message


def test_without_subjects_people_are_not_judged_but_service_accounts_are() -> None:
    creator = role("r", rule(["pods"], ["create"]))
    assert judge(creator, binding("r", group("team-payments-dev"), role_kind="Role"), pol=DEFAULT_POLICY) == []
    assert judge(creator, binding("r", user("dana@example.com"), role_kind="Role"), pol=DEFAULT_POLICY) == []
    assert len(judge(creator, binding("r", sa("dev"), role_kind="Role"), pol=DEFAULT_POLICY)) == 1
    assert judge(creator, binding("r", group("system:masters"), role_kind="Role"), pol=DEFAULT_POLICY) == []


def test_a_role_reaching_nothing_is_admitted_for_anyone() -> None:
    harmless = role("r", rule(["pods", "pods/log", "secrets"], ["get", "list"], ["example.com"]),
                    rule(["pods", "pods/log", "configmaps"], ["get", "list", "watch"]),
                    rule(["secrets"], ["create", "update", "delete"]),
                    rule(["pods/exec"], ["get"]), rule(["pods/ephemeralcontainers"], ["get"]))
    for subject in REFUSED_SUBJECTS.values():
        assert judge(harmless, binding("r", subject, role_kind="Role")) == []


def test_a_service_account_of_an_untiered_namespace() -> None:
    """Not judged in a ClusterRoleBinding (a platform controller's), still refused by a RoleBinding in a tiered
    namespace (it belongs to no tier, so not to this one): as before people had tiers."""
    creator = cluster_role("creator", [rule(["pods"], ["create"])])
    (message,) = judge(creator, binding("creator", sa("shared")))
    assert "ServiceAccount shared/ci (no tier)" in message
    assert judge(creator, binding("creator", sa("shared"), ns=None)) == []


# --- built-in ClusterRoles -------------------------------------------------------------------------------------

EDIT_PATHS = ["read-secrets", "create-pods", "create-workloads", "exec", "attach", "portforward",
              "serviceaccount-token", "impersonate"]


@pytest.mark.parametrize(("name", "expected"), [
    ("cluster-admin", [path.id for path in PATHS]),
    ("admin", EDIT_PATHS),
    ("edit", EDIT_PATHS),
    ("view", []),
])
def test_built_in_cluster_roles_reach_as_the_bootstrap_policy_grants(name: str, expected: list[str]) -> None:
    rules = cluster_role_rules(OfflineContext(FINGERPRINTER), name)
    assert rules is not None
    assert [reach.path.id for reach in reach_of(rules)] == list(dict.fromkeys(expected))  # PATHS repeats ids


BUILTIN_CASES = [
    Case(f"{name} for a dev group in prod", [binding(name, group("team-payments-dev"))], {(RB, "prod/grant")},
         policy=PEOPLE)
    for name in ("edit", "admin", "cluster-admin")
] + [
    Case(f"{name} for a prod group in prod", [binding(name, group("team-payments-prod"))], policy=PEOPLE)
    for name in ("edit", "admin", "cluster-admin")
] + [
    Case("view for a dev group in prod", [binding("view", group("team-payments-dev"))], policy=PEOPLE),
    Case("view with a pod-creating part aggregated to it",
         [cluster_role("extra-view", [rule(["pods"], ["create"])], {AGGREGATE + "view": "true"}),
          binding("view", group("team-payments-dev"))], {(RB, "prod/grant")}, policy=PEOPLE),
    Case("an aggregated role whose part creates pods",
         [cluster_role("ops", selectors=[{"matchLabels": {"example.com/ops": "true"}}]),
          cluster_role("pods-part", [rule(["pods"], ["create"])], {"example.com/ops": "true"}),
          binding("ops", user("dana@example.com"))], {(RB, "prod/grant")}, policy=PEOPLE),
    Case("an aggregated role whose parts reach nothing",
         [cluster_role("ops", selectors=[{"matchLabels": {"example.com/ops": "true"}}]),
          cluster_role("reader-part", [rule(["pods"], ["get"])], {"example.com/ops": "true"}),
          binding("ops", user("dana@example.com"))], policy=PEOPLE),
]


@pytest.mark.parametrize("case", BUILTIN_CASES, ids=ids(BUILTIN_CASES))
def test_built_in_and_aggregated_roles(case: Case) -> None:
    assert case.run() == case.expected


def test_an_aggregated_role_collects_every_part() -> None:
    """Not only up to the first part that reads Secrets: each path is reported (``tierguard access``)."""
    docs = [cluster_role("ops", selectors=[{"matchLabels": {"example.com/ops": "true"}}]),
            cluster_role("a", [rule(["secrets"], ["get"])], {"example.com/ops": "true"}),
            cluster_role("b", [rule(["pods/exec"], ["create"])], {"example.com/ops": "true"})]
    rules = cluster_role_rules(OfflineContext.from_objects(docs, FINGERPRINTER), "ops")
    assert rules is not None
    assert {reach.path.id for reach in reach_of(rules)} == {"read-secrets", "exec"}


# --- ClusterRoleBindings ---------------------------------------------------------------------------------------

CLUSTER_CASES = [
    Case("a dev group", [binding("edit", group("team-payments-dev"), ns=None)], {(RB, "grant")}, policy=PEOPLE),
    Case("a prod user", [binding("cluster-admin", user("pat@example.com"), ns=None)], {(RB, "grant")},
         policy=PEOPLE),
    Case("a user of two tiers", [binding("edit", user("quinn@example.com"), ns=None)], {(RB, "grant")},
         policy=PEOPLE),
    Case("everyone", [binding("edit", group("system:authenticated"), ns=None)], {(RB, "grant")}, policy=PEOPLE),
    Case("the platform group", [binding("cluster-admin", group("sre"), ns=None)], policy=PEOPLE),
    Case("system:masters", [binding("cluster-admin", group("system:masters"), ns=None)], policy=PEOPLE),
    Case("an untiered person", [binding("cluster-admin", group("contractors"), ns=None)], policy=PEOPLE),
    Case("a ServiceAccount of an exempt namespace", [binding("edit", sa("kube-system"), ns=None)], policy=PEOPLE),
    Case("a platform controller's ServiceAccount (untiered namespace)", [binding("edit", sa("shared"), ns=None)],
         policy=PEOPLE),
    Case("a dev ServiceAccount", [binding("edit", sa("dev"), ns=None)], {(RB, "grant")}, policy=PEOPLE),
    Case("a dev group, a role reaching nothing", [binding("view", group("team-payments-dev"), ns=None)],
         policy=PEOPLE),
    Case("a person of every tier",
         [binding("edit", user("ivy@example.com"), ns=None)],
         policy=policy({"subjects": {"perTier": {tier: {"users": ["ivy@example.com"]}
                                                 for tier in ("dev", "qa", "stage", "prod")}}})),
]


@pytest.mark.parametrize("case", CLUSTER_CASES, ids=ids(CLUSTER_CASES))
def test_cluster_role_bindings(case: Case) -> None:
    assert case.run() == case.expected


def test_a_cluster_role_binding_message_and_enforcement() -> None:
    """Enforced with the subject's tier's mode; of several tiers, the strictest."""
    pol = policy({**{"subjects": {"perTier": {"dev": {"users": ["quinn@example.com"]},
                                              "qa": {"users": ["quinn@example.com"]}}}},
                  "enforcement": {"perTier": {"dev": "audit", "qa": "warn"}}})
    found = decisions([*STANDARD, binding("edit", user("quinn@example.com"), ns=None)], pol)
    (violation,) = found[-1][1].violations
    assert violation.action is Action.WARN
    assert violation.message == (
        "ClusterRoleBinding grant lets User quinn@example.com (tiers dev, qa) reach every tier's Secrets: can read "
        "Secrets in every namespace (ClusterRole edit, and 7 more paths); use RoleBindings in namespaces of "
        "tiers dev, qa")
    dev_only = policy({"subjects": {"perTier": {"dev": {"users": ["dana@example.com"]}}},
                       "enforcement": {"perTier": {"dev": "audit"}}})
    found = decisions([*STANDARD, binding("edit", user("dana@example.com"), ns=None)], dev_only)
    assert [v.action for v in found[-1][1].violations] == [Action.AUDIT]


def test_an_exempt_namespace_with_a_tier_label_still_acts_in_every_tier() -> None:
    docs = [*STANDARD, namespace("tools", "dev"), role("r", rule(["pods"], ["create"])),
            binding("r", sa("tools"), role_kind="Role")]
    exempting = policy({"exemptions": {"namespaces": ["kube-*", "tools"]}})
    assert [v.message for v in decisions(docs, exempting)[-1][1].violations] == []
    assert len(decisions(docs, DEFAULT_POLICY)[-1][1].violations) == 1
