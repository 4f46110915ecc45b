"""Sessions at the webhook: the AdmissionReviews the API server sends for ``kubectl exec``, ``attach``,
``port-forward`` (CONNECT of the pod's subresource, the options as ``kind`` and ``object``) and ``kubectl debug``
(UPDATE of ``pods/ephemeralcontainers``), answered by the admission callback: refusals, admissions, the routes'
kind and operation checks, and break-glass by group in the answer, the log and the metric."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from tierguard.policy import load_policy
from tierguard.webhook.admission import AdmissionService
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.state import RuntimeState

from .helpers import review

SUBJECTS = {"perTier": {"dev": {"groups": ["team-*-dev"]}, "prod": {"groups": ["team-*-prod"]}}}
OPTIONS = {"exec": "PodExecOptions", "attach": "PodAttachOptions", "portforward": "PodPortForwardOptions"}


@pytest.fixture(autouse=True)
def people(state: RuntimeState) -> None:
    state.use_policy(load_policy({"spec": {"subjects": SUBJECTS,
                                           "exemptions": {"breakGlass": {"groups": ["oncall"]}}}}))


def connect(verb: str, namespace: str, *groups: str, kind: str | None = None, body: Any = None,
            operation: str = "CONNECT") -> dict[str, Any]:
    """What kube-apiserver posts for ``kubectl exec -n <namespace> api -- sh`` (and attach, port-forward)."""
    kind = kind or OPTIONS[verb]
    options = body if body is not None else {"kind": kind, "apiVersion": "v1", "stdin": True, "stdout": True,
                                             "tty": True, "container": "app", "command": ["sh"]}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": str(uuid.uuid4()),
        "kind": {"group": "", "version": "v1", "kind": kind},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "subResource": verb,
        "requestKind": {"group": "", "version": "v1", "kind": kind},
        "requestResource": {"group": "", "version": "v1", "resource": "pods"},
        "requestSubResource": verb,
        "name": "api",
        "namespace": namespace,
        "operation": operation,
        "userInfo": {"username": "bob", "groups": [*groups, "system:authenticated"]},
        "object": options,
        "oldObject": None,
        "dryRun": False,
        "options": None,
    }}


def answer(service: AdmissionService, body: dict[str, Any], path: str) -> dict[str, Any]:
    response: dict[str, Any] = service.answer(body, path)["response"]
    assert response["uid"] == body["request"]["uid"]
    return response


@pytest.mark.parametrize("verb", sorted(OPTIONS))
def test_a_session_into_another_tier_is_refused(service: AdmissionService, metrics: Metrics, verb: str) -> None:
    response = answer(service, connect(verb, "prod", "team-payments-dev"), f"pods-{verb}")
    assert response["allowed"] is False and response["status"]["code"] == 403
    message = response["status"]["message"]
    assert message.startswith("[session-cross-tier] ") and "Pod prod/api (tier prod) by user bob (tier dev)" in message
    assert metrics.registry.get_sample_value(
        "tierguard_violations_total", {"rule": "session-cross-tier", "action": "deny"}) == 1
    assert metrics.registry.get_sample_value(
        "tierguard_admission_requests_total",
        {"kind": OPTIONS[verb], "operation": "CONNECT", "decision": "denied"}) == 1


@pytest.mark.parametrize("verb", sorted(OPTIONS))
def test_a_session_into_the_own_tier_is_admitted(service: AdmissionService, verb: str) -> None:
    response = answer(service, connect(verb, "dev", "team-payments-dev"), f"pods-{verb}")
    assert response["allowed"] is True and "warnings" not in response


def test_an_untiered_person_is_not_judged(service: AdmissionService) -> None:
    assert answer(service, connect("exec", "prod", "contractors"), "pods-exec")["allowed"] is True


def test_break_glass_by_group_admits_warns_logs_and_counts(service: AdmissionService, metrics: Metrics,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tierguard.admission"):
        response = answer(service, connect("exec", "prod", "team-payments-dev", "oncall"), "pods-exec")
    assert response["allowed"] is True
    assert response["warnings"][0] == "tierguard: admitted by break-glass (member of break-glass group oncall)"
    assert response["warnings"][1].startswith("[session-cross-tier] exec into container app of Pod prod/api")
    assert metrics.registry.get_sample_value("tierguard_break_glass_total", {"rule": "session-cross-tier"}) == 1
    (record,) = [r for r in caplog.records if r.getMessage() == "break-glass"]
    assert (record.user, record.object, record.reason) == (  # type: ignore[attr-defined]
        "bob", "Pod prod/api", "member of break-glass group oncall")


def test_a_connect_review_on_the_wrong_path_is_refused(service: AdmissionService) -> None:
    """The kind check holds: a PodExecOptions review at /pods or /pods-attach is misrouted, never judged as a Pod."""
    for path in ("pods", "pods-attach"):
        response = answer(service, connect("exec", "dev", "team-payments-dev"), path)
        assert response["allowed"] is False and response["status"]["code"] == 400
        assert "not PodExecOptions" in response["status"]["message"]


def test_only_connect_is_judged_on_a_session_route(service: AdmissionService) -> None:
    """A session route judges CONNECT only: any other operation sent there is admitted unjudged, as on every
    route (the chart never sends one)."""
    response = answer(service, connect("exec", "prod", "team-payments-dev", operation="CREATE"), "pods-exec")
    assert response["allowed"] is True


def test_a_malformed_options_body_is_a_clear_refusal(service: AdmissionService) -> None:
    response = answer(service, connect("exec", "prod", "team-payments-dev", body=["sh"]), "pods-exec")
    assert response["allowed"] is False and response["status"]["code"] == 400
    assert response["status"]["message"] == "[policy-invalid] request.object: missing or not an object"
    mistyped = {"kind": "PodExecOptions", "apiVersion": "v1", "container": ["app"]}
    response = answer(service, connect("exec", "prod", "team-payments-dev", body=mistyped), "pods-exec")
    assert response["allowed"] is False and response["status"]["code"] == 403
    assert response["status"]["message"].startswith("[policy-invalid] Pod prod/api cannot be evaluated: container")


def test_a_session_into_a_namespace_the_index_lacks_is_not_ready(service: AdmissionService) -> None:
    """As for any namespaced route: the API server sends tiered namespaces only, so the index is behind."""
    response = answer(service, connect("exec", "payments-new", "team-payments-dev"), "pods-exec")
    assert response["allowed"] is False and response["status"]["code"] == 503


def pod(*ephemeral: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api", "namespace": "prod"},
            "spec": {"containers": [{"name": "app", "image": "nginx"}],
                     "ephemeralContainers": [{"name": name, "image": "busybox"} for name in ephemeral]}}


def test_kubectl_debug_into_another_tier_is_refused(service: AdmissionService) -> None:
    body = review(pod("debugger"), operation="UPDATE", old=pod(), groups=("team-payments-dev",),
                  subresource="ephemeralcontainers")
    response = answer(service, body, "pods-ephemeralcontainers")
    assert response["allowed"] is False
    assert response["status"]["message"].startswith(
        "[session-cross-tier] adding ephemeral container debugger to Pod prod/api (tier prod) by user alice")


def test_an_ephemeral_update_that_adds_nothing_is_admitted(service: AdmissionService) -> None:
    body = review(pod("debugger"), operation="UPDATE", old=pod("debugger"), groups=("team-payments-dev",),
                  subresource="ephemeralcontainers")
    assert answer(service, body, "pods-ephemeralcontainers")["allowed"] is True
