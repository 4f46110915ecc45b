"""Crossplane's connection Secrets judged as ``secret-replication-cross-tier``: a cluster-scoped managed or legacy
composite resource, of any API group, whose ``spec.writeConnectionSecretToRef.namespace`` is of another tier than
the claim it serves (``spec.claimRef``, or the ``crossplane.io/claim-namespace`` label Crossplane copies onto what
a claim's composite composes). Claims and namespaced resources write beside themselves: never cross-tier."""

from __future__ import annotations

from typing import Any

import pytest

from tierguard.engine.model import Action, Rule

from .helpers import Case, Doc, decisions, ids, policy

R = Rule.SECRET_REPLICATION_CROSS_TIER.value
CROSSPLANE_EXEMPT = policy({"exemptions": {"namespaces": ["kube-system", "crossplane-system"]}})
"""Crossplane's own namespace exempt, as the chart's crossplane.enabled comment advises."""
P = Rule.POLICY_INVALID.value
REF = "writeConnectionSecretToRef"


def managed(name: str, target: Any, *, claim: str | None = None, group: str = "rds.aws.upbound.io/v1beta1",
            kind: str = "Instance", namespace: str | None = None, **spec: Any) -> Doc:
    """A managed resource (cluster-scoped unless ``namespace``) writing its connection Secret to ``target``
    (``{"namespace": ..., "name": ...}``, or any value to test a malformed one); ``claim`` labels it as composed
    for a claim of that namespace, as Crossplane's composition_render.go does."""
    metadata: Doc = {"name": name}
    if claim is not None:
        metadata["labels"] = {"crossplane.io/claim-namespace": claim, "crossplane.io/claim-name": "app-db",
                              "crossplane.io/composite": "app-db-x7k2p"}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": group, "kind": kind, "metadata": metadata,
            "spec": {"forProvider": {"region": "us-east-1"}, REF: target, **spec}}


def secret_at(namespace: str, name: str = "db-conn") -> dict[str, str]:
    return {"namespace": namespace, "name": name}


def composite(name: str, target: dict[str, str], claim_namespace: str) -> Doc:
    """A legacy (v1-style, cluster-scoped) composite resource bound to a claim: the claim syncer sets claimRef."""
    return {"apiVersion": "example.org/v1alpha1", "kind": "XMyDatabase", "metadata": {"name": name},
            "spec": {"claimRef": {"apiVersion": "example.org/v1alpha1", "kind": "MyDatabase",
                                  "namespace": claim_namespace, "name": "app-db"}, REF: target}}


def claim(namespace: str, ref: dict[str, str]) -> Doc:
    return {"apiVersion": "example.org/v1alpha1", "kind": "MyDatabase",
            "metadata": {"name": "app-db", "namespace": namespace}, "spec": {REF: ref}}


CASES = [
    # A managed resource composed for a claim: the claim's tier is its tier.
    Case("MR of a dev claim writes into prod", [managed("db", secret_at("prod"), claim="dev")], {(R, "db")}),
    Case("MR of a prod claim writes into dev", [managed("db", secret_at("dev"), claim="prod")], {(R, "db")}),
    Case("MR of a dev claim writes into another dev namespace", [managed("db", secret_at("dev-b"), claim="dev")]),
    Case("MR of a dev claim writes into an untiered namespace", [managed("db", secret_at("shared"), claim="dev")],
         {(R, "db")}),
    Case("MR of a dev claim writes into an exempt namespace (the platform's)",
         [managed("db", secret_at("kube-system"), claim="dev")]),
    Case("MR of a dev claim writes into crossplane-system, exempt (where compositions gather details)",
         [managed("db", secret_at("crossplane-system"), claim="dev")], policy=CROSSPLANE_EXEMPT),
    Case("MR of a dev claim writes into crossplane-system, not exempt: untiered",
         [managed("db", secret_at("crossplane-system"), claim="dev")], {(R, "db")}),
    Case("MR of a claim in an untiered namespace is not judged", [managed("db", secret_at("prod"), claim="shared")]),
    Case("MR serving no claim has no tier to compare", [managed("db", secret_at("prod"))]),
    Case("MR without a namespace in its reference", [managed("db", {"name": "db-conn"}, claim="dev")]),
    Case("MR of any provider's group: a provider-kubernetes Object",
         [managed("sa", secret_at("prod"), claim="qa", group="kubernetes.crossplane.io/v1alpha1", kind="Object")],
         {(R, "sa")}),
    # A legacy composite resource: spec.claimRef names the claim.
    Case("XR of a dev claim writes into prod", [composite("app-db-x7k2p", secret_at("prod"), "dev")],
         {(R, "app-db-x7k2p")}),
    Case("XR of a dev claim writes into dev", [composite("app-db-x7k2p", secret_at("dev"), "dev")]),
    # Claims and Crossplane v2's namespaced resources: the Secret lands in their own namespace.
    Case("claim writes beside itself", [claim("dev", {"name": "app-db-conn"})]),
    Case("claim naming a namespace Crossplane never reads (pruned)", [claim("dev", secret_at("prod"))]),
    Case("namespaced MR (v2 .m. group) writes beside itself",
         [managed("db", {"name": "db-conn"}, group="rds.aws.m.upbound.io/v1beta1", namespace="dev")]),
    # Malformed references: named, never a traceback.
    Case("reference not an object", [managed("db", "prod/db-conn", claim="dev")], {(P, "db")}),
    Case("namespace not a string", [managed("db", {"namespace": 7, "name": "db-conn"}, claim="dev")], {(P, "db")}),
    Case("claimRef not an object", [managed("db", secret_at("prod"), claimRef="dev/app-db")], {(P, "db")}),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_crossplane(case: Case) -> None:
    assert case.run() == case.expected


def test_message_names_the_field_both_tiers_and_the_fix_and_never_tiers_the_object() -> None:
    (violation,) = dict(decisions([*Case("", []).docs, managed("db", secret_at("prod"), claim="dev")]))["db"].violations
    assert violation.path == "spec.writeConnectionSecretToRef.namespace"
    assert violation.message == (
        "Instance db serves claim dev/app-db (tier dev; its label crossplane.io/claim-namespace) and has Crossplane "
        "write its connection details, credentials of tier dev, into Secret prod/db-conn (tier prod); set "
        "spec.writeConnectionSecretToRef.namespace to a namespace of tier dev (Crossplane copies the details into "
        "the claim's own namespace for it)")
    assert violation.related[0].namespace == "prod" and violation.related[0].name == "db-conn"


def test_claim_ref_is_named_as_such() -> None:
    (violation,) = dict(decisions([*Case("", []).docs, composite("x", secret_at("prod"), "dev")]))["x"].violations
    assert "serves claim dev/app-db (tier dev; spec.claimRef)" in violation.message


def test_enforced_in_the_claims_tier() -> None:
    """A cluster-scoped object has no tier of its own: the finding is enforced in the claim's (``Finding.tier``)."""
    warn_dev = policy({"enforcement": {"default": "enforce", "perTier": {"dev": "warn"}}})
    for serving, action in (("dev", Action.WARN), ("qa", Action.DENY)):
        doc = managed("db", secret_at("prod"), claim=serving)
        (violation,) = dict(decisions([*Case("", []).docs, doc], warn_dev))["db"].violations
        assert violation.action is action, serving


def test_a_claim_ref_and_a_label_of_two_tiers_are_both_judged() -> None:
    """Crossplane writes both alike; if they disagree, the Secret must suit each claim the object says it serves."""
    doc = managed("db", secret_at("dev"), claim="dev",
                  claimRef={"apiVersion": "example.org/v1alpha1", "kind": "MyDatabase", "namespace": "prod",
                            "name": "other"})
    (violation,) = dict(decisions([*Case("", []).docs, doc]))["db"].violations
    assert "serves claim prod/other (tier prod; spec.claimRef)" in violation.message
