"""Istio's own ambient samples (tests/corpus/ambient, SOURCES.md) through ``tierguard check`` as a user runs it,
with a policy whose required proxy an ambient label provides: bookinfo and curl are admitted in ambient
namespaces, Deployments and the Pods their ReplicaSets would create alike; the same manifests in a tiered namespace
nobody enrolled are refused; a workload opting out with ``istio.io/dataplane-mode: none`` (curl labelled as Istio's
docs show) is refused; the mesh's own proxies (ztunnel, Istio's waypoint), whose one container is istio-proxy, may
carry the opt-outs."""

from __future__ import annotations

import copy
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tierguard.commands.root import main

HERE = Path(__file__).parent / "ambient"
SAMPLES = ("bookinfo.yaml", "curl.yaml")
DEPLOYMENTS = {"details-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3", "productpage-v1", "curl"}


def every(rules: set[str]) -> dict[str, set[str]]:
    """Each sample Deployment (or its Pod) with these rules."""
    return {name: set(rules) for name in DEPLOYMENTS}


def check(*args: str) -> dict[str, Any]:
    stdout, stdin = io.StringIO(), io.StringIO("")
    saved = sys.stdout, sys.stdin
    sys.stdout, sys.stdin = stdout, stdin
    try:
        code = main(["check", "--policy", str(HERE / "policy.yaml"), "-f", str(HERE / "namespaces.yaml"), *args,
                     "-o", "json"])
    finally:
        sys.stdout, sys.stdin = saved
    document: dict[str, Any] = json.loads(stdout.getvalue())
    assert code == (1 if any(not r["allowed"] for r in document["results"]) else 0)
    return document


def verdicts(document: dict[str, Any], kind: str) -> dict[str, set[str]]:
    return {r["object"]["name"]: {v["rule"] for v in r["violations"]} for r in document["results"]
            if r["object"]["kind"] == kind}


def samples() -> list[str]:
    return [arg for name in SAMPLES for arg in ("-f", str(HERE / name))]


def pods_of(tmp_path: Path, labels: dict[str, str] | None = None) -> list[str]:
    """The Pods the samples' ReplicaSets would create: each Deployment's template as a Pod (plus ``labels``)."""
    pods = []
    for name in SAMPLES:
        for doc in yaml.safe_load_all((HERE / name).read_text()):
            if doc and doc["kind"] == "Deployment":
                template = copy.deepcopy(doc["spec"]["template"])
                metadata = {**template.get("metadata", {}), "name": doc["metadata"]["name"]}
                metadata["labels"] = {**metadata.get("labels", {}), **(labels or {})}
                pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]})
    path = tmp_path / "pods.yaml"
    path.write_text(yaml.safe_dump_all(pods))
    return ["-f", str(path)]


@pytest.mark.parametrize("namespace", ["bookinfo-dev", "bookinfo-prod"])
def test_the_samples_and_their_pods_are_admitted_in_ambient_namespaces(namespace: str, tmp_path: Path) -> None:
    document = check(*samples(), *pods_of(tmp_path), "-n", namespace)
    assert verdicts(document, "Deployment") == every(set())
    assert verdicts(document, "Pod") == every(set())
    assert document["summary"]["denied"] == 0


def test_outside_the_ambient_mesh_they_are_refused(tmp_path: Path) -> None:
    document = check(*samples(), *pods_of(tmp_path), "-n", "bookinfo-plain")
    assert verdicts(document, "Deployment") == every({"sidecar-missing"})
    assert verdicts(document, "Pod") == every({"sidecar-missing"})
    message = next(r["violations"][0]["message"] for r in document["results"] if r["object"]["name"] == "curl"
                   and r["object"]["kind"] == "Pod")
    assert message.endswith("nor does a label provide it without a container (namespace label "
                            "istio.io/dataplane-mode=ambient or pod label istio.io/dataplane-mode=ambient would)")
    # A pod labelled for ambient itself is provided anywhere.
    labelled = check(*pods_of(tmp_path, {"istio.io/dataplane-mode": "ambient"}), "-n", "bookinfo-plain")
    assert verdicts(labelled, "Pod") == every(set())


def test_the_meshs_own_proxy_may_opt_out_of_itself() -> None:
    """ztunnel's pods opt out of injection and of ambient (they are the data plane) and their one container is
    named istio-proxy: the pod is the proxy, admitted as Istio's waypoints and gateways are."""
    ztunnel = check("-f", str(HERE / "ztunnel.yaml"))
    assert verdicts(ztunnel, "DaemonSet") == {"ztunnel": set()}


def test_opting_out_of_ambient_is_refused(tmp_path: Path) -> None:
    opted_out = check(*pods_of(tmp_path, {"istio.io/dataplane-mode": "none"}), "-n", "bookinfo-prod")
    assert verdicts(opted_out, "Pod") == every({"sidecar-injection-disabled"})
    message = next(r["violations"][0]["message"] for r in opted_out["results"] if r["object"]["name"] == "curl")
    assert message == ("Pod bookinfo-prod/curl opts out of required sidecar 'istio-proxy', which a label provides "
                       "without a container (label istio.io/dataplane-mode=none); every tier must run it: remove "
                       "that label")


def test_the_samples_are_istios_own() -> None:
    """Vendored unchanged (SOURCES.md): the licence header and what the tests rely on are Istio's."""
    for name in SAMPLES:
        assert (HERE / name).read_text().startswith("# Copyright Istio Authors")
    ztunnel = yaml.safe_load((HERE / "ztunnel.yaml").read_text())
    assert ztunnel["spec"]["template"]["metadata"]["labels"]["istio.io/dataplane-mode"] == "none"


def test_istios_waypoint_in_an_ambient_application_namespace_is_admitted(tmp_path: Path) -> None:
    """The Deployment Istio's gateway controller renders for a Gateway of class istio-waypoint (its golden test
    output of files/waypoint.yaml), and the Pod its ReplicaSet would create: the pod is the proxy, so its opt-outs
    of injection and of ambient keep a second proxy out of it, not the service."""
    objects = [doc for doc in yaml.safe_load_all((HERE / "waypoint.yaml").read_text()) if doc]
    (deployment,) = [doc for doc in objects if doc["kind"] == "Deployment"]
    template = deployment["spec"]["template"]
    assert {k: template["metadata"]["labels"][k] for k in ("sidecar.istio.io/inject", "istio.io/dataplane-mode")} == {
        "sidecar.istio.io/inject": "false", "istio.io/dataplane-mode": "none"}
    assert [c["name"] for c in template["spec"]["containers"]] == ["istio-proxy"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {**template["metadata"], "name": "waypoint-pod",
                                                           "namespace": "default"}, "spec": template["spec"]}
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(pod))
    document = check("-f", str(HERE / "waypoint.yaml"), "-f", str(tmp_path / "pod.yaml"))
    assert verdicts(document, "Deployment") == {"namespace": set()}
    assert verdicts(document, "Pod") == {"waypoint-pod": set()}


@pytest.mark.parametrize("namespace", ["bookinfo-dev", "bookinfo-plain"])
def test_ext_authz_switching_injection_off_is_refused_in_and_out_of_ambient(namespace: str) -> None:
    """Istio's ext-authz sample labels its pods sidecar.istio.io/inject=false. Istio's CNI would capture them in
    an ambient namespace all the same, but SPEC makes a ``disabledBy`` match a violation wherever the pod runs
    (the policy lists the switch), so the sample is refused in both; drop the label to run it in ambient."""
    rules = {"sidecar-injection-disabled"}
    document = check("-f", str(HERE / "ext-authz.yaml"), "-n", namespace)
    assert verdicts(document, "Deployment") == {"ext-authz": rules}
