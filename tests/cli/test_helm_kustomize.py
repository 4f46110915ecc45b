"""``helm template ... | tierguard check -f -`` and ``kustomize build ... | tierguard check -f -`` on real charts:
the project's own chart (nothing denied) and examples/helm-app (good and bad values), with Helm's
``# Source:`` comments reported as the source in text and SARIF. kustomize is ``kubectl kustomize`` (the cached
kubectl), or a ``kustomize`` on PATH."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chart.helm import find_helm

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "examples" / "helm-app"
TIERGUARD = str(Path(sys.executable).parent / "tierguard")
TIMEOUT_S = 120


def helm() -> Path:
    found = find_helm()
    if found is None or not os.access(found, os.X_OK):
        pytest.skip("no helm: run hack/build-binaries.sh, set TIERGUARD_HELM or put helm on PATH")
    return found


def kustomize() -> list[str]:
    if found := shutil.which("kustomize"):
        return [found, "build"]
    from tests.e2e.support.kube import find_kubectl  # noqa: PLC0415 - only here

    kubectl = find_kubectl(external_kubeconfig=True)
    if kubectl is None:
        pytest.skip("no kustomize and no kubectl (hack/build-binaries.sh)")
    return [str(kubectl), "kustomize"]


def pipe(render: list[str], *check_args: str) -> tuple[int, str]:
    """``render | tierguard check -f - ARGS``, as a shell pipeline would run it."""
    env = {**os.environ, "KUBECONFIG": os.devnull}
    rendered = subprocess.run(render, capture_output=True, text=True, check=True, timeout=TIMEOUT_S, env=env)
    checked = subprocess.run([TIERGUARD, "check", "-f", "-", *check_args], input=rendered.stdout,
                             capture_output=True, text=True, check=False, timeout=TIMEOUT_S)
    assert "Traceback" not in checked.stderr
    return checked.returncode, checked.stdout


def test_project_chart_passes() -> None:
    # 16: the webhook's objects (its NetworkPolicy included), and the background audit's ClusterRole, Role and their
    # bindings (audit.enabled).
    code, out = pipe([str(helm()), "template", "tg", str(REPO / "charts" / "tierguard"), "-n", "tierguard-system"])
    assert (code, out.splitlines()[-1]) == (0, "16 objects checked: 0 denied, 0 warned")


def test_example_chart_good_values_pass() -> None:
    code, out = pipe([str(helm()), "template", "payments", str(APP)], "--namespace-tier", "payments-prod=prod")
    assert (code, out) == (0, "3 objects checked: 0 denied, 0 warned\n")


def test_example_chart_bad_values_name_the_templates() -> None:
    render = [str(helm()), "template", "payments", str(APP), "-f", str(APP / "values-bad.yaml")]
    code, out = pipe(render, "--namespace-tier", "payments-prod=prod")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("payments/templates/secret.yaml (<stdin>#1) Secret payments-dev/db-credentials: "
                               "[secret-replication-cross-tier]")
    assert lines[1].startswith("payments/templates/deployment.yaml (<stdin>#2) Deployment payments-dev/payments: "
                               "[workload-secret-cross-tier]")
    code, out = pipe(render, "--namespace-tier", "payments-prod=prod", "-o", "sarif")
    results = json.loads(out)["runs"][0]["results"]
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
             r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results] == [
        # Lines as rendered after each Source comment; the template's own line where it renders one to one.
        ("secret-replication-cross-tier", "payments/templates/secret.yaml", 7),
        ("workload-secret-cross-tier", "payments/templates/deployment.yaml", 17),
    ]
    # JSON output keeps SPEC's source (the stream and document).
    code, out = pipe(render, "--namespace-tier", "payments-prod=prod", "-o", "json")
    assert [r["source"] for r in json.loads(out)["results"]] == ["<stdin>#0", "<stdin>#1", "<stdin>#2"]


def test_kustomize_build() -> None:
    code, out = pipe([*kustomize(), str(APP / "kustomize")], "--namespace-tier", "payments-prod=prod")
    assert code == 1
    assert [line.split(": [")[1].split("]")[0] for line in out.splitlines()[:-1]] == [
        "secret-replication-cross-tier", "workload-secret-cross-tier"]
    assert out.splitlines()[-1] == "3 objects checked: 2 denied, 0 warned"


def test_directories_leave_charts_out() -> None:
    done = subprocess.run([TIERGUARD, "check", "-f", str(REPO / "examples")], capture_output=True, text=True,
                          check=False, timeout=TIMEOUT_S)
    assert done.returncode == 1 and done.stderr == ""
    assert "templates/" not in done.stdout
