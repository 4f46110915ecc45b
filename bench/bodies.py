"""What every benchmark judges: the review bodies, the policy and the live context double.

The same three AdmissionReviews go to every server and to the engine alone:
  pods         a ~5 KB Pod with 4 containers (one is istio-proxy) and 10 Secret references;
  secrets      a Secret with 5 values (each fingerprinted and looked up in the index);
  deployments  a Deployment whose template Istio will inject.
Two more, about people's access, are measured each on its own (``PEOPLE_PATHS``):
  rolebindings  a RoleBinding of the built-in ``edit`` to a dev group and a ServiceAccount, in a dev namespace;
  pods-exec     ``kubectl exec`` (CONNECT) into a dev pod by a person of the dev tier.
The context holds 1k namespaces in 4 tiers and 10k Secrets (``--quick`` and the smoke run: fewer), built with
the same keys the informers' projections return, so lookups cost what they cost in ``tierguard run``.

Secret values here are generated filler; nothing prints or stores them (the index keeps fingerprints only).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.fakes.indexes import FakeIndexes

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.policy import SubjectNames, Subjects, TierPolicy, load_policy_file
from tierguard.webhook.live_context import LiveContext
from tierguard.webhook.store import LiveIndex

REPO = Path(__file__).resolve().parents[1]
TIERS = ("dev", "qa", "stage", "prod")
POLICY_FILE = REPO / "examples" / "istio-app" / "policy.yaml"
"""The istio-app example: SPEC's defaults plus a required istio-proxy sidecar, so every rule family runs."""
KEY = b"bench-fingerprint-key-0123456789"
SECRETS_PER_POD = 10
PATHS = ("pods", "secrets", "deployments")
"""The mix every server gets round robin (part 1's main figures)."""
PEOPLE_PATHS = ("rolebindings", "pods-exec")
"""Reviews of people's access, each measured alone against the floor (part 1) and in the engine (part 2)."""
PERSON = {"username": "dana@example.com", "uid": "5e0f6c1a-2b7d-4c3e-9f10-000000000002",
          "groups": ["team-payments-dev", "system:authenticated"]}
"""A person of the dev tier (``spec.subjects`` below): who opens the session and whose group is bound."""


def policy() -> TierPolicy:
    """The istio-app example with people's tiers (``spec.subjects``: ``team-*-<tier>`` groups)."""
    people = Subjects(per_tier={tier: SubjectNames(groups=(f"team-*-{tier}",)) for tier in TIERS})
    return replace(load_policy_file(POLICY_FILE), subjects=people)


def namespace_name(index: int) -> str:
    return f"team-{index:04d}"


def _filler(namespace: str, name: str, key: str) -> str:
    return base64.b64encode(f"bench-{namespace}-{name}-{key}-not-a-real-value".encode()).decode()


def build_indexes(namespaces: int, secrets: int) -> dict[str, LiveIndex]:
    """The live indexes holding ``namespaces`` tiered namespaces and ``secrets`` Secrets spread evenly over
    them, each with two data values."""
    # Filled through the same projections and index the informers use (the test double, tests/fakes/indexes.py).
    indexes = FakeIndexes(Fingerprinter(KEY))
    for index in range(namespaces):
        name = namespace_name(index)
        labels = {"tierguard.io/tier": TIERS[index % len(TIERS)], "istio-injection": "enabled"}
        indexes.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
    for index in range(secrets):
        namespace = namespace_name(index % namespaces)
        name = f"app-secret-{index // namespaces}"
        indexes.add({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                     "data": {key: _filler(namespace, name, key) for key in ("password", "token")}})
    return indexes.data


def live_context(namespaces: int, secrets: int) -> LiveContext:
    return LiveContext(Fingerprinter(KEY), build_indexes(namespaces, secrets))


def _review(obj: Mapping[str, Any], resource: str, group: str = "", uid: str = "") -> dict[str, Any]:
    metadata = obj["metadata"]
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid or f"0000-bench-{resource}",
        "kind": {"group": group, "version": "v1", "kind": obj["kind"]},
        "resource": {"group": group, "version": "v1", "resource": resource},
        "requestKind": {"group": group, "version": "v1", "kind": obj["kind"]},
        "requestResource": {"group": group, "version": "v1", "resource": resource},
        "name": metadata["name"], "namespace": metadata["namespace"], "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                     "uid": "5e0f6c1a-2b7d-4c3e-9f10-000000000001",
                     "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system",
                                "system:authenticated"]},
        "object": obj, "oldObject": None, "dryRun": False,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}}}


def _container(name: str, image: str, refs: list[str], port: int) -> dict[str, Any]:
    env: list[dict[str, Any]] = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                 {"name": "LOG_LEVEL", "value": "info"}]
    env += [{"name": f"SECRET_{i}", "valueFrom": {"secretKeyRef": {"name": ref, "key": "password"}}}
            for i, ref in enumerate(refs[1:])]
    return {"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
            "envFrom": [{"secretRef": {"name": refs[0]}}] if refs else [],
            "env": env,
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 5},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": port}, "initialDelaySeconds": 10},
            "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                              "readOnly": True}],
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}


def pod(namespace: str, namespaces: int) -> dict[str, Any]:
    """4 containers, one of them istio-proxy; 10 references to Secrets of its own namespace (3 via envFrom and
    secretKeyRef per app container, 1 volume)."""
    del namespaces
    refs = [f"app-secret-{i}" for i in range(SECRETS_PER_POD)]
    containers = [_container("app", "registry.example/app:1.4.2", refs[0:3], 8080),
                  _container("worker", "registry.example/worker:1.4.2", refs[3:6], 8081),
                  _container("log-shipper", "registry.example/fluent-bit:3.0", refs[6:9], 2020),
                  _container("istio-proxy", "docker.io/istio/proxyv2:1.22.1", [], 15090)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "web-7d9f8c6b5d-x2k4q", "namespace": namespace, "generateName": "web-7d9f8c6b5d-",
        "labels": {"app": "web", "pod-template-hash": "7d9f8c6b5d", "security.istio.io/tlsMode": "istio",
                   "service.istio.io/canonical-name": "web", "service.istio.io/canonical-revision": "v1"},
        "annotations": {"kubectl.kubernetes.io/default-container": "app", "prometheus.io/scrape": "true",
                        "sidecar.istio.io/status": '{"initContainers":["istio-init"],"containers":["istio-proxy"]}'},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8c6b5d",
                             "uid": "1b2c3d4e-0000-4000-8000-000000000002", "controller": True,
                             "blockOwnerDeletion": True}]},
        "spec": {"serviceAccountName": "web", "containers": containers,
                 "volumes": [{"name": "creds", "secret": {"secretName": refs[9], "defaultMode": 420}},
                             {"name": "kube-api-access", "projected": {"sources": [
                                 {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                                 {"configMap": {"name": "kube-root-ca.crt",
                                                "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
                 "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                 "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                  "effect": "NoExecute", "tolerationSeconds": 300}]}}


def secret(namespace: str) -> dict[str, Any]:
    data = {f"key-{i}": base64.b64encode(f"bench-new-value-{i}-long-enough-to-compare".encode()).decode()
            for i in range(5)}
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": data,
            "metadata": {"name": "api-credentials", "namespace": namespace, "labels": {"app": "web"}}}


def deployment(namespace: str) -> dict[str, Any]:
    template_pod = pod(namespace, 0)
    spec = template_pod["spec"]
    spec["containers"] = spec["containers"][:2]  # Istio injects the proxy
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace, "labels": {"app": "web"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", "sidecar.istio.io/inject": "true"}},
                                  "spec": spec}}}


def rolebinding(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "payments-developers", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team-payments-dev"},
                         {"kind": "ServiceAccount", "name": "ci", "namespace": namespace}]}


def exec_review(namespace: str) -> dict[str, Any]:
    """What kube-apiserver posts for ``kubectl exec -n <namespace> -it web-... -c app -- sh``."""
    options = {"kind": "PodExecOptions", "apiVersion": "v1", "stdin": True, "stdout": True, "tty": True,
               "container": "app", "command": ["sh"]}
    kind = {"group": "", "version": "v1", "kind": "PodExecOptions"}
    resource = {"group": "", "version": "v1", "resource": "pods"}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "0000-bench-pods-exec", "kind": kind, "resource": resource, "subResource": "exec",
        "requestKind": kind, "requestResource": resource, "requestSubResource": "exec",
        "name": "web-7d9f8c6b5d-x2k4q", "namespace": namespace, "operation": "CONNECT", "userInfo": PERSON,
        "object": options, "oldObject": None, "dryRun": False, "options": None}}


def reviews(namespaces: int) -> dict[str, dict[str, Any]]:
    """path id -> AdmissionReview, all in one namespace of the context (tier dev, Istio injection on): the mix
    (``PATHS``) and people's access (``PEOPLE_PATHS``)."""
    namespace = namespace_name(min(4, namespaces - 1))
    access = _review(rolebinding(namespace), "rolebindings", group="rbac.authorization.k8s.io")
    access["request"]["userInfo"] = PERSON
    return {"pods": _review(pod(namespace, namespaces), "pods"),
            "secrets": _review(secret(namespace), "secrets"),
            "deployments": _review(deployment(namespace), "deployments", group="apps"),
            "rolebindings": access,
            "pods-exec": exec_review(namespace)}


def write_bodies(directory: Path, namespaces: int) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, body in reviews(namespaces).items():
        paths[name] = directory / f"{name}.json"
        paths[name].write_text(json.dumps(body, separators=(",", ":")))
    return paths
