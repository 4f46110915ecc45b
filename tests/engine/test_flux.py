"""Flux HelmReleases (``helm.toolkit.fluxcd.io``) and Kustomizations (``kustomize.toolkit.fluxcd.io``): secret
material of their namespace written into another tier (``valuesFrom`` / ``substituteFrom`` Secrets, SOPS
decryption, Helm's release record) is ``secret-replication-cross-tier``; another tier's source, or deploying into
another tier, is ``workload-secret-cross-tier``."""

from __future__ import annotations

from typing import Any

import pytest

from tierguard.engine.model import Rule

from .helpers import Case, Doc, decisions, ids

R = Rule.SECRET_REPLICATION_CROSS_TIER.value
W = Rule.WORKLOAD_SECRET_CROSS_TIER.value
P = Rule.POLICY_INVALID.value


def release(ns: str, name: str = "web", **spec: Any) -> Doc:
    spec.setdefault("chart", {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}})
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": ns}, "spec": {"interval": "5m", **spec}}


def kustomization(ns: str, name: str = "web", **spec: Any) -> Doc:
    spec.setdefault("sourceRef", {"kind": "GitRepository", "name": "repo"})
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": ns}, "spec": {"interval": "5m", "prune": True, **spec}}


SECRET_VALUES = [{"kind": "Secret", "name": "db", "valuesKey": "values.yaml"}]
MAP_VALUES = [{"kind": "ConfigMap", "name": "web-values"}]
SOPS = {"provider": "sops", "secretRef": {"name": "sops-age"}}
KUBECONFIG = {"secretRef": {"name": "remote-kubeconfig"}}
REFLECTOR, REPLICATOR = "reflector.v1.k8s.emberstack.com/", "replicator.v1.mittwald.de/"
SECRET_PATCH = f"""apiVersion: v1
kind: Secret
metadata:
  name: db
  annotations:
    {REPLICATOR}replicate-to: prod
"""
JSON_PATCH = """- op: add
  path: /metadata/annotations/reflector.v1.k8s.emberstack.com~1reflection-allowed
  value: "true"
"""
SECRET_OBJECT_PATCH = {"apiVersion": "v1", "kind": "Secret", "metadata": {
    "name": "db", "annotations": {REFLECTOR + "reflection-allowed": "true"}}}

CASES = [
    # HelmRelease: valuesFrom Secrets reach the target and Helm's release record.
    Case("values from a Secret into a release of another tier",
         [release("dev", targetNamespace="prod", valuesFrom=SECRET_VALUES)], {(R, "dev/web")}),
    Case("values from a Secret into a release record of another tier",
         [release("dev", storageNamespace="prod", valuesFrom=SECRET_VALUES)], {(R, "dev/web")}),
    Case("values from a Secret, release and record of its own tier",
         [release("dev", targetNamespace="dev-b", storageNamespace="dev-b", valuesFrom=SECRET_VALUES)]),
    Case("values from a Secret, no namespaces set", [release("dev", valuesFrom=SECRET_VALUES)]),
    Case("target and record in prod from dev, values from a ConfigMap only",
         [release("dev", targetNamespace="prod", storageNamespace="prod", valuesFrom=MAP_VALUES)], {(W, "dev/web")}),
    # The record holds the rendered manifests: a release and its record in different tiers cross either way.
    Case("release in prod, record in dev (default)", [release("dev", targetNamespace="prod")], {(R, "dev/web")}),
    Case("release in dev, record in prod", [release("dev", storageNamespace="prod")], {(R, "dev/web")}),
    Case("release into an untiered namespace", [release("dev", targetNamespace="shared")], {(R, "dev/web")}),
    Case("release into a namespace not known yet", [release("dev", targetNamespace="dev-new")], {(R, "dev/web")}),
    Case("release and record in prod, from prod", [release("prod", targetNamespace="prod-b",
                                                           storageNamespace="prod", valuesFrom=SECRET_VALUES)]),
    Case("untiered HelmRelease into prod (the flux-system pattern)",
         [release("shared", targetNamespace="prod", valuesFrom=SECRET_VALUES)]),
    # Chart sources: the HelmChart is made in the source's namespace.
    Case("chart source of another tier",
         [release("dev", chart={"spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository", "name": "charts",
                                                                       "namespace": "prod"}}})], {(W, "dev/web")}),
    Case("chart source of its own tier",
         [release("dev", chart={"spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository", "name": "charts",
                                                                       "namespace": "dev-b"}}})]),
    Case("chartRef of another tier",
         [release("dev", chart=None, chartRef={"kind": "OCIRepository", "name": "web", "namespace": "qa"})],
         {(W, "dev/web")}),
    # kubeConfig: namespaces of the kubeconfig's cluster, judged only when tierguard knows them with a tier.
    Case("kubeconfig release into a namespace known here in prod",
         [release("dev", kubeConfig=KUBECONFIG, targetNamespace="prod", storageNamespace="prod")], {(W, "dev/web")}),
    Case("kubeconfig release into a namespace unknown here",
         [release("dev", kubeConfig=KUBECONFIG, targetNamespace="apps", valuesFrom=SECRET_VALUES)]),
    Case("valuesFrom not a list", [release("dev", valuesFrom={"kind": "Secret"})], {(P, "dev/web")}),
    # Kustomization: sourceRef.namespace, targetNamespace with or without secret material.
    Case("source of another tier", [kustomization("dev", sourceRef={"kind": "GitRepository", "name": "repo",
                                                                     "namespace": "prod"})], {(W, "dev/web")}),
    Case("source in an untiered namespace", [kustomization("dev", sourceRef={"kind": "GitRepository", "name": "repo",
                                                                             "namespace": "shared"})],
         {(W, "dev/web")}),
    Case("source of its own tier", [kustomization("dev", sourceRef={"kind": "GitRepository", "name": "repo",
                                                                    "namespace": "dev-b"})]),
    Case("source in an exempt namespace (the platform's)",
         [kustomization("dev", sourceRef={"kind": "GitRepository", "name": "flux-system", "namespace": "kube-system"}),
          release("dev", "chart", chart={"spec": {"chart": "web", "sourceRef": {
              "kind": "HelmRepository", "name": "charts", "namespace": "kube-system"}}})]),
    Case("target of another tier", [kustomization("dev", targetNamespace="prod")], {(W, "dev/web")}),
    Case("target of its own tier", [kustomization("dev", targetNamespace="dev-b", decryption=SOPS)]),
    Case("no target: each manifest's own namespace", [kustomization("dev", decryption=SOPS)]),
    Case("SOPS keys of dev decrypting Secrets into prod", [kustomization("dev", targetNamespace="prod",
                                                                         decryption=SOPS)], {(R, "dev/web")}),
    Case("decryption by KMS identity into prod",
         [kustomization("dev", targetNamespace="prod", decryption={"provider": "sops", "serviceAccountName": "kms"})],
         {(R, "dev/web")}),
    Case("substituteFrom a Secret into prod",
         [kustomization("dev", targetNamespace="prod",
                        postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "vars"},
                                                      {"kind": "Secret", "name": "secret-vars"}]})], {(R, "dev/web")}),
    Case("kubeconfig Kustomization into a namespace known here in prod",
         [kustomization("dev", kubeConfig=KUBECONFIG, targetNamespace="prod")], {(W, "dev/web")}),
    Case("kubeconfig Kustomization into a namespace unknown here",
         [kustomization("dev", kubeConfig=KUBECONFIG, targetNamespace="apps", decryption=SOPS)]),
    # commonMetadata: replication annotations put on every Secret deployed.
    Case("commonMetadata opening every Secret of a release to every namespace",
         [release("dev", commonMetadata={"annotations": {REFLECTOR + "reflection-allowed": "true"}})],
         {(R, "dev/web")}),
    Case("commonMetadata pushing every Secret of a Kustomization into prod",
         [kustomization("dev", commonMetadata={"annotations": {REPLICATOR + "replicate-to": "prod"}})],
         {(R, "dev/web")}),
    Case("commonMetadata pushing into a namespace of its own tier",
         [kustomization("dev", targetNamespace="dev-b",
                        commonMetadata={"annotations": {REPLICATOR + "replicate-to": "dev"},
                                        "labels": {"team": "a"}})]),
    Case("commonMetadata label not a string", [kustomization("dev", commonMetadata={"labels": {"a": 1}})],
         {(P, "dev/web")}),
    # fluxcd/flux2-multi-tenancy's tenant: a Kustomization in the tenant's namespace, impersonating the tenant's
    # ServiceAccount, from a GitRepository of that namespace, deploying into it.
    Case("multi-tenancy tenant deploying into its own namespace",
         [kustomization("dev", "dev-team", serviceAccountName="dev-team",
                        sourceRef={"kind": "GitRepository", "name": "dev-team"})]),
    Case("multi-tenancy tenant built from the platform's flux-system source",
         [kustomization("dev", "dev-team", serviceAccountName="dev-team",
                        sourceRef={"kind": "GitRepository", "name": "flux-system", "namespace": "shared"})],
         {(W, "dev/dev-team")}),
    Case("multi-tenancy tenant targeting another tenant's namespace of another tier",
         [kustomization("dev", "dev-team", serviceAccountName="dev-team", targetNamespace="prod")],
         {(W, "dev/dev-team")}),
    # Kustomize patches (a Kustomization's spec.patches, a HelmRelease's postRenderers) adding replication
    # annotations to the Secrets deployed, judged as commonMetadata is.
    Case("post-renderer patch opening every Secret of a release to prod",
         [release("dev", postRenderers=[{"kustomize": {"patches": [{"target": {"kind": "Secret"},
                                                                    "patch": SECRET_PATCH}]}}])], {(R, "dev/web")}),
    Case("post-renderer patch of Deployments only", [release("dev", postRenderers=[{"kustomize": {"patches": [
        {"target": {"kind": "Deployment"}, "patch": SECRET_PATCH}]}}])]),
    Case("Kustomization JSON patch adding reflector's consent to a Secret",
         [kustomization("dev", patches=[{"target": {"kind": "Secret", "name": "db"}, "patch": JSON_PATCH}])],
         {(R, "dev/web")}),
    Case("Kustomization strategic merge patch naming a Secret, no target",
         [kustomization("dev", patches=[{"patch": SECRET_PATCH}])], {(R, "dev/web")}),
    Case("Kustomization patch pushing into its own tier",
         [kustomization("dev", patches=[{"target": {"kind": "Secret"},
                                         "patch": SECRET_PATCH.replace("prod", "dev")}])]),
    Case("v1beta2 patchesStrategicMerge and patchesJson6902 on Secrets",
         [kustomization("dev", patchesStrategicMerge=[SECRET_OBJECT_PATCH],
                        patchesJson6902=[{"target": {"version": "v1", "kind": "Secret", "name": "db"},
                                          "patch": [{"op": "add", "path": "/metadata/annotations",
                                                     "value": {REPLICATOR + "replicate-to": "qa"}}]}])],
         {(R, "dev/web")}),
    Case("patchesStrategicMerge item that is no object (the CRD's untyped JSON)",
         [kustomization("dev", patchesStrategicMerge=["not-an-object", SECRET_OBJECT_PATCH])], {(R, "dev/web")}),
    Case("patch that is not YAML: Flux fails at reconcile, nothing deployed",
         [kustomization("dev", patches=[{"target": {"kind": "Secret"}, "patch": "a: [b"}])]),
    Case("kustomize's own Kustomization (kustomize.config.k8s.io) is not Flux's",
         [{"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
           "metadata": {"name": "web", "namespace": "dev"}, "namespace": "prod"}]),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_flux(case: Case) -> None:
    assert case.run() == case.expected


def _only(doc: Doc) -> tuple[str, str, str]:
    results = dict(decisions([*Case("", []).docs, doc]))
    (violation,) = results[f"{doc['metadata']['namespace']}/{doc['metadata']['name']}"].violations
    return violation.rule.value, violation.path, violation.message


def test_values_secret_message_names_the_secret_the_target_and_the_fix() -> None:
    rule, path, message = _only(release("dev", targetNamespace="prod", storageNamespace="prod",
                                        valuesFrom=MAP_VALUES + SECRET_VALUES))
    assert (rule, path) == (R, "spec.valuesFrom[1]")
    assert message == (
        "HelmRelease dev/web (tier dev) takes values from Secret dev/db and renders them into its release in "
        "namespace prod (tier prod) (spec.targetNamespace) and keeps them in Helm's release record (a Secret) in "
        "namespace prod (tier prod) (spec.storageNamespace); keep the release and its record in tier dev, or give "
        "the HelmRelease of the other tier a Secret of its own")


def test_release_record_message_names_both_namespaces() -> None:
    rule, path, message = _only(release("dev", targetNamespace="prod"))
    assert (rule, path) == (R, "spec.targetNamespace")
    assert "release record in namespace dev (tier dev)" in message
    assert "Secrets included, of its release in namespace prod (tier prod)" in message


def test_sops_message_names_the_keys_and_the_target() -> None:
    rule, path, message = _only(kustomization("dev", targetNamespace="prod", decryption=SOPS))
    assert (rule, path) == (R, "spec.decryption.secretRef.name")
    assert message.startswith("Kustomization dev/web (tier dev) writes the Secrets it decrypts with the SOPS keys "
                              "of Secret dev/sops-age into namespace prod (tier prod) (spec.targetNamespace)")


def test_source_message_names_the_source_and_its_tier() -> None:
    rule, path, message = _only(kustomization("dev", sourceRef={"kind": "GitRepository", "name": "repo",
                                                                "namespace": "prod"}))
    assert (rule, path) == (W, "spec.sourceRef.namespace")
    assert "builds its manifests from GitRepository prod/repo (tier prod)" in message
    assert message.endswith("use a source of tier dev")


def test_kubeconfig_message_names_its_secret() -> None:
    _, path, message = _only(kustomization("dev", kubeConfig=KUBECONFIG, targetNamespace="prod"))
    assert path == "spec.targetNamespace"
    assert "with the kubeconfig credentials of Secret dev/remote-kubeconfig" in message


def test_common_metadata_message_points_at_the_annotation() -> None:
    rule, path, message = _only(kustomization("dev", commonMetadata={"annotations": {
        REPLICATOR + "replicate-to": "prod"}}))
    assert (rule, path) == (R, f"spec.commonMetadata.annotations[{REPLICATOR}replicate-to]")
    assert message.startswith("every Secret Kustomization dev/web deploys (spec.commonMetadata) (tier dev) has "
                              "kubernetes-replicator push it into prod (tier prod)")


def test_patch_message_names_the_secret_the_patch_and_the_other_tier() -> None:
    rule, path, message = _only(kustomization("dev", patches=[{"target": {"kind": "Secret", "name": "db"},
                                                               "patch": SECRET_PATCH}]))
    assert (rule, path) == (R, "spec.patches[0].patch")
    assert message.startswith("Secret dev/db that Kustomization dev/web deploys (spec.patches[0].patch) (tier dev) "
                              "has kubernetes-replicator push it into prod (tier prod)")
