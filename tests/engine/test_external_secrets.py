"""External Secrets: every field through which an ExternalSecret, ClusterExternalSecret, PushSecret,
ClusterPushSecret or generator names a remote secret, in the API versions ESO serves (issue 10, item 7; issue 25).

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


def pushed_to(ns: str, remote: str, store_kind: str = "ClusterSecretStore") -> Doc:
    """A PushSecret whose entry's PushSecretMetadata names the namespace the kubernetes provider writes into."""
    doc = push(ns, "db", stores=[{"name": "vault", "kind": store_kind}])
    doc["spec"]["data"][0]["metadata"] = {"apiVersion": "kubernetes.external-secrets.io/v1alpha1",
                                          "kind": "PushSecretMetadata", "spec": {"remoteNamespace": remote}}
    return doc


def bulk(ns: str, **data_to: object) -> Doc:
    """A PushSecret pushing Secret ``local`` by ``dataTo`` (ESO's docs/examples/pushsecret-datato.md)."""
    doc = push(ns)
    doc["spec"]["dataTo"] = [{"storeRef": {"name": "vault", "kind": "ClusterSecretStore"}, **data_to}]
    return doc


def local_secret(ns: str) -> Doc:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "local", "namespace": ns},
            "stringData": {"db-user": "app", "db-password": "a long enough password", "api-key": "k"}}


def vault_store(name: str) -> Doc:
    return {"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": name},
            "spec": {"provider": {"vault": {"server": "http://vault:8200", "path": "secret"}}}}


FIND_CASES = [
    Case("an empty find reads the whole store (senhasegura's docs: dataFrom: [{find: {}}])", [find("dev")],
         {(W, "dev/es")}, policy=PATHS),
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

def kv_store(name: str, ns: str | None, path: str | None, version: str | None = None) -> Doc:
    """A Vault store of ESO's vault provider: ``path`` is the KV mount, ``version`` v2 unless given."""
    vault: Doc = {"server": "http://vault:8200", **({"path": path} if path is not None else {}),
                  **({"version": version} if version else {})}
    kind = "SecretStore" if ns else "ClusterSecretStore"
    return {"apiVersion": "external-secrets.io/v1", "kind": kind,
            "metadata": {"name": name, **({"namespace": ns} if ns else {})}, "spec": {"provider": {"vault": vault}}}


MOUNT_PATHS = policy({"secrets": {"pathPatterns": {"dev": ["secret/data/dev/*", "kv1/dev/*"],
                                                   "prod": ["secret/data/prod/*", "kv1/prod/*"]}}})
"""Patterns written as Vault's full paths, as VSO's and the Vault agent's are."""

VAULT_JOIN_CASES = [
    # The vault provider reads a key under its store's mount (providers/v1/vault buildPath): <path>/data/<key>
    # for KV v2 (the default), <path>/<key> for v1, a key already under the mount kept; with no mount, kv v2's
    # "data" goes after the key's first segment.
    Case("key under a kv-v2 store's mount of another tier", [kv_store("vault", None, "secret"), external(
        "dev", {"data": [{"secretKey": "pw", "remoteRef": {"key": "prod/db"}}]})], {(W, "dev/es")},
         policy=MOUNT_PATHS),
    Case("a mount written with a trailing slash", [kv_store("vault", None, "secret/"), external(
        "dev", {"data": [{"secretKey": "pw", "remoteRef": {"key": "prod/db"}}]})], {(W, "dev/es")},
         policy=MOUNT_PATHS),
    Case("key already naming the mount", [kv_store("vault", None, "secret"), external(
        "dev", {"data": [{"secretKey": "pw", "remoteRef": {"key": "secret/prod/db"}}]})], {(W, "dev/es")},
         policy=MOUNT_PATHS),
    Case("key under a kv-v2 store's mount of its own tier", [kv_store("vault", None, "secret"), external(
        "dev", {"data": [{"secretKey": "pw", "remoteRef": {"key": "dev/db"}}]})], policy=MOUNT_PATHS),
    Case("key under a kv-v1 store's mount of another tier", [kv_store("vault", None, "kv1", "v1"), external(
        "dev", {"data": [{"secretKey": "pw", "remoteRef": {"key": "prod/db"}}]})], {(W, "dev/es")},
         policy=MOUNT_PATHS),
    Case("a store without a mount: kv v2 puts data after the first segment", [kv_store("vault", None, None), external(
        "dev", {"data": [{"secretKey": "pw", "remoteRef": {"key": "secret/prod/db"}}]})], {(W, "dev/es")},
         policy=MOUNT_PATHS),
    Case("a find under a kv-v2 store's mount", [kv_store("vault", None, "secret"), find("dev", path="prod")],
         {(W, "dev/es")}, policy=MOUNT_PATHS),
    Case("a PushSecret writing under a kv-v2 store's mount of another tier",
         [kv_store("vault", None, "secret"), push("dev", "prod/db")], {(W, "dev/push")}, policy=MOUNT_PATHS),
    Case("a PushSecret writing under its own tier's mount path",
         [kv_store("vault", None, "secret"), push("dev", "dev/db")], policy=MOUNT_PATHS),
    Case("a store of another provider is not joined", [
        {**kv_store("vault", None, "secret"), "spec": {"provider": {"aws": {"service": "SecretsManager"}}}},
        external("dev", {"data": [{"secretKey": "pw", "remoteRef": {"key": "prod/db"}}]})], policy=MOUNT_PATHS),
]

PUSH_CASES = [
    Case("PushSecret writes into another tier's path", [push("dev", "prod/db")], {(W, "dev/push")}, policy=PATHS),
    Case("PushSecret writes into its own tier's path", [push("dev", "dev/db")], policy=PATHS),
    Case("PushSecret through a store writing into prod's namespace",
         [kube_store("to-prod", "dev", "prod"), push("dev", "db", stores=[{"name": "to-prod", "kind": "SecretStore"}])],
         {(W, "dev/push"), (W, "dev/to-prod")}),
    # The kubernetes provider writes an entry into data[].metadata's remoteNamespace instead of the store's, and
    # only through a ClusterSecretStore (providers/v1/kubernetes/client.go, PushSecret; ESO #5998).
    Case("PushSecret metadata remoteNamespace of another tier through a ClusterSecretStore",
         [pushed_to("dev", "prod")], {(W, "dev/push")}),
    Case("PushSecret metadata remoteNamespace of an unknown (untiered) namespace",
         [pushed_to("dev", "nowhere")], {(W, "dev/push")}),
    Case("PushSecret metadata remoteNamespace of its own tier", [pushed_to("dev", "dev-b")]),
    Case("PushSecret metadata remoteNamespace through a SecretStore: ESO refuses the override",
         [pushed_to("dev", "prod", store_kind="SecretStore")]),
    Case("PushSecret metadata remoteNamespace through a known store of another provider",
         [vault_store("vault"), pushed_to("dev", "prod")]),
    # dataTo (bulk push, pkg/controllers/pushsecret expandSingleDataTo): a remoteKey bundles every matched key
    # into that one remote secret; without one, each matched key of the source Secret is its own remote secret,
    # named by the key after the regexp rewrites.
    Case("PushSecret dataTo bundling into another tier's remoteKey", [bulk("dev", remoteKey="prod/bundle")],
         {(W, "dev/push")}, policy=PATHS),
    Case("PushSecret dataTo bundling into its own tier's remoteKey", [bulk("dev", remoteKey="dev/bundle")],
         policy=PATHS),
    Case("PushSecret dataTo rewriting the Secret's keys into another tier's paths", [
        local_secret("dev"), bulk("dev", rewrite=[{"regexp": {"source": "^(.*)$", "target": "prod/${1}"}}])],
         {(W, "dev/push")}, policy=PATHS),
    Case("PushSecret dataTo rewriting only keys the match leaves out", [local_secret("dev"), bulk(
        "dev", match={"regexp": "^db-"}, rewrite=[{"regexp": {"source": "^api-(.*)$", "target": "prod/$1"}}])],
         policy=PATHS),
    Case("PushSecret dataTo rewriting the Secret's keys into its own tier's paths", [
        local_secret("dev"), bulk("dev", rewrite=[{"regexp": {"source": "^", "target": "dev/"}}])], policy=PATHS),
    Case("PushSecret dataTo of a Secret not known here: its keys cannot be named",
         [bulk("dev", rewrite=[{"regexp": {"source": "^(.*)$", "target": "prod/$1"}}])], policy=PATHS),
    Case("PushSecret dataTo metadata remoteNamespace of another tier", [bulk("dev", metadata={
        "apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata",
        "spec": {"remoteNamespace": "prod"}})], {(W, "dev/push")}),
    Case("PushSecret metadata remoteNamespace through a known kubernetes ClusterSecretStore",
         [kube_store("vault", None, "dev-b"), pushed_to("dev", "prod")], {(W, "dev/push"), (W, "vault")}),
]



def cluster_push(*keys: str, stores: list[Doc] | None = None, **selection: object) -> Doc:
    inner = push("x", *keys, stores=stores)["spec"]
    return {"apiVersion": "external-secrets.io/v1alpha1", "kind": "ClusterPushSecret", "metadata": {"name": "cps"},
            "spec": {"pushSecretName": "push", "pushSecretSpec": inner, **selection}}


DEV_NAMESPACES = {"namespaceSelectors": [{"matchLabels": {"tierguard.io/tier": "dev"}}]}
PROD_NAMESPACES = {"namespaceSelectors": [{"matchLabels": {"tierguard.io/tier": "prod"}}]}

CLUSTER_PUSH_CASES = [
    Case("ClusterPushSecret pushing dev namespaces' Secrets into a prod path",
         [cluster_push("prod/db", **DEV_NAMESPACES)], {(W, "cps")}, policy=PATHS),
    Case("ClusterPushSecret pushing prod namespaces' Secrets into a prod path",
         [cluster_push("prod/db", **PROD_NAMESPACES)], policy=PATHS),
    Case("ClusterPushSecret through a store writing into prod's namespace, from dev",
         [kube_store("to-prod", None, "prod"),
          cluster_push("db", stores=[{"name": "to-prod", "kind": "ClusterSecretStore"}], namespaces=["dev"])],
         {(W, "cps"), (W, "to-prod")}),
    Case("ClusterPushSecret's PushSecrets in dev writing into prod by metadata remoteNamespace",
         [{**cluster_push("db", namespaces=["dev"]), "spec": {
             "pushSecretSpec": pushed_to("x", "prod")["spec"], "namespaces": ["dev"]}}], {(W, "cps")}),
    Case("ClusterPushSecret selecting nothing", [cluster_push("prod/db", namespaceSelectors=[
        {"matchLabels": {"no": "such"}}])], policy=PATHS),
]

GENERATORS = "generators.external-secrets.io/v1alpha1"
VAULT_PATHS = policy({"secrets": {"pathPatterns": {"dev": ["database/creds/dev-*", "dev-*"],
                                                   "prod": ["database/creds/prod-*", "prod-*"]}}})


def vault_generator(ns: str, path: str, role: str = "eso") -> Doc:
    return {"apiVersion": GENERATORS, "kind": "VaultDynamicSecret", "metadata": {"name": "db", "namespace": ns},
            "spec": {"path": path, "method": "GET", "provider": {
                "server": "http://vault:8200", "auth": {"kubernetes": {"mountPath": "kubernetes", "role": role}}}}}


def cluster_generator(kind: str, generator: Doc) -> Doc:
    return {"apiVersion": GENERATORS, "kind": "ClusterGenerator", "metadata": {"name": "gen"},
            "spec": {"kind": kind, "generator": generator}}


GENERATOR_CASES = [
    Case("VaultDynamicSecret generator reading another tier's path",
         [vault_generator("dev", "database/creds/prod-ro")], {(W, "dev/db")}, policy=VAULT_PATHS),
    Case("VaultDynamicSecret generator reading its tier's path",
         [vault_generator("dev", "database/creds/dev-ro")], policy=VAULT_PATHS),
    Case("VaultDynamicSecret generator logging in with another tier's role",
         [vault_generator("dev", "database/creds/dev-ro", role="prod-eso")], {(W, "dev/db")}, policy=VAULT_PATHS),
    Case("VaultDynamicSecret generator without pathPatterns", [vault_generator("dev", "database/creds/prod-ro")]),
    Case("ClusterGenerator of a tier's Vault path: every tier may use it",
         [cluster_generator("VaultDynamicSecret", {"vaultDynamicSecretSpec": vault_generator("x", "database/creds/"
                                                                                             "prod-ro")["spec"]})],
         {(W, "gen")}, policy=VAULT_PATHS),
    Case("ClusterGenerator of a path no tier claims",
         [cluster_generator("VaultDynamicSecret", {"vaultDynamicSecretSpec": vault_generator("x", "pki/issue/web",
                                                                                             role="eso")["spec"]})],
         policy=VAULT_PATHS),
    Case("ClusterGenerator of passwords", [cluster_generator("Password", {"passwordSpec": {"length": 42}})],
         policy=VAULT_PATHS),
    # Every generator reads its secretRefs in the namespace of the ExternalSecret or PushSecret using it, whatever
    # namespace the ref names (resolvers.EmptyStoreKind; generators/v1/*): a namespace there moves nothing.
    Case("a generator's secretRef naming another tier's namespace is read in its own",
         [{"apiVersion": GENERATORS, "kind": "GithubAccessToken", "metadata": {"name": "gh", "namespace": "dev"},
           "spec": {"appID": "1", "installID": "2", "auth": {"privateKey": {"secretRef": {
               "name": "github-app", "key": "pem", "namespace": "prod"}}}}},
          cluster_generator("ECRAuthorizationToken", {"ecrAuthorizationTokenSpec": {
              "region": "eu-west-1", "auth": {"secretRef": {"accessKeyIDSecretRef": {
                  "name": "aws", "key": "id", "namespace": "prod"}}}}})], policy=VAULT_PATHS),
    Case("VSO's VaultDynamicSecret is another kind (secrets.hashicorp.com)",
         [{"apiVersion": "secrets.hashicorp.com/v1beta1", "kind": "VaultDynamicSecret",
           "metadata": {"name": "db", "namespace": "dev"},
           "spec": {"mount": "database", "path": "creds/dev-ro"}}], policy=VAULT_PATHS),
]

CASES = (FIND_CASES + SOURCE_REF_CASES + CLUSTER_CASES + VAULT_JOIN_CASES + PUSH_CASES + CLUSTER_PUSH_CASES
         + GENERATOR_CASES)


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


def test_a_cluster_scoped_object_is_not_given_a_tier_of_its_own() -> None:
    """The message places the object the ClusterExternalSecret makes, not the cluster-scoped object itself."""
    ces = cluster_external({"data": [{"secretKey": "pw", "remoteRef": {"key": "prod/db"}}]}, namespaces=["dev"])
    (violation,) = dict(decisions([*STANDARD, ces], PATHS))["ces"].violations
    assert violation.message == (
        "ClusterExternalSecret ces's ExternalSecret in namespace dev (tier dev) names secret path 'prod/db' in "
        "spec.externalSecretSpec.data[0].remoteRef.key, which belongs to tier prod; use a path of tier dev")


def test_a_store_finding_names_the_store_once() -> None:
    found = dict(decisions([*STANDARD, kube_store("to-prod", "dev", "prod"),
                            push("dev", "db", stores=[{"name": "to-prod", "kind": "SecretStore"}])]))
    (violation,) = found["dev/push"].violations
    assert violation.message == (
        "PushSecret dev/push (tier dev) uses SecretStore to-prod, which reaches Secrets of namespace prod (tier prod); "
        "use a store that reaches only namespaces of tier dev")


def test_a_cluster_push_secret_says_where_it_writes_and_is_enforced_in_the_pushing_tier() -> None:
    pol = policy({"secrets": {"pathPatterns": {"prod": ["prod/*"]}}, "enforcement": {"perTier": {"dev": "warn"}}})
    (violation,) = dict(decisions([*STANDARD, cluster_push("prod/db", namespaces=["dev"])], pol))["cps"].violations
    assert violation.action.value == "warn"
    assert violation.message.startswith("ClusterPushSecret cps's PushSecret in namespace dev (tier dev) writes to "
                                        "secret path 'prod/db'")


def test_a_cluster_generator_is_enforced_in_the_tier_of_its_path() -> None:
    pol = policy({"secrets": {"pathPatterns": {"prod": ["database/creds/prod-*"]}},
                  "enforcement": {"perTier": {"prod": "audit"}}})
    generator = cluster_generator("VaultDynamicSecret", {"vaultDynamicSecretSpec": {"path": "database/creds/prod-ro"}})
    (violation,) = dict(decisions([*STANDARD, generator], pol))["gen"].violations
    assert violation.action.value == "audit" and violation.path == "spec.generator.vaultDynamicSecretSpec.path"
    assert "(cluster-scoped)" in violation.message and "tier prod" in violation.message


def test_a_bulk_push_names_the_remote_paths_of_one_entry_once() -> None:
    doc = bulk("dev", rewrite=[{"regexp": {"source": "^(.*)$", "target": "prod/${1}"}}])
    (violation,) = dict(decisions([*Case("", []).docs, local_secret("dev"), doc], PATHS))["dev/push"].violations
    assert violation.path == "spec.dataTo[0]"
    assert violation.message == (
        "PushSecret dev/push (tier dev) writes to secret paths 'prod/api-key', 'prod/db-password', 'prod/db-user' in "
        "spec.dataTo[0], which belong to tier prod; use a path of tier dev")


def test_a_joined_vault_path_is_named_with_how_it_was_joined() -> None:
    docs = [kv_store("vault", None, "secret"),
            external("dev", {"data": [{"secretKey": "pw", "remoteRef": {"key": "prod/db"}}]})]
    (violation,) = dict(decisions([*Case("", []).docs, *docs], MOUNT_PATHS))["dev/es"].violations
    assert violation.message == (
        "ExternalSecret dev/es (tier dev) names secret path 'secret/data/prod/db' (key 'prod/db' under "
        "ClusterSecretStore vault's Vault mount) in spec.data[0].remoteRef.key, which belongs to tier prod; use a "
        "path of tier dev")
