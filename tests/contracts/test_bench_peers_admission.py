"""bench part 7 (peers through the API server), what needs no cluster: the peers' manifests trimmed to their
admission part and narrowed to the bench namespace's arm, tierguard's webhooks narrowed away, the API server's
verdicts read and checked, the cgroup figures read, the figures' arithmetic, and ``--parts 7`` without a cluster
ending with both ratios null and why. No timing is asserted (figures live in bench/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from bench.peers import latency, load, manifests, usage, verdicts
from bench.peers.tools import TIERPOLICY

REPO = Path(__file__).resolve().parents[2]
IMAGE = "docker.io/tierguard-bench/x:1"


def _deployment(name: str, containers: list[str], init: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": c, "image": f"upstream/{c}:latest", "args": ["--v=2", *extra.get(
        "args", [])]} for c in containers]}
    if init:
        spec["initContainers"] = [{"name": c, "image": f"upstream/{c}:latest"} for c in init]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "ns"},
            "spec": {"replicas": 3, "template": {"spec": spec}}}


KYVERNO_DOCS = [
    {"kind": "Namespace", "metadata": {"name": "kyverno"}},
    {"kind": "CustomResourceDefinition", "metadata": {"name": "clusterpolicies.kyverno.io"}},
    {"kind": "ConfigMap", "metadata": {"name": "kyverno", "namespace": "kyverno"},
     "data": {"webhooks": '{"namespaceSelector":{"matchExpressions":[]}}'}},
    {"kind": "ClusterRole", "metadata": {"name": "kyverno:reports-controller"}},
    {"kind": "ServiceAccount", "metadata": {"name": "kyverno-cleanup-controller"}},
    _deployment("kyverno-admission-controller", ["kyverno"], ["kyverno-pre"],
                args=["--admissionReports=true", "--generateValidatingAdmissionPolicy=true"]),
    _deployment("kyverno-background-controller", ["controller"]),
]
GATEKEEPER_DOCS = [
    {"kind": "CustomResourceDefinition", "metadata": {"name": "constrainttemplates.templates.gatekeeper.sh"}},
    _deployment("gatekeeper-audit", ["manager"]),
    _deployment("gatekeeper-controller-manager", ["manager"],
                args=["--operation=webhook", "--operation=mutation-webhook"]),
    {"kind": "PodDisruptionBudget", "metadata": {"name": "gatekeeper-controller-manager"}},
    {"kind": "MutatingWebhookConfiguration", "metadata": {"name": "gatekeeper-mutating-webhook-configuration"}},
    {"kind": "ValidatingWebhookConfiguration", "metadata": {"name": "gatekeeper-validating-webhook-configuration"},
     "webhooks": [{"name": "validation.gatekeeper.sh", "namespaceSelector": {"matchExpressions": []}},
                  {"name": "check-ignore-label.gatekeeper.sh"}]},
]


def _named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def test_kyverno_is_trimmed_to_its_admission_controller_on_the_local_image_narrowed_to_its_arm() -> None:
    out = manifests.kyverno(KYVERNO_DOCS, IMAGE)
    names = {d["metadata"]["name"] for d in out}
    assert names == {"kyverno", "clusterpolicies.kyverno.io", "kyverno-admission-controller"}
    deployment = _named(out, "Deployment", "kyverno-admission-controller")
    spec = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 1
    for container in spec["containers"] + spec["initContainers"]:
        assert container["image"] == IMAGE and container["imagePullPolicy"] == "Never"
    assert spec["containers"][0]["command"] == ["/usr/local/bin/kyverno-admission"]
    assert spec["initContainers"][0]["command"] == ["/usr/local/bin/kyverno-init"]
    args = spec["containers"][0]["args"]
    assert "--admissionReports=false" in args and "--generateValidatingAdmissionPolicy=false" in args
    assert "--admissionReports=true" not in args and "--v=2" in args
    webhooks = json.loads(_named(out, "ConfigMap", "kyverno")["data"]["webhooks"])
    assert webhooks == {"namespaceSelector": {"matchLabels": {manifests.ARM_LABEL: "kyverno"}}}
    # The upstream documents are left as they were.
    assert KYVERNO_DOCS[5]["spec"]["template"]["spec"]["containers"][0]["image"] == "upstream/kyverno:latest"


def test_a_kyverno_manifest_without_its_admission_controller_is_refused() -> None:
    with pytest.raises(ValueError, match="kyverno-admission-controller"):
        manifests.kyverno(KYVERNO_DOCS[:5], IMAGE)


def test_gatekeeper_keeps_one_webhook_replica_without_audit_or_mutation_narrowed_to_its_arm() -> None:
    out = manifests.gatekeeper(GATEKEEPER_DOCS, IMAGE)
    assert {(d["kind"], d["metadata"]["name"]) for d in out} == {
        ("CustomResourceDefinition", "constrainttemplates.templates.gatekeeper.sh"),
        ("Deployment", "gatekeeper-controller-manager"),
        ("ValidatingWebhookConfiguration", "gatekeeper-validating-webhook-configuration")}
    manager = _named(out, "Deployment", "gatekeeper-controller-manager")
    container = manager["spec"]["template"]["spec"]["containers"][0]
    assert manager["spec"]["replicas"] == 1
    assert container["image"] == IMAGE and container["command"] == ["/usr/local/bin/gatekeeper"]
    assert "--operation=mutation-webhook" not in container["args"]
    assert {"--operation=webhook", "--operation=generate"} <= set(container["args"])  # generate: the CRDs
    for webhook in _named(out, "ValidatingWebhookConfiguration", "gatekeeper-validating-webhook-configuration")[
            "webhooks"]:
        assert webhook["namespaceSelector"] == {"matchLabels": {manifests.ARM_LABEL: "gatekeeper"}}


def test_tierguards_webhooks_are_narrowed_away_from_every_other_arm_and_only_once() -> None:
    webhooks = [{"name": "pods.tierguard.io", "namespaceSelector": {"matchExpressions": [
        {"key": "tierguard.io/tier", "operator": "Exists"}]}},
        {"name": "clusterroles.tierguard.io"}]
    out = manifests.narrow_away(manifests.narrow_away(webhooks))
    expressions = out[0]["namespaceSelector"]["matchExpressions"]
    assert expressions[0] == {"key": "tierguard.io/tier", "operator": "Exists"}
    assert expressions[1:] == [{"key": manifests.ARM_LABEL, "operator": "NotIn",
                                "values": ["none", "floor", "kyverno", "gatekeeper"]}]
    assert "namespaceSelector" not in out[1]
    assert len(webhooks[0]["namespaceSelector"]["matchExpressions"]) == 1  # the saved original is untouched


def test_the_floor_is_registered_for_its_arm_only() -> None:
    config = manifests.floor_webhook("https://10.0.0.1:8443/pods", "Q0E=")
    assert config["webhooks"][0]["namespaceSelector"] == {"matchLabels": {manifests.ARM_LABEL: "floor"}}
    assert config["webhooks"][0]["clientConfig"] == {"url": "https://10.0.0.1:8443/pods", "caBundle": "Q0E="}


def _refusal(webhook: str, message: str) -> verdicts.Verdict:
    body = json.dumps({"kind": "Status", "status": "Failure", "code": 400,
                       "message": f'admission webhook "{webhook}" denied the request: {message}'}).encode()
    return verdicts.parse(400, body)


ADMITTED = verdicts.parse(201, b'{"kind": "Pod"}')


def test_the_api_servers_answers_are_read_with_the_refusing_webhook() -> None:
    assert ADMITTED.allowed and ADMITTED.webhook is None
    refused = _refusal("validate.kyverno.svc-fail", "require-istio-proxy: Pod lacks required sidecar istio-proxy")
    assert not refused.allowed and refused.webhook == "validate.kyverno.svc-fail"
    vap = verdicts.parse(422, json.dumps({"message": "pods \"x\" is forbidden: ValidatingAdmissionPolicy "
                                                     "'tierguard-sidecars' denied request"}).encode())
    assert not vap.allowed and vap.webhook is None
    garbled = verdicts.parse(500, b"<html>bad gateway")
    assert not garbled.allowed and "bad gateway" in garbled.message


def test_each_server_must_refuse_by_its_own_webhook_and_the_others_must_admit() -> None:
    for server, webhook in (("tierguard", "pods.tierguard.io"), ("kyverno", "validate.kyverno.svc-fail"),
                            ("gatekeeper", "validation.gatekeeper.sh")):
        verdicts.check(server, _refusal(webhook, "[sidecar-missing] lacks istio-proxy"), ADMITTED)
    verdicts.check("none", ADMITTED, ADMITTED)
    verdicts.check("floor", ADMITTED, ADMITTED)
    with pytest.raises(verdicts.Mismatch, match="admitted"):
        verdicts.check("kyverno", ADMITTED, ADMITTED)
    with pytest.raises(verdicts.Mismatch, match="not by kyverno"):  # tierguard still registered: not Kyverno's
        verdicts.check("kyverno", _refusal("pods.tierguard.io", "lacks istio-proxy"), ADMITTED)
    with pytest.raises(verdicts.Mismatch, match="not by gatekeeper"):  # another rule, not the sidecar
        verdicts.check("gatekeeper", _refusal("validation.gatekeeper.sh", "needs labels"), ADMITTED)
    with pytest.raises(verdicts.Mismatch, match="still judges"):
        verdicts.check("none", _refusal("pods.tierguard.io", "lacks istio-proxy"), ADMITTED)
    with pytest.raises(verdicts.Mismatch, match="with the istio-proxy sidecar was refused"):
        verdicts.check("tierguard", _refusal("pods.tierguard.io", "istio-proxy"),
                       _refusal("pods.tierguard.io", "[secret-value-shared]"))


def _stat(pod: str, namespace: str, cpu: int, rss: int | None, working_set: int) -> dict[str, Any]:
    memory: dict[str, Any] = {"workingSetBytes": {"value": str(working_set)}}
    if rss is not None:
        memory["rssBytes"] = {"value": str(rss)}
    return {"attributes": {"labels": {"io.kubernetes.pod.name": pod, "io.kubernetes.pod.namespace": namespace}},
            "cpu": {"usageCoreNanoSeconds": {"value": str(cpu)}}, "memory": memory}


def test_a_servers_cgroup_usage_sums_its_pods_containers_only() -> None:
    text = json.dumps({"stats": [
        _stat("tierguard-7d9f-a", "tierguard-system", 1_000, 10, 99),
        _stat("tierguard-7d9f-b", "tierguard-system", 2_000, 20, 99),
        _stat("tierguard-other", "elsewhere", 50_000, 500, 99),
        _stat("kyverno-admission-controller-1", "kyverno", 7_000, None, 30)]})
    assert usage.parse(text, "tierguard-system", "tierguard-") == usage.Usage(3_000, 30, 2)
    assert usage.parse(text, "kyverno", "kyverno-admission-controller-") == usage.Usage(7_000, 30, 1)  # working set
    with pytest.raises(ValueError, match="gatekeeper"):
        usage.parse(text, "gatekeeper-system", "gatekeeper-controller-manager-")


def test_the_figures_arithmetic() -> None:
    values = [0.001 * i for i in range(1, 101)]  # 1 ms to 100 ms
    assert latency.percentile(values, 50) == pytest.approx(0.050)
    assert latency.percentile(values, 99) == pytest.approx(0.099)
    assert latency.percentile([0.2], 99) == 0.2
    none = [0.010] * 100
    assert latency.added_ms(values, none, 50) == pytest.approx(40.0)
    # 5 ms of CPU over 1 s serving 200 reviews, while it spends 1 ms/s idle: 4 ms / 200 = 20 us a review.
    assert latency.cpu_us_per_review(5_000_000, 1.0, 3_000_000, 3.0, 200) == pytest.approx(20.0)
    assert latency.peer_ratio(6.0, 2.0) == pytest.approx(3.0)
    assert latency.peer_ratio(6.0, 0.0) is None and latency.peer_ratio(6.0, -0.4) is None
    with pytest.raises(ValueError):
        latency.percentile([], 50)
    with pytest.raises(ValueError):
        latency.cpu_us_per_review(0, 1.0, 0, 1.0, 0)


def test_the_bench_pod_is_what_the_policy_refuses_without_the_sidecar_and_admits_with_it(tmp_path: Path) -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench-peers",
                                                                        "labels": {"tierguard.io/tier": "dev"}}}
    for sidecar in (True, False):
        pod = load.pod(f"p-{sidecar}", sidecar=sidecar)
        pod["metadata"]["namespace"] = "bench-peers"
        (tmp_path / f"{sidecar}.yaml").write_text(yaml.safe_dump_all([namespace, pod]))
        result = subprocess.run([sys.executable, "-m", "tierguard", "check", "-f", str(tmp_path / f"{sidecar}.yaml"),
                                 "--policy", str(TIERPOLICY), "-o", "json"], cwd=REPO, capture_output=True,
                                text=True, timeout=120, check=False)
        rules = {v["rule"] for r in json.loads(result.stdout)["results"] for v in r.get("violations", [])}
        assert rules == (set() if sidecar else {"sidecar-missing"}), result.stdout[-400:]


def test_parts_7_without_a_cluster_ends_with_both_ratios_null_and_why() -> None:
    result = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--parts", "7"], cwd=REPO,
                            capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for peer in ("kyverno", "gatekeeper"):
        assert report[f"peer_admission_ratio_{peer}"] is None
        assert f"peer_admission_ratio_{peer} is null: part 7 needs the local kind cluster" in result.stderr
