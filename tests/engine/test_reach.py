"""engine/reach.py: every path to a namespace's secret material that RBAC rules grant (SPEC "Reach")."""

from __future__ import annotations

from typing import Any

import pytest

from tierguard.engine.reach import reach_of


def rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


@pytest.mark.parametrize(("granted", "path", "phrase"), [
    (rule([""], ["secrets"], ["list"]), "read-secrets", "can read Secrets in prod"),
    (rule([""], ["pods"], ["create"]), "create-pods", "can create pods in prod, which mounts its Secrets"),
    (rule([""], ["pods"], ["patch"]), "create-pods", "can patch pods in prod, which mounts its Secrets"),
    (rule(["apps"], ["deployments"], ["update"]), "create-workloads",
     "can update deployments.apps in prod, whose pods mount its Secrets"),
    (rule(["batch"], ["cronjobs"], ["create"]), "create-workloads",
     "can create cronjobs.batch in prod, whose pods mount its Secrets"),
    (rule([""], ["replicationcontrollers"], ["create"]), "create-workloads",
     "can create replicationcontrollers in prod, whose pods mount its Secrets"),
    (rule([""], ["pods/exec"], ["create"]), "exec",
     "can create pods/exec in prod, which reads its pods' mounted Secrets"),
    (rule([""], ["pods/attach"], ["create"]), "attach",
     "can create pods/attach in prod, which reads its pods' mounted Secrets"),
    (rule([""], ["pods/portforward"], ["create"]), "portforward",
     "can create pods/portforward in prod, which opens its pods' ports to the caller"),
    (rule([""], ["pods/ephemeralcontainers"], ["update"]), "ephemeral-containers",
     "can update pods/ephemeralcontainers in prod, whose debug container mounts its Secrets"),
    (rule([""], ["serviceaccounts/token"], ["create"]), "serviceaccount-token",
     "can create serviceaccounts/token in prod, which acts as its ServiceAccounts"),
    (rule([""], ["serviceaccounts"], ["impersonate"]), "impersonate",
     "can impersonate serviceaccounts in prod, which acts as other subjects"),
    (rule([""], ["groups"], ["impersonate"]), "impersonate",
     "can impersonate groups in prod, which acts as other subjects"),
    (rule(["rbac.authorization.k8s.io"], ["clusterroles"], ["bind"]), "bind",
     "can bind clusterroles.rbac.authorization.k8s.io in prod, which grants any role"),
    (rule(["rbac.authorization.k8s.io"], ["roles"], ["escalate"]), "escalate",
     "can escalate roles.rbac.authorization.k8s.io in prod, which grants any permission"),
])
def test_each_path_is_found_and_named(granted: dict[str, Any], path: str, phrase: str) -> None:
    found = reach_of([granted])
    assert [r.path.id for r in found] == [path]
    assert found[0].phrase("prod") == phrase


@pytest.mark.parametrize("granted", [
    rule([""], ["configmaps", "pods", "services"], ["get", "list", "watch"]),   # view
    rule([""], ["pods/log"], ["get"]),
    rule(["apps"], ["deployments/scale"], ["update"]),
    rule(["apps"], ["secrets"], ["get"]),             # no Secrets in that group
    rule([""], ["pods/exec"], ["get"]),              # exec needs create
    rule([""], ["serviceaccounts"], ["create"]),
    {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
    {"apiGroups": "", "resources": ["secrets"], "verbs": ["get"]},  # malformed: not a list
])
def test_what_reaches_no_secret_material(granted: dict[str, Any]) -> None:
    assert reach_of([granted]) == ()


def test_wildcards_count_and_are_shown_as_written() -> None:
    everything = reach_of([rule(["*"], ["*"], ["*"])])
    assert everything[0].path.id == "read-secrets"
    assert {r.path.id for r in everything} >= {"create-pods", "exec", "impersonate", "bind", "escalate"}
    sub = reach_of([rule([""], ["pods/*"], ["create"])])
    assert [(r.path.id, r.resource) for r in sub] == [(p, "pods/*") for p in ("exec", "attach", "portforward")]
    assert reach_of([rule([""], ["*/exec"], ["create"])])[0].phrase("qa").startswith("can create */exec in qa")
    assert reach_of([rule([""], ["secrets"], ["*"])])[0].path.id == "read-secrets"


def test_one_reach_per_path_in_the_order_messages_name_them() -> None:
    found = reach_of([rule([""], ["pods/exec"], ["create"]), rule([""], ["secrets"], ["watch"]),
                      rule([""], ["secrets"], ["get"])])
    assert [(r.path.id, r.verb) for r in found] == [("read-secrets", "watch"), ("exec", "create")]
