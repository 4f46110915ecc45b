"""Aggregated ClusterRoles judged as the aggregation controller fills them (issue 10, item 9): offline from the
input's ClusterRoles whose labels match the ``aggregationRule`` selectors (and the built-in admin/edit/view chain),
live from the index of ClusterRole labels."""

from __future__ import annotations

import pytest

from tierguard.engine.model import Rule

from .helpers import Case, Doc, ids

B = Rule.RBAC_CROSS_TIER_SUBJECT.value
SECRETS = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
PODS = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def cluster_role(name: str, rules: list[Doc] | None = None, labels: dict[str, str] | None = None,
                 selectors: list[Doc] | None = None) -> Doc:
    doc: Doc = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": name, "labels": labels or {}}}
    if selectors is not None:
        doc["aggregationRule"] = {"clusterRoleSelectors": selectors}
        doc["rules"] = []  # the controller fills these
    else:
        doc["rules"] = rules or []
    return doc


def binding(role: str, ns: str = "prod", subject_ns: str = "dev") -> Doc:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "grant", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": subject_ns}]}


MONITORING = cluster_role("monitoring", selectors=[{"matchLabels": {"example.com/aggregate-to-monitoring": "true"}}])
READS_SECRETS = cluster_role("secret-reader", SECRETS, {"example.com/aggregate-to-monitoring": "true"})
READS_PODS = cluster_role("pod-reader", PODS, {"example.com/aggregate-to-monitoring": "true"})

CASES = [
    Case("binding the aggregated role of a Secret reader", [MONITORING, READS_SECRETS, binding("monitoring")],
         {(B, "prod/grant")}),
    Case("binding the part directly", [READS_SECRETS, binding("secret-reader")], {(B, "prod/grant")}),
    Case("an aggregated role of pod readers only", [MONITORING, READS_PODS, binding("monitoring")]),
    Case("matchExpressions selectors",
         [cluster_role("agg", selectors=[{"matchExpressions": [{"key": "team", "operator": "In",
                                                                 "values": ["a", "b"]}]}]),
          cluster_role("part", SECRETS, {"team": "b"}), binding("agg")], {(B, "prod/grant")}),
    Case("a selector matching nothing", [cluster_role("agg", selectors=[{"matchLabels": {"x": "y"}}]),
                                         READS_SECRETS, binding("agg")]),
    Case("aggregation through an aggregated role (transitive)",
         [cluster_role("outer", selectors=[{"matchLabels": {"layer": "inner"}}]),
          cluster_role("inner", labels={"layer": "inner"}, selectors=[{"matchLabels": {"layer": "leaf"}}]),
          cluster_role("leaf", SECRETS, {"layer": "leaf"}), binding("outer")], {(B, "prod/grant")}),
    Case("aggregation cycles end", [cluster_role("a", labels={"l": "b"}, selectors=[{"matchLabels": {"l": "a"}}]),
                                    cluster_role("b", labels={"l": "a"}, selectors=[{"matchLabels": {"l": "b"}}]),
                                    binding("a")]),
    Case("built-in view with a Secret-reading part aggregated to it",
         [cluster_role("extra-view", SECRETS, {AGGREGATE + "view": "true"}), binding("view")], {(B, "prod/grant")}),
    Case("built-in view alone does not read Secrets", [binding("view")]),
    Case("built-in view with a pod-reading part", [cluster_role("extra-view", PODS, {AGGREGATE + "view": "true"}),
                                                    binding("view")]),
    Case("a part aggregated to view also reaches edit and admin",
         [cluster_role("extra-view", SECRETS, {AGGREGATE + "view": "true"}), binding("edit"),
          {**binding("admin"), "metadata": {"name": "grant-admin", "namespace": "prod"}}],
         {(B, "prod/grant"), (B, "prod/grant-admin")}),
    Case("an aggregated role of the same tier's subject", [MONITORING, READS_SECRETS,
                                                           binding("monitoring", subject_ns="prod-b")]),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_aggregated_cluster_roles(case: Case) -> None:
    assert case.run() == case.expected
