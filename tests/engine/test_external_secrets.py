"""External Secrets: every field through which an ExternalSecret, ClusterExternalSecret or PushSecret names a
remote secret, in the API versions ESO serves (issue 10, item 7).

``dataFrom[].find`` reads every secret under ``find.path`` (narrowed by an anchored ``name.regexp``); tags and
unanchored regexes cannot be resolved offline, so they narrow nothing: a find without a path reads the whole
store. A ClusterExternalSecret is judged in each namespace it selects; a PushSecret writes to ``remoteKey``.
"""

from __future__ import annotations

import pytest

from tierguard.engine.model import Rule

from .helpers import STANDARD, Case, Doc, decisions, ids, namespace, policy

W = Rule.WORKLOAD_SECRET_CROSS_TIER.value
PATHS = policy({"secrets": {"pathPatterns": {"dev": ["dev/*", "secret/data/dev/*"],
                                             "prod": ["prod/*", "secret/data/prod/*"]}}})


def external(ns: str, spec: Doc, api_version: str = "external-secrets.io/v1") -> Doc:
    return {"apiVersion": api_version, "kind": "ExternalSecret", "metadata": {"name": "es", "namespace": ns},
            "spec": {"secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"}, **spec}}


def find(ns: str, **fields: object) -> Doc:
    return external(ns, {"dataFrom": [{"find": dict(fields)}]})


def kube_store(name: str, ns: str | None, remote: str) -> Doc:
    kind = "SecretStore" if ns else "ClusterSecretStore"
    metadata: Doc = {"name": name, **({"namespace": ns} if ns else {})}
    return {"apiVersion": "external-secrets.io/v1", "kind": kind, "metadata": metadata,
            "spec": {"provider": {"kubernetes": {"remoteNamespace": remote}}}}


def cluster_external(spec: Doc, **selection: object) -> Doc:
    return {"apiVersion": "external-secrets.io/v1", "kind": "ClusterExternalSecret", "metadata": {"name": "ces"},
            "spec": {"externalSecretSpec": {"secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"},
                                            **spec}, **selection}}


def push(ns: str, *keys: str, stores: list[Doc] | None = None) -> Doc:
    return {"apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
            "metadata": {"name": "push", "namespace": ns},
            "spec": {"secretStoreRefs": stores or [{"name": "vault", "kind": "ClusterSecretStore"}],
                     "selector": {"secret": {"name": "local"}},
                     "data": [{"match": {"secretKey": "k", "remoteRef": {"remoteKey": key}}} for key in keys]}}


FIND_CASES = [
    Case("find by a path of another tier", [find("dev", path="prod")], {(W, "dev/es")}, policy=PATHS),
    Case("find by a path above every tier", [find("dev", path="secret/data")], {(W, "dev/es")}, policy=PATHS),
    Case("find by a path of its own tier", [find("dev", path="dev/")], policy=PATHS),
    Case("find by an anchored name regexp of another tier", [find("dev", name={"regexp": "^prod/.*"})],
         {(W, "dev/es")}, policy=PATHS),
    Case("find by an anchored name regexp of its own tier", [find("dev", name={"regexp": "^dev/db-.*"})],
         policy=PATHS),
    Case("find by an unanchored name regexp reads the whole store", [find("dev", name={"regexp": "dev-.*"})],
         {(W, "dev/es")}, policy=PATHS),
    Case("find by path narrowed by an anchored regexp", [find("dev", path="dev", name={"regexp": "^dev/app"})],
         policy=PATHS),
    Case("find by tags without a path reads the whole store", [find("dev", tags={"environment": "dev"})],
         {(W, "dev/es")}, policy=PATHS),
    Case("find by tags under a path of its own tier", [find("dev", path="dev/", tags={"team": "a"})],
         policy=PATHS),
    Case("find by tags under a path of another tier", [find("prod", path="dev/", tags={"team": "a"})],
         {(W, "prod/es")}, policy=PATHS),
    Case("find without pathPatterns is not judged", [find("dev", path="prod")]),
    Case("v1beta1 find by path", [external("dev", {"dataFrom": [{"find": {"path": "prod/"}}]},
                                           "external-secrets.io/v1beta1")], {(W, "dev/es")}, policy=PATHS),
    Case("v1alpha1 dataFrom item is a remote ref", [external("dev", {"dataFrom": [{"key": "prod/db"}]},
                                                             "external-secrets.io/v1alpha1")],
         {(W, "dev/es")}, policy=PATHS),
    Case("extract of another tier (v1beta1)", [external("dev", {"dataFrom": [{"extract": {"key": "prod/db"}}]},
                                                        "external-secrets.io/v1beta1")], {(W, "dev/es")},
         policy=PATHS),
    Case("data remoteRef of another tier with a property", [external("dev", {"data": [
        {"secretKey": "pw", "remoteRef": {"key": "prod/db", "property": "password"}}]})], {(W, "dev/es")},
         policy=PATHS),
]

SOURCE_REF_CASES = [
    Case("data[].sourceRef.storeRef reads prod's namespace",
         [kube_store("prod-reader", "dev", "prod"),
          external("dev", {"data": [{"secretKey": "pw", "remoteRef": {"key": "db"},
                                     "sourceRef": {"storeRef": {"name": "prod-reader", "kind": "SecretStore"}}}]})],
         {(W, "dev/es"), (W, "dev/prod-reader")}),
    Case("dataFrom[].sourceRef.storeRef reads prod's namespace",
         [kube_store("prod-reader", "dev", "prod"),
          external("dev", {"dataFrom": [{"extract": {"key": "db"},
                                         "sourceRef": {"storeRef": {"name": "prod-reader"}}}]})],
         {(W, "dev/es"), (W, "dev/prod-reader")}),
    Case("sourceRef.storeRef of its own tier", [kube_store("own", "dev", "dev-b"), external("dev", {"data": [
        {"secretKey": "pw", "remoteRef": {"key": "db"}, "sourceRef": {"storeRef": {"name": "own"}}}]})]),
]

CLUSTER_CASES = [
    Case("ClusterExternalSecret with a prod path into dev namespaces",
         [cluster_external({"data": [{"secretKey": "pw", "remoteRef": {"key": "prod/db"}}]},
                           namespaceSelectors=[{"matchLabels": {"tierguard.io/tier": "dev"}}])],
         {(W, "ces")}, policy=PATHS),
    Case("ClusterExternalSecret with a prod path into prod namespaces",
         [cluster_external({"data": [{"secretKey": "pw", "remoteRef": {"key": "prod/db"}}]},
                           namespaceSelectors=[{"matchLabels": {"tierguard.io/tier": "prod"}}])], policy=PATHS),
    Case("ClusterExternalSecret into every namespace (empty selector)",
         [cluster_external({"dataFrom": [{"extract": {"key": "prod/db"}}]}, namespaceSelector={})],
         {(W, "ces")}, policy=PATHS),
    Case("ClusterExternalSecret by namespace names, one of another tier",
         [cluster_external({"data": [{"secretKey": "pw", "remoteRef": {"key": "prod/db"}}]},
                           namespaces=["prod", "qa"])], {(W, "ces")}, policy=PATHS),
    Case("ClusterExternalSecret with matchExpressions on the tier label",
         [cluster_external({"dataFrom": [{"find": {"path": "prod/"}}]},
                           namespaceSelectors=[{"matchExpressions": [{"key": "tierguard.io/tier", "operator": "In",
                                                                      "values": ["prod"]}]}])], policy=PATHS),
    Case("ClusterExternalSecret finding a whole store into prod",
         [cluster_external({"dataFrom": [{"find": {"tags": {"a": "b"}}}]},
                           namespaceSelectors=[{"matchLabels": {"tierguard.io/tier": "prod"}}])],
         {(W, "ces")}, policy=PATHS),
    Case("ClusterExternalSecret through a store reading prod, into dev",
         [kube_store("vault", None, "prod"),
          cluster_external({"data": [{"secretKey": "pw", "remoteRef": {"key": "db"}}]}, namespaces=["dev"])],
         {(W, "vault"), (W, "ces")}),
    Case("ClusterExternalSecret selecting nothing", [cluster_external(
        {"data": [{"secretKey": "pw", "remoteRef": {"key": "prod/db"}}]},
        namespaceSelectors=[{"matchLabels": {"no": "such"}}])], policy=PATHS),
]

PUSH_CASES = [
    Case("PushSecret writes into another tier's path", [push("dev", "prod/db")], {(W, "dev/push")}, policy=PATHS),
    Case("PushSecret writes into its own tier's path", [push("dev", "dev/db")], policy=PATHS),
    Case("PushSecret through a store writing into prod's namespace",
         [kube_store("to-prod", "dev", "prod"), push("dev", "db", stores=[{"name": "to-prod", "kind": "SecretStore"}])],
         {(W, "dev/push"), (W, "dev/to-prod")}),
]

CASES = FIND_CASES + SOURCE_REF_CASES + CLUSTER_CASES + PUSH_CASES


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_external_secrets_paths(case: Case) -> None:
    assert case.run() == case.expected


def test_a_find_message_names_the_scope_and_the_tier() -> None:
    results = dict(decisions([*STANDARD, find("dev", path="prod")], PATHS))
    (violation,) = results["dev/es"].violations
    assert violation.path == "spec.dataFrom[0].find.path"
    assert "every remote secret under 'prod'" in violation.message and "tier prod" in violation.message


def test_a_cluster_external_secret_is_enforced_with_the_target_tier() -> None:
    pol = policy({"secrets": {"pathPatterns": {"prod": ["prod/*"]}}, "enforcement": {"perTier": {"dev": "warn"}}})
    ces = cluster_external({"data": [{"secretKey": "pw", "remoteRef": {"key": "prod/db"}}]}, namespaces=["dev"])
    results = dict(decisions([*STANDARD, namespace("x"), ces], pol))
    (violation,) = results["ces"].violations
    assert violation.action.value == "warn" and "namespace dev" in violation.message
