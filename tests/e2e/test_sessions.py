"""session-cross-tier on a real API server, with real identities: ``kubectl --as bob --as-group ...`` execs into
pods of a dev and a prod namespace (a CONNECT of ``pods/exec`` that the chart routes to tierguard), attaches to
and port-forwards to the prod one, debugs it (an UPDATE of ``pods/ephemeralcontainers``), and breaks glass by
group, which tierguard's log and metric record.

Bob is a dev person by ``spec.subjects`` (group ``team-payments-dev``); the RBAC that lets him exec at all is a
ClusterRoleBinding to ``e2e-session-users``, a group no subjects entry names (untiered, so it gives him no tier).
The pods run tierguard's own image, which every node running tierguard has (the local nodes' images are
single static programs, ``pause`` included): its Python sleeps, and the exec runs a one-line Python program.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .support.kube import Cluster
from .support.tierguard import (
    NAMESPACE,
    SELECTOR,
    TIER_LABEL,
    assert_refused,
    eventually,
    policy,
    tierguard_logs,
)

NamespaceFactory = Callable[..., str]
USERS_GROUP = "e2e-session-users"
ONCALL_GROUP = "e2e-session-oncall"
BOB = ["--as=bob", "--as-group=team-payments-dev", f"--as-group={USERS_GROUP}"]
PEOPLE = {
    "subjects": {"perTier": {"dev": {"groups": ["team-*-dev"]}, "prod": {"groups": ["team-*-prod"]}}},
    "exemptions": {"breakGlass": {"groups": [ONCALL_GROUP]}},
}
READY_TIMEOUT = "180s"
OPENED = "session opened"


@pytest.fixture(scope="module")
def session_rbac(cluster: Cluster) -> Iterator[str]:
    """Lets the untiered group ``e2e-session-users`` get pods, exec into, attach to, port-forward to and debug
    them, everywhere: RBAC allows it, so only tierguard stands between a dev person and a prod pod."""
    name = f"tg-e2e-sessions-{uuid.uuid4().hex[:6]}"
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                      # get as well as create: kubectl's WebSocket upgrade is a GET that needs both.
                      {"apiGroups": [""], "resources": ["pods/exec", "pods/attach", "pods/portforward"],
                       "verbs": ["get", "create"]},
                      {"apiGroups": [""], "resources": ["pods/ephemeralcontainers"], "verbs": ["patch", "update"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": USERS_GROUP}]}
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                           "items": [role, binding]}))
    try:
        yield name
    finally:
        cluster.kubectl("delete", "clusterrolebinding,clusterrole", name, "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def image(cluster: Cluster) -> str:
    """tierguard's image as every node holds it (``kind load``, or the nodes' own pull), so a pod of it starts
    without a registry. Not the replicas' image reference: after the release test they may run one from a registry
    that test started and stopped."""
    held: set[str] | None = None
    for node in cluster.get_json("nodes")["items"]:
        # An image the runtime keeps without a name (replaced by a newer one of its tag) has ``names: null``.
        names = {name for entry in node.get("status", {}).get("images") or [] for name in entry.get("names") or []
                 if "@" not in name and re.fullmatch(r"(docker\.io/library/)?tierguard:[\w.-]+", name)}
        held = names if held is None else held & names
    if not held:
        pytest.fail("no node holds a tierguard:<tag> image (hack/install-tierguard.sh loads it into kind)")
    return sorted(held)[-1]


def running_pod(cluster: Cluster, namespace: NamespaceFactory, tier: str, image: str) -> str:
    """A namespace of ``tier`` with a ready pod ``api``; returns the namespace."""
    ns = namespace(labels={TIER_LABEL: tier})
    cluster.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api", "namespace": ns},
        "spec": {"containers": [{"name": "app", "image": image, "imagePullPolicy": "IfNotPresent",
                                 "command": ["python", "-c", "import time; time.sleep(3600)"]}],
                 "terminationGracePeriodSeconds": 0}}))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/api", "-n", ns, f"--timeout={READY_TIMEOUT}")
    return ns


def exec_in(cluster: Cluster, ns: str, *identity: str) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("exec", "-n", ns, "api", "-c", "app", *identity, "--", "python", "-c",
                           f"print({OPENED!r})", check=False)


def break_glass_count(cluster: Cluster) -> float:
    """``tierguard_break_glass_total{rule="session-cross-tier"}`` summed over the replicas."""
    total = 0.0
    for pod in cluster.get_json("pods", "-n", NAMESPACE, "-l", SELECTOR)["items"]:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        text = cluster.kubectl("get", "--raw", f"/api/v1/namespaces/{NAMESPACE}/pods/{pod['metadata']['name']}"
                                               ":8080/proxy/metrics").stdout
        total += sum(float(value) for value in re.findall(
            r'^tierguard_break_glass_total\{rule="session-cross-tier"\} (\S+)$', text, re.MULTILINE))
    return total


def break_glass_lines(cluster: Cluster, pod_ref: str) -> list[dict[str, Any]]:
    """tierguard's ``break-glass`` log records about ``pod_ref`` (JSON lines, after kubectl's pod prefix)."""
    found = []
    for line in tierguard_logs(cluster).splitlines():
        start = line.find("{")
        if start < 0 or '"break-glass"' not in line:
            continue
        try:
            entry = json.loads(line[start:])
        except json.JSONDecodeError:
            continue
        if entry.get("message") == "break-glass" and entry.get("object") == pod_ref:
            found.append(entry)
    return found


def test_a_dev_person_may_exec_into_dev_not_into_prod(cluster: Cluster, namespace: NamespaceFactory,
                                                      session_rbac: str, image: str) -> None:
    dev, prod = running_pod(cluster, namespace, "dev", image), running_pod(cluster, namespace, "prod", image)
    # RBAC alone lets him into both: the admin-side check that the refusal below is tierguard's, not RBAC's.
    can = cluster.kubectl("auth", "can-i", "create", "pods", "--subresource=exec", "-n", prod, *BOB, check=False)
    assert can.stdout.strip() == "yes", can.stdout + can.stderr
    with policy(cluster, PEOPLE):
        def refused_in_prod() -> subprocess.CompletedProcess[str]:
            result = exec_in(cluster, prod, *BOB)
            assert_refused(result, "session-cross-tier")
            return result

        refused = eventually(refused_in_prod)
        assert f"Pod {prod}/api (tier prod) by user bob (tier dev)" in refused.stderr, refused.stderr
        assert "pods-exec.tierguard.io" in refused.stderr, refused.stderr
        ran = exec_in(cluster, dev, *BOB)
        assert ran.returncode == 0 and OPENED in ran.stdout, ran.stdout + ran.stderr
        # attach and port-forward are sessions too (refused at the upgrade, so kubectl returns at once).
        attach = cluster.kubectl("attach", "-n", prod, "api", "-c", "app", *BOB, check=False, timeout=60)
        assert_refused(attach, "session-cross-tier")
        assert "pods-attach.tierguard.io" in attach.stderr, attach.stderr
        forward = cluster.kubectl("port-forward", "-n", prod, "pod/api", "18080:8080", *BOB, check=False,
                                  timeout=60)
        assert_refused(forward, "session-cross-tier")
        assert f"port-forward to Pod {prod}/api (tier prod)" in forward.stderr, forward.stderr
        # kubectl debug: an ephemeral container added to the prod pod is a session too.
        debug = cluster.kubectl("debug", "-n", prod, "api", f"--image={image}", "--target=app", *BOB, check=False)
        assert_refused(debug, "session-cross-tier")
        assert "adding ephemeral container" in debug.stderr, debug.stderr
    # The policy is back: people have no tier again, so bob is untiered and not judged.
    eventually(lambda: _admitted(exec_in(cluster, prod, *BOB)))


def test_break_glass_by_group_admits_and_is_recorded(cluster: Cluster, namespace: NamespaceFactory,
                                                     session_rbac: str, image: str) -> None:
    prod = running_pod(cluster, namespace, "prod", image)
    oncall = [*BOB, f"--as-group={ONCALL_GROUP}"]
    with policy(cluster, PEOPLE):
        eventually(lambda: assert_refused(exec_in(cluster, prod, *BOB), "session-cross-tier"))
        before = break_glass_count(cluster)
        # Admitted (the webhook's warning rides on the upgrade response, which kubectl exec does not print): the
        # record is tierguard's log line and metric.
        ran = exec_in(cluster, prod, *oncall)
        assert ran.returncode == 0 and OPENED in ran.stdout, ran.stdout + ran.stderr

        def recorded() -> None:
            (entry,) = break_glass_lines(cluster, f"Pod {prod}/api")
            assert entry["user"] == "bob" and entry["reason"] == f"member of break-glass group {ONCALL_GROUP}"
            assert break_glass_count(cluster) == before + 1

        eventually(recorded, timeout=30)
        # kubectl debug (an UPDATE, not an upgrade) prints the warnings.
        debug = cluster.kubectl("debug", "-n", prod, "api", f"--image={image}", "--target=app", *oncall)
        assert f"Warning: tierguard: admitted by break-glass (member of break-glass group {ONCALL_GROUP})" \
            in debug.stderr, debug.stderr
        assert "Warning: [session-cross-tier] adding ephemeral container" in debug.stderr, debug.stderr
        eventually(lambda: _equal(break_glass_count(cluster), before + 2), timeout=30)


def _admitted(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr


def _equal(got: float, expected: float) -> None:
    assert got == expected, (got, expected)
