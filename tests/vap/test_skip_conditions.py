"""The webhook's matchConditions that skip Pods and pod templates (``vap/skip.py``), evaluated as the very CEL the
chart ships (cel-python's ``celpy``) over generated objects and TierPolicies: every object they skip is one the
engine admits, but for the sidecar rules, which the ValidatingAdmissionPolicies judge; their CEL, generated from
the same policy and evaluated too, says what the engine says of it, word for word.

The objects are drawn from pieces of three sorts, in a context where everything a piece could reach crosses
tiers (a replicated Secret ``db``, claims and StorageClasses naming prod's namespace, every secret path prod's):
``INERT`` pieces no rule reads (the skip must skip them), ``POTENT`` pieces the engine refuses here (the skip must
send them), ``WIDE`` pieces the skip sends though the engine admits them (the skip is wider than the walkers on
purpose). A field missing from ``engine/pod_reads.py`` makes a POTENT piece skipped, and this test fail.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import celpy
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tierguard.engine.evaluation import families_for
from tierguard.engine.model import Rule
from tierguard.engine.pod_reads import INJECTOR_SECRET_ANNOTATIONS, POD_READS, reads_nothing
from tierguard.engine.podspec import POD_SPEC_PATHS
from tierguard.engine.rules import sidecars
from tierguard.errors import PolicyError
from tierguard.policy import TierPolicy
from tierguard.vap import generate
from tierguard.vap.skip import conditions, may_be_refused
from tierguard.webhook.routes import ROUTES_BY_ID

from ..engine.helpers import (
    AMBIENT,
    ISTIO_SIDECAR,
    STANDARD,
    TEMPLATE_KINDS,
    WORKLOAD_KINDS,
    Doc,
    container,
    decisions,
    namespace,
    policy,
    secret,
    workload,
)

Piece = tuple[str, Any]
"""(where, fragment): "volume", "projected" (a projected volume's source), "env", "envFrom", "annotation" and
"label" (a (key, value) pair), "spec" (a pod spec field), "object" (a StatefulSet spec field), "container" (more
fields of a container)."""

INERT: list[Piece] = [
    ("volume", {"emptyDir": {}}),
    ("volume", {"configMap": {"name": "cm"}}),
    ("volume", {"hostPath": {"path": "/var/log"}}),
    ("volume", {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}),
    ("volume", {"nfs": {"server": "nfs.example", "path": "/export"}}),
    ("volume", {"image": {"reference": "registry.example/data:1"}}),
    ("projected", {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}),
    ("projected", {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}),
    ("projected", {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}),
    ("projected", {"clusterTrustBundle": {"signerName": "example.com/signer", "path": "bundle.pem"}}),
    ("env", {"name": "PLAIN", "value": "secret/data/prod/db"}),
    ("env", {"name": "ALMOST", "value": "Vault:secret/data/prod/db"}),
    ("env", {"name": "INSIDE", "value": "x vault:secret/data/prod/db"}),
    ("env", {"name": "EMPTY", "value": ""}),
    ("env", {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}),
    ("env", {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}),
    ("env", {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}),
    ("envFrom", {"configMapRef": {"name": "cm"}}),
    ("envFrom", {"prefix": "X_", "configMapRef": {"name": "cm"}}),
    ("annotation", ("prometheus.io/scrape", "true")),
    ("annotation", ("vault.hashicorp.io/role", "prod")),
    ("annotation", ("example.com/vault.hashicorp.com/role", "prod")),
    ("annotation", ("sidecar.istio.io/inject", "true")),
    ("label", ("istio.io/dataplane-mode", "ambient")),
    ("label", ("sidecar.istio.io/inject", "false")),
    ("container", {"ports": [{"containerPort": 8080}], "resources": {"limits": {"cpu": "1"}}}),
    ("spec", {"serviceAccountName": "app", "automountServiceAccountToken": False}),
    ("spec", {"hostNetwork": True}),
]

POTENT: list[Piece] = [
    ("volume", {"secret": {"secretName": "db"}}),
    ("projected", {"secret": {"name": "db"}}),
    ("volume", {"csi": {"driver": "secrets-store.csi.k8s.io", "nodePublishSecretRef": {"name": "db"}}}),
    ("volume", {"cephfs": {"monitors": ["m:6789"], "secretRef": {"name": "db"}}}),
    ("volume", {"rbd": {"monitors": ["m"], "image": "i", "secretRef": {"name": "db"}}}),
    ("volume", {"iscsi": {"targetPortal": "t", "iqn": "q", "lun": 0, "secretRef": {"name": "db"}}}),
    ("volume", {"flexVolume": {"driver": "d", "secretRef": {"name": "db"}}}),
    ("volume", {"scaleIO": {"gateway": "g", "system": "s", "secretRef": {"name": "db"}}}),
    ("volume", {"storageos": {"volumeName": "v", "secretRef": {"name": "db"}}}),
    ("volume", {"azureFile": {"secretName": "db", "shareName": "s"}}),
    ("volume", {"persistentVolumeClaim": {"claimName": "data"}}),
    ("volume", {"ephemeral": {"volumeClaimTemplate": {"spec": {"storageClassName": "fast"}}}}),
    ("volume", {"ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}}),
    ("spec", {"imagePullSecrets": [{"name": "db"}]}),
    ("env", {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "user"}}}),
    ("envFrom", {"secretRef": {"name": "db"}}),
    ("env", {"name": "DB", "value": "vault:secret/data/prod/db#password"}),
    ("env", {"name": "DB", "value": ">>vault:secret/data/prod/db#password"}),
    ("annotation", ("vault.hashicorp.com/agent-inject-secret-db", "secret/data/prod/db")),
    ("annotation", ("vault.hashicorp.com/agent-inject-template-db", '{{ with secret "secret/data/prod/db" }}')),
    ("annotation", ("vault.hashicorp.com/role", "prod-app")),
    ("annotation", ("vault.security.banzaicloud.io/vault-role", "prod-app")),
    ("annotation", ("vault.security.banzaicloud.io/vault-env-from-path", "secret/data/prod/db")),
    ("annotation", ("vault.security.banzaicloud.io/vault-tls-secret", "db")),
    ("object", {"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"storageClassName": "fast"}}]}),
]

WIDE: list[Piece] = [
    ("volume", {"csi": {"driver": "secrets-store.csi.k8s.io", "volumeAttributes": {"secretProviderClass": "spc"}}}),
    ("volume", {"cephfs": {"monitors": ["m:6789"]}}),
    ("volume", {"secret": {"secretName": "clean"}}),
    ("volume", {"persistentVolumeClaim": {"claimName": "plain"}}),
    ("spec", {"imagePullSecrets": [{"name": ""}]}),
    ("env", {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "clean", "key": "user"}}}),
    ("env", {"name": "DB", "value": "vault:secret/data/dev/db"}),
    ("annotation", ("vault.hashicorp.com/agent-inject", "true")),
    ("annotation", ("vault.hashicorp.com/agent-extra-secret", "db")),
    ("object", {"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"storageClassName": "plain"}}]}),
]

PROD = "csi.storage.k8s.io/node-stage-secret-namespace"
CONTEXT: list[Doc] = [
    *STANDARD,
    secret("dev", "db", {"user": "app"}, annotations={"reflector.v1.k8s.emberstack.com/reflects": "prod/db"}),
    secret("dev", "clean", {"user": "app"}),
    {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"},
     "provisioner": "rbd.csi.ceph.com", "parameters": {PROD: "prod"}},
    {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "rbd.csi.ceph.com",
     "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
     "parameters": {PROD: "prod"}},
    {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "plain"},
     "provisioner": "rbd.csi.ceph.com", "parameters": {PROD: "${pvc.namespace}"}},
    {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "dev"},
     "spec": {"storageClassName": "fast"}},
    {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "plain", "namespace": "dev"},
     "spec": {"storageClassName": "plain"}},
]
"""Everything a POTENT piece reaches crosses into prod; what a WIDE piece reaches does not."""

AMBIENT_SIDECAR = {**ISTIO_SIDECAR, "providedBy": {"namespaceLabels": AMBIENT, "podLabels": AMBIENT}}
PATHS = {"prod": ["secret/data/prod/*", "prod-*"], "dev": ["secret/data/dev/*"]}
POLICIES: dict[str, TierPolicy] = {
    "paths": policy({"secrets": {"pathPatterns": PATHS}}),
    "istio and paths": policy({"secrets": {"pathPatterns": PATHS}, "sidecars": {"required": [ISTIO_SIDECAR]}}),
    "ambient and paths": policy({"secrets": {"pathPatterns": PATHS}, "sidecars": {"required": [AMBIENT_SIDECAR]}}),
}
VAP_RULES = frozenset(f.rule for f in sidecars.FACTS)
"""What the ValidatingAdmissionPolicies judge of a skipped object (their ``workloads`` family)."""


def _program(kind: str) -> Any:
    environment = celpy.Environment()
    return environment.program(environment.compile(may_be_refused(kind)))


PROGRAMS = {kind: _program(kind) for kind in WORKLOAD_KINDS}
"""Compiled once, at import: celpy raises the recursion limit as it first evaluates (before hypothesis runs)."""


def sent(obj: Mapping[str, Any]) -> bool:
    """The chart's condition for the object's kind, evaluated as the API server would: True, the webhook is
    called. A CEL error fails the test (under failurePolicy Fail it would refuse the write)."""
    result = PROGRAMS[obj["kind"]].evaluate({"object": celpy.json_to_cel(copy.deepcopy(obj))})
    assert isinstance(result, celpy.celtypes.BoolType), result
    return bool(result)


def build(kind: str, pieces: list[Piece]) -> Doc:
    """A workload of ``kind`` in dev made of the pieces: each container piece goes to one of the containers."""
    spec: Doc = {"containers": [container()]}
    annotations: dict[str, str] = {}
    labels: dict[str, str] = {}
    extra: Doc = {}
    for index, (where, given_fragment) in enumerate(pieces):
        fragment = copy.deepcopy(given_fragment)
        group = ("containers", "initContainers", "ephemeralContainers")[index % 3 if kind == "Pod" else index % 2]
        holder = spec.setdefault(group, [])
        if not holder:
            holder.append(container(f"{group.lower()}-{index}"))
        target = holder[-1]
        if where == "volume":
            spec.setdefault("volumes", []).append({"name": f"v{index}", **fragment})
        elif where == "projected":
            spec.setdefault("volumes", []).append({"name": f"p{index}", "projected": {"sources": [fragment]}})
        elif where in ("env", "envFrom"):
            target.setdefault(where, []).append(fragment)
        elif where == "container":
            target.update(fragment)
        elif where == "annotation":
            annotations[fragment[0]] = fragment[1]
        elif where == "label":
            labels[fragment[0]] = fragment[1]
        elif where == "spec":
            _merge(spec, fragment)
        elif kind == "StatefulSet":  # "object": only a StatefulSet has claim templates
            _merge(extra, fragment)
    doc = workload(kind, "dev", "app", spec, labels=labels, annotations=annotations)
    doc["spec"].update(extra)
    return doc


def _merge(holder: Doc, fragment: Doc) -> None:
    """Lists add up (two pieces' imagePullSecrets are both there); other fields are set."""
    for key, value in fragment.items():
        if isinstance(value, list):
            holder.setdefault(key, []).extend(value)
        else:
            holder[key] = value


def judged(doc: Doc, pol: TierPolicy) -> set[Rule]:
    results = dict(decisions([*CONTEXT, doc], pol))
    return {v.rule for v in results["dev/app"].violations}


PATH_VARIABLES = frozenset({"pathKeys", "keyViolations", "pathViolations"})
"""The workloads policy's variables for external secret paths: they read only Vault and Bank-Vaults annotations
and ``vault:`` env values, which no skipped object has, and use Kubernetes' CEL extensions (``findAll``,
``transformList``, ...) cel-python lacks; so they are left out here, and ``violations`` is ``sidecarViolations``."""


def _replace(text: Any, old: Any, new: Any) -> Any:
    """Kubernetes' ``string.replace`` (cel-go's strings extension), which cel-python lacks."""
    return celpy.celtypes.StringType(str(text).replace(str(old), str(new)))


def _evaluate(environment: Any, activation: Mapping[str, Any], expression: str, variables: Mapping[str, Any]) -> Any:
    program = environment.program(environment.compile(expression.replace("namespaceObject != null", "true")),
                                  functions={"replace": _replace})
    return program.evaluate({**activation, "variables": celpy.celtypes.MapType(
        {celpy.celtypes.StringType(k): v for k, v in variables.items()})})


def policy_violations(pol: TierPolicy, doc: Doc, namespace_labels: Mapping[str, str]) -> list[str] | None:
    """What the generated ValidatingAdmissionPolicies of the ``workloads`` family say of ``doc`` in namespace dev
    (with these labels), evaluated with cel-python as the API server would; None when no policy binds dev.
    ``namespaceObject != null`` is read as true (cel-python has no equality between a map and null)."""
    manifests = generate(pol)
    bound = {m["spec"]["policyName"] for m in manifests if m["kind"] == "ValidatingAdmissionPolicyBinding"
             and any(namespace_labels.get(e["key"]) in e["values"]
                     for e in m["spec"]["matchResources"]["namespaceSelector"].get("matchExpressions", []))}
    found: list[str] | None = None
    for manifest in manifests:
        if manifest["kind"] != "ValidatingAdmissionPolicy" or manifest["metadata"]["name"] not in bound or \
                manifest["metadata"]["labels"]["tierguard.io/family"] != "workloads":
            continue
        environment = celpy.Environment()
        activation: dict[str, Any] = {
            "object": celpy.json_to_cel(copy.deepcopy(doc)),
            "request": celpy.json_to_cel({"kind": {"kind": doc["kind"]}, "namespace": "dev", "operation": "CREATE",
                                          "userInfo": {"username": "someone", "groups": ["system:authenticated"]}}),
            "namespaceObject": celpy.json_to_cel({"metadata": {"name": "dev", "labels": dict(namespace_labels)}}),
        }

        spec = manifest["spec"]
        if not all(_evaluate(environment, activation, c["expression"], {}) for c in spec["matchConditions"]):
            continue
        variables: dict[str, Any] = {}
        for variable in spec["variables"]:
            if variable["name"] in PATH_VARIABLES:
                continue
            expression = variable["expression"]
            if variable["name"] == "violations":
                expression = "variables.sidecarViolations" if "sidecarViolations" in variables else "[]"
            variables[variable["name"]] = _evaluate(environment, activation, expression, variables)
        found = [*(found or []), *(str(message) for message in variables["violations"])]
    return found


pieces = st.lists(st.sampled_from(INERT + POTENT + WIDE), max_size=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(WORKLOAD_KINDS), drawn=pieces, policy_name=st.sampled_from(sorted(POLICIES)))
def test_every_skipped_object_is_admitted_but_for_what_the_admission_policies_judge(
        kind: str, drawn: list[Piece], policy_name: str) -> None:
    doc = build(kind, drawn)
    pol = POLICIES[policy_name]
    refused = judged(doc, pol)
    skipped = not sent(doc)
    assert skipped == reads_nothing(doc)  # the bench's Python reading is the CEL's
    if skipped:
        assert refused <= VAP_RULES, (refused, doc)
    potent = [piece for piece in drawn if piece in POTENT and (piece[0] != "object" or kind == "StatefulSet")]
    if potent:  # the context makes every POTENT piece refused: the generator really tests the skip
        assert refused - VAP_RULES, (potent, doc)
        assert not skipped
    if all(piece in INERT for piece in drawn):
        assert skipped, doc


def test_the_admission_policies_judge_what_a_skipped_object_may_still_break() -> None:
    """The rules left to the policies for skipped objects are exactly those of their ``workloads`` family."""
    pol = POLICIES["istio and paths"]
    (workloads_policy,) = [m for m in generate(pol) if m["kind"] == "ValidatingAdmissionPolicy"
                           and m["metadata"]["labels"]["tierguard.io/family"] == "workloads"]
    covered = set(workloads_policy["metadata"]["annotations"]["tierguard.io/rules"].split(","))
    assert {rule.value for rule in VAP_RULES} <= covered
    # The policy matches every kind whose entry has a condition, on the entry's operations.
    assert {tuple(r["operations"]) for r in workloads_policy["spec"]["matchConstraints"]["resourceRules"]} == {
        ROUTES_BY_ID[route].operations for route in conditions()}
    resources = {res for r in workloads_policy["spec"]["matchConstraints"]["resourceRules"] for res in r["resources"]}
    assert {ROUTES_BY_ID[route].resource for route in conditions()} <= resources


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_a_pod_made_as_controllers_make_them_is_skipped(kind: str) -> None:
    """What the ServiceAccount admission plugin adds to every Pod (the projected token volume) is not a read."""
    doc = build(kind, [piece for piece in INERT if piece[0] in ("projected", "env", "container")])
    assert not sent(doc) and reads_nothing(doc)
    assert judged(doc, POLICIES["paths"]) == set()


@pytest.mark.parametrize("kind", TEMPLATE_KINDS)
def test_an_object_without_its_pod_template_is_sent(kind: str) -> None:
    doc = workload(kind, "dev", "app")
    del doc["spec"]["jobTemplate" if kind == "CronJob" else "template"]
    assert sent(doc) and not reads_nothing(doc)


def test_one_condition_per_pod_kind_route() -> None:
    assert {ROUTES_BY_ID[route].kind for route in conditions()} == set(WORKLOAD_KINDS)


POTENT_CASES = [(kind, piece) for kind in WORKLOAD_KINDS for piece in POTENT
                if piece[0] != "object" or kind == "StatefulSet"]


@pytest.mark.parametrize(("kind", "piece"), POTENT_CASES,
                         ids=[f"{kind}: {piece[1]}" for kind, piece in POTENT_CASES])
def test_each_read_alone_is_sent_and_refused(kind: str, piece: Piece) -> None:
    """Beside every inert piece, each field the engine reads is sent (and the engine refuses it here)."""
    doc = build(kind, [*INERT, piece])
    assert sent(doc) and not reads_nothing(doc)
    assert judged(doc, POLICIES["paths"]) - VAP_RULES


def test_every_field_the_skip_sends_for_has_a_refused_piece() -> None:
    """Each entry of ``POD_READS`` is one the engine refuses by (a POTENT piece has it): the table holds nothing
    for nothing, and the tests above try every entry."""
    def keys(where: str) -> set[str]:
        return {key for at, fragment in POTENT if at == where for key in fragment}

    reads = POD_READS
    assert set(reads.volume_sources) == keys("volume")
    assert set(reads.projected_sources) == keys("projected")
    assert set(reads.spec_lists) == keys("spec")
    assert set(reads.env_from) == keys("envFrom")
    assert set(reads.env_value_from) == {key for at, env in POTENT if at == "env" for key in env.get("valueFrom", {})}
    values = [env["value"] for at, env in POTENT if at == "env" and "value" in env]
    assert all(any(value.startswith(prefix) for value in values) for prefix in reads.env_value_prefixes)
    annotated = [key for at, (key, _) in (p for p in POTENT if p[0] == "annotation")]
    assert all(any(key.startswith(prefix) for key in annotated) for prefix in reads.annotation_prefixes)
    assert dict(reads.object_lists) == {"StatefulSet": tuple(keys("object"))}
    # The injectors' Secret annotations (engine/podspec.py) are read through the annotation prefixes.
    assert INJECTOR_SECRET_ANNOTATIONS and all(key.startswith(reads.annotation_prefixes)
                                                for key in INJECTOR_SECRET_ANNOTATIONS)


def _mapping(keys: list[str], values: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(st.sampled_from(keys), st.sampled_from(values), max_size=2)


LABELS = ["sidecar.istio.io/inject", "istio-injection", "istio.io/dataplane-mode", "linkerd.io/inject"]
VALUES = ["true", "false", "enabled", "disabled", "ambient", "none"]
sidecar_specs = st.fixed_dictionaries(
    {"name": st.sampled_from(["istio-proxy", "linkerd-proxy", "app", "vault-agent"])},
    optional={
        "image": st.sampled_from(["", "*proxy*", "registry.example/*", "docker.io/istio/proxyv2:*"]),
        "injection": st.fixed_dictionaries({}, optional={
            "namespaceLabels": _mapping(LABELS, VALUES), "podLabels": _mapping(LABELS, VALUES),
            "podAnnotations": _mapping(LABELS, VALUES),
            "disabledBy": st.fixed_dictionaries({}, optional={"podLabels": _mapping(LABELS, VALUES),
                                                              "podAnnotations": _mapping(LABELS, VALUES)})}),
        "providedBy": st.fixed_dictionaries({}, optional={"namespaceLabels": _mapping(LABELS, VALUES),
                                                          "podLabels": _mapping(LABELS, VALUES)}),
    })
policy_specs = st.fixed_dictionaries({}, optional={
    "enforcement": st.fixed_dictionaries({"default": st.sampled_from(["enforce", "warn", "audit"])}),
    "secrets": st.fixed_dictionaries({"pathPatterns": st.dictionaries(
        st.sampled_from(["dev", "qa", "prod"]),
        st.lists(st.sampled_from(["*", "secret/*", "secret/data/prod/*", "prod-*", "kv/*"]), min_size=1, max_size=3),
        max_size=2)}),
    "sidecars": st.fixed_dictionaries({"required": st.lists(sidecar_specs, max_size=2, unique_by=lambda s: s["name"])}),
})
labels_or_annotations = st.lists(st.tuples(st.sampled_from(["label", "annotation"]),
                                           st.tuples(st.sampled_from(LABELS), st.sampled_from(VALUES))), max_size=3)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(WORKLOAD_KINDS), drawn=pieces, marks=labels_or_annotations, spec=policy_specs,
       sidecar=st.fixed_dictionaries({}, optional={
           "name": st.sampled_from(["istio-proxy", "linkerd-proxy"]),
           "image": st.sampled_from(["docker.io/istio/proxyv2:1.22", "registry.example/app:1"]),
           "restartPolicy": st.just("Always")}),
       namespace_labels=st.lists(st.tuples(st.sampled_from(LABELS), st.sampled_from(VALUES)), max_size=2))
def test_any_policy_refuses_a_skipped_object_only_by_the_sidecar_rules_as_the_admission_policies_do(
        *, kind: str, drawn: list[Piece], marks: list[tuple[str, tuple[str, str]]], spec: dict[str, Any],
        sidecar: dict[str, str], namespace_labels: list[tuple[str, str]]) -> None:
    """The conditions do not depend on the policy: over generated TierPolicies (required sidecars with injection,
    opt-outs and providers, external secret paths, enforcement modes), whatever a skipped object breaks is a
    sidecar rule, and the ValidatingAdmissionPolicies generated from the same policy (their CEL evaluated) say
    the same, word for word."""
    try:
        pol = policy(spec)
    except PolicyError:
        assume(False)
        raise
    doc = build(kind, [*drawn, *marks, ("container", sidecar)])
    if sent(doc):
        return
    labels = {"tierguard.io/tier": "dev", **dict(namespace_labels)}
    context = [namespace("dev", labels=labels) if d["kind"] == "Namespace" and d["metadata"]["name"] == "dev" else d
               for d in CONTEXT]
    violations = dict(decisions([*context, doc], pol))["dev/app"].violations
    assert {v.rule for v in violations} <= VAP_RULES, doc
    # ... and the admission policies say exactly that, with the same text.
    by_policies = policy_violations(pol, doc, labels)
    assert by_policies == ([f"[{v.rule}] {v.message}" for v in violations] if by_policies is not None else None)
    assert by_policies is not None or not violations, "no admission policy binds what the engine refuses"


def test_the_skip_covers_every_family_that_judges_a_pod_kind() -> None:
    """A new rule family judging Pods or templates reads something of them: add it to engine/pod_reads.py (or,
    if the admission policies judge it, to VAP_RULES above), then name it here."""
    names = {family.name for kind in POD_SPEC_PATHS for family in families_for(
        "v1" if kind in ("Pod", "ReplicationController") else "batch/v1" if kind in ("Job", "CronJob") else "apps/v1",
        kind)}
    assert names == {"workloads", "volumes", "sidecars", "sessions"}


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_a_skipped_object_missing_its_sidecar_is_refused_by_the_admission_policies(kind: str) -> None:
    """What the skip leaves to the policies, they do: a skipped object without the required sidecar is refused by
    them with the engine's own words."""
    pol = POLICIES["istio and paths"]
    doc = build(kind, [piece for piece in INERT if piece[0] in ("projected", "env", "volume")])
    assert not sent(doc)
    (violation,) = dict(decisions([*CONTEXT, doc], pol))["dev/app"].violations
    assert violation.rule is Rule.SIDECAR_MISSING
    assert policy_violations(pol, doc, {"tierguard.io/tier": "dev"}) == [f"[{violation.rule}] {violation.message}"]


PROXY_ONLY = {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.28.0"}
OFF = ("sidecar.istio.io/inject", "false")
NONE = ("istio.io/dataplane-mode", "none")
INJECTING = {"istio-injection": "enabled"}
OPTING_OUT = policy({"sidecars": {"required": [{**AMBIENT_SIDECAR, "injection": {
    **ISTIO_SIDECAR["injection"], "disabledBy": {"podLabels": dict([OFF, NONE]), "podAnnotations": dict([OFF])}}}]}})
"""examples/istio-ambient/policy.yaml's requirement: both switches refused, ambient's opt-out too."""


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
@pytest.mark.parametrize(("containers", "marks", "namespace_labels", "refused"), [
    ([PROXY_ONLY], [("label", OFF), ("label", NONE)], AMBIENT, False),  # Istio's waypoint
    ([PROXY_ONLY], [("label", OFF)], {}, False),  # Istio's class istio gateway, outside the mesh
    ([PROXY_ONLY, container()], [("label", OFF)], {}, True),  # an application beside a proxy
    ([container()], [("label", OFF)], AMBIENT, True),  # ext-authz's sample in an ambient namespace (SPEC)
    ([container()], [("annotation", OFF)], AMBIENT, True),
    ([container()], [("annotation", OFF)], {}, True),
    ([container()], [("label", OFF), ("label", NONE)], AMBIENT, True),  # the opt-out, named
    ([container()], [("label", NONE)], INJECTING, True),  # opting out where the injector adds the proxy (SPEC)
    ([container(), PROXY_ONLY], [("label", NONE)], INJECTING, True),
    ([container()], [("label", NONE), ("label", OFF)], INJECTING, True),
    ([container()], [("label", NONE), ("label", ("sidecar.istio.io/inject", "true"))], {}, True),
    ([container()], [("label", NONE)], {**AMBIENT, **INJECTING}, True),
    ([container()], [("label", NONE), ("annotation", OFF)], {**AMBIENT, **INJECTING}, True),
])
def test_the_admission_policies_agree_on_istios_proxies_and_switched_off_injection(
        kind: str, containers: list[Doc], marks: list[tuple[str, tuple[str, str]]], namespace_labels: dict[str, str],
        refused: bool) -> None:
    """A pod that is the proxy (Istio's waypoints and gateways) may carry the opt-outs; any other pod is refused
    for each (SPEC: a ``disabledBy`` match is always a violation, ambient or injected): the CEL says what the
    engine says, word for word."""
    pol = OPTING_OUT
    doc = workload(kind, "dev", "app", {"containers": copy.deepcopy(containers)},
                   labels={k: v for where, (k, v) in marks if where == "label"},
                   annotations={k: v for where, (k, v) in marks if where == "annotation"})
    labels = {"tierguard.io/tier": "dev", **namespace_labels}
    context = [namespace("dev", labels=labels) if d["kind"] == "Namespace" and d["metadata"]["name"] == "dev" else d
               for d in CONTEXT]
    violations = dict(decisions([*context, doc], pol))["dev/app"].violations
    assert bool(violations) is refused
    assert {v.rule for v in violations} <= {Rule.SIDECAR_INJECTION_DISABLED}
    assert policy_violations(pol, doc, labels) == [f"[{v.rule}] {v.message}" for v in violations]
