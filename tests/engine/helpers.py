"""Builders for test manifests and the one-line helpers every engine test uses.

``violations(docs)`` judges every document with all of them as context through the engine's one offline entry
point (``OfflineRun``), exactly as ``tierguard check`` does, and answers ``{(rule, "ns/name")}`` (cluster-scoped
objects: just the name).
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tierguard.engine import Decision, OfflineContext, OfflineRun, object_ref
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.policy import DEFAULT_POLICY, TierPolicy, load_policy

Doc = dict[str, Any]
Found = set[tuple[str, str]]

FINGERPRINTER = Fingerprinter(b"unit-test-key-0123456789abcdef!!")
TIER_LABEL = "tierguard.io/tier"
ISTIO_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "istio-inject"
"""Istio's injector test data, vendored with its source and licence (tests/fixtures/README.md)."""

ISTIO_SIDECAR: dict[str, Any] = {
    "name": "istio-proxy",
    "injection": {
        "namespaceLabels": {"istio-injection": "enabled"},
        "podLabels": {"sidecar.istio.io/inject": "true"},
        "disabledBy": {
            "podLabels": {"sidecar.istio.io/inject": "false"},
            "podAnnotations": {"sidecar.istio.io/inject": "false"},
        },
    },
}
ISTIO_POLICY = load_policy({"spec": {"sidecars": {"required": [ISTIO_SIDECAR]}}})
"""A policy requiring istio-proxy, injected by the namespace label or the pod label, as Istio does."""

AMBIENT = {"istio.io/dataplane-mode": "ambient"}
AMBIENT_OPT_OUT = {"istio.io/dataplane-mode": "none"}
REDIRECTED = {"ambient.istio.io/redirection": "enabled"}
_AMBIENT_SIDECAR = copy.deepcopy(ISTIO_SIDECAR)
_AMBIENT_SIDECAR["injection"]["disabledBy"]["podLabels"].update(AMBIENT_OPT_OUT)
_AMBIENT_SIDECAR["providedBy"] = {"namespaceLabels": AMBIENT, "podLabels": AMBIENT, "runningPodAnnotations": REDIRECTED}
AMBIENT_POLICY = load_policy({"spec": {"sidecars": {"required": [_AMBIENT_SIDECAR]}}})
"""ISTIO_POLICY, and Istio ambient: the namespace or pod label ``istio.io/dataplane-mode: ambient`` provides the
proxy's service without a container, ``none`` opts a pod out, and the CNI marks a captured running pod."""


def policy(spec: Mapping[str, Any]) -> TierPolicy:
    return load_policy({"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "spec": dict(spec)})


# --- running the engine ---------------------------------------------------------------------------------------

def context_of(docs: Iterable[Mapping[str, Any]], namespace_tiers: Mapping[str, str] | None = None,
               pol: TierPolicy = DEFAULT_POLICY) -> OfflineContext:
    labels = {ns: {pol.tier_label: tier} for ns, tier in (namespace_tiers or {}).items()}
    return OfflineContext.from_objects(list(docs), FINGERPRINTER, labels)


def decisions(docs: Iterable[Mapping[str, Any]], policy: TierPolicy = DEFAULT_POLICY,
              namespace_tiers: Mapping[str, str] | None = None) -> list[tuple[str, Decision]]:
    """(``ns/name``, Decision) of every document, in input order."""
    docs = list(docs)
    labels = {ns: {policy.tier_label: tier} for ns, tier in (namespace_tiers or {}).items()}
    run = OfflineRun(docs, policy, fingerprinter=FINGERPRINTER, namespace_labels=labels)
    return [(ref_of(doc), run.decide(doc)) for doc in docs]


def violations(docs: Iterable[Mapping[str, Any]], policy: TierPolicy = DEFAULT_POLICY,
               namespace_tiers: Mapping[str, str] | None = None) -> Found:
    return {(v.rule.value, ref) for ref, d in decisions(docs, policy, namespace_tiers) for v in d.violations}


def ref_of(doc: Mapping[str, Any]) -> str:
    ref = object_ref(doc)
    return f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name


def rules_of(found: Found) -> set[str]:
    return {rule for rule, _ in found}


# --- builders -------------------------------------------------------------------------------------------------

def namespace(name: str, tier: str | None = None, *, labels: Mapping[str, str] | None = None,
              annotations: Mapping[str, str] | None = None) -> Doc:
    all_labels = dict(labels or {})
    if tier is not None:
        all_labels[TIER_LABEL] = tier
    metadata: Doc = {"name": name, "labels": all_labels}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def tiers(**namespaces: str) -> list[Doc]:
    """Namespace objects, e.g. ``tiers(dev="dev", prod="prod")``; a value of "" leaves the namespace untiered."""
    return [namespace(name.replace("_", "-"), tier or None) for name, tier in namespaces.items()]


STANDARD = tiers(dev="dev", dev_b="dev", qa="qa", stage="stage", prod="prod", prod_b="prod", shared="")
"""dev, dev-b (dev), qa, stage, prod, prod-b (prod) and the untiered namespace shared."""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(ns: str, name: str, data: Mapping[str, str] | None = None, *,
           string_data: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None,
           labels: Mapping[str, str] | None = None, type_: str | None = None, kind: str = "Secret") -> Doc:
    """A Secret; ``data`` values are given in clear and base64-encoded here."""
    api_version = "bitnami.com/v1alpha1" if kind == "SealedSecret" else "v1"
    doc: Doc = {"apiVersion": api_version, "kind": kind,
                "metadata": {"name": name, "namespace": ns, "annotations": dict(annotations or {}),
                             "labels": dict(labels or {})}}
    if data is not None:
        doc["data"] = {k: b64(v) for k, v in data.items()}
    if string_data is not None:
        doc["stringData"] = dict(string_data)
    if type_ is not None:
        doc["type"] = type_
    return doc


def container(name: str = "app", image: str = "registry.example/app:1", **fields: Any) -> Doc:
    return {"name": name, "image": image, **fields}


def pod_spec(*containers: Doc, **fields: Any) -> Doc:
    return {"containers": list(containers) or [container()], **fields}


def pod(ns: str, name: str, spec: Doc | None = None, *, labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None) -> Doc:
    return workload("Pod", ns, name, spec, labels=labels, annotations=annotations)


TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob")
WORKLOAD_KINDS = ("Pod", *TEMPLATE_KINDS)
_API_VERSIONS = {"Pod": "v1", "ReplicationController": "v1", "Job": "batch/v1", "CronJob": "batch/v1"}


def workload(kind: str, ns: str, name: str, spec: Doc | None = None, *,
             labels: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None) -> Doc:
    """A Pod, or a workload of ``kind`` whose pod template has these labels, annotations and spec."""
    spec = copy.deepcopy(spec) if spec is not None else pod_spec()
    pod_meta: Doc = {"labels": dict(labels or {}), "annotations": dict(annotations or {})}
    api_version = _API_VERSIONS.get(kind, "apps/v1")
    if kind == "Pod":
        return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": ns, **pod_meta},
                "spec": spec}
    template = {"metadata": pod_meta, "spec": spec}
    body: Doc = {"template": template}
    if kind == "CronJob":
        body = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": body}


def fixture(name: str, ns: str | None = None) -> Doc:
    """One of Istio's injector fixtures (the first document), placed in namespace ``ns``."""
    doc = next(d for d in yaml.safe_load_all((ISTIO_FIXTURES / name).read_text()) if d)
    if ns is not None:
        doc.setdefault("metadata", {})["namespace"] = ns
    return doc  # type: ignore[no-any-return]


# --- table-driven cases -----------------------------------------------------------------------------------------

class Case:
    """One row of a rule table: these documents (with STANDARD's namespaces) give exactly ``expected``."""

    def __init__(self, id: str, docs: list[Doc], expected: Found | None = None, *,
                 policy: TierPolicy = DEFAULT_POLICY, namespaces: list[Doc] | None = None) -> None:
        self.id = id
        self.docs = (STANDARD if namespaces is None else namespaces) + docs
        self.expected = expected or set()
        self.policy = policy

    def __repr__(self) -> str:
        return self.id

    def run(self) -> Found:
        return violations(self.docs, self.policy)


def ids(cases: list[Case]) -> list[str]:
    return [case.id for case in cases]
