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


def test_kind_workflow_installs_through_the_shared_script() -> None:
    runs = "\n".join(str(step.get("run", "")) for step in workflow_steps())
    assert re.search(r"^\s*hack/install-tierguard\.sh\s*$", runs, re.MULTILINE), runs
    # No second recipe beside it: no image build, image load or chart install written out in the workflow.
    for other in ("docker build", "kind load", "helm install", "helm upgrade", "ctr "):
        assert other not in runs, other
    loader = next(step for step in workflow_steps() if "hack/install-tierguard.sh" in str(step.get("run", "")))
    assert loader["env"] == {"TIERGUARD_IMAGE_BUILDER": "docker", "TIERGUARD_IMAGE_LOADER": "kind"}


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
