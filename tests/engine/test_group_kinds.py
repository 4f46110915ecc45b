"""Kinds are told apart by API group and kind, not by kind alone (issue 10, items 11 and 12)."""

from __future__ import annotations

from tierguard.engine import evaluate
from tierguard.engine.model import Rule
from tierguard.engine.request import EvaluationRequest
from tierguard.kinds import GroupKind, row_of
from tierguard.policy import DEFAULT_POLICY, TierPolicy, load_policy

from .helpers import STANDARD, context_of, secret

SIDECAR_POLICY = load_policy({"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy",
                              "metadata": {"name": "default"},
                              "spec": {"sidecars": {"required": [{"name": "istio-proxy"}]}}})

VOLCANO_JOB = {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "metadata": {"name": "tf", "namespace": "dev"},
               "spec": {"minAvailable": 1, "tasks": [{"replicas": 1, "name": "ps", "template": {"spec": {
                   "containers": [{"name": "tf", "image": "tf:1"}]}}}]}}
BATCH_JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "tf", "namespace": "dev"},
             "spec": {"template": {"spec": {"containers": [{"name": "tf", "image": "tf:1"}]}}}}
KES = {"apiVersion": "kubernetes-client.io/v1", "kind": "ExternalSecret",
       "metadata": {"name": "db", "namespace": "dev"},
       "spec": {"backendType": "vault", "dataFrom": ["secret/data/prod/db"]}}


def decide(doc: dict[str, object], *others: dict[str, object], policy: TierPolicy = SIDECAR_POLICY) -> set[Rule]:
    context = context_of([*STANDARD, doc, *others])
    decision = evaluate(EvaluationRequest.from_manifest(doc), context, policy)
    return {violation.rule for violation in decision.violations}


def test_rows_are_found_by_group_and_kind() -> None:
    assert row_of("batch/v1", "Job").key == GroupKind("batch", "Job")  # type: ignore[union-attr]
    assert row_of("batch.volcano.sh/v1alpha1", "Job") is None
    assert row_of("v1", "Secret").key == GroupKind("", "Secret")  # type: ignore[union-attr]
    assert row_of(None, "Secret").key == GroupKind("", "Secret")  # type: ignore[union-attr]
    assert row_of("kubernetes-client.io/v1", "ExternalSecret") is None


def test_a_volcano_job_is_not_judged_as_a_batch_job() -> None:
    assert Rule.SIDECAR_MISSING in decide(BATCH_JOB)  # the same template shape as a batch Job is refused
    assert decide(VOLCANO_JOB) == set()


def test_kubernetes_external_secrets_is_not_called_malformed() -> None:
    assert decide(KES) == set()


def test_a_crd_kind_named_secret_is_not_context() -> None:
    """A custom resource of another group named Secret holds no value tierguard compares across tiers."""
    prod = secret("prod", "db", {"password": "one-long-shared-password-value"})
    lookalike = {**secret("dev", "db", {"password": "one-long-shared-password-value"}),
                 "apiVersion": "example.com/v1"}
    dev = secret("dev", "other", {"password": "one-long-shared-password-value"})
    assert Rule.SECRET_VALUE_SHARED in decide(dev, prod, policy=DEFAULT_POLICY)
    assert decide(lookalike, prod, policy=DEFAULT_POLICY) == set()
