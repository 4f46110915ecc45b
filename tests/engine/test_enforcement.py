"""Enforcement: per-tier modes and the default, exempt and untiered namespaces, break-glass."""

from __future__ import annotations

from typing import Any

import pytest

from tierguard.engine import EvaluationRequest, UserInfo, evaluate
from tierguard.engine.model import Action, Decision, Rule
from tierguard.policy import DEFAULT_POLICY, TierPolicy

from .helpers import STANDARD, Doc, context_of, decisions, namespace, policy, secret

MIRROR_ANNOTATION = {"reflector.v1.k8s.emberstack.com/reflects": "shared/db"}  # untiered: crosses from every tier


def mirror(ns: str = "dev", **annotations: str) -> Doc:
    return secret(ns, "db", {"user": "app"}, annotations={**MIRROR_ANNOTATION, **annotations})


def judge(doc: Doc, pol: TierPolicy = DEFAULT_POLICY, *, user: UserInfo | None = None,
          extra: list[Doc] | None = None, **kwargs: Any) -> Decision:
    docs = [*STANDARD, *(extra or []), doc]
    return evaluate(EvaluationRequest(doc, user=user), context_of(docs, pol=pol), pol, **kwargs)


def actions(decision: Decision) -> list[tuple[str, str]]:
    return [(v.rule.value, v.action.value) for v in decision.violations]


R = "secret-replication-cross-tier"


@pytest.mark.parametrize(
    ("spec", "ns", "expected"),
    [
        ({}, "dev", "deny"),
        ({"default": "enforce"}, "dev", "deny"),
        ({"default": "warn"}, "dev", "warn"),
        ({"default": "audit"}, "dev", "audit"),
        ({"perTier": {"dev": "warn"}}, "dev", "warn"),
        ({"perTier": {"dev": "warn"}}, "qa", "deny"),
        ({"perTier": {"dev": "audit"}}, "dev", "audit"),
        ({"default": "warn", "perTier": {"prod": "enforce"}}, "prod", "deny"),
        ({"default": "warn", "perTier": {"prod": "enforce"}}, "stage", "warn"),
    ],
)
def test_modes(spec: dict[str, Any], ns: str, expected: str) -> None:
    decision = judge(mirror(ns), policy({"enforcement": spec}))
    assert actions(decision) == [(R, expected)]
    assert decision.allowed is (expected != "deny")
    assert len(decision.warnings) == (expected == "warn") and len(decision.audits) == (expected == "audit")


def test_cluster_scoped_findings_take_the_tier_they_concern() -> None:
    """A PV's finding takes its claim's tier; a ClusterRoleBinding's its subject's."""
    pol = policy({"enforcement": {"perTier": {"dev": "warn", "qa": "audit"}}})
    volume = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv"},
              "spec": {"claimRef": {"namespace": "dev", "name": "c"},
                       "csi": {"driver": "d", "volumeHandle": "h",
                               "nodeStageSecretRef": {"name": "s", "namespace": "prod"}}}}
    crb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "crb"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
           "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "qa"}]}
    assert actions(judge(volume, pol)) == [("volume-secret-cross-tier", "warn")]
    assert actions(judge(crb, pol)) == [("rbac-cross-tier-subject", "audit")]


def test_policy_invalid_is_denied_even_in_warn_mode() -> None:
    broken = {**secret("dev", "db"), "data": {"password": "not base64!"}}
    decision = judge(broken, policy({"enforcement": {"default": "audit"}}))
    assert actions(decision) == [("policy-invalid", "deny")]


@pytest.mark.parametrize(
    ("exempt", "ns", "is_exempt"),
    [
        (None, "kube-system", True),
        (None, "kube-public", True),
        (None, "kube-node-lease", True),
        (None, "dev", False),
        (["team-*"], "team-a", True),
        (["team-*"], "kube-system", False),  # the list replaces the defaults
        (["kube-*"], "kube-system", True),
        (["dev-?"], "dev-b", True),
        (["dev-??"], "dev-b", False),
        (["[dq]*"], "qa", True),
        ([], "kube-system", False),
    ],
)
def test_exempt_namespaces(exempt: list[str] | None, ns: str, is_exempt: bool) -> None:
    pol = policy({} if exempt is None else {"exemptions": {"namespaces": exempt}})
    extra = [namespace(ns, "dev")] if ns not in {n["metadata"]["name"] for n in STANDARD} else []
    decision = judge(mirror(ns), pol, extra=extra)
    if is_exempt:
        assert decision.violations == () and decision.skipped == f"namespace {ns} is exempt"
    else:
        assert actions(decision) == [(R, "deny")]


def test_own_namespace_is_always_exempt() -> None:
    decision = judge(mirror("dev"), own_namespace="dev")
    assert decision.violations == () and decision.skipped


def test_exempt_namespace_object_is_not_judged() -> None:
    decision = judge(namespace("kube-system", "prd"))
    assert decision.violations == () and decision.skipped


@pytest.mark.parametrize("ns", ["shared", "unknown-namespace", "typo"])
def test_untiered_namespaces_are_not_enforced(ns: str) -> None:
    decision = judge(mirror(ns), extra=[namespace("typo", "prd")])
    assert decision.violations == ()
    assert decision.skipped == f"namespace {ns} is untiered"


BREAK_GLASS = policy({"exemptions": {"breakGlass": {"groups": ["sre", "platform-admins"]}}})
SRE = UserInfo(username="alice", groups=("system:authenticated", "sre"))
DEVELOPER = UserInfo(username="bob", groups=("system:authenticated", "developers"))
REASON = {"tierguard.io/break-glass": "INC-1234 restore prod database"}


def test_break_glass_turns_denials_into_warnings_for_members() -> None:
    decision = judge(mirror(**REASON), BREAK_GLASS, user=SRE)
    assert actions(decision) == [(R, "warn")]
    assert decision.allowed and decision.break_glass == "INC-1234 restore prod database"
    assert "admitted by break-glass: INC-1234 restore prod database" in decision.violations[0].message


@pytest.mark.parametrize(
    ("pol", "user", "annotations"),
    [
        (BREAK_GLASS, DEVELOPER, REASON),  # not in a break-glass group
        (BREAK_GLASS, None, REASON),  # no user (e.g. the CLI)
        (BREAK_GLASS, UserInfo("alice", ()), REASON),
        (BREAK_GLASS, SRE, {}),  # no reason given
        (BREAK_GLASS, SRE, {"tierguard.io/break-glass": "   "}),  # a blank reason
        (BREAK_GLASS, SRE, {"example.com/break-glass": "INC-1"}),  # another annotation
        (DEFAULT_POLICY, SRE, REASON),  # break-glass disabled: no groups
        (DEFAULT_POLICY, UserInfo("root", ("system:masters",)), REASON),
    ],
)
def test_break_glass_not_honoured(pol: TierPolicy, user: UserInfo | None, annotations: dict[str, str]) -> None:
    decision = judge(mirror(**annotations), pol, user=user)
    assert actions(decision) == [(R, "deny")] and decision.break_glass is None


def test_break_glass_custom_annotation() -> None:
    pol = policy({"exemptions": {"breakGlass": {"annotation": "example.com/emergency", "groups": ["sre"]}}})
    assert actions(judge(mirror(**{"example.com/emergency": "INC-1"}), pol, user=SRE)) == [(R, "warn")]
    assert actions(judge(mirror(**REASON), pol, user=SRE)) == [(R, "deny")]


def test_break_glass_never_admits_policy_invalid() -> None:
    broken = {**secret("dev", "db", annotations=REASON), "data": {"password": "###"}}
    decision = judge(broken, BREAK_GLASS, user=SRE)
    assert actions(decision) == [("policy-invalid", "deny")] and not decision.allowed


def test_break_glass_leaves_warnings_and_audits_alone() -> None:
    pol = policy({"enforcement": {"perTier": {"dev": "audit"}},
                  "exemptions": {"breakGlass": {"groups": ["sre"]}}})
    decision = judge(mirror(**REASON), pol, user=SRE)
    assert actions(decision) == [(R, "audit")] and decision.break_glass is None


def test_break_glass_from_admission_request_user() -> None:
    request = EvaluationRequest.from_admission_request({
        "uid": "1", "operation": "CREATE", "namespace": "dev", "object": mirror(**REASON),
        "userInfo": {"username": "alice", "groups": ["sre"]},
    })
    decision = evaluate(request, context_of(STANDARD), BREAK_GLASS)
    assert actions(decision) == [(R, "warn")]


def test_every_decision_of_a_clean_input_is_allowed() -> None:
    assert all(d.allowed and not d.violations for _, d in decisions([*STANDARD, secret("dev", "db", {"a": "b"})]))


def test_rule_enum_matches_spec_table() -> None:
    assert {rule.value for rule in Rule} == {
        "namespace-tier-unknown", "namespace-tier-changed", "secret-replication-cross-tier", "secret-value-shared",
        "workload-secret-cross-tier", "volume-secret-cross-tier", "reference-grant-cross-tier",
        "rbac-cross-tier-subject", "sidecar-missing", "sidecar-injection-disabled", "namespace-tier-assignment",
        "session-cross-tier", "namespace-security-missing",
        "policy-invalid",
    }
    assert {a.value for a in Action} == {"deny", "warn", "audit"}
