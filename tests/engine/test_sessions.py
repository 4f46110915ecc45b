"""session-cross-tier: exec, attach and port-forward (CONNECT) and added ephemeral containers, judged by the
requester's tiers against the pod's; break-glass by group.

The requests are built as the API server sends them (``EvaluationRequest.from_admission_request`` of a review's
``request``): for a CONNECT, ``kind`` and ``object`` are the options (k8s.io/apiserver's ConnectResource admits
``PodExecOptions`` etc., versioned with their kind set), ``name`` and ``namespace`` name the pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tierguard.engine import EvaluationRequest, OfflineContext, evaluate
from tierguard.engine.candidate import Candidate
from tierguard.engine.evaluation import BREAK_GLASS_BY_GROUP, candidate_for, families_for
from tierguard.engine.model import Action, Decision, Malformed, Rule
from tierguard.engine.rules import sessions
from tierguard.policy import TierPolicy

from .helpers import STANDARD, Doc, context_of, namespace, pod_spec, policy, workload

S = Rule.SESSION_CROSS_TIER
SUBJECTS = {
    "perTier": {"dev": {"groups": ["team-*-dev"]}, "prod": {"groups": ["team-*-prod"], "users": ["ana@example.com"]},
                "qa": {"users": ["quinn@example.com"]}},
    "platform": {"groups": ["sre"]},
}
POLICY = policy({"subjects": SUBJECTS})
GLASS = policy({"subjects": SUBJECTS, "exemptions": {"breakGlass": {"groups": ["oncall"]}}})
OWN = "tierguard-system"
NAMESPACES = [*STANDARD, namespace("kube-system"), namespace(OWN)]
BOB = ("bob", ("team-payments-dev", "system:authenticated"))
"""A dev person: the user names no tier, his group does."""

OPTIONS = {
    "exec": {"apiVersion": "v1", "kind": "PodExecOptions", "stdin": True, "stdout": True, "tty": True,
             "container": "app", "command": ["sh"]},
    "attach": {"apiVersion": "v1", "kind": "PodAttachOptions", "stdin": True, "stdout": True, "container": "app"},
    "portforward": {"apiVersion": "v1", "kind": "PodPortForwardOptions", "ports": [5432]},
}


def request_of(review_request: Mapping[str, Any]) -> EvaluationRequest:
    return EvaluationRequest.from_admission_request(dict(review_request))  # type: ignore[arg-type]


def connect(verb: str, ns: str, pod: str = "api", user: tuple[str, tuple[str, ...]] = BOB,
            body: Any = None) -> EvaluationRequest:
    """The ``request`` of the review the API server sends for ``kubectl exec|attach|port-forward``."""
    options = OPTIONS[verb] if body is None else body
    return request_of({
        "uid": "u-1", "kind": {"group": "", "version": "v1", "kind": OPTIONS[verb]["kind"]},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "subResource": verb,
        "name": pod, "namespace": ns, "operation": "CONNECT",
        "userInfo": {"username": user[0], "groups": list(user[1])}, "object": options, "oldObject": None,
    })


def debug_pod(ns: str, *ephemeral: str, annotations: Mapping[str, str] | None = None,
              env: list[Doc] | None = None) -> Doc:
    doc = workload("Pod", ns, "api", pod_spec(), annotations=annotations)
    doc["spec"]["ephemeralContainers"] = [
        {"name": name, "image": "busybox", "targetContainerName": "app", **({"env": env} if env else {})}
        for name in ephemeral]
    return doc


def ephemeral(ns: str, old: tuple[str, ...], new: tuple[str, ...], user: tuple[str, tuple[str, ...]] = BOB,
              **kwargs: Any) -> EvaluationRequest:
    """The UPDATE of ``pods/ephemeralcontainers`` that ``kubectl debug`` sends: the whole Pod, old and new."""
    return request_of({
        "uid": "u-2", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "subResource": "ephemeralcontainers",
        "name": "api", "namespace": ns, "operation": "UPDATE",
        "userInfo": {"username": user[0], "groups": list(user[1])},
        "object": debug_pod(ns, *new, **kwargs), "oldObject": debug_pod(ns, *old, **kwargs),
    })


OWN_NAMESPACE = OWN


def context_for(pol: TierPolicy) -> OfflineContext:
    """The namespaces every row runs with (``test_rule_coverage`` and ``test_families`` read rows with it)."""
    return context_of(NAMESPACES, pol=pol)


def judge(request: EvaluationRequest, pol: TierPolicy = POLICY) -> Decision:
    return evaluate(request, context_for(pol), pol, own_namespace=OWN)


def rules(decision: Decision) -> set[Rule]:
    return {violation.rule for violation in decision.denials}


@dataclass
class SessionCase:
    """One row: the request gives exactly ``expected`` denials (``test_rule_coverage`` counts the deny rows)."""

    id: str
    request: EvaluationRequest
    expected: set[Rule] = field(default_factory=set)
    policy: TierPolicy = POLICY

    def __repr__(self) -> str:
        return self.id


SA = "system:serviceaccount:"
CASES = [
    # Each verb, into a pod of another tier: refused.
    SessionCase("exec into prod by a dev person", connect("exec", "prod"), {S}),
    SessionCase("attach to prod by a dev person", connect("attach", "prod"), {S}),
    SessionCase("port-forward to prod by a dev person", connect("portforward", "prod"), {S}),
    SessionCase("exec into qa by a dev person", connect("exec", "qa"), {S}),
    SessionCase("exec into prod by a qa user", connect("exec", "prod", user=("quinn@example.com", ())), {S}),
    SessionCase("exec into prod by a ServiceAccount of dev", connect("exec", "prod", user=(f"{SA}dev:ci", ())), {S}),
    # Same tier: allowed.
    SessionCase("exec into dev by a dev person", connect("exec", "dev")),
    SessionCase("exec into dev-b (tier dev) by a dev person", connect("exec", "dev-b")),
    SessionCase("port-forward to dev by a dev person", connect("portforward", "dev")),
    SessionCase("exec into prod by a prod user", connect("exec", "prod", user=("ana@example.com", ()))),
    SessionCase("exec into prod by a ServiceAccount of prod-b", connect("exec", "prod", user=(f"{SA}prod-b:ci", ()))),
    SessionCase("exec into prod by someone of dev and prod",
                connect("exec", "prod", user=("eve", ("team-a-dev", "team-a-prod")))),
    # Every tier: platform, system:masters, exempt ServiceAccounts (tierguard's own namespace included).
    SessionCase("exec into prod by a platform group", connect("exec", "prod", user=("sam", ("sre",)))),
    SessionCase("exec into prod by system:masters", connect("exec", "prod", user=("kubernetes-admin",
                                                                                  ("system:masters",)))),
    SessionCase("exec into prod by a ServiceAccount of kube-system",
                connect("exec", "prod", user=(f"{SA}kube-system:debugger", ()))),
    SessionCase("exec into prod by a ServiceAccount of tierguard's namespace",
                connect("exec", "prod", user=(f"{SA}{OWN}:tierguard", ()))),
    # Not judged: an untiered requester, an untiered or exempt pod namespace.
    SessionCase("exec into prod by an untiered person",
                connect("exec", "prod", user=("carol", ("contractors", "system:authenticated")))),
    SessionCase("exec into prod by a ServiceAccount of an untiered namespace",
                connect("exec", "prod", user=(f"{SA}shared:ci", ()))),
    SessionCase("exec into an untiered namespace by a dev person", connect("exec", "shared")),
    SessionCase("exec into kube-system by a dev person", connect("exec", "kube-system")),
    # Ephemeral containers: judged when the update adds one.
    SessionCase("debug container added in prod by a dev person", ephemeral("prod", (), ("debugger",)), {S}),
    SessionCase("second debug container added in prod by a dev person",
                ephemeral("prod", ("debugger",), ("debugger", "debugger-2")), {S}),
    SessionCase("debug containers unchanged in prod", ephemeral("prod", ("debugger",), ("debugger",))),
    SessionCase("debug container added in dev by a dev person", ephemeral("dev", (), ("debugger",))),
    SessionCase("debug container added in prod by a platform group",
                ephemeral("prod", (), ("debugger",), user=("sam", ("sre",)))),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_sessions(case: SessionCase) -> None:
    decision = judge(case.request, case.policy)
    assert rules(decision) == case.expected
    assert decision.allowed is (not case.expected)


def test_the_message_names_the_action_the_pod_its_tier_and_the_requester() -> None:
    (violation,) = judge(connect("exec", "prod", body={**OPTIONS["exec"], "container": ""})).violations
    assert violation.message == ("exec into Pod prod/api (tier prod) by user bob (tier dev): a subject may open "
                                 "sessions only into pods of its own tiers")
    assert violation.path == "request.userInfo" and violation.action is Action.DENY


@pytest.mark.parametrize(("verb", "opening"), [
    ("exec", "exec into container app of Pod prod/api (tier prod)"),
    ("attach", "attach to container app of Pod prod/api (tier prod)"),
    ("portforward", "port-forward to Pod prod/api (tier prod)"),
])
def test_each_verb_is_named(verb: str, opening: str) -> None:
    (violation,) = judge(connect(verb, "prod")).violations
    assert violation.message.startswith(opening + " by user bob (tier dev): ")


def test_every_tier_of_the_requester_is_named() -> None:
    user = ("quinn@example.com", ("team-x-dev",))
    (violation,) = judge(connect("exec", "prod", user=user)).violations
    assert "by user quinn@example.com (tiers dev, qa):" in violation.message


def test_an_added_ephemeral_container_is_named_with_its_path() -> None:
    (violation,) = judge(ephemeral("prod", ("old",), ("old", "debugger-x"))).violations
    assert violation.message.startswith("adding ephemeral container debugger-x to Pod prod/api (tier prod) by "
                                        "user bob (tier dev): ")
    assert violation.path == "spec.ephemeralContainers[1]"


def test_a_connect_candidate_is_the_pod_the_request_names() -> None:
    request = connect("exec", "prod", pod="api-7d9f")
    candidate = candidate_for(request, context_of(NAMESPACES, pol=POLICY), POLICY)
    assert isinstance(candidate, Candidate)
    assert str(candidate.ref) == "Pod prod/api-7d9f" and candidate.tier == "prod"
    assert str(request.ref()) == "Pod prod/api-7d9f"


def test_a_connect_is_judged_by_the_session_rule_only() -> None:
    """The options body is not a Pod: the workload and sidecar rules never see it (no policy-invalid)."""
    decision = judge(connect("exec", "prod", user=("ana@example.com", ())))
    assert decision.violations == () and decision.skipped is None
    for kind in ("PodExecOptions", "PodAttachOptions", "PodPortForwardOptions"):
        assert families_for("v1", kind) == (sessions.FAMILY,)
    assert sessions.FAMILY in families_for("v1", "Pod")  # pods/ephemeralcontainers: the Pod itself


def test_the_untiered_and_exempt_pod_namespaces_are_skipped() -> None:
    assert judge(connect("exec", "shared")).skipped == "namespace shared is untiered"
    assert judge(connect("exec", "kube-system")).skipped == "namespace kube-system is exempt"
    assert judge(connect("exec", OWN)).skipped == f"namespace {OWN} is exempt"


def test_without_a_user_nothing_is_judged() -> None:
    """``tierguard check`` has no requester: a Pod carrying ephemeral containers is judged as any Pod."""
    request = ephemeral("prod", (), ("debugger",))
    request.user = None
    assert judge(request).violations == ()


def test_a_plain_pod_update_is_not_a_session() -> None:
    request = ephemeral("prod", (), ("debugger",))
    request.subresource = ""
    assert judge(request).violations == ()


@pytest.mark.parametrize(("mode", "action"), [("warn", Action.WARN), ("audit", Action.AUDIT)])
def test_the_pods_tier_chooses_the_mode(mode: str, action: Action) -> None:
    pol = policy({"subjects": SUBJECTS, "enforcement": {"perTier": {"prod": mode}}})
    decision = judge(connect("exec", "prod"), pol)
    assert [(v.rule, v.action) for v in decision.violations] == [(S, action)]
    assert decision.allowed
    # The requester's tier is not the one that counts: dev enforces, prod warns or audits.
    dev_mode = policy({"subjects": SUBJECTS, "enforcement": {"perTier": {"dev": mode}}})
    assert not judge(connect("exec", "prod"), dev_mode).allowed


# --- break-glass by group ---------------------------------------------------------------------------------------

ONCALL_BOB = ("bob", ("team-payments-dev", "oncall"))


def test_break_glass_group_admits_a_session_with_a_warning() -> None:
    decision = judge(connect("exec", "prod", user=ONCALL_BOB), GLASS)
    assert decision.allowed and decision.break_glass == "member of break-glass group oncall"
    (violation,) = decision.violations
    assert violation.rule is S and violation.action is Action.WARN
    assert violation.message.endswith("(admitted by break-glass: member of break-glass group oncall)")


def test_break_glass_needs_the_group() -> None:
    decision = judge(connect("exec", "prod"), GLASS)
    assert not decision.allowed and decision.break_glass is None


def test_break_glass_is_off_without_groups() -> None:
    decision = judge(connect("exec", "prod", user=ONCALL_BOB), POLICY)
    assert not decision.allowed and decision.break_glass is None


def test_break_glass_by_group_admits_an_added_ephemeral_container() -> None:
    decision = judge(ephemeral("prod", (), ("debugger",), user=ONCALL_BOB), GLASS)
    assert decision.allowed and decision.break_glass == "member of break-glass group oncall"


VAULT_ENV = [{"name": "DB", "value": "vault:secret/data/dev/db#password"}]
PATHS_AND_GLASS = policy({"subjects": SUBJECTS, "exemptions": {"breakGlass": {"groups": ["oncall"]}},
                          "secrets": {"pathPatterns": {"dev": ["secret/data/dev/*"]}}})


def test_membership_alone_softens_no_other_rule() -> None:
    """A debug container naming another tier's secret path stays refused: the annotation-based break-glass of
    every other rule is unchanged (no reason given, nothing softened, not even the session)."""
    decision = judge(ephemeral("prod", (), ("debugger",), user=ONCALL_BOB, env=VAULT_ENV), PATHS_AND_GLASS)
    assert rules(decision) == {S, Rule.WORKLOAD_SECRET_CROSS_TIER}
    assert decision.break_glass is None


def test_a_reason_annotation_still_softens_every_rule() -> None:
    request = ephemeral("prod", (), ("debugger",), user=ONCALL_BOB, env=VAULT_ENV,
                        annotations={"tierguard.io/break-glass": "INC-7 database down"})
    decision = judge(request, PATHS_AND_GLASS)
    assert decision.allowed and decision.break_glass == "INC-7 database down"
    assert {v.rule for v in decision.warnings} == {S, Rule.WORKLOAD_SECRET_CROSS_TIER}


def test_only_the_session_rule_is_broken_by_group() -> None:
    assert {facts.rule for facts in sessions.FACTS if facts.break_glass_by_group} == {S}
    assert {S} == BREAK_GLASS_BY_GROUP


# --- malformed requests -----------------------------------------------------------------------------------------

def invalid(decision: Decision) -> str:
    (violation,) = decision.violations
    assert violation.rule is Rule.POLICY_INVALID and violation.action is Action.DENY
    return violation.message


def test_an_options_body_that_is_not_an_object_is_refused_by_name() -> None:
    with pytest.raises(Malformed) as error:
        connect("exec", "prod", body=["sh"])
    assert "request.object" in str(error.value)


def test_a_mistyped_container_is_policy_invalid_naming_the_field() -> None:
    message = invalid(judge(connect("exec", "prod", body={**OPTIONS["exec"], "container": 5})))
    assert message.startswith("Pod prod/api cannot be evaluated: ") and "container" in message


def test_an_options_body_without_kind_is_policy_invalid() -> None:
    body = {key: value for key, value in OPTIONS["exec"].items() if key not in ("kind", "apiVersion")}
    assert "no kind" in invalid(judge(connect("exec", "prod", body=body)))


def test_a_connect_that_names_no_pod_is_policy_invalid() -> None:
    assert "request.name" in invalid(judge(connect("exec", "prod", pod="")))


def test_an_ephemeral_container_without_a_name_is_policy_invalid() -> None:
    request = ephemeral("prod", (), ("debugger",))
    request.obj["spec"]["ephemeralContainers"][0].pop("name")  # type: ignore[index]
    assert "spec.ephemeralContainers[0].name" in invalid(judge(request))


def test_ephemeral_containers_that_are_not_a_list_are_policy_invalid() -> None:
    request = ephemeral("prod", (), ("debugger",))
    request.obj["spec"]["ephemeralContainers"] = "debugger"  # type: ignore[index]
    assert all(v.rule is Rule.POLICY_INVALID for v in judge(request).violations)
    assert not judge(request).allowed
