"""The webhook's matchConditions that skip the Pods and pod templates tierguard is certain to admit: the chart's
generated template is the generator's output (hack/skip-conditions.sh), and each pod kind's entry carries its
condition only while the ValidatingAdmissionPolicies judge the sidecar rules and `webhook.skipCertain` is on."""

from __future__ import annotations

import pytest

from tierguard.vap.skip import CONDITION_NAME, TEMPLATE_PATH, chart_template, conditions

from .helm import REPO, Helm, only, render_cached


def test_the_chart_template_is_the_generators_output() -> None:
    assert (REPO / TEMPLATE_PATH).read_text() == chart_template(), "run hack/skip-conditions.sh"


def _conditions(helm: Helm, sets: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    webhook = only(render_cached(helm, sets=sets), "ValidatingWebhookConfiguration")
    return {entry["name"].removesuffix(".tierguard.io"): entry.get("matchConditions", [])
            for entry in webhook["webhooks"]}


def test_each_pod_kind_entry_skips_what_is_certain_and_no_other_entry_does(helm: Helm) -> None:
    rendered = _conditions(helm, {})
    skipping = {route: found for route, found in rendered.items()
                if any(c["name"] == CONDITION_NAME for c in found)}
    assert set(skipping) == set(conditions()) == {
        "pods", "replicationcontrollers", "deployments", "statefulsets", "daemonsets", "replicasets", "jobs",
        "cronjobs"}
    for route, found in skipping.items():
        assert found == [{"name": CONDITION_NAME, "expression": conditions()[route]}]
    # The subresources' entries (a debug container, sessions) are judged by other rules: always sent.
    assert rendered["pods-ephemeralcontainers"] == [] and rendered["pods-exec"] == []


@pytest.mark.parametrize("sets", [{"validatingAdmissionPolicy.enabled": "false"}, {"webhook.skipCertain": "false"}],
                         ids=["without the admission policies", "switched off"])
def test_nothing_is_skipped_without_the_admission_policies_or_when_switched_off(helm: Helm,
                                                                                sets: dict[str, str]) -> None:
    rendered = _conditions(helm, sets)
    assert not any(c["name"] == CONDITION_NAME for found in rendered.values() for c in found)
    assert rendered["pods"] == []
