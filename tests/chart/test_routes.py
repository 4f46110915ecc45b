"""The chart and tierguard's kinds table (operator/tierguard/kinds.py) describe the same kinds.

The ValidatingWebhookConfiguration has one entry per route of ROUTES (operator/tierguard/webhook/routes.py, derived
from the table's judged rows), in both certificate modes and in local mode: same id in the entry name and path,
same group/version/resource, operations and scope. A row missing from the chart is a kind tierguard never sees;
an entry missing from the table is a path tierguard answers with a denial (and, before it did, an allow). The
ClusterRole reads exactly the table's indexed rows (what the watches need), plus CRDs for kopf's discovery.
A field's route (kinds.BY_FIELD: Crossplane's connection Secrets, of any group) is the one entry on every group and
resource, and only with the matchCondition that sends nothing but objects carrying its field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tierguard.kinds import BY_FIELD, DISCOVERY, INDEXED, JUDGED
from tierguard.webhook.routes import ROUTES, Route

from .helm import CHART, NAMESPACE, RELEASE, Helm, only, render_cached

MODES = {
    "generated-certs": {},
    "cert-manager": {"certManager.enabled": "true"},
    "local": {"local.enabled": "true", "webhook.url": "https://127.0.0.1:9443/",
              "webhook.caBundle": "Y2E="},
}


def expected(route: Route) -> dict[str, Any]:
    return {
        "name": f"{route.id}.tierguard.io",
        "path": f"/{route.id}",
        "rules": [{
            "apiGroups": [route.group],
            "apiVersions": [route.version],
            "resources": [route.resource],
            "operations": list(route.operations),
            "scope": route.scope,
        }],
    }


def rendered(entry: dict[str, Any]) -> dict[str, Any]:
    client = entry["clientConfig"]
    url_path = "/" + client.get("url", "").removeprefix("https://127.0.0.1:9443/")
    path = client["service"]["path"] if "service" in client else url_path
    return {"name": entry["name"], "path": path, "rules": entry["rules"]}


@pytest.mark.parametrize("mode", MODES)
def test_one_webhook_entry_per_route(helm: Helm, mode: str) -> None:
    webhook = only(render_cached(helm, sets=MODES[mode]), "ValidatingWebhookConfiguration")
    assert [rendered(entry) for entry in webhook["webhooks"]] == [expected(h) for h in ROUTES]


def test_service_entries_call_the_chart_service(helm: Helm) -> None:
    webhook = only(render_cached(helm), "ValidatingWebhookConfiguration")
    for entry in webhook["webhooks"]:
        assert entry["clientConfig"]["service"] == {
            "namespace": NAMESPACE,
            "name": "tg-tierguard",
            "path": "/" + entry["name"].removesuffix(".tierguard.io"),
            "port": 443,
        }


def test_local_entries_call_the_url(helm: Helm) -> None:
    webhook = only(render_cached(helm, sets=MODES["local"]), "ValidatingWebhookConfiguration")
    for entry, handler in zip(webhook["webhooks"], ROUTES, strict=True):
        # The trailing slash of webhook.url is not doubled.
        assert entry["clientConfig"] == {"url": f"https://127.0.0.1:9443/{handler.id}", "caBundle": "Y2E="}


FIELD_CONDITIONS = {
    "crossplane-connection-secrets": "object != null && type(object) == map && has(object.spec) && "
                                     "type(object.spec) == map && has(object.spec.writeConnectionSecretToRef)",
}
"""The matchCondition of each field's entry, written out: each step checks a map before descending, so the
condition is false (never an error, which failurePolicy Fail would turn into a refusal) for any other object."""


def test_nothing_else_is_intercepted(helm: Helm) -> None:
    webhook = only(render_cached(helm), "ValidatingWebhookConfiguration")
    resources = {resource for entry in webhook["webhooks"] for rule in entry["rules"] for resource in rule["resources"]}
    assert resources == {handler.resource for handler in ROUTES}
    for never in ("leases", "events", "nodes", "tokenreviews", "subjectaccessreviews", "*/*"):
        assert never not in resources
    fields = {field.id for field in BY_FIELD}
    assert set(FIELD_CONDITIONS) == fields
    for entry in webhook["webhooks"]:
        route_id = entry["name"].removesuffix(".tierguard.io")
        for rule in entry["rules"]:
            if route_id in fields:
                # Every group and resource (never subresources: "*" is not "*/*"), CREATE and UPDATE only, and
                # only objects carrying the field are sent.
                assert rule == {"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"],
                                "operations": ["CREATE", "UPDATE"], "scope": "*"}
                assert entry["matchConditions"] == [{"name": "carries-writeconnectionsecrettoref",
                                                     "expression": FIELD_CONDITIONS[route_id]}]
                continue
            assert "*" not in rule["apiGroups"] and "*" not in rule["resources"]
            # CONNECT only for sessions into pods (session-cross-tier), and nothing else on those entries.
            if "CONNECT" in rule["operations"]:
                assert rule["operations"] == ["CONNECT"]
                assert rule["resources"] in (["pods/exec"], ["pods/attach"], ["pods/portforward"])
            # DELETE for the TierPolicy (its deletion switches people's tiers off: namespace-tier-assignment) and the
            # NetworkPolicy (a namespace's last default-deny: namespace-security-missing) only.
            assert ("DELETE" in rule["operations"]) == (rule["resources"] in (["tierpolicies"], ["networkpolicies"]))


def test_handler_list_is_kept_in_one_place() -> None:
    """Only the tierguard.webhook.handlers helper names handler ids; templates iterate over it."""
    templates = Path(CHART, "templates")
    for handler in ROUTES:
        holders = [path.name for path in templates.rglob("*")
                   if path.is_file() and f"id: {handler.id}," in path.read_text()]
        assert holders == ["_helpers.tpl"], (handler.id, holders)


@pytest.mark.parametrize("mode", MODES)
def test_webhook_rules_cover_exactly_the_judged_kinds(helm: Helm, mode: str) -> None:
    webhook = only(render_cached(helm, sets=MODES[mode]), "ValidatingWebhookConfiguration")
    rendered_rules = sorted((group, version, resource, rule["scope"])
                            for entry in webhook["webhooks"] for rule in entry["rules"]
                            for group in rule["apiGroups"] for version in rule["apiVersions"]
                            for resource in rule["resources"])
    table = sorted([*((info.group, info.version, resource, info.scope.value) for info in JUDGED
                      for resource in (info.resource, *(f"{info.resource}/{sub}" for sub in info.subresources),
                                       *(f"{info.resource}/{c.subresource}" for c in info.connects))),
                    *(("*", "*", "*", "*") for _ in BY_FIELD)])
    assert rendered_rules == table


@pytest.mark.parametrize("enabled", [True, False])
def test_crossplane_entry_follows_its_value(helm: Helm, enabled: bool) -> None:
    """``crossplane.enabled: false`` drops the field's entry and nothing else; its namespaced objects are sent from
    tiered, not exempt namespaces only (the API server applies a namespaceSelector to namespaced objects alone)."""
    webhook = only(render_cached(helm, sets={"crossplane.enabled": str(enabled).lower()}),
                   "ValidatingWebhookConfiguration")
    names = [entry["name"].removesuffix(".tierguard.io") for entry in webhook["webhooks"]]
    assert names == [route.id for route in ROUTES if enabled or route.field is None]
    if enabled:
        (entry,) = (entry for entry in webhook["webhooks"] if entry["name"].startswith("crossplane-"))
        keys = [expression["key"] for expression in entry["namespaceSelector"]["matchExpressions"]]
        assert keys == ["tierguard.io/tier", "kubernetes.io/metadata.name"]


@pytest.mark.parametrize("sets", [{}, MODES["local"]], ids=["in-cluster", "local"])
def test_cluster_role_reads_exactly_the_indexed_kinds(helm: Helm, sets: dict[str, str]) -> None:
    role = only(render_cached(helm, sets=sets), "ClusterRole", f"{RELEASE}-tierguard")  # -audit: its own test
    # Rules limited to named objects (tierguard's own ValidatingAdmissionPolicies) read nothing; the one write of
    # a status subresource (TierPolicy statuses, tests/chart/test_render.py) reads nothing either.
    status_writes = [rule for rule in role["rules"] if rule["resources"] == ["tierpolicies/status"]]
    assert [rule["verbs"] for rule in status_writes] == [["patch"]]
    read_rules = [rule for rule in role["rules"] if "resourceNames" not in rule and rule not in status_writes]
    reads = sorted((group, resource) for rule in read_rules for group in rule["apiGroups"]
                   for resource in rule["resources"])
    assert reads == sorted({(info.group, info.resource) for info in (*INDEXED, DISCOVERY)})
    assert all(rule["verbs"] == ["get", "list", "watch"] for rule in read_rules)
