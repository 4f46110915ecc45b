"""volume-secret-cross-tier: PersistentVolumes, StorageClasses and the Pods that use them."""

from __future__ import annotations

import pytest

from tierguard.engine.model import Rule

from .helpers import Case, Doc, decisions, ids, namespace, pod, pod_spec, workload

V = Rule.VOLUME_SECRET_CROSS_TIER.value
NAMESPACES = [*Case("", []).docs, namespace("ceph-csi")]


def pv(name: str = "pv", *, claim: tuple[str, str] | None = None, csi: dict[str, str] | None = None,
       **legacy: Doc) -> Doc:
    """A PV; ``csi`` maps a CSI secret-ref field to its namespace."""
    spec: Doc = {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], **legacy}
    if csi is not None:
        spec["csi"] = {"driver": "rbd.csi.ceph.com", "volumeHandle": "h",
                       **{field: {"name": "creds", "namespace": ns} for field, ns in csi.items()}}
    if claim is not None:
        spec["claimRef"] = {"namespace": claim[0], "name": claim[1]}
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}


def storage_class(name: str = "sc", **parameters: str) -> Doc:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
            "provisioner": "rbd.csi.ceph.com", "parameters": {"clusterID": "c", **parameters}}


def claim(ns: str, name: str = "data", *, storage_class_name: str = "", volume_name: str = "") -> Doc:
    spec: Doc = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if storage_class_name:
        spec["storageClassName"] = storage_class_name
    if volume_name:
        spec["volumeName"] = volume_name
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": ns},
            "spec": spec}


def using_claim(ns: str, kind: str = "Pod", name: str = "data") -> Doc:
    return workload(kind, ns, "app", pod_spec(volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": name}}]))


NODE_STAGE = "csi.storage.k8s.io/node-stage-secret-namespace"
PROVISIONER = "csi.storage.k8s.io/provisioner-secret-namespace"
CSI_FIELDS = ("nodePublishSecretRef", "nodeStageSecretRef", "controllerPublishSecretRef",
              "controllerExpandSecretRef", "nodeExpandSecretRef")

CASES = [
    *[Case(f"PV claimed from dev, {field} in prod", [pv(claim=("dev", "data"), csi={field: "prod"})], {(V, "pv")},
           namespaces=NAMESPACES) for field in CSI_FIELDS],
    Case("PV claimed from dev, secret in dev-b", [pv(claim=("dev", "data"), csi={"nodeStageSecretRef": "dev-b"})],
         namespaces=NAMESPACES),
    Case("PV claimed from prod, secret in prod", [pv(claim=("prod", "data"), csi={"nodeStageSecretRef": "prod"})],
         namespaces=NAMESPACES),
    Case("PV claimed from dev, secret in the platform's untiered namespace",
         [pv(claim=("dev", "data"), csi={"nodeStageSecretRef": "ceph-csi"})], namespaces=NAMESPACES),
    Case("PV claimed from an untiered namespace, secret in prod",
         [pv(claim=("shared", "data"), csi={"nodeStageSecretRef": "prod"})], {(V, "pv")}, namespaces=NAMESPACES),
    Case("unbound PV naming a prod secret", [pv(csi={"nodePublishSecretRef": "prod"})], {(V, "pv")},
         namespaces=NAMESPACES),
    Case("unbound PV naming an untiered secret", [pv(csi={"nodePublishSecretRef": "ceph-csi"})],
         namespaces=NAMESPACES),
    Case("PV without secret refs", [pv(claim=("dev", "data"))], namespaces=NAMESPACES),
    Case("legacy rbd secretRef", [pv(claim=("dev", "data"), rbd={"monitors": ["m"], "image": "i",
                                                                  "secretRef": {"name": "c", "namespace": "prod"}})],
         {(V, "pv")}, namespaces=NAMESPACES),
    Case("legacy cephfs secretRef", [pv(claim=("qa", "data"), cephfs={
        "monitors": ["m"], "secretRef": {"name": "c", "namespace": "stage"}})], {(V, "pv")}, namespaces=NAMESPACES),
    Case("azureFile secretNamespace", [pv(claim=("dev", "data"), azureFile={
        "secretName": "c", "secretNamespace": "prod", "shareName": "s"})], {(V, "pv")}, namespaces=NAMESPACES),
    Case("StorageClass with a fixed prod namespace", [storage_class(**{NODE_STAGE: "prod"})], {(V, "sc")},
         namespaces=NAMESPACES),
    Case("StorageClass provisioner secret in a fixed dev namespace", [storage_class(**{PROVISIONER: "dev"})],
         {(V, "sc")}, namespaces=NAMESPACES),
    Case("StorageClass with ${pvc.namespace}", [storage_class(**{NODE_STAGE: "${pvc.namespace}"})],
         namespaces=NAMESPACES),
    Case("StorageClass with the platform's untiered namespace", [storage_class(**{NODE_STAGE: "ceph-csi"})],
         namespaces=NAMESPACES),
    Case("StorageClass secret name parameters are not namespaces",
         [storage_class(**{"csi.storage.k8s.io/node-stage-secret-name": "prod"})], namespaces=NAMESPACES),
    Case("dev Pod using a claim bound to a PV with a prod secret",
         [pv(claim=("dev", "data"), csi={"nodeStageSecretRef": "prod"}), claim("dev"), using_claim("dev")],
         {(V, "pv"), (V, "dev/app")}, namespaces=NAMESPACES),
    Case("dev Deployment using a claim pre-bound by volumeName",
         [pv(csi={"nodeStageSecretRef": "prod"}), claim("dev", volume_name="pv"), using_claim("dev", "Deployment")],
         {(V, "pv"), (V, "dev/app")}, namespaces=NAMESPACES),
    Case("prod Pod using a claim bound to a PV with a prod secret",
         [pv(claim=("prod", "data"), csi={"nodeStageSecretRef": "prod"}), claim("prod"), using_claim("prod")],
         namespaces=NAMESPACES),
    Case("dev Pod using a claim bound to a PV with the platform's secret",
         [pv(claim=("dev", "data"), csi={"nodeStageSecretRef": "ceph-csi"}), claim("dev"), using_claim("dev")],
         namespaces=NAMESPACES),
    Case("dev Pod using a claim of a StorageClass fixed to prod",
         [storage_class(**{NODE_STAGE: "prod"}), claim("dev", storage_class_name="sc"), using_claim("dev")],
         {(V, "sc"), (V, "dev/app")}, namespaces=NAMESPACES),
    Case("prod Job using a claim of a StorageClass fixed to prod",
         [storage_class(**{NODE_STAGE: "prod"}), claim("prod", storage_class_name="sc"), using_claim("prod", "Job")],
         {(V, "sc")}, namespaces=NAMESPACES),
    Case("dev Pod using a claim of a StorageClass with the platform's secret namespace",
         [storage_class(**{NODE_STAGE: "ceph-csi"}), claim("dev", storage_class_name="sc"), using_claim("dev")],
         namespaces=NAMESPACES),
    Case("dev Pod using a claim of a per-claim StorageClass",
         [storage_class(**{NODE_STAGE: "${pvc.namespace}"}), claim("dev", storage_class_name="sc"),
          using_claim("dev")], namespaces=NAMESPACES),
    Case("dev Pod with an ephemeral volume of a StorageClass fixed to prod",
         [storage_class(**{NODE_STAGE: "prod"}),
          pod("dev", "app", pod_spec(volumes=[{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {
              "spec": {"storageClassName": "sc", "accessModes": ["ReadWriteOnce"]}}}}]))],
         {(V, "sc"), (V, "dev/app")}, namespaces=NAMESPACES),
    Case("dev StatefulSet with a volumeClaimTemplate of a StorageClass fixed to prod",
         [storage_class(**{NODE_STAGE: "prod"}),
          {**workload("StatefulSet", "dev", "app"),
           "spec": {**workload("StatefulSet", "dev", "app")["spec"],
                    "volumeClaimTemplates": [{"metadata": {"name": "d"}, "spec": {"storageClassName": "sc"}}]}}],
         {(V, "sc"), (V, "dev/app")}, namespaces=NAMESPACES),
    Case("a claim absent from the input", [using_claim("dev")], namespaces=NAMESPACES),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_volumes(case: Case) -> None:
    assert case.run() == case.expected


def test_pv_message_names_claim_and_secret_namespace() -> None:
    docs = [*NAMESPACES, pv(claim=("dev", "data"), csi={"nodeStageSecretRef": "prod"})]
    (violation,) = dict(decisions(docs))["pv"].violations
    assert violation.path == "spec.csi.nodeStageSecretRef.namespace"
    assert "PersistentVolume pv" in violation.message
    assert "dev (tier dev)" in violation.message and "prod (tier prod)" in violation.message


def test_pod_with_malformed_pv_in_context_does_not_crash() -> None:
    """Regression: a PV with non-object metadata crashed the Pod's evaluation (AttributeError)."""
    broken = pv(claim=("dev", "data"), csi={"nodeStageSecretRef": "prod"})
    broken["metadata"] = ["not", "an", "object"]
    results = dict(decisions([*NAMESPACES, broken, claim("dev"), using_claim("dev")]))
    assert {v.rule.value for v in results["dev/app"].violations} == {V}
