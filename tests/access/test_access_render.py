"""The access report drawn three ways: the text table and its cross-tier list, the JSON document, the HTML page
(read back as a DOM)."""

from __future__ import annotations

import json

from tests.support.access_page import parse
from tierguard.access import UNTIERED, AccessReport
from tierguard.render.access import render_access_json, render_access_text
from tierguard.render.access_html import render_access_html

from .test_access import binding, namespace, report_of, role, rule, subject


def drifted() -> AccessReport:
    return report_of(
        binding("shop-prod", "incident", "ClusterRole", "debugger", subject("User", "dana@example.com")),
        binding(None, "ci", "ClusterRole", "secret-reader", subject("ServiceAccount", "ci", "shop-dev")),
        binding(None, "sre", "ClusterRole", "cluster-admin", subject("Group", "sre")),
        binding("shop-qa", "contractor", "ClusterRole", "debugger", subject("User", "bob")),
        binding("shop-prod", "gone", "Role", "missing", subject("Group", "team-dev")),
    )


def test_text_table_then_the_crossings() -> None:
    text = render_access_text(drifted())
    lines = text.splitlines()
    assert lines[0].split() == ["subject", "tiers", "dev", "qa", "stage", "prod", UNTIERED]
    table = {" ".join(line.split()[:2]): line.split()[2:] for line in lines[1:6]}
    assert table["User bob"] == ["untiered", "-", "exec", "-", "-", "-"]
    assert table["User dana@example.com"] == ["tier", "dev", "-", "-", "-", "!exec", "-"]
    assert table["Group sre"][-5:] == ["all"] * 5
    assert table["ServiceAccount shop-dev/ci"] == ["tier", "dev", "read-secrets", "!read-secrets", "!read-secrets",
                                                    "!read-secrets", "read-secrets"]
    assert ("all.yaml#8 RoleBinding shop-prod/incident: User dana@example.com (tier dev) reaches tier prod through "
            "ClusterRole debugger") in lines
    assert "  can create pods/exec in shop-prod, which reads its pods' mounted Secrets" in lines
    assert ("all.yaml#9 ClusterRoleBinding ci: ServiceAccount shop-dev/ci (tier dev) reaches tiers qa, stage, prod "
            "through ClusterRole secret-reader") in lines
    assert "  can read Secrets in every namespace (get secrets)" in lines
    assert ("not judged: all.yaml#12 RoleBinding shop-prod/gone: Role shop-prod/missing is unknown (not in the input "
            "or the cluster)") in lines
    assert lines[-1] == "access: 2 cross-tier reach(es) by 2 subject(s)"


def test_text_without_any_reach() -> None:
    assert render_access_text(report_of()).splitlines() == [
        "no binding grants a path to secret material",
        "access: no cross-tier reach (0 subject(s) reach secret material)"]


def test_json_document() -> None:
    document = json.loads(render_access_json(drifted()))
    assert document["columns"] == ["dev", "qa", "stage", "prod", UNTIERED]
    assert document["clean"] is False and document["crossTier"] == 2
    rows = {(s["subject"]["kind"], s["subject"]["name"]): s for s in document["subjects"]}
    dana = rows[("User", "dana@example.com")]
    assert (dana["tiers"], dana["everyTier"], dana["everyone"], dana["tiered"], dana["standing"], dana["crosses"]) == (
        ["dev"], False, False, True, "tier dev", True)
    assert dana["cells"]["dev"] is None
    assert dana["cells"]["prod"] == {"paths": ["exec"], "crosses": True, "namespaces": ["shop-prod"],
                                     "everyNamespace": False}
    assert rows[("ServiceAccount", "ci")]["subject"] == {"kind": "ServiceAccount", "name": "ci",
                                                          "namespace": "shop-dev"}
    assert rows[("ServiceAccount", "ci")]["cells"][UNTIERED]["everyNamespace"] is True
    assert rows[("Group", "sre")]["everyTier"] is True and rows[("User", "bob")]["tiered"] is False
    reach = next(r for r in document["reaches"] if r["binding"]["name"] == "incident")
    assert reach == {
        "subject": {"kind": "User", "name": "dana@example.com", "namespace": None},
        "binding": {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "namespace": "shop-prod",
                    "name": "incident"},
        "source": "all.yaml#8", "role": {"kind": "ClusterRole", "name": "debugger"}, "namespace": "shop-prod",
        "tier": "prod",
        "paths": [{"id": "exec", "verb": "create", "resource": "pods/exec",
                   "phrase": "can create pods/exec in shop-prod, which reads its pods' mounted Secrets"}],
        "crosses": ["prod"]}
    assert document["unjudged"] == [{
        "binding": {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "namespace": "shop-prod",
                    "name": "gone"},
        "source": "all.yaml#12", "reason": "Role shop-prod/missing is unknown (not in the input or the cluster)"}]


def test_html_cells_and_crossings() -> None:
    page_text = render_access_html(drifted())
    assert page_text.startswith("<!DOCTYPE html>") and page_text.endswith("</html>\n")
    page = parse(page_text)
    assert set(page.rows) == {"User bob", "User dana@example.com", "Group sre", "ServiceAccount shop-dev/ci"}
    assert page.highlighted == {"User dana@example.com", "ServiceAccount shop-dev/ci"}
    prod = page.cells[("User dana@example.com", "prod")]
    assert prod.paths == ("exec",) and prod.crosses and "crosses" in prod.classes and prod.where == "shop-prod"
    assert page.cells[("User dana@example.com", "dev")].paths == ()
    assert not page.cells[("ServiceAccount shop-dev/ci", "dev")].crosses
    assert page.cells[("ServiceAccount shop-dev/ci", UNTIERED)].where == "every namespace"
    assert len(page.cells[("Group sre", "prod")].paths) == 11 and not page.cells[("Group sre", "prod")].crosses
    assert [(c["data-subject"], c["data-crosses"]) for c in page.crossings] == [
        ("User dana@example.com", "prod"), ("ServiceAccount shop-dev/ci", "qa stage prod")]
    assert 'id="access-unjudged"' in page_text


def test_html_is_self_contained_and_escapes_every_name() -> None:
    odd = '<b>x</b>"'
    report = report_of(namespace(odd, "prod"), role(odd, odd, rule(["secrets"], ["get"])),
                       binding(odd, odd, "Role", odd, subject("User", odd), subject("Group", "team-dev")))
    page_text = render_access_html(report)
    assert "<b>" not in page_text and "<script" not in page_text
    assert not any(attribute in (value or "") for _, attributes in parse(page_text).tags
                   for name, value in attributes.items() if name in ("src", "href")
                   for attribute in ("http:", "https:", "//"))
    page = parse(page_text)
    assert f"User {odd}" in page.rows and page.cells[(f"User {odd}", "prod")].paths == ("read-secrets",)
    assert page.highlighted == {"Group team-dev"}
