"""The GitHub Action's one script (hack/action.sh), run locally with the inputs action.yml passes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "hack" / "action.sh"
ACTION = yaml.safe_load((REPO / "action.yml").read_text())


def run_action(tmp_path: Path, **inputs: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    outputs = tmp_path / "github-output"
    outputs.write_text("")
    env = {
        **os.environ,
        "TIERGUARD_ACTION_INSTALL": "false",  # the test's tierguard is the checkout, installed editable
        "TIERGUARD": str(Path(sys.executable).parent / "tierguard"),
        "GITHUB_OUTPUT": str(outputs),
        "TIERGUARD_ACTION_REPOSITORY": "owner/tierguard",
        "TIERGUARD_ACTION_REF": "v0.1.0",
    }
    env.pop("TIERGUARD_RULES_URL", None)
    env.update({f"INPUT_{name.upper().replace('-', '_')}": value for name, value in inputs.items()})
    done = subprocess.run(["bash", str(SCRIPT)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    return done, written


def test_action_yml_runs_the_script_with_every_input() -> None:
    steps = ACTION["runs"]["steps"]
    assert ACTION["runs"]["using"] == "composite"
    shell_steps = [s for s in steps if "run" in s]
    assert [s["run"] for s in shell_steps] == ['bash "$GITHUB_ACTION_PATH/hack/action.sh"']
    env = shell_steps[0]["env"]
    for name in ("paths", "policy", "namespace-tiers", "output", "fail-on", "sarif-file"):
        assert name in ACTION["inputs"]
        assert env[f"INPUT_{name.upper().replace('-', '_')}"] == f"${{{{ inputs.{name} }}}}"
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif")]
    assert len(uploads) == 1 and uploads[0]["if"].startswith("always()")


def test_denials_fail_the_job_and_write_sarif(tmp_path: Path) -> None:
    sarif = tmp_path / "out.sarif"
    done, outputs = run_action(tmp_path, paths="examples/vault-app", policy="examples/vault-app/policy.yaml",
                               output="sarif", **{"sarif-file": str(sarif), "fail-on": "deny"})
    assert done.returncode == 1, done.stderr
    assert "[workload-secret-cross-tier]" in done.stdout  # the findings, for people, in the job's log
    assert "::error title=tierguard::" in done.stdout
    assert outputs == {"exit-code": "1", "report": str(sarif)}
    log = json.loads(sarif.read_text())
    assert log["runs"][0]["results"]
    assert log["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] == (
        "https://github.com/owner/tierguard/blob/v0.1.0/docs/rules.md#namespace-tier-unknown")


def test_fail_on_none_reports_only(tmp_path: Path) -> None:
    done, outputs = run_action(tmp_path, paths="examples/reflector/bad\nexamples/reflector/namespaces.yaml",
                               output="json", **{"sarif-file": str(tmp_path / "r.json"), "fail-on": "none"})
    assert done.returncode == 0, done.stderr
    assert outputs["exit-code"] == "1"
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["denied"] == 3


def test_namespace_tiers_input(tmp_path: Path) -> None:
    manifest = tmp_path / "mirror.yaml"
    manifest.write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: app-dev\n"
                        "  annotations: {reflector.v1.k8s.emberstack.com/reflects: app-prod/db}\n")
    done, _ = run_action(tmp_path, paths=str(manifest), output="text", **{"fail-on": "deny"})
    assert done.returncode == 0  # app-dev has no known tier: untiered, not enforced
    done, outputs = run_action(tmp_path, paths=str(manifest), output="text",
                               **{"namespace-tiers": "app-dev=dev app-prod=prod", "fail-on": "deny"})
    assert done.returncode == 1 and "[secret-replication-cross-tier]" in done.stdout
    assert outputs == {"exit-code": "1", "report": ""}


def test_good_manifests_pass(tmp_path: Path) -> None:
    done, outputs = run_action(tmp_path, paths="examples/reflector/good examples/reflector/namespaces.yaml",
                               **{"sarif-file": str(tmp_path / "ok.sarif")})
    assert done.returncode == 0, done.stderr
    assert outputs["exit-code"] == "0"
    assert json.loads((tmp_path / "ok.sarif").read_text())["runs"][0]["results"] == []


@pytest.mark.parametrize(("inputs", "message"), [
    ({"output": "xml"}, "output must be text, json or sarif"),
    ({"fail-on": "warn"}, "fail-on must be deny or none"),
    ({"paths": "no/such/dir", "fail-on": "none"}, "could not run"),
])
def test_bad_inputs_exit_2_whatever_fail_on_says(tmp_path: Path, inputs: dict[str, str], message: str) -> None:
    done, _ = run_action(tmp_path, **inputs)
    assert done.returncode == 2
    assert message in done.stderr
