"""Item 10 of issue 10, decided in docs/rules.md: Secrets named by Vault agent / Bank-Vaults annotations are
consumed; a claim without ``storageClassName`` uses the default StorageClass; Istio and Linkerd never inject
``hostNetwork: true`` pods."""

from __future__ import annotations

from typing import Any

import pytest

from tierguard.engine.model import Rule

from .helpers import (
    ISTIO_POLICY,
    Case,
    Doc,
    container,
    decisions,
    ids,
    namespace,
    pod_spec,
    secret,
    tiers,
    workload,
)

W = Rule.WORKLOAD_SECRET_CROSS_TIER.value
V = Rule.VOLUME_SECRET_CROSS_TIER.value
M = Rule.SIDECAR_MISSING.value
MIRROR = secret("dev", "vault-ca", {"ca.crt": "x"}, annotations={"reflector.v1.k8s.emberstack.com/reflects": "prod/ca"})
R = Rule.SECRET_REPLICATION_CROSS_TIER.value
VAULT = "vault.hashicorp.com/"


def vault_pod(**annotations: str) -> Doc:
    return workload("Deployment", "dev", "app", annotations=annotations)


VAULT_CASES = [
    Case("agent-extra-secret names a flagged Secret",
         [MIRROR, vault_pod(**{VAULT + "agent-inject": "true", VAULT + "agent-extra-secret": "vault-ca"})],
         {(R, "dev/vault-ca"), (W, "dev/app")}),
    Case("tls-secret names a flagged Secret",
         [MIRROR, vault_pod(**{VAULT + "agent-inject": "1", VAULT + "tls-secret": "vault-ca"})],
         {(R, "dev/vault-ca"), (W, "dev/app")}),
    Case("agent-extra-secret without injection mounts nothing",
         [MIRROR, vault_pod(**{VAULT + "agent-inject": "false", VAULT + "agent-extra-secret": "vault-ca"})],
         {(R, "dev/vault-ca")}),
    Case("Bank-Vaults vault-tls-secret names a flagged Secret",
         [MIRROR, vault_pod(**{"vault.security.banzaicloud.io/vault-tls-secret": "vault-ca"})],
         {(R, "dev/vault-ca"), (W, "dev/app")}),
    Case("agent-extra-secret names a clean Secret",
         [secret("dev", "vault-ca", {"ca.crt": "x"}),
          vault_pod(**{VAULT + "agent-inject": "true", VAULT + "agent-extra-secret": "vault-ca"})]),
]


def storage_class(name: str, secret_namespace: str, *, default: bool) -> Doc:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": name, "annotations": annotations}, "provisioner": "rbd.csi.ceph.com",
            "parameters": {"csi.storage.k8s.io/node-stage-secret-namespace": secret_namespace}}


def claim(name: str, spec: Doc) -> Doc:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "dev"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, **spec}}


def claiming_pod(volume: Doc) -> Doc:
    return workload("Pod", "dev", "db", pod_spec(container(), volumes=[{"name": "data", **volume}]))


PVC_VOLUME = {"persistentVolumeClaim": {"claimName": "data"}}
EPHEMERAL: dict[str, Any] = {"ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}}
PROD_DEFAULT = storage_class("fast", "prod", default=True)

STORAGE_CASES = [
    Case("a claim without storageClassName uses the default class",
         [PROD_DEFAULT, claim("data", {}), claiming_pod(PVC_VOLUME)], {(V, "fast"), (V, "dev/db")}),
    Case('a claim with storageClassName "" uses no class',
         [PROD_DEFAULT, claim("data", {"storageClassName": ""}), claiming_pod(PVC_VOLUME)], {(V, "fast")}),
    Case("a claim of a named class ignores the default",
         [PROD_DEFAULT, storage_class("own", "${pvc.namespace}", default=False),
          claim("data", {"storageClassName": "own"}), claiming_pod(PVC_VOLUME)], {(V, "fast")}),
    Case("an ephemeral claim template without a class uses the default",
         [PROD_DEFAULT, claiming_pod(EPHEMERAL)], {(V, "fast"), (V, "dev/db")}),
    Case("a default class that is not marked default is not used",
         [storage_class("fast", "prod", default=False), claim("data", {}), claiming_pod(PVC_VOLUME)],
         {(V, "fast")}),
]

MESH = [*tiers(dev="dev"), namespace("mesh", "dev", labels={"istio-injection": "enabled"})]


def mesh_deployment(**spec: Any) -> Doc:
    return workload("Deployment", "mesh", "agent", pod_spec(container(), **spec))


SIDECAR_CASES = [
    Case("hostNetwork pods are never injected", [mesh_deployment(hostNetwork=True)], {(M, "mesh/agent")},
         policy=ISTIO_POLICY, namespaces=MESH),
    Case("the same template without hostNetwork is injected", [mesh_deployment()], policy=ISTIO_POLICY,
         namespaces=MESH),
    Case("hostNetwork false is injected", [mesh_deployment(hostNetwork=False)], policy=ISTIO_POLICY, namespaces=MESH),
    Case("hostNetwork with the proxy present is fine",
         [mesh_deployment(hostNetwork=True, containers=[container(), container("istio-proxy")])],
         policy=ISTIO_POLICY, namespaces=MESH),
]

CASES = VAULT_CASES + STORAGE_CASES + SIDECAR_CASES


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_lesser_cases(case: Case) -> None:
    assert case.run() == case.expected


def test_the_host_network_message_says_why() -> None:
    results = dict(decisions([*MESH, mesh_deployment(hostNetwork=True)], ISTIO_POLICY))
    (violation,) = results["mesh/agent"].violations
    assert "hostNetwork: true" in violation.message

