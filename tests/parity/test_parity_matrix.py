"""The parity matrix (applications x tiers, prod the reference) and its three renderings: text, JSON, HTML."""

from __future__ import annotations

import json
from typing import Any

from tests.support.parity_page import parse
from tierguard.engine.rules.sidecars import SidecarState
from tierguard.parity import ParityReport, application_of, parity_report
from tierguard.policy import TierPolicy, load_policy
from tierguard.render.parity import render_parity_json, render_parity_text
from tierguard.render.parity_html import render_parity_html

from .test_parity import POLICY, namespace

TWO_SIDECARS = load_policy({"spec": {"sidecars": {"required": [
    {"name": "istio-proxy", "injection": {"namespaceLabels": {"istio-injection": "enabled"},
                                          "disabledBy": {"podLabels": {"sidecar.istio.io/inject": "false"}}}},
    {"name": "vault-agent"}]}}})
HOSTILE = '<script>alert("x")</script>&'
VALUE = "s3cr3t-value-that-must-never-show"


def workload(ns: str, name: str, containers: list[str], *, labels: dict[str, str] | None = None,
             pod_labels: dict[str, str] | None = None, kind: str = "Deployment") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": {"template": {"metadata": {"labels": pod_labels or {}},
                                  "spec": {"containers": [{"name": c, "image": "x"} for c in containers]}}}}


NAMESPACES = [namespace("shop-dev", "dev"), namespace("shop-qa", "qa", **{"istio-injection": "enabled"}),
              namespace("shop-prod", "prod"), namespace("team-prod", "prod")]
OBJECTS = [
    *NAMESPACES,
    # web: prod runs the proxy, dev does not, qa will be injected: the row diverges (dev lacks it).
    workload("shop-prod", "web", ["app", "istio-proxy"], labels={"app.kubernetes.io/name": "web"}),
    workload("shop-dev", "web-v2", ["app"], pod_labels={"app": "web"}),
    workload("shop-qa", "web", ["app"]),
    # batch: missing in prod as well: a gap, but no tier lacks what prod runs.
    workload("shop-prod", "batch", ["app"]),
    workload("shop-dev", "batch", ["app"]),
    # tool: only in dev, nothing to measure against.
    workload("shop-dev", "tool", ["app"]),
    # api: two prod workloads, one switches injection off: the prod cell shows the worst, 1 of 2 covered.
    workload("shop-prod", "api", ["app", "istio-proxy"]),
    workload("team-prod", "api", ["app"], pod_labels={"sidecar.istio.io/inject": "false"}),
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop-dev"},
     "stringData": {"password": VALUE}},
]


def report_for(objects: list[dict[str, Any]], policy: TierPolicy = POLICY) -> ParityReport:
    return parity_report([(o, f"all.yaml#{i}") for i, o in enumerate(objects)], policy)


def test_the_application_is_the_name_label_then_app_then_the_workload_name() -> None:
    assert application_of(workload("a", "w", [], labels={"app.kubernetes.io/name": "n", "app": "a"})) == "n"
    assert application_of(workload("a", "w", [], labels={"app": "a"},
                                   pod_labels={"app.kubernetes.io/name": "n"})) == "n"
    assert application_of(workload("a", "w", [], pod_labels={"app": "a"})) == "a"
    assert application_of(workload("a", "w", [])) == "w"
    assert application_of({"kind": "Deployment", "metadata": {"name": "w"}, "spec": {"template": 3}}) == "w"


def test_cells_and_the_rows_that_lack_what_prod_runs() -> None:
    report = report_for(OBJECTS)
    assert report.reference == "prod"
    rows = {a.name: a for a in report.rows()}
    assert list(rows) == ["api", "batch", "tool", "web"]
    web = rows["web"]
    assert {t: c.state("istio-proxy") for t, c in web.cells.items()} == {
        "prod": SidecarState.PRESENT, "dev": SidecarState.MISSING, "qa": SidecarState.INJECTED}
    assert [str(r) for r in web.cells["dev"].workloads] == ["Deployment shop-dev/web-v2"]
    assert report.lacks(web, "dev") == ("istio-proxy",) and report.lacks(web, "qa") == ()
    assert report.diverges(web)
    assert not report.diverges(rows["batch"]) and rows["batch"].cells["prod"].state("istio-proxy") is \
        SidecarState.MISSING
    assert not report.diverges(rows["tool"]) and set(rows["tool"].cells) == {"dev"}
    api = rows["api"].cells["prod"]
    assert api.state("istio-proxy") is SidecarState.DISABLED and api.covered("istio-proxy") == (1, 2)
    assert not report.diverges(rows["api"])


def test_a_policy_without_prod_measures_against_its_last_tier() -> None:
    policy = load_policy({"spec": {"tiers": ["sandbox", "live"], "sidecars": {"required": [{"name": "istio-proxy"}]}}})
    objects = [namespace("a", "sandbox"), namespace("b", "live"), workload("a", "web", ["app"]),
               workload("b", "web", ["app", "istio-proxy"])]
    report = report_for(objects, policy)
    assert report.reference == "live" and report.diverges(report.applications["web"])


def test_text_has_the_matrix_with_the_lacking_tiers() -> None:
    lines = render_parity_text(report_for(OBJECTS)).splitlines()
    matrix = lines[lines.index("") + 1:]
    assert matrix[0].split() == ["application", "dev", "qa", "stage", "prod", "(reference)"]
    assert matrix[1].split() == ["api", "-", "-", "-", "disabled(1/2)"]
    assert matrix[4].split() == ["web", "missing", "injected", "-", "present", "dev", "lacks", "istio-proxy"]
    assert lines[-1] == "parity incomplete: 5 gap(s)"


def test_text_with_two_sidecars_names_their_order() -> None:
    text = render_parity_text(report_for(OBJECTS, TWO_SIDECARS))
    assert ("\nweb          missing,missing  injected,missing  -      present,missing        dev lacks istio-proxy\n"
            in text)
    assert "\napi          -                -                 -      disabled(1/2),missing\n" in text
    assert "cells: istio-proxy, vault-agent; -: not deployed in that tier" in text


def test_json_carries_the_same_matrix() -> None:
    document = json.loads(render_parity_json(report_for(OBJECTS)))
    assert document["reference"] == "prod"
    web = next(a for a in document["applications"] if a["name"] == "web")
    assert web["diverges"] is True and web["tiers"]["stage"] is None
    assert web["tiers"]["dev"]["lacks"] == ["istio-proxy"]
    assert web["tiers"]["dev"]["sidecars"]["istio-proxy"] == {"state": "missing", "present": 0, "provided": 0,
                                                               "injected": 0, "missing": 1, "disabled": 0}
    assert web["tiers"]["dev"]["workloads"] == [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "namespace": "shop-dev", "name": "web-v2"}]
    assert [a["name"] for a in document["applications"] if a["diverges"]] == ["web"]


def test_html_highlights_the_rows_that_lack_what_prod_runs() -> None:
    page = parse(render_parity_html(report_for(OBJECTS)))
    assert page.highlighted == {"web"}
    assert page.rows["web"]["data-diverges"] == "true" and page.rows["batch"]["data-diverges"] == "false"
    assert page.states[("web", "dev", "istio-proxy")] == "missing"
    assert page.states[("web", "qa", "istio-proxy")] == "injected"
    assert page.states[("web", "prod", "istio-proxy")] == "present"
    assert page.states[("api", "prod", "istio-proxy")] == "disabled"
    assert ("web", "stage", "istio-proxy") not in page.states
    lacking = [a for t, a in page.tags if t == "td" and "lacks" in (a.get("class") or "")]
    assert [a["data-tier"] for a in lacking] == ["dev"]
    references = [a for t, a in page.tags if t in {"th", "td"} and "reference" in (a.get("class") or "")]
    assert len(references) == 1 + len(page.rows)


def test_html_is_self_contained() -> None:
    page = render_parity_html(report_for(OBJECTS, TWO_SIDECARS))
    tags = parse(page).tags
    assert {t for t, _ in tags} <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "span",
                                    "strong", "small", "code", "table", "thead", "tbody", "tr", "th", "td", "ul", "li"}
    assert not [a for _, attributes in tags for a in attributes if a in {"src", "href", "srcset", "style"}]
    for external in ("url(", "@import", "@font-face", "http://", "https://", "//"):
        assert external not in page


def test_html_escapes_every_name() -> None:
    hostile = [namespace("shop-dev", "dev"), namespace("shop-prod", "prod"),
               workload("shop-dev", "w", ["app"], labels={"app": HOSTILE}),
               workload("shop-prod", "w", ["app", "istio-proxy"], labels={"app": HOSTILE})]
    page = render_parity_html(report_for(hostile))
    assert "<script" not in page and HOSTILE not in page
    parsed = parse(page)
    assert parsed.rows[HOSTILE]["data-diverges"] == "true"  # the parser unescapes it back to the very name
    assert HOSTILE in "".join(parsed.text)


def test_no_renderer_shows_a_secret_value() -> None:
    report = report_for(OBJECTS)
    for rendered in (render_parity_text(report), render_parity_json(report), render_parity_html(report)):
        assert VALUE not in rendered


def test_html_without_required_sidecars_or_workloads() -> None:
    assert "nothing to compare" in render_parity_html(report_for(OBJECTS, load_policy({})))
    assert "no tiered workloads" in render_parity_html(report_for(NAMESPACES))
    assert "parity complete" in render_parity_html(report_for(NAMESPACES))
