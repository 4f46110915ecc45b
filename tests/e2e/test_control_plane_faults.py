"""API server and etcd restarts under load (issue: reliability with figures, item 3).

The local kind cluster's kube-apiserver or etcd static pod is stopped and started again
(``hack/local-cluster.sh restart-component``: its manifest moved out of the control-plane node's manifests dir and
back, as an upgrade of it does) while the load process of test_reliability writes Pods and Secrets. While the API
server or its storage is gone, writes fail (no decision); none may be decided wrongly. Afterwards tierguard must
decide again without a restart of its own: its watches reconnect and resume, and until its API checks pass again it
answers not ready (denied), never from an index it cannot vouch for. Figures: the restart's duration and the time
from the API server being ready again to tierguard's first right pair of decisions
(``$TIERGUARD_RELIABILITY_REPORT``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .support.kube import LOCAL_CLUSTER, Cluster, local_cluster, tail, wait_until
from .support.tierguard import NAMESPACE, SELECTOR, secret
from .test_reliability import load, load_namespaces, record

__all__ = ["load_namespaces"]  # the fixture, from test_reliability
RECOVERY_TIMEOUT_S = 180.0


def tierguard_processes(cluster: Cluster) -> dict[str, Any]:
    """Who serves: each pod's uid and restart count."""
    items = cluster.get_json("pods", "-n", NAMESPACE, "-l", SELECTOR)["items"]
    assert items, f"no tierguard pods in {NAMESPACE}"
    return {pod["metadata"]["uid"]: sum(s.get("restartCount", 0) for s in pod["status"].get("containerStatuses")
                                        or []) for pod in items}


def settled(cluster: Cluster) -> bool:
    """No tierguard pod is coming or going (a rollout of an earlier test still replacing one would look like a
    restart caused by the fault): as many pods as the Deployment wants, none terminating."""
    items = cluster.get_json("pods", "-n", NAMESPACE, "-l", SELECTOR)["items"]
    wanted = cluster.get_json("deployments", "-n", NAMESPACE, "-l", SELECTOR)["items"]
    replicas = sum(int(d["spec"].get("replicas", 1)) for d in wanted)
    return len(items) == replicas and not any(p["metadata"].get("deletionTimestamp") for p in items)


def all_ready(cluster: Cluster) -> bool:
    items = cluster.get_json("pods", "-n", NAMESPACE, "-l", SELECTOR)["items"]
    return bool(items) and all(condition["status"] == "True" for pod in items
                               for condition in pod["status"].get("conditions") or [] if condition["type"] == "Ready")


def api_check_lines(cluster: Cluster) -> str:
    """What each replica logged about its API checks (no object data: URLs, error kinds and counts)."""
    logs = cluster.kubectl("logs", "-n", NAMESPACE, "-l", SELECTOR, "--tail=-1", "--prefix", check=False).stdout
    return "\n".join(line for line in logs.splitlines() if "tierguard.probes" in line)[-4000:]


def decides_right(cluster: Cluster, target: str, source: str) -> bool:
    """tierguard judges with its index: a Secret copied from another tier is refused by the webhook's rule (the
    API server alone cannot know the source's tier), a plain one admitted."""
    copied = secret(target, f"copy-{int(time.time() * 1000)}", "x" * 20,
                    **{"reflector.v1.k8s.emberstack.com/reflects": f"{source}/db"})
    plain = secret(target, f"plain-{int(time.time() * 1000)}", "y" * 20)
    refused = cluster.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(copied), check=False)
    admitted = cluster.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(plain), check=False)
    return (refused.returncode != 0 and "[secret-replication-cross-tier]" in refused.stderr
            and admitted.returncode == 0)


@pytest.mark.parametrize("component", ["apiserver", "etcd"])
def test_control_plane_restart_under_load(cluster: Cluster, load_namespaces: tuple[str, str],
                                          component: str) -> None:
    if not cluster.local:
        pytest.skip("restarts the control plane's static pods through hack/local-cluster.sh restart-component: only "
                    "the local kind cluster's control-plane node is at hand")
    target, source = load_namespaces
    # The fault starts from a replica set that decides right (after the previous case's restart, that can take
    # one more API check).
    wait_until(lambda: decides_right(cluster, target, source), timeout=RECOVERY_TIMEOUT_S, interval=0.5,
               what="tierguard deciding right before the fault")
    wait_until(lambda: settled(cluster), timeout=RECOVERY_TIMEOUT_S, interval=1,
               what="no tierguard pod starting or terminating before the fault")
    before = tierguard_processes(cluster)
    with load(cluster, target, source) as result:
        started = time.monotonic()
        restarted = local_cluster("restart-component", component, timeout=300)
        assert restarted.returncode == 0, tail(restarted.stdout)
        back = time.monotonic()
        wait_until(lambda: decides_right(cluster, target, source), timeout=RECOVERY_TIMEOUT_S, interval=0.2,
                   what="tierguard deciding again after the restart")
        recovered = time.monotonic()
        # One replica deciding right is not all: the Service routes to every ready one, and a replica that stays
        # not ready refuses whatever reaches it until the kubelet's probe takes it out.
        try:
            wait_until(lambda: all_ready(cluster), timeout=RECOVERY_TIMEOUT_S, interval=1,
                       what="every tierguard replica ready again")
        except AssertionError as error:
            raise AssertionError(f"{error}; their API checks:\n{api_check_lines(cluster)}") from None
    assert result["wrong"] == 0, f"{result['wrong']} wrong decisions: {result}"
    after = tierguard_processes(cluster)
    assert after == before, f"tierguard was restarted: {before} -> {after}"
    record(f"{component} restart under load", attempted=result["attempted"], wrong=result["wrong"],
           failed=result["failed"], restart_seconds=round(back - started, 1),
           recovery_seconds=round(recovered - back, 1))


def test_another_state_dir_leaves_the_running_cluster_alone(cluster: Cluster, tmp_path: Path) -> None:
    """A second checkout running `up` or `down` for a cluster name that runs from this checkout's state dir is
    refused, naming that dir, and the cluster stays (a helper's clone once deleted the first one's cluster; adopting
    it instead lost the audit log mounted from the first dir)."""
    if not cluster.local:
        pytest.skip("starts hack/local-cluster.sh against the local kind cluster")
    name = cluster.kind_name or os.environ.get("TIERGUARD_KIND_CLUSTER", "tierguard")
    node = f"{name}-control-plane"

    def container_id() -> str:
        return subprocess.run(["docker", "inspect", "-f", "{{.Id}}", node], capture_output=True, text=True,
                              check=True).stdout.strip()

    before = container_id()
    state = tmp_path / "other-checkout"
    env = {**os.environ, "TIERGUARD_KIND_CLUSTER": name, "TIERGUARD_LOCAL_CLUSTER_DIR": str(state),
           "TIERGUARD_INSTALL_HOOK": str(tmp_path / "no-hook")}
    for command in ("up", "down"):
        result = subprocess.run([str(LOCAL_CLUSTER), command], stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=600, check=False, env=env)
        output = result.stdout + result.stderr
        assert result.returncode != 0, f"`{command}` from another state dir succeeded:\n{tail(output)}"
        assert f"runs from another state dir, {cluster.kubeconfig.parent}" in output, tail(output)
        assert container_id() == before, f"`{command}` from another state dir replaced the running cluster"
    assert not (state / "kubeconfig").exists(), "the refused `up` wrote a kubeconfig"
