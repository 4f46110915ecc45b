"""The chart on a cluster of several nodes: its two replicas land on different nodes, and its PodDisruptionBudget
keeps one of them serving while nodes are drained.

These need schedulable nodes to spread over, which the session's cluster may not have: on the local cluster this
module makes a kind cluster of its own (one control plane, two workers: ``hack/local-cluster.sh up`` with
``TIERGUARD_KIND_WORKERS=2``), with tierguard installed by the same hook, and deletes it afterwards. With
``TIERGUARD_E2E_KUBECONFIG`` it uses that cluster, which must have two schedulable nodes.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .conftest import UP_TIMEOUT_S, unavailable
from .support.kube import LOCAL_CLUSTER, Cluster, find_kubectl, tail, wait_until
from .support.tierguard import NAMESPACE, SELECTOR, TIER_LABEL
from .test_install import pods as replicas

WORKERS = 2
DRAIN_TIMEOUT_S = 30
"""How long the drain that the PodDisruptionBudget must hold back waits before giving up."""


def run_local_cluster(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LOCAL_CLUSTER), *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)


@contextmanager
def another_local_cluster(cluster: Cluster, state: Path, prefix: str, workers: int = 0) -> Iterator[Cluster]:
    """A kind cluster of its own beside the session's (``hack/local-cluster.sh up``, tierguard installed by the
    same hook; state under ``state``), deleted afterwards; unavailable (a failure under CI) if it cannot be made."""
    env = {**os.environ, "TIERGUARD_KIND_CLUSTER": f"{prefix}-{uuid.uuid4().hex[:6]}",
           "TIERGUARD_KIND_WORKERS": str(workers), "TIERGUARD_LOCAL_CLUSTER_DIR": str(state)}
    up = run_local_cluster(env, "up", timeout=UP_TIMEOUT_S)
    try:
        if up.returncode != 0:
            unavailable(f"a {workers + 1}-node kind cluster could not be made:\n{tail(up.stdout)}")
        kubectl = find_kubectl(external_kubeconfig=False)
        assert kubectl is not None
        yield Cluster(kubeconfig=state / "kubeconfig", kubectl_path=kubectl, bin_dir=cluster.bin_dir, local=True,
                      kind_name=env["TIERGUARD_KIND_CLUSTER"])
    finally:
        down = run_local_cluster(env, "down", timeout=600)
        assert down.returncode == 0, f"hack/local-cluster.sh down failed:\n{tail(down.stdout)}"


@pytest.fixture(scope="module")
def nodes_cluster(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not cluster.local:
        yield cluster
        return
    with another_local_cluster(cluster, tmp_path_factory.mktemp("multi-node"), "tg-multi", WORKERS) as nodes:
        yield nodes


def schedulable_nodes(cluster: Cluster) -> list[str]:
    items = cluster.get_json("nodes")["items"]
    return sorted(node["metadata"]["name"] for node in items
                  if not node["spec"].get("unschedulable")
                  and not any(t.get("effect") == "NoSchedule" for t in node["spec"].get("taints", [])))


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def ready_replicas(cluster: Cluster) -> list[dict[str, Any]]:
    return [pod for pod in replicas(cluster) if ready(pod)]


def test_the_replicas_run_on_different_nodes(nodes_cluster: Cluster) -> None:
    nodes = schedulable_nodes(nodes_cluster)
    if len(nodes) < WORKERS:
        unavailable(f"the cluster has {len(nodes)} schedulable node(s); the spread needs {WORKERS}")
    running = wait_until(lambda: found if len(found := ready_replicas(nodes_cluster)) == 2 else None,
                         timeout=180, what="two ready replicas")
    placed = sorted(pod["spec"]["nodeName"] for pod in running)
    assert len(set(placed)) == 2, f"both replicas on one node although {nodes} are schedulable: {placed}"


def test_draining_every_node_keeps_one_replica_serving(nodes_cluster: Cluster) -> None:
    """Both workers drained one after the other: the first drain evicts a replica (the budget allows one), its
    replacement has nowhere to go, so the second drain's eviction is refused by the PodDisruptionBudget and one
    replica keeps answering; the webhook still refuses a bad write."""
    budget = nodes_cluster.get_json("poddisruptionbudget", "-n", NAMESPACE)["items"]
    assert len(budget) == 1 and budget[0]["spec"].get("minAvailable") == 1, budget
    nodes = sorted({pod["spec"]["nodeName"] for pod in replicas(nodes_cluster)})
    assert len(nodes) == 2, f"the replicas share a node: {nodes}"
    try:
        for node in nodes:
            nodes_cluster.kubectl("cordon", node)
        # --grace-period: the drain waits for the evicted replica to be gone; its linger (tested under load by the
        # rollouts) would add 100 s to a test of the spread and the budget.
        first = nodes_cluster.kubectl("drain", nodes[0], "--ignore-daemonsets", "--delete-emptydir-data",
                                      f"--pod-selector={SELECTOR}", "--grace-period=5", "--timeout=120s", check=False,
                                      timeout=180)
        assert first.returncode == 0, f"the first drain failed although the budget allows one eviction:\n{first.stderr}"
        second = nodes_cluster.kubectl("drain", nodes[1], "--ignore-daemonsets", "--delete-emptydir-data",
                                       f"--pod-selector={SELECTOR}", "--grace-period=5",
                                       f"--timeout={DRAIN_TIMEOUT_S}s", check=False, timeout=DRAIN_TIMEOUT_S + 60)
        assert second.returncode != 0, "the second drain evicted the last serving replica"
        assert "disruption budget" in second.stderr, tail(second.stderr)
        serving = ready_replicas(nodes_cluster)
        assert [pod["spec"]["nodeName"] for pod in serving] == [nodes[1]], serving
        bad = {"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": f"tg-multi-{uuid.uuid4().hex[:6]}", "labels": {TIER_LABEL: "prd"}}}
        refused = nodes_cluster.apply(bad, "--dry-run=server", check=False)
        assert refused.returncode != 0 and "namespace-tier-unknown" in refused.stderr, (
            f"the serving replica did not refuse an unknown tier: {refused.stderr}")
    finally:
        for node in nodes:
            nodes_cluster.kubectl("uncordon", node, check=False)
    wait_until(lambda: len(ready_replicas(nodes_cluster)) == 2, timeout=180,
               what="both replicas ready again after the uncordon")
