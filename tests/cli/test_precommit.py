"""The pre-commit hook (.pre-commit-hooks.yaml): its entry run on staged-like file lists, then the real thing,
``pre-commit try-repo`` against a temporary git repository (it installs tierguard from PyPI's dependencies
into pre-commit's own environment: a minute or two the first time)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
[HOOK] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
EXAMPLES = REPO / "examples" / "reflector"
TRY_REPO_TIMEOUT_S = 15 * 60


def hook_entry(files: list[str], cwd: Path, args: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """What pre-commit runs: entry, then args, then the file names (pass_filenames) that match ``files``."""
    entry = shlex.split(HOOK["entry"])
    assert entry[0] == "tierguard"
    command = [str(Path(sys.executable).parent / "tierguard"), *entry[1:], *(args or []), *selected(files)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, timeout=120)


def selected(files: list[str]) -> list[str]:
    return [f for f in files if re.search(HOOK["files"], f) and not re.search(HOOK["exclude"], f)]


def test_hook_definition() -> None:
    assert HOOK["id"] == "tierguard-check" and HOOK["language"] == "python"
    assert HOOK["pass_filenames"] is True
    assert HOOK["require_serial"] is True  # cross-object rules need every changed file in one run
    assert selected(["a.yaml", "b.yml", "c.json", "README.md", "chart/templates/x.yaml", ".pre-commit-config.yaml",
                     "setup.py"]) == ["a.yaml", "b.yml", "c.json"]


def test_entry_on_staged_files(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "namespaces.yaml", tmp_path / "namespaces.yaml")
    shutil.copy(EXAMPLES / "bad" / "db-credentials.yaml", tmp_path / "bad.yaml")
    shutil.copy(EXAMPLES / "good" / "db-credentials.yaml", tmp_path / "good.yaml")
    (tmp_path / ".pre-commit-config.yaml").write_text("repos: []\n")
    (tmp_path / "ci.yaml").write_text("on: push\njobs: {}\n")  # YAML that is no Kubernetes object: skipped
    (tmp_path / "notes.md").write_text("# notes\n")
    bad = hook_entry(["namespaces.yaml", "bad.yaml", "ci.yaml", ".pre-commit-config.yaml", "notes.md"], tmp_path)
    assert bad.returncode == 1
    assert "bad.yaml#1 Secret billing-dev/db-credentials: [secret-replication-cross-tier]" in bad.stdout
    good = hook_entry(["namespaces.yaml", "good.yaml", "ci.yaml"], tmp_path)
    assert (good.returncode, good.stdout) == (0, "5 objects checked: 0 denied, 0 warned\n")


def test_entry_with_args_for_policy_and_tiers(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror.yaml"
    mirror.write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: app-dev\n"
                      "  annotations: {reflector.v1.k8s.emberstack.com/reflects: app-prod/db}\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text("spec: {enforcement: {default: warn}}\n")
    assert hook_entry(["mirror.yaml"], tmp_path).returncode == 0  # untiered without the args
    tiers = ["--namespace-tier", "app-dev=dev", "--namespace-tier", "app-prod=prod"]
    assert hook_entry(["mirror.yaml"], tmp_path, tiers).returncode == 1
    warned = hook_entry(["mirror.yaml"], tmp_path, ["--policy", str(policy), *tiers])
    assert warned.returncode == 0 and "(warn)" in warned.stdout


def test_unparsable_yaml_still_fails(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: x\n")
    done = hook_entry(["broken.yaml"], tmp_path)
    assert done.returncode == 2 and "broken.yaml#0: not valid YAML" in done.stderr


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_pre_commit_try_repo_fails_then_passes(tmp_path: Path) -> None:
    pre_commit = Path(sys.executable).parent / "pre-commit"
    if not pre_commit.exists():
        pytest.skip("pre-commit is not installed (pip install -e '.[test]')")
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q")
    shutil.copy(EXAMPLES / "namespaces.yaml", project / "namespaces.yaml")
    shutil.copy(EXAMPLES / "bad" / "db-credentials.yaml", project / "db-credentials.yaml")
    git(project, "add", ".")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "PRE_COMMIT_COLOR": "never"}

    def try_repo() -> subprocess.CompletedProcess[str]:
        # --ref HEAD: the hook as committed (no shadow repository), so both runs share one installed environment.
        return subprocess.run([str(pre_commit), "try-repo", str(REPO), HOOK["id"], "--ref", "HEAD"], cwd=project,
                              env=env, capture_output=True, text=True, check=False, timeout=TRY_REPO_TIMEOUT_S)

    failed = try_repo()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "[secret-replication-cross-tier]" in failed.stdout
    shutil.copy(EXAMPLES / "good" / "db-credentials.yaml", project / "db-credentials.yaml")
    git(project, "add", ".")
    passed = try_repo()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout
