"""``tierguard access`` marks exactly what ``rbac-cross-tier-subject`` refuses: for every kind of subject, bound by a
RoleBinding in a namespace of each kind (tiered, untiered, exempt) or by a ClusterRoleBinding, a reach crosses
tiers in the matrix if and only if admission refuses that binding for that subject."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.helpers import STANDARD, decisions, namespace, policy
from tierguard.access import UNTIERED, access_report
from tierguard.engine.model import Rule

from .test_access import binding, cluster_role, rule, subject

PEOPLE = policy({"subjects": {
    "perTier": {"dev": {"groups": ["team-*-dev"], "users": ["dana@example.com", "omni@example.com"]},
                "qa": {"users": ["quinn@example.com", "omni@example.com"]},
                "stage": {"users": ["omni@example.com"]},
                "prod": {"groups": ["team-*-prod"], "users": ["quinn@example.com", "omni@example.com"]}},
    "platform": {"groups": ["sre"], "users": ["system:serviceaccount:argocd:application-controller"]},
}})
"""dev and prod teams by group glob, quinn in qa and prod, omni in every tier by ``perTier``, the platform."""

SUBJECTS: dict[str, dict[str, Any]] = {
    "sa-dev": subject("ServiceAccount", "ci", "dev"),
    "sa-prod-b": subject("ServiceAccount", "ci", "prod-b"),
    "sa-untiered": subject("ServiceAccount", "ci", "shared"),
    "sa-exempt": subject("ServiceAccount", "ci", "kube-system"),
    "sa-own-namespace": subject("ServiceAccount", "ci"),
    "sa-platform": subject("ServiceAccount", "application-controller", "argocd"),
    "sa-user-dev": subject("User", "system:serviceaccount:dev:deployer"),
    "sa-user-untiered": subject("User", "system:serviceaccount:shared:deployer"),
    "sa-group-dev": subject("Group", "system:serviceaccounts:dev"),
    "sa-group-untiered": subject("Group", "system:serviceaccounts:shared"),
    "group-dev": subject("Group", "team-payments-dev"),
    "group-prod": subject("Group", "team-payments-prod"),
    "user-dev": subject("User", "dana@example.com"),
    "user-qa-prod": subject("User", "quinn@example.com"),
    "user-every-tier": subject("User", "omni@example.com"),
    "person-untiered": subject("User", "bob@contractor.example"),
    "group-untiered": subject("Group", "contractors"),
    "platform-group": subject("Group", "sre"),
    "masters": subject("Group", "system:masters"),
    "authenticated": subject("Group", "system:authenticated"),
    "serviceaccounts": subject("Group", "system:serviceaccounts"),
    "unauthenticated": subject("Group", "system:unauthenticated"),
    "unknown-kind": subject("Robot", "r2"),
}
WHERE: dict[str, str | None] = {"dev": "dev", "prod": "prod", "untiered": "shared", "exempt": "kube-system",
                                "cluster": None}
"""Where each binding is: a RoleBinding's namespace, or None for a ClusterRoleBinding."""
NAMESPACES = [*STANDARD, namespace("kube-system", "prod"), namespace("argocd")]
CREATOR = cluster_role("creator", rule(["pods"], ["create"]))
BINDINGS = [binding(ns, f"{who}.{where}", "ClusterRole", "creator", entry)
            for who, entry in SUBJECTS.items() for where, ns in WHERE.items()]


def refused_by_rule() -> set[str]:
    docs = [*NAMESPACES, CREATOR, *BINDINGS]
    return {ref.rpartition("/")[2] for ref, decision in decisions(docs, PEOPLE)
            if any(v.rule is Rule.RBAC_CROSS_TIER_SUBJECT for v in decision.violations)}


def crossing_in_access() -> set[str]:
    report = access_report([(doc, "all.yaml") for doc in [*NAMESPACES, CREATOR, *BINDINGS]], PEOPLE)
    return {grant.binding.name for grant in report.crossing}


def test_the_access_matrix_marks_exactly_what_the_rule_refuses() -> None:
    refused = refused_by_rule()
    assert refused == crossing_in_access()
    # Not vacuous: both sides of each kind of subject are in the table.
    assert {"sa-untiered.prod", "sa-user-untiered.dev", "sa-group-untiered.prod", "group-dev.prod",
            "user-qa-prod.dev", "authenticated.prod", "authenticated.cluster", "sa-dev.cluster"} <= refused
    assert not {"sa-untiered.cluster", "person-untiered.prod", "group-untiered.cluster", "sa-exempt.prod",
                "sa-own-namespace.prod", "sa-platform.cluster", "user-every-tier.cluster", "masters.cluster",
                "group-prod.prod", "sa-dev.untiered", "authenticated.exempt", "unknown-kind.prod"} & refused


@pytest.mark.parametrize("who", ["sa-untiered", "sa-user-untiered", "sa-group-untiered"])
def test_a_service_account_of_an_untiered_namespace_crosses_through_a_role_binding_only(who: str) -> None:
    report = access_report([(doc, "all.yaml") for doc in [*NAMESPACES, CREATOR, *BINDINGS]], PEOPLE)
    grants = {grant.binding.name: grant for grant in report.grants if grant.binding.name.startswith(f"{who}.")}
    assert grants[f"{who}.prod"].crosses == ("prod",) and grants[f"{who}.dev"].crosses == ("dev",)
    assert grants[f"{who}.cluster"].crosses == () and grants[f"{who}.untiered"].crosses == ()
    row = report.subjects[grants[f"{who}.prod"].subject]
    assert row.standing.describe(PEOPLE.tiers) == UNTIERED and not row.standing.tiered
    assert {column for column, cell in row.cells.items() if cell.crosses} == {"dev", "prod"}

