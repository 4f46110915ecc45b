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


def k8s_object(name: str, manifest_namespace: str | None, *, namespace: str | None = None,
               patches_from: dict[str, str] | None = None, details_from: dict[str, str] | None = None,
               connection: dict[str, str] | None = None, manifest_kind: str = "ConfigMap") -> Doc:
    """provider-kubernetes' Object: cluster-scoped (kubernetes.crossplane.io) or, with ``namespace``, namespaced
    (kubernetes.m.crossplane.io); ``patches_from`` / ``details_from`` name the Secret (namespace, name) it reads
    into its manifest or its connection Secret, as its examples do (examples/*/object/references/, deprecated/)."""
    metadata: Doc = {"name": name, **({"namespace": namespace} if namespace else {})}
    manifest: Doc = {"apiVersion": "v1", "kind": manifest_kind, "metadata": {"name": name}}
    if manifest_namespace:
        manifest["metadata"]["namespace"] = manifest_namespace
    spec: Doc = {"forProvider": {"manifest": manifest}, "providerConfigRef": {"name": "kubernetes-provider"}}
    if patches_from:
        spec["references"] = [{"patchesFrom": {"apiVersion": "v1", "kind": "Secret", **patches_from,
                                               "fieldPath": "data.key"}, "toFieldPath": "data.key-from-bar"}]
    if details_from:
        spec["connectionDetails"] = [{"apiVersion": "v1", "kind": "Secret", **details_from,
                                      "fieldPath": "data.token", "toConnectionSecretKey": "token"}]
    if connection is not None:
        spec[REF] = connection
    group = "kubernetes.m.crossplane.io/v1alpha1" if namespace else "kubernetes.crossplane.io/v1alpha2"
    return {"apiVersion": group, "kind": "Object", "metadata": metadata, "spec": spec}


def secret_named(namespace: str) -> dict[str, str]:
    return {"namespace": namespace, "name": "bar"}


OBJECT_CASES = [
    # references[].patchesFrom: read on the control plane in any namespace, patched into the manifest.
    Case("cluster Object patching prod's Secret into a dev manifest",
         [k8s_object("foo", "dev", patches_from=secret_named("prod"))], {(R, "foo")}),
    Case("cluster Object patching prod's Secret into a prod manifest", [
        k8s_object("foo", "prod-b", patches_from=secret_named("prod"))]),
    Case("cluster Object patching an untiered Secret into a dev manifest",
         [k8s_object("foo", "dev", patches_from=secret_named("shared"))], {(R, "foo")}),
    Case("patching a ConfigMap of another tier moves no Secret", [k8s_object("foo", "dev", patches_from={
        "namespace": "prod", "name": "bar", "kind": "ConfigMap"})]),
    Case("a manifest naming no namespace is not judged", [k8s_object("foo", None, patches_from=secret_named("prod"))]),
    Case("reading from an exempt namespace (the platform's)",
         [k8s_object("foo", "dev", patches_from=secret_named("crossplane-system"))], policy=CROSSPLANE_EXEMPT),
    Case("namespaced Object in dev patching prod's Secret into its dev manifest",
         [k8s_object("foo", "dev", namespace="dev", patches_from=secret_named("prod"))], {(R, "dev/foo")}),
    Case("namespaced Object patching its own Secret into its own namespace",
         [k8s_object("foo", "dev", namespace="dev", patches_from=secret_named("dev"))]),
    # connectionDetails: into the connection Secret (cluster: writeConnectionSecretToRef.namespace; v2: its own).
    Case("cluster Object reading prod's token into a dev connection Secret",
         [k8s_object("sa", "prod", details_from=secret_named("prod"), connection=secret_at("dev"))], {(R, "sa")}),
    Case("cluster Object reading a token into the same tier's connection Secret",
         [k8s_object("sa", "prod", details_from=secret_named("prod"), connection=secret_at("prod-b"))]),
    Case("connection details without a connection Secret go nowhere",
         [k8s_object("sa", "prod", details_from=secret_named("prod"))]),
    Case("namespaced Object in dev reading prod's token into its connection Secret", [k8s_object(
        "sa", "dev", namespace="dev", details_from=secret_named("prod"), connection={"name": "sa-conn"})],
         {(R, "dev/sa")}),
    # A namespaced Object applying a Secret into another tier's namespace.
    Case("namespaced Object in dev applying a Secret into prod",
         [k8s_object("foo", "prod", namespace="dev", manifest_kind="Secret")], {(R, "dev/foo")}),
    Case("namespaced Object in dev applying a ConfigMap into prod", [k8s_object("foo", "prod", namespace="dev")]),
    Case("namespaced Object applying a Secret beside itself",
         [k8s_object("foo", "dev", namespace="dev", manifest_kind="Secret")]),
    Case("malformed references", [{**k8s_object("foo", "dev"), "spec": {
        "forProvider": {"manifest": {"metadata": {"namespace": "dev"}}}, "references": ["prod/bar"]}}], {(P, "foo")}),
]


def composition(namespace: str | None) -> Doc:
    """A Composition as Crossplane's docs write one (content/v1.20/concepts/compositions.md), whose legacy composite
    resources' connection Secrets Crossplane writes into ``namespace`` (internal/controller/apiextensions/
    composite/api.go, APIConfigurator)."""
    spec: Doc = {"compositeTypeRef": {"apiVersion": "custom-api.example.org/v1alpha1", "kind": "XDatabase"},
                 "resources": [{"name": "database", "base": {"apiVersion": "rds.aws.upbound.io/v1beta1",
                                                             "kind": "Instance", "spec": {"forProvider": {}}}}]}
    if namespace is not None:
        spec["writeConnectionSecretsToNamespace"] = namespace
    return {"apiVersion": "apiextensions.crossplane.io/v1", "kind": "Composition", "metadata": {"name": "db"},
            "spec": spec}


def composed_into(namespace: str, *, pipeline: bool = False, patched: bool = False) -> Doc:
    resource: Doc = {"name": "key", "base": {"apiVersion": "iam.aws.upbound.io/v1beta1", "kind": "AccessKey", "spec": {
        "forProvider": {}, REF: {"namespace": namespace, "name": "key1"}}}}
    if patched:
        resource["patches"] = [{"fromFieldPath": "spec.claimRef.namespace",
                                "toFieldPath": "spec.writeConnectionSecretToRef.namespace"}]
    doc = composition(None)
    if pipeline:
        doc["spec"] = {"mode": "Pipeline", "pipeline": [{"step": "patch-and-transform", "input": {
            "apiVersion": "pt.fn.crossplane.io/v1beta1", "kind": "Resources", "resources": [resource]}}]}
    else:
        doc["spec"]["resources"] = [resource]
    return doc

COMPOSITION_CASES = [
    Case("Composition gathering every claim's details into a tiered namespace", [composition("prod")],
         {(R, "db")}),
    Case("Composition gathering them into an exempt namespace (Crossplane's)", [composition("crossplane-system")],
         policy=CROSSPLANE_EXEMPT),
    Case("Composition gathering them into an untiered namespace: each composite is judged by its claim",
         [composition("crossplane-system")]),
    Case("Composition writing no connection Secret", [composition(None)]),
    # A composed resource's base naming a fixed namespace (the docs' connection-details.md Composition writes
    # every AccessKey's keys into "docs"): every claim's resource writes there, unless a patch sets it.
    Case("Composition whose composed base writes into a tiered namespace", [composed_into("prod")], {(R, "db")}),
    Case("the same in a function-patch-and-transform pipeline", [composed_into("prod", pipeline=True)],
         {(R, "db")}),
    Case("a base whose namespace a patch sets (from the claim)", [composed_into("prod", patched=True)]),
    Case("a base writing into an exempt namespace", [composed_into("crossplane-system")], policy=CROSSPLANE_EXEMPT),
    Case("another function's input is not read", [{**composition(None), "spec": {"mode": "Pipeline", "pipeline": [
        {"step": "kcl", "input": {"apiVersion": "krm.kcl.dev/v1alpha1", "kind": "KCLInput", "resources": "x"}}]}}]),
]



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
    *OBJECT_CASES,
    *COMPOSITION_CASES,
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_crossplane(case: Case) -> None:
    assert case.run() == case.expected


def test_an_object_message_names_the_secret_the_field_where_it_lands_and_the_fix() -> None:
    doc = k8s_object("foo", "dev", patches_from=secret_named("prod"))
    (violation,) = dict(decisions([*Case("", []).docs, doc]))["foo"].violations
    assert violation.path == "spec.references[0].patchesFrom.namespace"
    assert violation.message == (
        "Object foo reads Secret prod/bar (tier prod) by spec.references[0].patchesFrom and patches it into its "
        "manifest, applied in namespace dev (tier dev); read only Secrets of tier dev there")
    assert violation.related[0].namespace == "prod"


def test_a_cluster_scoped_object_is_enforced_in_the_tier_of_the_secret() -> None:
    warn_prod = policy({"enforcement": {"default": "enforce", "perTier": {"prod": "warn"}}})
    doc = k8s_object("foo", "dev", patches_from=secret_named("prod"))
    (violation,) = dict(decisions([*Case("", []).docs, doc], warn_prod))["foo"].violations
    assert violation.action is Action.WARN


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


def test_a_composition_is_enforced_in_the_tier_it_writes_into() -> None:
    warn_prod = policy({"enforcement": {"default": "enforce", "perTier": {"prod": "warn"}}})
    (violation,) = dict(decisions([*Case("", []).docs, composition("prod")], warn_prod))["db"].violations
    assert violation.action is Action.WARN and violation.path == "spec.writeConnectionSecretsToNamespace"
    assert "namespace prod (tier prod)" in violation.message and "(cluster-scoped)" in violation.message
