"""Part 7's peers on the kind cluster: built from the Go module proxy, put in images made here, installed from
their own manifests (trimmed by ``manifests.py``), each with part 6's policy.

Binaries: ``hack/build-tools.sh kyverno-admission kyverno-init gatekeeper`` (versions in hack/versions.env, cached
under ~/.cache/tierguard/tools). Images: ``hack/build-image.sh binaries`` (the project's Debian base plus the
binaries), loaded with ``kind load image-archive``. Manifests: from the module source ``go mod download`` gives.
Every step that fails raises with its command and error: that peer's figures are then null with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.peers import manifests, peer_binary
from bench.peers.tools import GATEKEEPER, KYVERNO_POLICY
from bench.util import REPO, note

HACK = REPO / "hack"


@dataclass(frozen=True)
class Peer:
    name: str
    binaries: tuple[str, ...]
    """build-tools.sh names, copied into the image."""
    module_key: str
    """The versions.env prefix of its module and version."""
    manifest: str
    """Install manifest, relative to the module source."""
    namespace: str
    deployment: str
    pod_prefix: str


PEERS = {
    "kyverno": Peer("kyverno", ("kyverno-admission", "kyverno-init"), "KYVERNO_ADMISSION",
                    "config/install-latest-testing.yaml", "kyverno", "kyverno-admission-controller",
                    "kyverno-admission-controller-"),
    "gatekeeper": Peer("gatekeeper", ("gatekeeper",), "GATEKEEPER", "deploy/gatekeeper.yaml", "gatekeeper-system",
                       "gatekeeper-controller-manager", "gatekeeper-controller-manager-"),
}


def pinned() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (HACK / "versions.env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip()
    return values


def _run(argv: list[str], *, timeout: float = 600, stdin: str | None = None,
         env: dict[str, str] | None = None) -> str:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
                            env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} ... exited {result.returncode}: "
                           f"{(result.stderr or result.stdout).strip()[-500:]}")
    return result.stdout


def module_source(module: str, version: str) -> Path:
    """The module's source in the Go module cache (``go mod download -json``: network only)."""
    found = json.loads(_run(["go", "mod", "download", "-json", f"{module}@{version}"],
                            env={"GOTOOLCHAIN": "local", "GOFLAGS": ""}))
    if found.get("Error") or not found.get("Dir"):
        raise RuntimeError(f"go mod download {module}@{version}: {found.get('Error')}")
    return Path(found["Dir"])


def kubectl() -> str:
    bin_dir = _run([str(HACK / "build-binaries.sh"), "--bin-dir"]).strip()
    candidate = Path(bin_dir) / "kubectl"
    return str(candidate) if candidate.exists() else (shutil.which("kubectl") or "kubectl")


class Cluster:
    """kubectl and kind against the bench's cluster."""

    def __init__(self, kubeconfig: Path, kind_cluster: str) -> None:
        self.kubeconfig = kubeconfig
        self.kind_cluster = kind_cluster
        self._kubectl = kubectl()

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 300) -> str:
        return _run([self._kubectl, "--kubeconfig", str(self.kubeconfig), *args], stdin=stdin, timeout=timeout)

    def apply(self, docs: list[dict[str, Any]]) -> None:
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=yaml.safe_dump_all(docs))

    def load_image(self, archive: str) -> None:
        kind = _run([str(HACK / "build-tools.sh"), "--path", "kind"]).strip()
        _run([kind, "load", "image-archive", archive, "--name", self.kind_cluster], timeout=900)


def image(peer: Peer, build: bool) -> tuple[str, str]:
    """(ref, archive) of the peer's image, its binaries built first when ``build``."""
    started = time.perf_counter()
    paths = [str(peer_binary(name, build)) for name in peer.binaries]
    note(f"part 7: {peer.name} binaries ready after {time.perf_counter() - started:.0f}s: {', '.join(paths)}")
    ref, archive = _run([str(HACK / "build-image.sh"), "binaries", peer.name, *paths], timeout=1800).split()
    return ref, archive


def install(cluster: Cluster, peer: Peer, build: bool) -> None:
    """Build, load and install ``peer`` with its policy; raises with the failing step."""
    ref, archive = image(peer, build)
    cluster.load_image(archive)
    versions = pinned()
    source = module_source(versions[f"{peer.module_key}_MODULE"], versions[f"{peer.module_key}_VERSION"])
    docs = [d for d in yaml.safe_load_all((source / peer.manifest).read_text()) if d]
    trimmed = manifests.kyverno(docs, ref) if peer.name == "kyverno" else manifests.gatekeeper(docs, ref)
    crds = [d for d in trimmed if d["kind"] == "CustomResourceDefinition"]
    cluster.apply(crds)
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=120s",
                    *[f"crd/{d['metadata']['name']}" for d in crds])
    cluster.apply([d for d in trimmed if d["kind"] != "CustomResourceDefinition"])
    cluster.kubectl("-n", peer.namespace, "rollout", "status", f"deployment/{peer.deployment}", "--timeout=300s",
                    timeout=330)
    if peer.name == "kyverno":
        _retry(lambda: cluster.kubectl("apply", "-f", str(KYVERNO_POLICY)), "Kyverno's ClusterPolicy")
    else:
        _retry(lambda: cluster.kubectl("apply", "-f", str(GATEKEEPER / "template.yaml")), "the ConstraintTemplate")
        _retry(lambda: cluster.kubectl("apply", "-f", str(GATEKEEPER / "constraint.yaml")), "the Constraint")


def _retry(action: Any, what: str, seconds: float = 180) -> None:
    """A policy is refused until the server's own webhook and CRDs are ready: try again for a while."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            action()
            return
        except RuntimeError as error:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} still refused after {seconds:.0f}s: {error}") from None
            time.sleep(3)
