"""The namespace posture in the three renderings of ``tierguard parity``: its text table, the JSON ``posture``
section and the page's second table, each with the tier weaker than prod flagged; and a sidecar ``provided``
without a container, rendered as covered."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from tests.support.parity_page import parse
from tierguard.engine.model import ObjectRef
from tierguard.engine.rules.sidecars import SidecarState
from tierguard.parity import Application, Cell, ParityReport
from tierguard.policy import load_policy
from tierguard.render.parity import render_parity_json, render_parity_text
from tierguard.render.parity_html import render_parity_html

from .test_namespace_posture import ENFORCE, NOTHING, REQUIRED, WARN, namespace, network_policy, psa, report_for
from .test_parity_matrix import HOSTILE

OBJECTS = [
    namespace("shop-dev", "dev", team="shop", **psa("privileged")), network_policy("shop-dev"),
    namespace("shop-qa", "qa", team="shop", **psa("baseline"), **{WARN: "restricted"}),
    namespace("shop-prod", "prod", team="shop", **psa("restricted")), network_policy("shop-prod"),
    namespace("pay-prod", "prod", team="pay", **psa("baseline")), network_policy("pay-prod"),
]


def test_text_has_the_posture_table_after_the_matrix_and_each_namespace_gap() -> None:
    lines = render_parity_text(report_for(OBJECTS, REQUIRED)).splitlines()
    assert lines[0] == "no required sidecars in the policy (spec.sidecars.required)"
    table = lines[lines.index("") + 1:]
    assert table[0].split() == ["namespace", "posture", "dev", "qa", "stage", "prod", "(reference)"]
    assert table[1].split() == [ENFORCE, "privileged", "baseline", "-", "baseline(1),restricted(1)",
                                "weaker", "than", "prod:", "dev"]
    assert table[2].split() == [WARN, "unset", "restricted", "-", "unset"]
    assert table[3].split() == ["team", "shop", "shop", "-", "pay(1),shop(1)"]
    assert table[4].split() == ["default-deny-ingress", "1/1", "0/1", "-", "2/2", "weaker", "than", "prod:", "qa"]
    assert table[5].split() == ["namespaces", "1", "1", "-", "2"]
    assert table[6] == ("Pod Security levels, weakest first: privileged < baseline < restricted; unset: the "
                        "namespace lacks the label (Pod Security: privileged)")
    assert table[7] == (f"all.yaml#0 Namespace shop-dev: label {ENFORCE} is 'privileged', not one of baseline, "
                        "restricted (tier dev)")
    assert table[8] == "all.yaml#2 Namespace shop-qa: no default-deny-ingress NetworkPolicy (tier qa)"
    assert lines[-1] == "parity incomplete: 2 gap(s)"


def test_text_without_a_posture_is_as_before() -> None:
    assert render_parity_text(report_for([namespace("a", "dev")], NOTHING)) == (
        "no required sidecars in the policy (spec.sidecars.required): nothing to compare")


def test_text_says_when_network_policies_were_not_listed() -> None:
    text = render_parity_text(report_for(OBJECTS[:1], REQUIRED, network_policies_read=False))
    assert "\ndefault-deny-ingress                not listed  -   -      -\n" in text
    assert "NetworkPolicy (tier" not in text


def test_json_adds_a_posture_section_and_keeps_every_key() -> None:
    document = json.loads(render_parity_json(report_for(OBJECTS, REQUIRED)))
    assert list(document) == ["sidecars", "reference", "applications", "gaps", "posture", "complete"]
    assert document["complete"] is False and document["gaps"] == []
    posture = document["posture"]
    enforce = posture["labels"][ENFORCE]
    assert enforce["required"] == ["baseline", "restricted"] and posture["labels"][WARN]["required"] is None
    assert enforce["tiers"]["dev"] == {"values": {"privileged": 1}, "unset": 0, "outsidePolicy": 1,
                                       "weakest": "privileged", "weaker": True}
    assert enforce["tiers"]["prod"]["values"] == {"baseline": 1, "restricted": 1}
    assert enforce["tiers"]["stage"] == {"values": {}, "unset": 0, "outsidePolicy": 0, "weakest": None,
                                         "weaker": False}
    assert posture["labels"]["team"]["tiers"]["dev"]["weakest"] is None
    assert posture["defaultDenyIngress"]["tiers"]["qa"] == {"keeping": 0, "namespaces": 1, "weaker": True}
    assert posture["tiers"]["prod"] == {"namespaces": ["pay-prod", "shop-prod"], "weaker": []}
    assert posture["tiers"]["dev"]["weaker"] == [ENFORCE]
    assert posture["gaps"][1] == {"namespace": "shop-qa", "source": "all.yaml#2", "tier": "qa", "label": None,
                                  "value": None, "wanted": None, "message": "no default-deny-ingress NetworkPolicy"}
    assert posture["gaps"][0]["label"] == ENFORCE and posture["gaps"][0]["value"] == "privileged"


def test_json_counts_nothing_when_network_policies_were_not_listed() -> None:
    document = json.loads(render_parity_json(report_for(OBJECTS, REQUIRED, network_policies_read=False)))
    deny = document["posture"]["defaultDenyIngress"]
    assert deny["listed"] is False and deny["tiers"]["prod"] == {"keeping": None, "namespaces": 2, "weaker": False}


def test_html_has_the_posture_table_with_the_weaker_tiers_outlined() -> None:
    page = parse(render_parity_html(report_for(OBJECTS, REQUIRED)))
    assert set(page.checks) == {ENFORCE, WARN, "team", "default-deny-ingress", "namespaces"}
    assert page.drifting == {ENFORCE, "default-deny-ingress"}
    assert page.weaker(ENFORCE) == {"dev"} and page.weaker("default-deny-ingress") == {"qa"}
    assert page.posture[(ENFORCE, "dev")]["data-weaker"] == "true"
    assert page.posture[(ENFORCE, "qa")]["data-weaker"] == "false"
    assert page.values[(ENFORCE, "prod")] == {"baseline": 1, "restricted": 1}
    assert page.values[(WARN, "dev")] == {"unset": 1}
    assert page.values[("default-deny-ingress", "qa")] == {"0/1": 0}
    assert (ENFORCE, "stage") not in page.values  # no namespace in stage
    assert "reference" in (page.posture[(ENFORCE, "prod")].get("class") or "")
    assert "Namespaces outside the policy" in "".join(page.text)
    assert [a.get("id") for t, a in page.tags if t == "table"] == ["posture-matrix", "posture-gaps"]


def test_html_posture_beside_the_sidecar_matrix() -> None:
    policy = load_policy({"spec": {"sidecars": {"required": [{"name": "istio-proxy"}]}}})
    objects = [*OBJECTS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop-dev"},
                          "spec": {"containers": [{"name": "istio-proxy", "image": "x"}]}}]
    page = parse(render_parity_html(report_for(objects, policy)))
    assert [a.get("id") for t, a in page.tags if t == "table"] == ["parity-matrix", "posture-matrix"]
    assert page.states[("web", "dev", "istio-proxy")] == "present"
    assert page.drifting == {ENFORCE, "default-deny-ingress"}  # shown though not required: some namespaces keep one


def test_html_escapes_label_values() -> None:
    objects = [namespace("a-prod", "prod", team="shop"), namespace("a-dev", "dev", team=HOSTILE)]
    html = render_parity_html(report_for(objects, load_policy({"spec": {"namespaces": {"requiredLabels": {
        "team": []}}}})))
    assert HOSTILE not in html and "<script" not in html
    page = parse(html)
    assert page.values[("team", "dev")] == {HOSTILE: 1} and page.weaker("team") == {"dev"}


def provided_report() -> ParityReport:
    ref = ObjectRef("apps/v1", "Deployment", "shop-dev", "web")
    both = Cell([ref, ref], {"istio-proxy": Counter({SidecarState.PROVIDED: 1, SidecarState.MISSING: 1})})
    ambient = Cell([ref], {"istio-proxy": Counter({SidecarState.PROVIDED: 1})})
    report = ParityReport(("dev", "prod"), ("istio-proxy",))
    report.applications = {"web": Application("web", {"dev": both, "prod": ambient})}
    report.counts = {("istio-proxy", "dev"): both.states["istio-proxy"], ("istio-proxy", "prod"): ambient.states[
        "istio-proxy"]}
    return report


def test_a_provided_sidecar_renders_as_covered() -> None:
    report = provided_report()
    text = render_parity_text(report)
    assert text.splitlines()[1].split() == ["istio-proxy", "1/2", "1/1"]
    assert "\nweb          missing(1/2)  provided          dev lacks istio-proxy" in text
    page = parse(render_parity_html(report))
    assert page.states[("web", "prod", "istio-proxy")] == "provided"
    provided = [a for t, a in page.tags if t == "span" and a.get("data-state") == "provided"]
    assert provided and "provided" in (provided[0].get("class") or "").split()
    assert ".provided{" in render_parity_html(report) or ",.provided{" in render_parity_html(report)
    document: dict[str, Any] = json.loads(render_parity_json(report))
    assert document["sidecars"]["istio-proxy"]["prod"]["provided"] == 1
