"""`tierguard audit` over a live cluster: what was admitted while a tier was in audit mode shows up later."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

from tests.support.parity_page import parse
from tierguard.kinds import row_of

from .support.kube import Cluster
from .support.tierguard import TIER_LABEL, apply, assert_admitted, eventually, policy, secret, secret_value


def run_audit(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tierguard", "audit", "--kubeconfig", str(cluster.kubeconfig),
                           *args], capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)})


def test_audit_reports_what_runs(cluster: Cluster, namespace: Callable[..., str]) -> None:
    dev, prod = namespace(labels={TIER_LABEL: "dev"}), namespace(labels={TIER_LABEL: "prod"})
    value = secret_value()
    mirror = secret(dev, "mirror", value, **{"reflector.v1.k8s.emberstack.com/reflects": f"{prod}/db"})
    with policy(cluster, {"enforcement": {"perTier": {"dev": "audit"}}}):
        eventually(lambda: assert_admitted(apply(cluster, mirror)))
    assert_admitted(apply(cluster, secret(dev, "clean", secret_value())))

    done = run_audit(cluster, "-n", dev, "-o", "json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    by_name = {r["object"]["name"]: r for r in report["results"]}
    assert set(by_name) == {"mirror", "clean"}
    assert by_name["clean"]["allowed"] is True
    assert [v["rule"] for v in by_name["mirror"]["violations"]] == ["secret-replication-cross-tier"]
    assert by_name["mirror"]["violations"][0]["action"] == "deny"  # the policy in force now: enforce
    assert value not in done.stdout + done.stderr

    text = run_audit(cluster, "-n", dev)
    assert text.returncode == 1
    assert f"cluster Secret {dev}/mirror: [secret-replication-cross-tier]" in text.stdout


def test_audit_without_a_cluster_fails_clearly(tmp_path: object) -> None:
    done = subprocess.run([sys.executable, "-m", "tierguard", "audit", "--kubeconfig", "/nonexistent/kubeconfig"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "cannot read the cluster" in done.stderr and "Traceback" not in done.stderr


def test_parity_over_the_cluster(cluster: Cluster, namespace: Callable[..., str]) -> None:
    dev = namespace(labels={TIER_LABEL: "dev"})
    required = {"sidecars": {"required": [{"name": "istio-proxy"}]}}
    bare = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bare", "namespace": dev},
            "spec": {"selector": {"matchLabels": {"app": "bare"}},
                     "template": {"metadata": {"labels": {"app": "bare"}},
                                  "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}}}}
    with policy(cluster, {**required, "enforcement": {"perTier": {"dev": "audit"}}}):
        eventually(lambda: assert_admitted(apply(cluster, bare)))
        done = subprocess.run([sys.executable, "-m", "tierguard", "parity", "--kubeconfig", str(cluster.kubeconfig),
                               "-o", "json"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stderr
    gaps = json.loads(done.stdout)["gaps"]
    assert {"kind": "Deployment", "namespace": dev, "name": "bare"} in [
        {k: g["object"][k] for k in ("kind", "namespace", "name")} for g in gaps]


def test_parity_page_over_the_cluster(cluster: Cluster, namespace: Callable[..., str]) -> None:
    """The page of `parity -o html` from a live cluster: the application whose dev workload lacks the proxy that
    its prod workload runs is the highlighted row."""
    dev, prod = namespace(labels={TIER_LABEL: "dev"}), namespace(labels={TIER_LABEL: "prod"})
    application = f"shop-{dev}"  # unique: other tests' workloads may share the cluster

    def shop(ns: str, containers: list[str]) -> dict[str, object]:
        labels = {"app.kubernetes.io/name": application}
        return {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "shop", "namespace": ns, "labels": labels},
                "spec": {"selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                             {"name": c, "image": "registry.k8s.io/pause:3.10"} for c in containers]}}}}

    required = {"sidecars": {"required": [{"name": "istio-proxy"}]}}
    with policy(cluster, {**required, "enforcement": {"perTier": {"dev": "audit"}}}):
        eventually(lambda: assert_admitted(apply(cluster, shop(prod, ["app", "istio-proxy"]))))
        eventually(lambda: assert_admitted(apply(cluster, shop(dev, ["app"]))))
        done = subprocess.run([sys.executable, "-m", "tierguard", "parity", "--kubeconfig", str(cluster.kubeconfig),
                               "-o", "html", "-q"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stderr
    page = parse(done.stdout)
    assert application in page.highlighted
    assert page.states[(application, "dev", "istio-proxy")] == "missing"
    assert page.states[(application, "prod", "istio-proxy")] == "present"


def test_parity_page_shows_the_namespace_posture(cluster: Cluster, namespace: Callable[..., str]) -> None:
    """The page of `parity -o html` from a live cluster reads each tier's namespaces: the Pod Security level of a
    dev and a prod namespace land in their tiers' cells; the default-deny count is there once the kinds table
    lists NetworkPolicies (else `not listed`)."""
    enforce = "pod-security.kubernetes.io/enforce"
    dev = namespace(labels={TIER_LABEL: "dev", enforce: "privileged"})
    prod = namespace(labels={TIER_LABEL: "prod", enforce: "restricted"})
    deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": prod},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    assert_admitted(apply(cluster, deny))
    done = subprocess.run([sys.executable, "-m", "tierguard", "parity", "--kubeconfig", str(cluster.kubeconfig),
                           "-o", "html", "-q"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode in (0, 1), done.stderr
    page = parse(done.stdout)
    # other tests' namespaces share the cluster: these two are among their tiers', with their levels
    assert page.values[(enforce, "dev")].get("privileged", 0) >= 1
    assert page.values[(enforce, "prod")].get("restricted", 0) >= 1
    assert page.weaker(enforce) <= {"dev", "qa", "stage"}  # prod, the reference, is never weaker
    names = "".join(page.text)
    assert dev in names and prod in names
    if row_of("networking.k8s.io/v1", "NetworkPolicy") is not None:
        (count,) = page.values[("default-deny-ingress", "prod")]  # "keeping/all"
        assert int(count.split("/")[0]) >= 1
