"""Bounded fuzzing in the suite: the targets of ``bench/fuzz.py`` (the AdmissionReview path, policy loading, the
manifest loader) with a fixed number of examples and a fixed seed, each input handled (a decision, a clear 4xx or
a named error), none crashing. ``python -m bench.fuzz`` runs the same targets much longer."""

from __future__ import annotations

import logging

import pytest
from bench.fuzz import admission_service, check_review, run_target, targets

EXAMPLES = 100


@pytest.mark.parametrize("name", sorted(targets()))
def test_target_never_crashes(name: str, caplog: pytest.LogCaptureFixture) -> None:
    check, strategies = targets()[name]
    with caplog.at_level(logging.CRITICAL):
        tally = run_target(check, strategies, EXAMPLES, run_seed=12)
    assert tally.tried == EXAMPLES
    assert tally.crashes == []
    # The inputs got past the first check: some reach a decision, not only the same refusal.
    assert len(tally.outcomes) >= 2, tally.outcomes


@pytest.mark.parametrize("operation", [["CREATE"], {"op": "CREATE"}, 3, None])
def test_an_operation_of_the_wrong_type_is_a_clear_400(operation: object) -> None:
    # Found by the fuzzer: a list was looked up in a frozenset (TypeError: unhashable type), a traceback.
    service, metrics = admission_service()
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": operation,
        "namespace": "dev", "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}}}
    assert check_review(service, metrics, review, "pods") == "400 policy-invalid"
    message = service.answer(review, "pods")["response"]["status"]["message"]
    assert "request.operation" in message
