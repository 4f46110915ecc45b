"""`tierguard check -n NS` places objects that name no namespace, as `kubectl apply -n` does (issue 10, item 5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tierguard.commands.root import main

NAMESPACES = """
apiVersion: v1
kind: Namespace
metadata: {name: argocd, labels: {tierguard.io/tier: prod}}
---
apiVersion: v1
kind: Namespace
metadata: {name: apps, labels: {tierguard.io/tier: dev}}
"""
# As argo-cd's install.yaml ships them: no metadata.namespace anywhere.
MANIFEST = """
apiVersion: v1
kind: Secret
metadata: {name: argocd-secret}
type: Opaque
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: argocd-server}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: argocd-server}]
---
apiVersion: example.io/v1
kind: Widget
metadata: {name: w}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: explicit, namespace: apps}
"""


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    def check(*args: str) -> dict[str, object]:
        (tmp_path / "ns.yaml").write_text(NAMESPACES)
        (tmp_path / "install.yaml").write_text(MANIFEST)
        code = main(["check", "-f", str(tmp_path / "ns.yaml"), "-f", str(tmp_path / "install.yaml"), "-o", "json",
                     *args])
        out = capsys.readouterr().out
        assert code in (0, 1), out
        document: dict[str, object] = json.loads(out)
        return document
    return check


def namespaces(document: dict[str, object]) -> dict[str, object]:
    results = document["results"]
    assert isinstance(results, list)
    return {r["object"]["kind"]: r["object"]["namespace"] for r in results}


def test_without_n_objects_land_in_default(run: Any) -> None:
    placed = namespaces(run())
    assert placed["Secret"] == "default" and placed["Widget"] is None


def test_n_places_namespaced_objects_that_name_none(run: Any) -> None:
    document = run("-n", "argocd")
    placed = namespaces(document)
    assert placed["Secret"] == "argocd"
    assert placed["ClusterRoleBinding"] is None  # cluster-scoped: never placed
    assert placed["Widget"] is None  # unknown kind: its scope is unknown offline
    assert placed["ConfigMap"] == "apps"  # an object's own namespace wins


def test_n_changes_the_tier_objects_are_judged_in(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same Secret, placed by -n, is another tier's holder of the shared value."""
    (tmp_path / "prod.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: apps}\n"
                                        "data: {password: " + "c2hhcmVkLXZhbHVlLW9mLWEtZmV3LWJ5dGVz" + "}\n")
    (tmp_path / "one.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n"
                                       "data: {password: " + "c2hhcmVkLXZhbHVlLW9mLWEtZmV3LWJ5dGVz" + "}\n")
    (tmp_path / "ns.yaml").write_text(NAMESPACES)
    args = ["check", "-f", str(tmp_path / "ns.yaml"), "-f", str(tmp_path / "prod.yaml"),
            "-f", str(tmp_path / "one.yaml")]
    assert main(args) == 1
    assert "as Secret default/db (untiered)" in capsys.readouterr().out
    assert main([*args, "-n", "argocd"]) == 1
    assert "as Secret argocd/db (tier prod)" in capsys.readouterr().out
