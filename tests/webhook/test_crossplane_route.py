"""The route of a field judged whatever the kind (``kinds.BY_FIELD``: Crossplane's connection Secrets): every kind
is accepted there (the chart sends any group's object carrying the field), judged by its own rows' families and by
the field's; a namespaced one waits for its namespace like any namespaced route."""

from __future__ import annotations

from typing import Any

from tests.webhook.helpers import review
from tierguard.webhook.admission import AdmissionService
from tierguard.webhook.routes import ROUTES_BY_ID

ROUTE = "crossplane-connection-secrets"


def managed(target: str, claim_namespace: str | None = "dev", **metadata: Any) -> dict[str, Any]:
    labels = {"crossplane.io/claim-namespace": claim_namespace} if claim_namespace else {}
    return {"apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "Instance",
            "metadata": {"name": "db", "labels": labels, **metadata},
            "spec": {"writeConnectionSecretToRef": {"namespace": target, "name": "db-conn"}}}


def answer(service: AdmissionService, body: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = service.answer(body, ROUTE)["response"]
    return response


def test_the_route_takes_any_kind_of_either_scope() -> None:
    route = ROUTES_BY_ID[ROUTE]
    assert route.field is not None and route.scope == "*"
    assert route.sends("Instance") and route.sends("Object") and route.sends("XPostgreSQLInstance")
    assert not ROUTES_BY_ID["secrets"].sends("Instance")


def test_a_managed_resource_of_a_dev_claim_writing_into_prod_is_denied(service: AdmissionService) -> None:
    response = answer(service, review(managed("prod")))
    assert response["allowed"] is False and response["status"]["code"] == 403
    message = response["status"]["message"]
    assert message.startswith("[secret-replication-cross-tier] Instance db serves a claim in namespace dev (tier dev")
    assert "(tier prod)" in message


def test_admitted_variants(service: AdmissionService) -> None:
    assert answer(service, review(managed("dev")))["allowed"] is True
    assert answer(service, review(managed("prod", claim_namespace=None)))["allowed"] is True
    # Sent here without the field (no matchCondition in front of a hand-made review): nothing to judge.
    bare = {"apiVersion": "example.org/v1", "kind": "Thing", "metadata": {"name": "x"}, "spec": {}}
    assert answer(service, review(bare))["allowed"] is True


def test_a_namespaced_object_needs_its_namespace_indexed(service: AdmissionService) -> None:
    claim = {"apiVersion": "example.org/v1alpha1", "kind": "MyDatabase",
             "metadata": {"name": "db", "namespace": "not-indexed"},
             "spec": {"writeConnectionSecretToRef": {"name": "db-conn"}}}
    response = answer(service, review(claim))
    assert response["allowed"] is False and response["status"]["code"] == 503
    claim["metadata"]["namespace"] = "dev"
    assert answer(service, review(claim))["allowed"] is True
