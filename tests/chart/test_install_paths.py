"""The local kind cluster and the kind workflow install tierguard through one script, so the two paths cannot
drift."""

from __future__ import annotations

import re

import yaml

from .helm import REPO

WORKFLOW = REPO / ".github" / "workflows" / "e2e-kind.yaml"
INSTALL = REPO / "hack" / "install-tierguard.sh"


def workflow_steps() -> list[dict[str, object]]:
    document = yaml.safe_load(WORKFLOW.read_text())
    steps: list[dict[str, object]] = document["jobs"]["e2e-kind"]["steps"]
    return steps


def test_kind_workflow_runs_the_readme_test_command_on_the_same_cluster() -> None:
    """The workflow runs hack/test.sh, whose e2e fixture makes the cluster with hack/local-cluster.sh (and so
    installs through hack/install-tierguard.sh): only the node image differs, kind's published one."""
    document = yaml.safe_load(WORKFLOW.read_text())
    runs = "\n".join(str(step.get("run", "")) for step in workflow_steps())
    assert re.search(r"^\s*sudo -E env \"PATH=\$PATH\" hack/test\.sh\b", runs, re.MULTILINE), runs
    # No second recipe beside it: no cluster, image build, image load or chart install written out in the workflow.
    for other in ("kind create", "docker build", "kind load", "helm install", "helm upgrade", "ctr ", "kind-action"):
        assert other not in WORKFLOW.read_text(), other
    env = document["jobs"]["e2e-kind"]["env"]
    assert env["TIERGUARD_KIND_NODE_IMAGE"] == "kindest/node:${{ matrix.kubernetes }}"
    assert env["TIERGUARD_KUBERNETES_VERSION"] == "${{ matrix.kubernetes }}"


def test_local_cluster_uses_the_same_script_and_image_builder() -> None:
    local_cluster = (REPO / "hack" / "local-cluster.sh").read_text()
    assert 'install_hook=${TIERGUARD_INSTALL_HOOK:-$here/install-tierguard.sh}' in local_cluster
    install = INSTALL.read_text()
    assert '"$here/build-image.sh" tierguard' in install
    # Both load the image with kind (hack/local-cluster.sh exports KIND_CLUSTER_NAME, so kind is the default).
    assert "kind)" in install and "elif [[ -n ${KIND_CLUSTER_NAME:-} ]]; then echo kind" in install
    # The chart is installed the way the README tells users to.
    readme = (REPO / "README.md").read_text()
    assert "helm install tierguard charts/tierguard -n tierguard-system --create-namespace" in readme
    assert 'helm install "$release" "$repo/charts/tierguard" --namespace "$namespace" --create-namespace' in install
