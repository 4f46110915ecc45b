"""The table of admission handlers: one stable, lowercase-dash id per resource, served at ``/<id>``.

The chart renders one ValidatingWebhookConfiguration entry per row (same id, same rule), and a test keeps the
two in step. A request whose path names no row is denied: a misrouted webhook must never fail open.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AdmissionHandler:
    id: str
    group: str
    version: str
    resource: str
    """Plural resource name; ``pods/ephemeralcontainers`` for the subresource."""
    kind: str
    namespaced: bool
    operations: tuple[str, ...] = ("CREATE", "UPDATE")


ADMISSION_HANDLERS: tuple[AdmissionHandler, ...] = (
    AdmissionHandler("namespaces", "", "v1", "namespaces", "Namespace", namespaced=False),
    AdmissionHandler("secrets", "", "v1", "secrets", "Secret", namespaced=True),
    AdmissionHandler("pods", "", "v1", "pods", "Pod", namespaced=True),
    AdmissionHandler("pods-ephemeralcontainers", "", "v1", "pods/ephemeralcontainers", "Pod", namespaced=True,
                     operations=("UPDATE",)),
    AdmissionHandler("replicationcontrollers", "", "v1", "replicationcontrollers", "ReplicationController",
                     namespaced=True),
    AdmissionHandler("deployments", "apps", "v1", "deployments", "Deployment", namespaced=True),
    AdmissionHandler("statefulsets", "apps", "v1", "statefulsets", "StatefulSet", namespaced=True),
    AdmissionHandler("daemonsets", "apps", "v1", "daemonsets", "DaemonSet", namespaced=True),
    AdmissionHandler("replicasets", "apps", "v1", "replicasets", "ReplicaSet", namespaced=True),
    AdmissionHandler("jobs", "batch", "v1", "jobs", "Job", namespaced=True),
    AdmissionHandler("cronjobs", "batch", "v1", "cronjobs", "CronJob", namespaced=True),
    AdmissionHandler("rolebindings", "rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding",
                     namespaced=True),
    AdmissionHandler("clusterrolebindings", "rbac.authorization.k8s.io", "v1", "clusterrolebindings",
                     "ClusterRoleBinding", namespaced=False),
    AdmissionHandler("persistentvolumes", "", "v1", "persistentvolumes", "PersistentVolume", namespaced=False),
    AdmissionHandler("storageclasses", "storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False),
    AdmissionHandler("referencegrants", "gateway.networking.k8s.io", "*", "referencegrants", "ReferenceGrant",
                     namespaced=True),
    AdmissionHandler("secretproviderclasses", "secrets-store.csi.x-k8s.io", "*", "secretproviderclasses",
                     "SecretProviderClass", namespaced=True),
    AdmissionHandler("externalsecrets", "external-secrets.io", "*", "externalsecrets", "ExternalSecret",
                     namespaced=True),
    AdmissionHandler("clusterexternalsecrets", "external-secrets.io", "*", "clusterexternalsecrets",
                     "ClusterExternalSecret", namespaced=False),
    AdmissionHandler("pushsecrets", "external-secrets.io", "*", "pushsecrets", "PushSecret", namespaced=True),
    AdmissionHandler("secretstores", "external-secrets.io", "*", "secretstores", "SecretStore", namespaced=True),
    AdmissionHandler("clustersecretstores", "external-secrets.io", "*", "clustersecretstores",
                     "ClusterSecretStore", namespaced=False),
    AdmissionHandler("sealedsecrets", "bitnami.com", "*", "sealedsecrets", "SealedSecret", namespaced=True),
    AdmissionHandler("tierpolicies", "tierguard.io", "*", "tierpolicies", "TierPolicy", namespaced=False),
)

HANDLERS_BY_ID = {handler.id: handler for handler in ADMISSION_HANDLERS}
