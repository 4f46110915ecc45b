"""Running kubectl against the e2e cluster, and finding that cluster.

Two kinds of cluster: the local kind cluster of ``hack/local-cluster.sh`` (created and started here), or any
existing cluster named by ``TIERGUARD_E2E_KUBECONFIG``. This module only runs processes and parses their output;
pytest policy (skip or fail) lives in ``conftest.py``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[3]
LOCAL_CLUSTER = REPO / "hack" / "local-cluster.sh"
BUILD_BINARIES = REPO / "hack" / "build-binaries.sh"
VERSIONS_FILE = REPO / "hack" / "versions.env"

KUBECTL_TIMEOUT_S = 120
"""Seconds one kubectl call may take before it counts as hung."""
HOST_ADDRESS_ENV = "TIERGUARD_E2E_HOST_ADDRESS"
"""For a cluster given by TIERGUARD_E2E_KUBECONFIG: the address at which its API server and nodes reach this host."""

T = TypeVar("T")


class KubectlError(subprocess.CalledProcessError):
    """A kubectl call that exited non-zero; its message carries kubectl's stderr."""

    def __str__(self) -> str:
        return f"{' '.join(map(str, self.cmd))} exited {self.returncode}:\n{self.stderr or self.stdout}"


@dataclass(frozen=True)
class Cluster:
    """A cluster the e2e tests may change: create namespaces, webhooks, workloads."""

    kubeconfig: Path
    kubectl_path: Path
    bin_dir: Path
    """Directory holding kubectl (and, for the local cluster, helm)."""
    local: bool
    """True for hack/local-cluster.sh's kind cluster, whose nodes are containers on this host's Docker."""
    kind_name: str | None = None
    """A local cluster's kind cluster name, for ``hack/local-cluster.sh node-exec`` (TIERGUARD_KIND_CLUSTER); None:
    the script's (the session's cluster)."""

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = KUBECTL_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.kubectl_path), "--kubeconfig", str(self.kubeconfig), *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def get_json(self, *args: str) -> Any:
        """``kubectl get <args> -o json``, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, manifest: Mapping[str, Any], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``kubectl apply -f -`` of one object given as a dict."""
        return self.kubectl("apply", "-f", "-", *args, input=json.dumps(manifest), check=check)

    def host_address(self) -> str | None:
        """The address at which the API server (and the nodes) reach this host, so a server started here for the
        API server to call listens there, and its URL and certificate name it: for the local cluster the gateway of
        kind's Docker network (``hack/local-cluster.sh host-address``); for another cluster
        ``$TIERGUARD_E2E_HOST_ADDRESS``, else None (it may not reach this host at all)."""
        if self.local:
            return local_host_address()
        return os.environ.get(HOST_ADDRESS_ENV) or None

    def node_exec(self, node: str, *command: str, input: str | None = None, check: bool = True,
                  timeout: float = KUBECTL_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """``command`` run inside a node of the local cluster (``hack/local-cluster.sh node-exec``): its container
        reaches the pod IPs and holds the node's containerd (``ctr -n k8s.io``) and crictl. ``node`` is a Node's name
        or its role suffix (``control-plane``, ``worker``)."""
        assert self.local, "node_exec needs the local kind cluster (hack/local-cluster.sh)"
        cmd = [str(LOCAL_CLUSTER), "node-exec", node, *command]
        env = {**os.environ, **({"TIERGUARD_KIND_CLUSTER": self.kind_name} if self.kind_name else {})}
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False,
                              env=env)
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    @contextmanager
    def port_forward(self, namespace: str, target: str, port: int) -> Iterator[int]:
        """``kubectl port-forward`` of ``target`` (``pod/NAME``)'s ``port`` to a free port on this host's loopback,
        yielded: a connection to it reaches the pod's port in the pod's network namespace, on any cluster."""
        cmd = [str(self.kubectl_path), "--kubeconfig", str(self.kubeconfig), "port-forward", "-n", namespace, target,
               f":{port}", "--address", "127.0.0.1"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert proc.stdout is not None
            said: list[str] = []
            while (line := proc.stdout.readline()) and len(said) < 20:  # until "Forwarding from 127.0.0.1:PORT"
                said.append(line)
                if local := re.search(r"127\.0\.0\.1:(\d+) ->", line):
                    break
            else:
                raise AssertionError(f"kubectl port-forward {target} :{port} did not start:\n{''.join(said)}")
            yield int(local.group(1))
        finally:
            stop(proc)

    def nodes(self) -> list[str]:
        """The names of the cluster's Nodes."""
        return [node["metadata"]["name"] for node in self.get_json("nodes")["items"]]

    def env(self) -> dict[str, str]:
        """Environment for other tools (helm, tierguard) talking to this cluster."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }


def url_host(address: str) -> str:
    """``address`` as the host part of a URL (an IPv6 address in brackets)."""
    return f"[{address}]" if ":" in address else address


def pinned_versions() -> dict[str, str]:
    """The KEY=VALUE pairs of hack/versions.env."""
    pairs = {}
    for raw in VERSIONS_FILE.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            pairs[key] = value
    return pairs


def local_state_dir() -> Path:
    """hack/local-cluster.sh's state dir: kubeconfig, kind config, the API server's audit log (``audit/audit.log``)."""
    return Path(os.environ.get("TIERGUARD_LOCAL_CLUSTER_DIR", REPO / ".local-cluster"))


@cache
def local_host_address() -> str:
    """``hack/local-cluster.sh host-address``: the gateway of kind's Docker network (the same for the session)."""
    result = local_cluster("host-address", timeout=60)
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0 and lines, f"hack/local-cluster.sh host-address failed:\n{tail(result.stdout)}"
    return str(ipaddress.ip_address(lines[-1].strip()))


def cache_bin_dir() -> Path:
    """Where hack/build-binaries.sh keeps its binaries (honours TIERGUARD_K8S_CACHE)."""
    out = subprocess.run([str(BUILD_BINARIES), "--bin-dir"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def find_kubectl(*, external_kubeconfig: bool) -> Path | None:
    """TIERGUARD_KUBECTL, else the cached kubectl, else (only for a given kubeconfig) kubectl on PATH.

    A system kubectl is never used with the local cluster: its version is unknown and may be out of
    skew with the pinned API server.
    """
    if explicit := os.environ.get("TIERGUARD_KUBECTL"):
        return Path(explicit)
    cached = cache_bin_dir() / "kubectl"
    if os.access(cached, os.X_OK):
        return cached
    if external_kubeconfig and (found := shutil.which("kubectl")):
        return Path(found)
    return None


def local_cluster(command: str, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Runs ``hack/local-cluster.sh <command> [args]``, stdout and stderr merged into ``stdout``."""
    return subprocess.run(
        [str(LOCAL_CLUSTER), command, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


def host_state() -> set[str]:
    """``hack/local-cluster.sh host-state``: this cluster's Docker containers and volumes and the state dir, one fact
    a line."""
    result = local_cluster("host-state")
    assert result.returncode == 0, f"hack/local-cluster.sh host-state failed:\n{tail(result.stdout)}"
    return set(result.stdout.splitlines())


def free_port(address: str = "127.0.0.1") -> int:
    """A port free on ``address`` (IPv4 or IPv6) at the time of asking."""
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds; reaped either way."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def wait_until(probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.5) -> T:
    """Polls ``probe`` until it returns something truthy, and returns that; fails naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def owned_by(items: Sequence[Mapping[str, Any]], kind: str, name: str) -> list[Mapping[str, Any]]:
    """The objects among ``items`` with an ownerReference to ``kind``/``name``."""
    return [
        item
        for item in items
        if any(
            ref.get("kind") == kind and ref.get("name") == name for ref in item["metadata"].get("ownerReferences", [])
        )
    ]


@contextmanager
def crds_while_absent(cluster: Cluster, files: Sequence[Path]) -> Iterator[None]:
    """A project's own CRDs (``files``, one each), applied and established for the block when the cluster has
    none of that name, and deleted after it (those it had already are left alone)."""
    import yaml  # noqa: PLC0415

    names = [str(yaml.safe_load(path.read_text())["metadata"]["name"]) for path in files]
    absent = [(path, name) for path, name in zip(files, names, strict=True) if not _crd_stays(cluster, name)]
    for path, _ in absent:
        cluster.kubectl("apply", "--server-side", "-f", str(path))
    for _, name in absent:
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
    try:
        yield
    finally:
        for _, name in absent:
            cluster.kubectl("delete", "crd", name, "--wait=false", check=False)


def _crd_stays(cluster: Cluster, name: str) -> bool:
    """Whether the cluster has CRD ``name`` and keeps it. One a previous module deleted may still be terminating
    (its objects being removed): it is waited out and counts as absent, or the next module would find its
    resource gone mid-test."""
    found = cluster.kubectl("get", "crd", name, "-o", "jsonpath={.metadata.deletionTimestamp}", check=False)
    if found.returncode != 0:
        return False
    if not found.stdout.strip():
        return True
    cluster.kubectl("wait", "--for=delete", f"crd/{name}", "--timeout=120s", check=False, timeout=130)
    return False
