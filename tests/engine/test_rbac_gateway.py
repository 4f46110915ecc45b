"""rbac-cross-tier-subject and reference-grant-cross-tier."""

from __future__ import annotations

import pytest

from tierguard.engine.model import Rule

from .helpers import Case, Doc, decisions, ids

RB = Rule.RBAC_CROSS_TIER_SUBJECT.value
G = Rule.REFERENCE_GRANT_CROSS_TIER.value


def sa(ns: str | None, name: str = "ci") -> Doc:
    subject: Doc = {"kind": "ServiceAccount", "name": name}
    if ns is not None:
        subject["namespace"] = ns
    return subject


def group(name: str) -> Doc:
    return {"kind": "Group", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def user(name: str) -> Doc:
    return {"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def binding(role: str, *subjects: Doc, ns: str | None = "prod", role_kind: str = "ClusterRole") -> Doc:
    kind = "RoleBinding" if ns is not None else "ClusterRoleBinding"
    metadata: Doc = {"name": "grant"}
    if ns is not None:
        metadata["namespace"] = ns
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": list(subjects)}


def role(name: str, *rules: Doc, ns: str | None = "prod") -> Doc:
    metadata: Doc = {"name": name}
    if ns is not None:
        metadata["namespace"] = ns
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role" if ns is not None else "ClusterRole",
            "metadata": metadata, "rules": list(rules)}


def rule(resources: list[str], verbs: list[str], groups: list[str] | None = None) -> Doc:
    return {"apiGroups": [""] if groups is None else groups, "resources": resources, "verbs": verbs}


DENIED = {(RB, "prod/grant")}

RBAC_CASES = [
    Case("edit for a dev ServiceAccount", [binding("edit", sa("dev"))], DENIED),
    Case("admin for a dev ServiceAccount", [binding("admin", sa("dev"))], DENIED),
    Case("cluster-admin for a qa ServiceAccount", [binding("cluster-admin", sa("qa"))], DENIED),
    Case("view for a dev ServiceAccount", [binding("view", sa("dev"))]),
    Case("edit for a ServiceAccount of the same tier", [binding("edit", sa("prod-b"))]),
    Case("edit for a ServiceAccount of the binding's namespace", [binding("edit", sa(None))]),
    Case("edit for an untiered ServiceAccount", [binding("edit", sa("shared"))], DENIED),
    Case("edit for every ServiceAccount of dev", [binding("edit", group("system:serviceaccounts:dev"))], DENIED),
    Case("edit for every ServiceAccount of prod-b", [binding("edit", group("system:serviceaccounts:prod-b"))]),
    Case("edit for every ServiceAccount", [binding("edit", group("system:serviceaccounts"))], DENIED),
    Case("edit for every authenticated user", [binding("edit", group("system:authenticated"))], DENIED),
    Case("edit for anonymous users", [binding("edit", group("system:unauthenticated"))], DENIED),
    Case("view for every authenticated user", [binding("view", group("system:authenticated"))]),
    Case("edit for a dev ServiceAccount as a user name", [binding("edit", user("system:serviceaccount:dev:ci"))],
         DENIED),
    Case("edit for a person", [binding("edit", user("alice@example.com"))]),
    Case("edit for a team group", [binding("edit", group("developers"))]),
    Case("one bad subject among good ones", [binding("edit", sa("prod-b"), user("alice"), sa("dev"))], DENIED),
    Case("Role from the input reading secrets",
         [role("secret-reader", rule(["secrets"], ["get"])), binding("secret-reader", sa("dev"), role_kind="Role")],
         DENIED),
    Case("Role from the input with wildcards",
         [role("all", rule(["*"], ["*"], ["*"])), binding("all", sa("dev"), role_kind="Role")], DENIED),
    Case("Role from the input without secret access",
         [role("cm", rule(["configmaps"], ["get", "list"])), binding("cm", sa("dev"), role_kind="Role")]),
    Case("Role from the input that writes but cannot read secrets",
         [role("writer", rule(["secrets"], ["create", "update"])), binding("writer", sa("dev"), role_kind="Role")]),
    Case("secrets of another API group are not Secrets",
         [role("crd", rule(["secrets"], ["get"], ["example.com"])), binding("crd", sa("dev"), role_kind="Role")]),
    Case("a Role of another namespace is not this namespace's Role",
         [role("secret-reader", rule(["secrets"], ["get"]), ns="prod-b"),
          binding("secret-reader", sa("dev"), role_kind="Role")]),
    Case("a Role with odd entries in its rules (regression: crashed)",
         [role("odd", {"apiGroups": [""], "resources": ["secrets"], "verbs": [{"get": True}, ["list"], "watch"]}),
          binding("odd", sa("dev"), role_kind="Role")], DENIED),
    Case("custom ClusterRole reading secrets",
         [role("reader", rule(["secrets"], ["list"]), ns=None), binding("reader", sa("dev"))], DENIED),
    Case("an unknown role is not judged", [binding("mystery", sa("dev"))]),
    Case("ClusterRoleBinding of edit to a dev ServiceAccount", [binding("edit", sa("dev"), ns=None)],
         {(RB, "grant")}),
    Case("ClusterRoleBinding of edit to a prod ServiceAccount", [binding("edit", sa("prod"), ns=None)],
         {(RB, "grant")}),
    Case("ClusterRoleBinding of edit to a platform ServiceAccount (untiered)",
         [binding("edit", sa("shared"), ns=None)]),
    Case("ClusterRoleBinding of view to a dev ServiceAccount", [binding("view", sa("dev"), ns=None)]),
    Case("ClusterRoleBinding of cluster-admin to every authenticated user",
         [binding("cluster-admin", group("system:authenticated"), ns=None)], {(RB, "grant")}),
    Case("ClusterRoleBinding of cluster-admin to a person", [binding("cluster-admin", user("alice"), ns=None)]),
    Case("ClusterRoleBinding to every ServiceAccount of dev",
         [binding("edit", group("system:serviceaccounts:dev"), ns=None)], {(RB, "grant")}),
    Case("RoleBinding in an untiered namespace is not enforced", [binding("edit", sa("dev"), ns="shared")]),
]


def grant(ns: str, *sources: tuple[str, str], to_kind: str = "Secret", to_group: str = "") -> Doc:
    return {"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
            "metadata": {"name": "rg", "namespace": ns},
            "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": kind, "namespace": source}
                              for kind, source in sources],
                     "to": [{"group": to_group, "kind": to_kind}]}}


GATEWAY_CASES = [
    Case("dev Gateway may use prod Secrets", [grant("prod", ("Gateway", "dev"))], {(G, "prod/rg")}),
    Case("untiered Gateway may use prod Secrets", [grant("prod", ("Gateway", "shared"))], {(G, "prod/rg")}),
    Case("prod-b Gateway may use prod Secrets", [grant("prod", ("Gateway", "prod-b"))]),
    Case("one of several sources crosses", [grant("prod", ("Gateway", "prod-b"), ("HTTPRoute", "qa"))],
         {(G, "prod/rg")}),
    Case("dev Gateway may use prod Services", [grant("prod", ("HTTPRoute", "dev"), to_kind="Service")]),
    Case("Secret of the core group spelled 'core'", [grant("prod", ("Gateway", "dev"), to_group="core")],
         {(G, "prod/rg")}),
    Case("a Secret kind of another group", [grant("prod", ("Gateway", "dev"), to_group="example.com")]),
    Case("a grant in an untiered namespace", [grant("shared", ("Gateway", "dev"))]),
]

CASES = RBAC_CASES + GATEWAY_CASES


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_rbac_and_gateway(case: Case) -> None:
    assert case.run() == case.expected


def test_rbac_message_names_subject_and_tiers() -> None:
    docs = [*Case("", []).docs, binding("edit", sa("dev"))]
    (violation,) = dict(decisions(docs))["prod/grant"].violations
    assert violation.path == "subjects[0]"
    assert violation.message == (
        "RoleBinding prod/grant (tier prod) lets ServiceAccount dev/ci (tier dev) reach its Secrets: can read "
        "Secrets in prod (ClusterRole edit, and 7 more paths); bind only subjects of tier prod")


def test_grant_message_names_both_namespaces() -> None:
    docs = [*Case("", []).docs, grant("prod", ("Gateway", "dev"))]
    (violation,) = dict(decisions(docs))["prod/rg"].violations
    assert violation.path == "spec.from[0].namespace"
    assert "Gateway in namespace dev (tier dev)" in violation.message and "prod (tier prod)" in violation.message
