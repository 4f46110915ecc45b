"""``helm lint --strict`` and ``helm template`` on every ci/*-values.yaml scenario, with Helm 4 (the pinned
helm) and, when TIERGUARD_HELM3 names one, Helm 3. Lint alone is not enough: in lint mode `fail` only logs,
so each scenario is also rendered."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helm import CHART, CI_VALUES, NAMESPACE, Helm, extra_helms, kinds, parse

SCENARIOS = {path.name.removesuffix("-values.yaml"): path for path in CI_VALUES}


def test_every_scenario_is_there() -> None:
    assert set(SCENARIOS) >= {"default", "cert-manager", "local", "ha-off-ignore", "networkpolicy"}


def helms(primary: Helm) -> list[Helm]:
    return [primary, *(Helm(path) for path in extra_helms())]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lint_strict(helm: Helm, scenario: str) -> None:
    for each in helms(helm):
        proc = each.run("lint", "--strict", str(CHART), "--namespace", NAMESPACE, "--values",
                        str(SCENARIOS[scenario]), check=False)
        assert proc.returncode == 0, f"{each.version()}:\n{proc.stdout}{proc.stderr}"
        # `fail` in lint mode is logged, not raised: no scenario may hit one.
        assert "Fail:" not in proc.stderr and "funcMap fail" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_template(helm: Helm, scenario: str) -> None:
    for each in helms(helm):
        docs = parse(each.run(*each.template_args(values_files=[SCENARIOS[scenario]])).stdout)
        assert "ValidatingWebhookConfiguration" in kinds(docs) and "TierPolicy" in kinds(docs)
        for doc in docs:
            labels = doc["metadata"].get("labels", {})
            assert labels.get("app.kubernetes.io/managed-by") == "Helm", doc["kind"]
            if doc["kind"] not in {"ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration",
                                   "TierPolicy", "CustomResourceDefinition", "ValidatingAdmissionPolicy",
                                   "ValidatingAdmissionPolicyBinding"}:  # cluster-scoped
                assert doc["metadata"]["namespace"] == NAMESPACE, doc["kind"]


def test_crd_is_not_templated() -> None:
    """Helm installs crds/ before the templates and never templates it: it must be plain YAML."""
    for path in Path(CHART, "crds").iterdir():
        assert "{{" not in path.read_text(), path
