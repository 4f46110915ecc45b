"""The AdmissionReview types (``engine/review.py``) hold to what the service reads and answers: they are only
annotations, so nothing else would notice them drift from the wire."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from tests.webhook.helpers import b64, review
from tierguard.engine import review as wire
from tierguard.engine.request import OPERATIONS
from tierguard.webhook.admission import AdmissionService
from tierguard.webhook.routes import ROUTES

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "dev"},
       "spec": {"containers": [{"name": "app", "image": "nginx"}]}}

RENAMING_POLICY = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "default"},
                   "spec": {"tierLabel": "example.com/tier"}}


def _keys(typed: Any) -> frozenset[str]:
    return frozenset(typed.__required_keys__ | typed.__optional_keys__)


def _shape(answer: Any) -> None:
    assert set(answer) == _keys(wire.AdmissionReviewAnswer)
    response = answer["response"]
    assert wire.AdmissionResponse.__required_keys__ <= set(response) <= _keys(wire.AdmissionResponse)
    if "status" in response:
        assert set(response["status"]) == _keys(wire.ResponseStatus)


@pytest.mark.parametrize("body, path", [
    (review(POD), "pods"),  # allowed
    (review(POD), "nope"),  # denied: no route
    (review({**POD, "kind": "Secret", "data": {"a": b64("x")}}), "secrets"),  # a Secret (its own rule family)
    (review(RENAMING_POLICY), "tierpolicies"),  # allowed with a warning
    ([], "pods"),  # not a review at all
    ({"request": {"uid": "u", "kind": {"kind": "Pod"}, "operation": "EXPLODE"}}, "pods"),  # malformed field
])
def test_every_answer_has_the_declared_shape(service: AdmissionService, body: Any, path: str) -> None:
    _shape(service.answer(body, path))


def test_the_shapes_cover_warnings_and_status(service: AdmissionService) -> None:
    assert "warnings" in service.answer(review(RENAMING_POLICY), "tierpolicies")["response"]
    assert "status" in service.answer(review(POD), "nope")["response"]


def test_the_requests_the_tests_send_use_only_declared_fields() -> None:
    assert set(review(POD, subresource="ephemeralcontainers")["request"]) <= _keys(wire.AdmissionRequest)


def test_operations_are_one_list() -> None:
    assert frozenset(get_args(wire.Operation)) == OPERATIONS
    assert all(set(route.operations) <= OPERATIONS for route in ROUTES)
