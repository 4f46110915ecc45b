"""The tested Kubernetes versions are one list (hack/versions.env KUBERNETES_VERSIONS) that the GitHub workflow's
matrix, the default cluster, the chart's kubeVersion and the README follow; the smoke subset names tests that
exist."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from tests.e2e.conftest import SMOKE
from tests.e2e.support.kube import pinned_versions

REPO = Path(__file__).resolve().parents[2]


def versions_tested() -> list[str]:
    return pinned_versions()["KUBERNETES_VERSIONS"].split(",")


def test_the_default_cluster_runs_the_newest_tested_version() -> None:
    versions = versions_tested()
    assert len(versions) == 3
    assert pinned_versions()["KUBERNETES_VERSION"] == versions[0]
    assert sorted(versions, key=lambda v: [int(p) for p in v[1:].split(".")], reverse=True) == versions


def test_the_workflow_matrix_is_the_tested_list() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "e2e-kind.yaml").read_text())
    assert workflow["jobs"]["e2e-kind"]["strategy"]["matrix"]["kubernetes"] == versions_tested()


def test_the_chart_and_the_readme_state_the_tested_range() -> None:
    oldest = min(versions_tested(), key=lambda v: [int(p) for p in v[1:].split(".")])
    minor = ".".join(oldest[1:].split(".")[:2])
    chart = yaml.safe_load((REPO / "charts" / "tierguard" / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == f">={minor}.0-0"
    readme = (REPO / "README.md").read_text()
    minors = [".".join(v[1:].split(".")[:2]) for v in reversed(versions_tested())]
    assert f"Tested on Kubernetes {', '.join(minors[:-1])} and {minors[-1]}" in readme
    for version in versions_tested():
        assert version in readme


def test_every_smoke_entry_names_a_test() -> None:
    for entry in SMOKE:
        module, _, name = entry.partition("::")
        path = REPO / "tests" / "e2e" / module
        assert path.is_file(), entry
        if name:
            functions = {node.name for node in ast.walk(ast.parse(path.read_text()))
                         if isinstance(node, ast.FunctionDef)}
            assert name in functions, entry
