"""Istio's own proxies and injection switches under the ambient policy, on a real cluster (no Istio runs: tierguard
judges labels and containers only), admitted or refused by the webhook and the ValidatingAdmissionPolicies alike.

- The waypoint Deployment Istio's gateway controller renders for a Gateway of class istio-waypoint
  (tests/corpus/ambient/waypoint.yaml), in an ambient application namespace: admitted, and its ReplicaSet's Pod
  created; its one container is istio-proxy, so its opt-out labels keep only a second proxy out.
- Istio's ext-authz sample (``sidecar.istio.io/inject: "false"``): refused in an ambient tier as in one nobody
  enrolled (SPEC: a ``disabledBy`` match is a violation wherever the pod runs), admitted without the label.
- A Pod opting out of ambient in a sidecar-injection namespace: refused with the proxy the injector added and
  without it, with exactly the webhook's text.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from .support.kube import REPO, Cluster, wait_until
from .support.tierguard import TIER_LABEL, assert_admitted, assert_refused
from .test_admission_policies import dry_run, expected_message
from .test_ambient import AMBIENT, OPT_OUT, STARTUP_S, ambient_policy, bare_pod

__all__ = ["ambient_policy"]  # the fixture, imported for pytest

CORPUS = REPO / "tests" / "corpus" / "ambient"
PROXY = {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.28.0"}


def waypoint(ns: str, kind: str) -> dict[str, Any]:
    """The rendered waypoint's ServiceAccount or Deployment, moved to ``ns``; its owner reference (a Gateway's uid,
    empty in Istio's golden file) left out, as the API server would refuse it."""
    (doc,) = [d for d in yaml.safe_load_all((CORPUS / "waypoint.yaml").read_text()) if d and d["kind"] == kind]
    doc = copy.deepcopy(doc)
    doc["metadata"]["namespace"] = ns
    doc["metadata"].pop("ownerReferences", None)
    return dict(doc)


def pods_of(cluster: Cluster, ns: str, selector: str) -> list[dict[str, Any]] | None:
    items: list[dict[str, Any]] = cluster.get_json("pods", "-n", ns, "-l", selector)["items"]
    return items or None


def test_istios_waypoint_is_admitted_in_an_ambient_tier_and_its_pod_created(
        cluster: Cluster, ambient_policy: None, namespace: Callable[..., str]) -> None:
    ns = namespace(labels={TIER_LABEL: "dev", **AMBIENT})
    cluster.apply(waypoint(ns, "ServiceAccount"))  # the Pod's, or the ServiceAccount admission refuses it
    doc = waypoint(ns, "Deployment")
    assert_admitted(cluster.apply(doc, check=False))
    name = doc["metadata"]["name"]
    wait_until(lambda: pods_of(cluster, ns, f"gateway.networking.k8s.io/gateway-name={name}"),
               timeout=STARTUP_S, what="the waypoint's Pod")


@pytest.mark.parametrize("labels", [AMBIENT, {}], ids=["ambient", "not-enrolled"])
def test_ext_authz_switching_injection_off(cluster: Cluster, ambient_policy: None,
                                           namespace: Callable[..., str], labels: dict[str, str]) -> None:
    ns = namespace(labels={TIER_LABEL: "prod", **labels})
    assert_refused(cluster.kubectl("apply", "-n", ns, "-f", str(CORPUS / "ext-authz.yaml"), check=False),
                   "sidecar-injection-disabled")
    if labels:  # served by ambient once the switch is gone
        docs = [d for d in yaml.safe_load_all((CORPUS / "ext-authz.yaml").read_text()) if d]
        for doc in docs:
            doc.setdefault("metadata", {})["namespace"] = ns
            if doc["kind"] == "Deployment":
                doc["spec"]["template"]["metadata"]["labels"].pop("sidecar.istio.io/inject", None)
            assert_admitted(cluster.apply(doc, check=False))
        wait_until(lambda: pods_of(cluster, ns, "app=ext-authz"), timeout=STARTUP_S, what="ext-authz's Pod")


def test_opting_out_of_ambient_where_the_injector_added_the_proxy(
        cluster: Cluster, ambient_policy: None, namespace: Callable[..., str]) -> None:
    ns = namespace(labels={TIER_LABEL: "dev", "istio-injection": "enabled"})
    for name, proxied in (("injected", True), ("bare", False)):
        pod = bare_pod(ns, name, labels=OPT_OUT)
        if proxied:
            pod["spec"]["containers"].append(dict(PROXY))
        done = dry_run(cluster, pod, ns)
        assert_refused(done, "sidecar-injection-disabled")
        assert f"denied request: {expected_message(cluster, pod, ns)}" in done.stderr, done.stderr
