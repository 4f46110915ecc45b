"""Shift left against a live cluster: ``kubectl apply --dry-run=server`` gets tierguard's decision with no side
effect, and ``tierguard check --namespace-tiers-from-cluster`` judges manifests offline with the cluster's real
namespace tiers (reading Namespaces only)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from .support.kube import Cluster
from .support.tierguard import TIER_LABEL, apply, assert_admitted, assert_refused, secret, secret_value

NamespaceFactory = Callable[..., str]
TIERGUARD = str(Path(sys.executable).parent / "tierguard")


def mirror(dev: str, prod: str) -> dict[str, object]:
    return secret(dev, "db", secret_value(), **{"reflector.v1.k8s.emberstack.com/reflects": f"{prod}/db"})


def test_dry_run_server_refuses_and_creates_nothing(cluster: Cluster, namespace: NamespaceFactory) -> None:
    dev, prod = namespace(labels={TIER_LABEL: "dev"}), namespace(labels={TIER_LABEL: "prod"})
    assert_refused(apply(cluster, mirror(dev, prod), "--dry-run=server"), "secret-replication-cross-tier")
    assert_admitted(apply(cluster, secret(dev, "own", secret_value()), "--dry-run=server"))
    listed = cluster.get_json("secrets", "-n", dev, "--field-selector", "type=Opaque")
    assert [s["metadata"]["name"] for s in listed["items"]] == []  # dry-run: neither was stored


def test_namespace_tiers_from_cluster(cluster: Cluster, namespace: NamespaceFactory, tmp_path: Path) -> None:
    dev, prod = namespace(labels={TIER_LABEL: "dev"}), namespace(labels={TIER_LABEL: "prod"})
    manifest = tmp_path / "mirror.yaml"
    planted = mirror(dev, prod)
    manifest.write_text(json.dumps(planted))

    def check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TIERGUARD, "check", "-f", str(manifest), *args], capture_output=True, text=True,
                              check=False, timeout=120)

    offline = check()
    assert offline.returncode == 0, offline.stderr  # the namespaces are unknown offline: untiered
    live = check("--namespace-tiers-from-cluster", "--kubeconfig", str(cluster.kubeconfig))
    assert live.returncode == 1, live.stderr
    assert f"Secret {dev}/db (tier dev) is copied by reflector from Secret {prod}/db (tier prod)" in live.stdout
    value = planted["data"]["password"]  # type: ignore[index]
    assert value not in live.stdout + live.stderr
