"""The access model: every (subject, where, path) reach that RoleBindings and ClusterRoleBindings grant, each
subject's tiers (SPEC "Subjects") and whether the reach crosses tiers."""

from __future__ import annotations

from typing import Any

from tierguard.access import UNTIERED, AccessReport, Subject, access_report
from tierguard.engine.reach import PATHS
from tierguard.policy import TierPolicy, load_policy

RBAC = "rbac.authorization.k8s.io/v1"
POLICY = load_policy({"spec": {"subjects": {
    "perTier": {"dev": {"groups": ["team-dev"], "users": ["dana@example.com"]},
                "prod": {"groups": ["team-prod", "oncall-*"]}},
    "platform": {"groups": ["sre"], "users": ["system:serviceaccount:argocd:argocd-application-controller"]},
}}})
ALL_IDS = tuple(dict.fromkeys(p.id for p in PATHS))


def namespace(name: str, tier: str | None = None) -> dict[str, Any]:
    labels = {"tierguard.io/tier": tier} if tier else {}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


NAMESPACES = [namespace("shop-dev", "dev"), namespace("shop-qa", "qa"), namespace("shop-prod", "prod"),
              namespace("tools"), namespace("ci", "dev")]


def cluster_role(name: str, *rules: dict[str, Any], labels: dict[str, str] | None = None,
                 aggregate: dict[str, str] | None = None) -> dict[str, Any]:
    role: dict[str, Any] = {"apiVersion": RBAC, "kind": "ClusterRole",
                            "metadata": {"name": name, "labels": labels or {}}, "rules": list(rules)}
    if aggregate is not None:
        role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": aggregate}]}
    return role


def role(ns: str, name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": name, "namespace": ns}, "rules": list(rules)}


def rule(resources: list[str], verbs: list[str], groups: list[str] | None = None) -> dict[str, Any]:
    return {"apiGroups": groups if groups is not None else [""], "resources": resources, "verbs": verbs}


def subject(kind: str, name: str, ns: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": kind, "name": name}
    if ns is not None:
        entry["namespace"] = ns
    return entry


def binding(ns: str | None, name: str, role_kind: str, role_name: str, *subjects: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if ns is not None:
        metadata["namespace"] = ns
    return {"apiVersion": RBAC, "kind": "RoleBinding" if ns is not None else "ClusterRoleBinding",
            "metadata": metadata, "subjects": list(subjects),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name}}


READER = cluster_role("secret-reader", rule(["secrets"], ["get", "list"]))
DEBUGGER = cluster_role("debugger", rule(["pods/exec"], ["create"]), rule(["pods"], ["get"]))
LOOKER = cluster_role("pod-looker", rule(["pods", "pods/log"], ["get", "list", "watch"]))
ROLES = [READER, DEBUGGER, LOOKER]


def report_of(*objects: dict[str, Any], policy: TierPolicy = POLICY, **kwargs: Any) -> AccessReport:
    return access_report([(o, f"all.yaml#{i}") for i, o in enumerate([*NAMESPACES, *ROLES, *objects])], policy,
                         **kwargs)


def paths(report: AccessReport, who: Subject, column: str) -> tuple[str, ...] | None:
    cell = report.subjects[who].cells.get(column)
    return None if cell is None else cell.path_ids()


def crossing(report: AccessReport, who: Subject) -> set[str]:
    return {column for column, cell in report.subjects[who].cells.items() if cell.crosses}


# --- people, by spec.subjects ---------------------------------------------------------------------------------

def test_a_dev_group_in_prod_crosses_and_in_dev_does_not() -> None:
    report = report_of(binding("shop-prod", "debug", "ClusterRole", "debugger", subject("Group", "team-dev")),
                       binding("shop-dev", "read", "ClusterRole", "secret-reader", subject("Group", "team-dev")))
    team = Subject("Group", "team-dev")
    assert paths(report, team, "prod") == ("exec",) and paths(report, team, "dev") == ("read-secrets",)
    assert paths(report, team, "qa") is None
    assert crossing(report, team) == {"prod"}
    [grant] = report.crossing
    assert (grant.binding.name, grant.role, grant.where, grant.crosses) == ("debug", "ClusterRole debugger",
                                                                           "shop-prod", ("prod",))
    assert [(r.path.id, r.verb, r.resource) for r in grant.paths] == [("exec", "create", "pods/exec")]
    assert report.subjects[team].standing.describe(POLICY.tiers) == "tier dev"
    assert not report.clean


def test_a_user_by_name_and_a_group_by_glob() -> None:
    report = report_of(binding("shop-prod", "mixed", "ClusterRole", "secret-reader",
                               subject("User", "dana@example.com"), subject("Group", "oncall-payments")))
    assert crossing(report, Subject("User", "dana@example.com")) == {"prod"}
    assert crossing(report, Subject("Group", "oncall-payments")) == set()  # oncall-* is prod
    assert report.subjects[Subject("Group", "oncall-payments")].standing.describe(POLICY.tiers) == "tier prod"


def test_a_role_that_reaches_nothing_lists_no_one() -> None:
    report = report_of(binding("shop-prod", "look", "ClusterRole", "pod-looker", subject("Group", "team-dev")))
    assert report.subjects == {} and report.clean and report.unjudged == []


# --- ServiceAccounts -------------------------------------------------------------------------------------------

def test_service_accounts_have_their_namespace_tier() -> None:
    report = report_of(binding("shop-prod", "sa", "ClusterRole", "secret-reader",
                               subject("ServiceAccount", "ci", "shop-dev"), subject("ServiceAccount", "app"),
                               subject("User", "system:serviceaccount:shop-qa:deployer"),
                               subject("Group", "system:serviceaccounts:ci")))
    assert crossing(report, Subject("ServiceAccount", "ci", "shop-dev")) == {"prod"}
    assert crossing(report, Subject("ServiceAccount", "app", "shop-prod")) == set()  # the binding's namespace
    # a user name of a ServiceAccount is that ServiceAccount: one row
    assert crossing(report, Subject("ServiceAccount", "deployer", "shop-qa")) == {"prod"}
    assert Subject("User", "system:serviceaccount:shop-qa:deployer") not in report.subjects
    assert crossing(report, Subject("Group", "system:serviceaccounts:ci")) == {"prod"}  # namespace ci is dev


def test_a_namespaced_role_is_looked_up_in_the_binding_namespace() -> None:
    tokens = role("shop-prod", "tokens", rule(["serviceaccounts/token"], ["create"]))
    elsewhere = role("shop-dev", "tokens", rule(["secrets"], ["get"]))
    report = report_of(tokens, elsewhere, binding("shop-prod", "t", "Role", "tokens",
                                                  subject("ServiceAccount", "ci", "shop-dev")))
    assert paths(report, Subject("ServiceAccount", "ci", "shop-dev"), "prod") == ("serviceaccount-token",)


# --- platform, everyone, untiered -----------------------------------------------------------------------------

def test_platform_subjects_reach_every_tier_without_crossing() -> None:
    report = report_of(binding(None, "sre", "ClusterRole", "cluster-admin", subject("Group", "sre"),
                               subject("Group", "system:masters"),
                               subject("ServiceAccount", "argocd-application-controller", "argocd")))
    for who in (Subject("Group", "sre"), Subject("Group", "system:masters"),
                Subject("ServiceAccount", "argocd-application-controller", "argocd")):
        row = report.subjects[who]
        assert set(row.cells) == {*POLICY.tiers, UNTIERED}
        assert all(cell.path_ids() == ALL_IDS for cell in row.cells.values())  # cluster-admin: every path
        assert not row.crosses and row.standing.tiers.every
    assert report.clean


def test_everyone_groups_cross_into_every_tier_they_reach() -> None:
    report = report_of(binding("shop-qa", "all", "ClusterRole", "secret-reader",
                               subject("Group", "system:authenticated"), subject("Group", "system:serviceaccounts")),
                       binding("tools", "all", "ClusterRole", "secret-reader",
                               subject("Group", "system:unauthenticated")))
    for name in ("system:authenticated", "system:serviceaccounts"):
        row = report.subjects[Subject("Group", name)]
        assert row.standing.describe(POLICY.tiers) == "everyone" and crossing(report, row.subject) == {"qa"}
    unauthenticated = report.subjects[Subject("Group", "system:unauthenticated")]
    assert set(unauthenticated.cells) == {UNTIERED} and not unauthenticated.crosses  # an untiered namespace


def test_an_untiered_person_is_listed_but_never_crosses() -> None:
    report = report_of(binding("shop-prod", "c", "ClusterRole", "debugger", subject("User", "bob@contractor.example")),
                       binding(None, "c", "ClusterRole", "debugger", subject("Group", "contractors")))
    bob = report.subjects[Subject("User", "bob@contractor.example")]
    assert paths(report, bob.subject, "prod") == ("exec",) and not bob.crosses
    assert bob.standing.describe(POLICY.tiers) == "untiered" and not bob.standing.tiered
    contractors = report.subjects[Subject("Group", "contractors")]
    assert set(contractors.cells) == {*POLICY.tiers, UNTIERED} and not contractors.crosses
    assert report.clean


def test_an_untiered_namespace_service_account_crosses_through_a_role_binding_only() -> None:
    """As rbac-cross-tier-subject refuses it: it belongs to no tier, so not to prod; cluster-wide it is a
    platform controller's (cert-manager), allowed."""
    backup_sa = subject("ServiceAccount", "backup", "tools")
    report = report_of(binding(None, "c", "ClusterRole", "secret-reader", backup_sa),
                       binding("shop-prod", "p", "ClusterRole", "debugger", backup_sa))
    backup = report.subjects[Subject("ServiceAccount", "backup", "tools")]
    assert backup.standing.describe(POLICY.tiers) == "untiered" and not backup.standing.tiered
    assert set(backup.cells) == {*POLICY.tiers, UNTIERED} and crossing(report, backup.subject) == {"prod"}
    assert [(grant.binding.name, grant.crosses) for grant in report.crossing] == [("p", ("prod",))]
    assert not report.clean


# --- roles: built-in, aggregated -------------------------------------------------------------------------------

def test_builtin_edit_reaches_and_view_does_not() -> None:
    report = report_of(binding("shop-prod", "e", "ClusterRole", "edit", subject("Group", "team-dev")),
                       binding("shop-prod", "v", "ClusterRole", "view", subject("Group", "team-qa")))
    assert "read-secrets" in (paths(report, Subject("Group", "team-dev"), "prod") or ())
    assert crossing(report, Subject("Group", "team-dev")) == {"prod"}
    assert Subject("Group", "team-qa") not in report.subjects
    assert report.unjudged == []  # built-in roles are known without a cluster


def test_an_aggregated_cluster_role_reaches_through_its_parts() -> None:
    aggregated = cluster_role("support", aggregate={"example.com/aggregate-to-support": "true"})
    part = cluster_role("support-exec", rule(["pods/attach", "pods/portforward"], ["create"]),
                        labels={"example.com/aggregate-to-support": "true"})
    report = report_of(aggregated, part, binding("shop-prod", "s", "ClusterRole", "support",
                                                 subject("Group", "team-dev")))
    assert paths(report, Subject("Group", "team-dev"), "prod") == ("attach", "portforward")


def test_a_role_aggregated_into_view_makes_view_reach() -> None:
    part = cluster_role("secret-view", rule(["secrets"], ["list"]),
                        labels={"rbac.authorization.k8s.io/aggregate-to-view": "true"})
    report = report_of(part, binding("shop-prod", "v", "ClusterRole", "view", subject("Group", "team-dev")))
    assert "read-secrets" in (paths(report, Subject("Group", "team-dev"), "prod") or ())


# --- ClusterRoleBindings, namespaces ----------------------------------------------------------------------------

def test_a_cluster_role_binding_reaches_every_column() -> None:
    report = report_of(binding(None, "ci", "ClusterRole", "secret-reader", subject("ServiceAccount", "ci", "shop-dev")))
    ci = report.subjects[Subject("ServiceAccount", "ci", "shop-dev")]
    assert set(ci.cells) == {*POLICY.tiers, UNTIERED}
    assert crossing(report, ci.subject) == {"qa", "stage", "prod"}  # not its own tier, not the untiered namespaces
    [grant] = report.grants
    assert grant.namespace is None and grant.where == "every namespace" and grant.crosses == ("qa", "stage", "prod")
    assert all(cell.every_namespace for cell in ci.cells.values())


def test_exempt_and_unknown_namespaces_are_untiered_and_namespace_tier_declares_one() -> None:
    bindings = [binding("kube-system", "k", "ClusterRole", "secret-reader", subject("Group", "team-dev")),
                binding("elsewhere", "e", "ClusterRole", "secret-reader", subject("Group", "team-dev"))]
    report = report_of(namespace("kube-system", "prod"), *bindings)
    cell = report.subjects[Subject("Group", "team-dev")].cells[UNTIERED]
    assert cell.namespaces() == ("elsewhere", "kube-system") and not cell.crosses
    declared = report_of(*bindings, namespace_labels={"elsewhere": {"tierguard.io/tier": "prod"}})
    assert crossing(declared, Subject("Group", "team-dev")) == {"prod"}


# --- what cannot be judged ----------------------------------------------------------------------------------------

def test_unknown_roles_and_malformed_bindings_are_unjudged_with_the_reason() -> None:
    report = report_of(binding("shop-prod", "gone", "Role", "missing", subject("Group", "team-dev")),
                       binding(None, "gone", "ClusterRole", "missing", subject("Group", "team-dev")),
                       binding("shop-prod", "bad", "ClusterRole", "secret-reader", {"kind": "Group"}),
                       binding(None, "sa", "ClusterRole", "secret-reader", subject("ServiceAccount", "ci")),
                       binding(None, "role", "Role", "secret-reader", subject("Group", "team-dev")))
    assert [(u.binding.name, u.reason) for u in report.unjudged] == [
        ("gone", "Role shop-prod/missing is unknown (not in the input or the cluster)"),
        ("gone", "ClusterRole missing is unknown (not in the input or the cluster)"),
        ("bad", "malformed: subjects[0].name: is required"),
        ("sa", "malformed: subjects[0].namespace: is required for a ServiceAccount of a ClusterRoleBinding"),
        ("role", "malformed: roleRef.kind: expected ClusterRole, got 'Role'"),
    ]
    assert report.subjects == {} and report.clean


def test_other_kinds_and_groups_are_context_only() -> None:
    volcano_like = {**binding("shop-prod", "x", "ClusterRole", "secret-reader", subject("Group", "team-dev")),
                    "apiVersion": "example.com/v1"}
    assert report_of(volcano_like).subjects == {}
