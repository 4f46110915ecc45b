"""The Grafana dashboard of the chart (``grafana.dashboard.*``): a ConfigMap the Grafana sidecar discovers by its
label, and panels that query only metrics tierguard exposes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from prometheus_client.metrics_core import Metric

from tierguard.webhook.metrics import Metrics

from .helm import NAMESPACE, Doc, Helm, all_of, render_cached

ENABLED = {"grafana.dashboard.enabled": "true"}
AUDIT_METRICS = frozenset({
    # Exposed by the background audit of `tierguard run` (issue 13), under exactly these names: the violations
    # it found per rule, namespace and action (a gauge), when its last pass ended, and how long that pass took.
    "tierguard_audit_violations",
    "tierguard_audit_last_run_timestamp_seconds",
    "tierguard_audit_duration_seconds",
})
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",),
             "summary": ("_sum", "_count", "")}
_METRIC = re.compile(r"\btierguard_[a-zA-Z0-9_]+")


def series_names(family: Metric) -> set[str]:
    """The names a metric family's samples carry in the exposition (a Counter ``x`` is scraped as ``x_total``)."""
    return {family.name + suffix for suffix in _SUFFIXES[family.type]}


def webhook_metrics() -> dict[str, set[str]]:
    """metrics.py's families -> the series names each is scraped as."""
    return {family.name: series_names(family) for family in Metrics().registry.collect()}


def dashboard_configmaps(docs: list[Doc]) -> list[Doc]:
    return [doc for doc in all_of(docs, "ConfigMap") if "tierguard.json" in doc.get("data", {})]


def dashboard(helm: Helm, **sets: str) -> tuple[Doc, dict[str, Any]]:
    (configmap,) = dashboard_configmaps(render_cached(helm, sets={**ENABLED, **sets}))
    return configmap, json.loads(configmap["data"]["tierguard.json"])


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in board["panels"]:
        found.extend([panel, *panel.get("panels", [])])
    return [p for p in found if p["type"] != "row"]


def expressions(board: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in panels(board) for target in panel["targets"]]


def test_off_by_default(helm: Helm) -> None:
    assert dashboard_configmaps(render_cached(helm)) == []


def test_the_sidecar_finds_it_in_the_release_namespace(helm: Helm) -> None:
    configmap, board = dashboard(helm)
    metadata = configmap["metadata"]
    assert metadata["labels"]["grafana_dashboard"] == "1"
    assert metadata["namespace"] == NAMESPACE and metadata["name"] == "tg-tierguard-grafana-dashboard"
    assert "annotations" not in metadata
    assert board["uid"] == "tierguard" and board["title"] == "tierguard"


def test_label_namespace_name_and_annotations_are_configurable(helm: Helm) -> None:
    configmap, _ = dashboard(helm, **{"grafana.dashboard.label": "dashboards.example.com/grafana",
                                      "grafana.dashboard.labelValue": "tierguard",
                                      "grafana.dashboard.namespace": "monitoring",
                                      "grafana.dashboard.configMapName": "security-dashboards",
                                      "grafana.dashboard.annotations.grafana_folder": "Security"})
    metadata = configmap["metadata"]
    assert metadata["labels"]["dashboards.example.com/grafana"] == "tierguard"
    assert "grafana_dashboard" not in metadata["labels"]
    assert (metadata["namespace"], metadata["name"]) == ("monitoring", "security-dashboards")
    assert metadata["annotations"] == {"grafana_folder": "Security"}


@pytest.mark.parametrize("key, value", [("grafana.dashboard.label", "not a label"),
                                        ("grafana.dashboard.namespace", "Not_A_Namespace"),
                                        ("grafana.dashboard.unknown", "x")])
def test_bad_values_are_refused(helm: Helm, key: str, value: str) -> None:
    done = helm.template(sets={**ENABLED, key: value})
    assert done.returncode != 0 and key.rsplit(".", 1)[1] in done.stderr


def test_every_panel_queries_only_metrics_tierguard_exposes(helm: Helm) -> None:
    _, board = dashboard(helm)
    exposed = set(AUDIT_METRICS).union(*webhook_metrics().values())
    for panel in panels(board):
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = set(_METRIC.findall(target["expr"]))
            assert used, (panel["title"], target["expr"])
            assert used <= exposed, (panel["title"], used - exposed)


def test_every_metric_has_a_panel(helm: Helm) -> None:
    used = set(_METRIC.findall(" ".join(expressions(dashboard(helm)[1]))))
    assert used >= AUDIT_METRICS
    for family, names in webhook_metrics().items():
        assert names & used, f"no panel shows {family}"


def test_grafana_placeholders_survive_helm(helm: Helm) -> None:
    """The JSON is not templated: Grafana's {{rule}} legends and $__rate_interval reach Grafana as written."""
    _, board = dashboard(helm)
    legends = [t["legendFormat"] for p in panels(board) for t in p["targets"]]
    assert "{{rule}}" in legends and any("$__rate_interval" in e for e in expressions(board))
    assert all(p["datasource"] == {"type": "prometheus", "uid": "${datasource}"} for p in panels(board))
