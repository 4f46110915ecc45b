"""Running kubectl against the e2e cluster, and finding that cluster.

Two kinds of cluster: the local control plane of ``hack/local-cluster.sh`` (built and started here), or any
existing cluster named by ``TIERGUARD_E2E_KUBECONFIG`` (kind in CI). This module only runs processes and
parses their output; pytest policy (skip or fail) lives in ``conftest.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
LOCAL_CLUSTER = REPO / "hack" / "local-cluster.sh"
BUILD_BINARIES = REPO / "hack" / "build-binaries.sh"
VERSIONS_FILE = REPO / "hack" / "versions.env"

KUBECTL_TIMEOUT_S = 120
"""Seconds one kubectl call may take before it counts as hung."""

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
    """Directory holding kubectl (and, for the local control plane, helm)."""
    local: bool
    """True for hack/local-cluster.sh's control plane, which runs on this host's loopback."""

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

    def env(self) -> dict[str, str]:
        """Environment for other tools (helm, tierguard) talking to this cluster."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }


def pinned_versions() -> dict[str, str]:
    """The KEY=VALUE pairs of hack/versions.env."""
    pairs = {}
    for raw in VERSIONS_FILE.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            pairs[key] = value
    return pairs


def cache_bin_dir() -> Path:
    """Where hack/build-binaries.sh keeps its binaries (honours TIERGUARD_K8S_CACHE)."""
    out = subprocess.run([str(BUILD_BINARIES), "--bin-dir"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def find_kubectl(*, external_kubeconfig: bool) -> Path | None:
    """TIERGUARD_KUBECTL, else the cached kubectl, else (only for a given kubeconfig) kubectl on PATH.

    A system kubectl is never used with the local control plane: its version is unknown and may be out of
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
    """``hack/local-cluster.sh host-state``: links, routes, iptables chains, mounts, cgroups, sysctls, fixed
    directories and cluster processes of this host, one fact a line."""
    result = local_cluster("host-state")
    assert result.returncode == 0, f"hack/local-cluster.sh host-state failed:\n{tail(result.stdout)}"
    return set(result.stdout.splitlines())


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
