"""workload-secret-cross-tier: consuming a flagged Secret by every path, in every container group and template
kind; external secret paths (Vault agent, Bank-Vaults, CSI SecretProviderClass, External Secrets)."""

from __future__ import annotations

from typing import Any

import pytest

from tierguard.engine.model import Rule

from .helpers import (
    WORKLOAD_KINDS,
    Case,
    Doc,
    container,
    decisions,
    ids,
    pod,
    pod_spec,
    policy,
    secret,
    violations,
    workload,
)

W = Rule.WORKLOAD_SECRET_CROSS_TIER.value
R = Rule.SECRET_REPLICATION_CROSS_TIER.value
S = Rule.SECRET_VALUE_SHARED.value

MIRROR = secret("dev", "db", {"user": "app"}, annotations={"reflector.v1.k8s.emberstack.com/reflects": "prod/db"})
"""A dev Secret that the replication rule flags: consuming it is the workload rule's business."""
CLEAN = secret("dev", "db", {"user": "app"})

# Pod-level ways to consume Secret "db", as pod spec fragments.
POD_PATHS: dict[str, dict[str, Any]] = {
    "volume secret": {"volumes": [{"name": "v", "secret": {"secretName": "db"}}]},
    "projected secret": {"volumes": [{"name": "v", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token"}}, {"secret": {"name": "db"}}]}}]},
    "imagePullSecrets": {"imagePullSecrets": [{"name": "other"}, {"name": "db"}]},
    "inline CSI nodePublishSecretRef": {"volumes": [{"name": "v", "csi": {
        "driver": "secrets-store.csi.k8s.io", "nodePublishSecretRef": {"name": "db"}}}]},
    "cephfs secretRef": {"volumes": [{"name": "v", "cephfs": {"monitors": ["m:6789"], "secretRef": {"name": "db"}}}]},
    "rbd secretRef": {"volumes": [{"name": "v", "rbd": {"monitors": ["m"], "image": "i",
                                                         "secretRef": {"name": "db"}}}]},
    "iscsi secretRef": {"volumes": [{"name": "v", "iscsi": {"targetPortal": "t", "iqn": "q", "lun": 0,
                                                             "secretRef": {"name": "db"}}}]},
    "flexVolume secretRef": {"volumes": [{"name": "v", "flexVolume": {"driver": "d", "secretRef": {"name": "db"}}}]},
    "scaleIO secretRef": {"volumes": [{"name": "v", "scaleIO": {"gateway": "g", "system": "s",
                                                                "secretRef": {"name": "db"}}}]},
    "storageos secretRef": {"volumes": [{"name": "v", "storageos": {"volumeName": "v", "secretRef": {"name": "db"}}}]},
    "azureFile secretName": {"volumes": [{"name": "v", "azureFile": {"secretName": "db", "shareName": "s"}}]},
}

# Container-level ways, as container fragments.
CONTAINER_PATHS: dict[str, dict[str, Any]] = {
    "env secretKeyRef": {"env": [{"name": "PLAIN", "value": "x"},
                                 {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "user"}}}]},
    "envFrom secretRef": {"envFrom": [{"configMapRef": {"name": "cm"}}, {"secretRef": {"name": "db"}}]},
}
GROUPS = ("containers", "initContainers", "ephemeralContainers")


def _spec_with_pod_path(path: str) -> Doc:
    return pod_spec(container(), **POD_PATHS[path])


def _spec_with_container_path(path: str, group: str) -> Doc:
    spec = pod_spec(container())
    consumer = container("consumer", **CONTAINER_PATHS[path])
    spec.setdefault(group, []).append(consumer)
    return spec


MATRIX = [
    (kind, f"{path}", _spec_with_pod_path(path)) for kind in WORKLOAD_KINDS for path in POD_PATHS
] + [
    (kind, f"{path} in {group}", _spec_with_container_path(path, group))
    for kind in WORKLOAD_KINDS for path in CONTAINER_PATHS for group in GROUPS
]


@pytest.mark.parametrize(("kind", "path", "spec"), MATRIX, ids=[f"{k}: {p}" for k, p, _ in MATRIX])
def test_every_consumption_path_in_every_kind(kind: str, path: str, spec: Doc) -> None:
    consumer = workload(kind, "dev", "app", spec)
    assert violations([*Case("", []).docs, MIRROR, consumer]) == {(R, "dev/db"), (W, "dev/app")}
    assert violations([*Case("", []).docs, CLEAN, consumer]) == set()


def test_consumption_path_is_named() -> None:
    spec = _spec_with_container_path("env secretKeyRef", "initContainers")
    results = dict(decisions([*Case("", []).docs, MIRROR, workload("CronJob", "dev", "app", spec)]))
    (violation,) = results["dev/app"].violations
    assert violation.path == "spec.jobTemplate.spec.template.spec.initContainers[0].env[1].valueFrom.secretKeyRef"
    assert "Secret dev/db" in violation.message and "secret-replication-cross-tier" in violation.message


def test_message_refers_to_the_secrets_finding_instead_of_repeating_it() -> None:
    results = dict(decisions([*Case("", []).docs, MIRROR, pod("dev", "app", pod_spec(container(envFrom=[
        {"secretRef": {"name": "db"}}])))]))
    (secret_finding,) = results["dev/db"].violations
    (violation,) = results["dev/app"].violations
    assert violation.message == ("Pod dev/app consumes Secret dev/db, which crosses tiers "
                                 "(secret-replication-cross-tier); see the finding on Secret dev/db")
    assert secret_finding.message not in violation.message and "prod" not in violation.message
    assert violation.requester_message is None


PASSWORD = "correct-horse-battery-staple"
VOLUME = {"volumes": [{"name": "v", "secret": {"secretName": "db"}}]}

CONSUMPTION_CASES = [
    Case("consumes a Secret sharing a value with prod",
         [secret("dev", "db", {"pw": PASSWORD}), secret("prod", "db", {"pw": PASSWORD}),
          pod("dev", "app", pod_spec(**VOLUME))],
         {(S, "dev/db"), (S, "prod/db"), (W, "dev/app")}),
    Case("consumes a shareable Secret",
         [secret("dev", "db", {"pw": PASSWORD}, labels={"tierguard.io/shareable": "true"}),
          secret("prod", "db", {"pw": PASSWORD}), pod("dev", "app", pod_spec(**VOLUME))]),
    Case("consumes a Secret absent from the input", [pod("dev", "app", pod_spec(**VOLUME))]),
    Case("a Secret of the same name in another namespace is not consumed",
         [secret("prod", "db", annotations={"replicator.v1.mittwald.de/replicate-from": "dev/db"}),
          pod("dev", "app", pod_spec(**VOLUME))], {(R, "prod/db")}),
    Case("consumes a replicated Secret from a Deployment in prod",
         [secret("prod", "db", annotations={"replicator.v1.mittwald.de/replicate-from": "dev/db"}),
          workload("Deployment", "prod", "app", pod_spec(**VOLUME))], {(R, "prod/db"), (W, "prod/app")}),
]

VAULT = "vault.hashicorp.com/"
BANK = "vault.security.banzaicloud.io/"
PATHS = policy({"secrets": {"pathPatterns": {
    "prod": ["secret/data/prod/*", "kv/prod/*", "prod-*"],
    "dev": ["secret/data/dev/*", "dev-*"],
}}})


def vault_app(ns: str, kind: str = "Deployment", spec: Doc | None = None, **annotations: str) -> Doc:
    return workload(kind, ns, "app", spec, annotations=annotations)


def bank_vaults_env(value: str, group: str = "containers") -> Doc:
    spec = pod_spec(container())
    spec.setdefault(group, []).append(container("job", env=[{"name": "DB_PASSWORD", "value": value}]))
    return spec


def template(path: str) -> str:
    return "{{- with secret \"" + path + "\" -}}{{ .Data.data.password }}{{- end }}"


PATH_CASES = [
    Case("vault agent: dev app injects a prod path",
         [vault_app("dev", **{VAULT + "agent-inject": "true",
                              VAULT + "agent-inject-secret-db": "secret/data/prod/db"})],
         {(W, "dev/app")}, policy=PATHS),
    Case("vault agent: dev app injects a dev path",
         [vault_app("dev", **{VAULT + "agent-inject-secret-db": "secret/data/dev/db"})], policy=PATHS),
    Case("vault agent: prod app injects a prod path",
         [vault_app("prod", **{VAULT + "agent-inject-secret-db": "kv/prod/db"})], policy=PATHS),
    Case("vault agent: a path no tier claims",
         [vault_app("dev", **{VAULT + "agent-inject-secret-db": "secret/data/shared/db"})], policy=PATHS),
    Case("vault agent: a leading slash does not hide the path",
         [vault_app("dev", **{VAULT + "agent-inject-secret-db": "/secret/data/prod/db"})], {(W, "dev/app")},
         policy=PATHS),
    Case("vault agent: a Pod", [vault_app("dev", "Pod", **{VAULT + "agent-inject-secret-db": "kv/prod/db"})],
         {(W, "dev/app")}, policy=PATHS),
    Case("vault agent: a CronJob", [vault_app("dev", "CronJob", **{VAULT + "agent-inject-secret-db": "kv/prod/x"})],
         {(W, "dev/app")}, policy=PATHS),
    Case("vault agent: template naming a prod path",
         [vault_app("dev", **{VAULT + "agent-inject-template-db": template("secret/data/prod/db")})],
         {(W, "dev/app")}, policy=PATHS),
    Case("vault agent: template naming a dev path",
         [vault_app("dev", **{VAULT + "agent-inject-template-db": template("secret/data/dev/db")})], policy=PATHS),
    Case("vault agent: role of another tier", [vault_app("dev", **{VAULT + "role": "prod-payments"})],
         {(W, "dev/app")}, policy=PATHS),
    Case("vault agent: role of its own tier", [vault_app("dev", **{VAULT + "role": "dev-payments"})], policy=PATHS),
    Case("vault agent: without pathPatterns nothing is judged",
         [vault_app("dev", **{VAULT + "agent-inject-secret-db": "secret/data/prod/db"})]),
    Case("vault annotations on the Deployment itself are not the pod's", [
        {**workload("Deployment", "dev", "app"),
         "metadata": {"name": "app", "namespace": "dev",
                      "annotations": {VAULT + "agent-inject-secret-db": "secret/data/prod/db"}}}], policy=PATHS),
    Case("bank-vaults: vault: env value", [vault_app("dev", spec=bank_vaults_env("vault:secret/data/prod/db#pw"))],
         {(W, "dev/app")}, policy=PATHS),
    Case("bank-vaults: >>vault: env value with version",
         [vault_app("dev", spec=bank_vaults_env(">>vault:kv/prod/db#pw#2"))], {(W, "dev/app")}, policy=PATHS),
    Case("bank-vaults: in an init container",
         [vault_app("dev", "Job", spec=bank_vaults_env("vault:kv/prod/db#pw", "initContainers"))],
         {(W, "dev/app")}, policy=PATHS),
    Case("bank-vaults: own tier's path", [vault_app("dev", spec=bank_vaults_env("vault:secret/data/dev/db#pw"))],
         policy=PATHS),
    Case("bank-vaults: an ordinary value mentioning vault",
         [vault_app("dev", spec=bank_vaults_env("see vault:secret/data/prod/db"))], policy=PATHS),
    Case("bank-vaults: vault-env-from-path",
         [vault_app("dev", **{BANK + "vault-env-from-path": "secret/data/dev/a, secret/data/prod/b"})],
         {(W, "dev/app")}, policy=PATHS),
    Case("bank-vaults: vault-role", [vault_app("dev", **{BANK + "vault-role": "prod-reader"})], {(W, "dev/app")},
         policy=PATHS),
]


def provider_class(ns: str, objects: str, role: str = "") -> Doc:
    parameters = {"vaultAddress": "https://vault:8200", "objects": objects}
    if role:
        parameters["roleName"] = role
    return {"apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
            "metadata": {"name": "spc", "namespace": ns}, "spec": {"provider": "vault", "parameters": parameters}}


def vault_objects(*paths: str) -> str:
    return "".join(f'- objectName: "o{i}"\n  secretPath: "{p}"\n  secretKey: "password"\n' for i, p in enumerate(paths))


def external_secret(ns: str, *keys: str, store: str = "", store_kind: str = "SecretStore",
                    extract: str = "") -> Doc:
    spec: Doc = {"data": [{"secretKey": f"k{i}", "remoteRef": {"key": key}} for i, key in enumerate(keys)]}
    if store:
        spec["secretStoreRef"] = {"name": store, "kind": store_kind}
    if extract:
        spec["dataFrom"] = [{"extract": {"key": extract}}]
    return {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "es", "namespace": ns}, "spec": spec}


def store(kind: str, ns: str | None, remote: str | None, conditions: list[Doc] | None = None) -> Doc:
    kubernetes: Doc = {"server": {"caProvider": {"type": "ConfigMap", "name": "kube-root-ca.crt", "key": "ca.crt"}}}
    if remote is not None:
        kubernetes["remoteNamespace"] = remote
    metadata: Doc = {"name": "store"}
    if ns is not None:
        metadata["namespace"] = ns
    spec: Doc = {"provider": {"kubernetes": kubernetes}}
    if conditions is not None:
        spec["conditions"] = conditions
    return {"apiVersion": "external-secrets.io/v1", "kind": kind, "metadata": metadata, "spec": spec}


STORE_CASES = [
    Case("SecretProviderClass: dev class names a prod path",
         [provider_class("dev", vault_objects("secret/data/dev/a", "secret/data/prod/db"))], {(W, "dev/spc")},
         policy=PATHS),
    Case("SecretProviderClass: dev class names dev paths",
         [provider_class("dev", vault_objects("secret/data/dev/a"))], policy=PATHS),
    Case("SecretProviderClass: role of another tier",
         [provider_class("dev", vault_objects("secret/data/dev/a"), role="prod-reader")], {(W, "dev/spc")},
         policy=PATHS),
    Case("SecretProviderClass: objects is not YAML", [provider_class("dev", "- [unclosed")],
         {("policy-invalid", "dev/spc")}, policy=PATHS),
    Case("SecretProviderClass: objects is not a list", [provider_class("dev", "secretPath: x")],
         {("policy-invalid", "dev/spc")}, policy=PATHS),
    Case("ExternalSecret: remote key of another tier", [external_secret("dev", "secret/data/prod/db")],
         {(W, "dev/es")}, policy=PATHS),
    Case("ExternalSecret: dataFrom extract of another tier",
         [external_secret("dev", "secret/data/dev/db", extract="kv/prod/all")], {(W, "dev/es")}, policy=PATHS),
    Case("ExternalSecret: remote key of its own tier", [external_secret("dev", "secret/data/dev/db")],
         policy=PATHS),
    Case("ExternalSecret via a SecretStore reading prod",
         [store("SecretStore", "dev", "prod"), external_secret("dev", "db", store="store")],
         {(W, "dev/store"), (W, "dev/es")}),
    Case("ExternalSecret via a SecretStore reading its own tier",
         [store("SecretStore", "dev", "dev-b"), external_secret("dev", "db", store="store")]),
    Case("SecretStore without remoteNamespace reads 'default' (untiered)", [store("SecretStore", "dev", None)],
         {(W, "dev/store")}),
    Case("SecretStore reading an untiered namespace", [store("SecretStore", "prod", "shared")],
         {(W, "prod/store")}),
    Case("ClusterSecretStore reading prod, usable by every tier", [store("ClusterSecretStore", None, "prod")],
         {(W, "store")}),
    Case("ClusterSecretStore reading prod, limited to prod namespaces",
         [store("ClusterSecretStore", None, "prod", [{"namespaces": ["prod", "prod-b"]}])]),
    Case("ClusterSecretStore reading prod, limited by the tier label",
         [store("ClusterSecretStore", None, "prod",
                [{"namespaceSelector": {"matchLabels": {"tierguard.io/tier": "prod"}}}])]),
    Case("ClusterSecretStore reading prod, conditions reaching dev",
         [store("ClusterSecretStore", None, "prod", [{"namespaces": ["prod"]}, {"namespaces": ["dev"]}])],
         {(W, "store")}),
    Case("ClusterSecretStore reading prod, conditions by regex",
         [store("ClusterSecretStore", None, "prod", [{"namespaceRegexes": ["prod-.*"]}])], {(W, "store")}),
    Case("ClusterSecretStore reading an untiered namespace", [store("ClusterSecretStore", None, "shared")]),
    Case("dev ExternalSecret through a prod-only ClusterSecretStore",
         [store("ClusterSecretStore", None, "prod", [{"namespaces": ["prod"]}]),
          external_secret("dev", "db", store="store", store_kind="ClusterSecretStore"),
          {**external_secret("prod", "db", store="store", store_kind="ClusterSecretStore")}],
         {(W, "dev/es")}),
    Case("ExternalSecret naming a store absent from the input", [external_secret("dev", "db", store="missing")]),
]

CASES = CONSUMPTION_CASES + PATH_CASES + STORE_CASES


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_workloads_and_stores(case: Case) -> None:
    assert case.run() == case.expected


def test_vault_message_names_path_and_tiers() -> None:
    app = vault_app("dev", **{VAULT + "agent-inject-secret-db": "secret/data/prod/db"})
    results = dict(decisions([*Case("", []).docs, app], PATHS))
    (violation,) = results["dev/app"].violations
    assert violation.path == "spec.template.metadata.annotations[vault.hashicorp.com/agent-inject-secret-db]"
    assert "'secret/data/prod/db'" in violation.message and "tier prod" in violation.message
    assert "tier dev" in violation.message
    assert "in spec.template.metadata.annotations[vault.hashicorp.com/agent-inject-secret-db]" in violation.message
