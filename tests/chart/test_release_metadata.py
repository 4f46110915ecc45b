"""Release metadata: one version everywhere, the changelog and Artifact Hub annotations agree, the annotation's
images are what the chart deploys (in the repository and as hack/release.sh packages it), and the release
workflow runs hack/release.sh. Offline: helm renders, nothing is pushed."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import tarfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

import tierguard

from .helm import CHART, REPO, Doc, Helm, parse

CHART_META: dict[str, Any] = yaml.safe_load((CHART / "Chart.yaml").read_text())
ANNOTATIONS: dict[str, str] = CHART_META["annotations"]
WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
DIGEST = "sha256:" + "0123456789abcdef" * 4

POD_SPEC_PATHS = {
    "Deployment": ("spec", "template", "spec"), "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"), "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"), "Pod": ("spec",),
}


def deployed_images(docs: list[Doc]) -> set[str]:
    """Every container image of every workload the render holds."""
    images: set[str] = set()
    for doc in docs:
        path = POD_SPEC_PATHS.get(doc.get("kind", ""))
        if path is None:
            continue
        spec: Any = doc
        for key in path:
            spec = spec[key]
        for group in ("initContainers", "containers"):
            images |= {container["image"] for container in spec.get(group) or []}
    return images


def annotated_images(annotations: dict[str, str]) -> set[str]:
    return {entry["image"] for entry in yaml.safe_load(annotations["artifacthub.io/images"])}


def test_one_version_for_package_image_and_chart() -> None:
    version = tierguard.__version__
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"], "pyproject must take tierguard.__version__"
    assert importlib.metadata.version("tierguard") == version, "reinstall: the installed package is another version"
    assert (CHART_META["version"], CHART_META["appVersion"]) == (version, version)
    # The image tag: hack/build-image.sh labels the image with this version, hack/release.sh tags it so.
    assert "operator/tierguard/__init__.py" in (REPO / "hack" / "build-image.sh").read_text()


def changelog_section(version: str) -> str:
    text = (REPO / "CHANGELOG.md").read_text()
    found = re.search(rf"(?ms)^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}\n(.*?)(?=^## \[|\Z)", text)
    assert found, f"CHANGELOG.md has no '## [{version}] - YYYY-MM-DD' section"
    assert "## [Unreleased]" in text and "Keep a Changelog" in text
    return found.group(1)


def test_artifacthub_changes_are_the_changelog_section_of_the_version() -> None:
    section = changelog_section(CHART_META["version"])
    entries: set[tuple[str, str]] = set()
    heading = ""
    for line in section.splitlines():
        if line.startswith("### "):
            heading = line[4:].strip().lower()
        elif line.startswith("- "):
            entries.add((heading, line[2:].strip()))
    changes = {(c["kind"], c["description"]) for c in yaml.safe_load(ANNOTATIONS["artifacthub.io/changes"])}
    assert changes == entries, "artifacthub.io/changes and the CHANGELOG.md section differ"


def test_artifacthub_annotations_and_repository_file() -> None:
    assert ANNOTATIONS["artifacthub.io/license"] == "Apache-2.0"
    links = yaml.safe_load(ANNOTATIONS["artifacthub.io/links"])
    assert links and all({"name", "url"} <= set(link) for link in links)
    assert CHART_META["kubeVersion"].startswith(">=")
    repo_file = yaml.safe_load((CHART / "artifacthub-repo.yml").read_text())
    assert set(repo_file) >= {"repositoryID", "owners"}


def test_annotated_images_are_the_images_the_chart_deploys(helm: Helm) -> None:
    docs = helm.render()
    assert deployed_images(docs), "the render deploys no image"
    assert annotated_images(ANNOTATIONS) == deployed_images(docs)


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chart as hack/release.sh packages it for an image pushed with DIGEST."""
    out = tmp_path_factory.mktemp("release")
    image = f"registry.example.com/acme/tierguard:{tierguard.__version__}@{DIGEST}"
    result = subprocess.run(
        [str(REPO / "hack" / "release.sh"), "package-chart", "--image", image, "--out", str(out),
         "--source-url", "https://github.com/acme/tierguard"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "TIERGUARD_PYTHON": os.environ.get("TIERGUARD_PYTHON", "python3")})
    if result.returncode != 0 and "no helm" in result.stderr:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:  # as tests/chart/conftest.py: no silent pass
            pytest.fail(f"{result.stderr.strip()} (CI=true)", pytrace=False)
        pytest.skip(result.stderr.strip())
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


def test_released_chart_pins_the_image_by_digest(helm: Helm, packaged: Path) -> None:
    assert packaged.name == f"tierguard-{tierguard.__version__}.tgz"
    with tarfile.open(packaged) as archive:
        names = archive.getnames()
        member = archive.extractfile("tierguard/Chart.yaml")
        assert member is not None
        meta = yaml.safe_load(member.read())
    assert "tierguard/artifacthub-repo.yml" not in names
    docs = parse(helm.run("template", "tg", str(packaged), "--namespace", "tierguard-system").stdout)
    expected = {f"registry.example.com/acme/tierguard:{tierguard.__version__}@{DIGEST}"}
    assert deployed_images(docs) == expected
    assert annotated_images(meta["annotations"]) == expected
    assert (meta["version"], meta["appVersion"]) == (tierguard.__version__, tierguard.__version__)
    assert "OWNER" not in yaml.safe_dump(meta), "placeholder links left in the released chart"


def test_package_chart_refuses_an_image_without_digest(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(REPO / "hack" / "release.sh"), "package-chart", "--image", "registry.example.com/tierguard:1",
         "--out", str(tmp_path)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0 and "repository:tag@sha256" in result.stderr


def test_release_refuses_a_version_other_than_the_source(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(REPO / "hack" / "release.sh"), "--registry", "registry.example.com", "--version", "v9.9.9",
         "--out", str(tmp_path)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0 and f"tierguard's version {tierguard.__version__}" in result.stderr


def test_release_workflow_runs_the_release_script() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    # PyYAML reads the key `on` as True.
    triggers = workflow.get("on", workflow.get(True))
    assert triggers["push"]["tags"] == ["v*"]
    scripts = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    (release,) = [run for run in scripts if "hack/release.sh" in run]
    for flag in ("--builder buildx", "--sign keyless", "--sbom syft", "--registry"):
        assert flag in release, f"the workflow's hack/release.sh call lacks {flag}"
    permissions = workflow["jobs"]["release"]["permissions"]
    assert permissions["id-token"] == "write" and permissions["packages"] == "write"
