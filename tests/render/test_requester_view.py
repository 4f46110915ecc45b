"""What a tier's own users may read of a shared value (SPEC, CLI: "a Secret of tier prod", unnamed): the report in
their namespace names the other tier only, while the platform's records (the JSON and text outputs of `check` and
`audit`) name the other holder. Without this, a dev user could confirm a guessed prod credential and learn where it
is kept (issue 27, the value oracle)."""

from __future__ import annotations

import base64
import json
from typing import Any

from tierguard.engine.offline import judge_documents
from tierguard.policy import DEFAULT_POLICY
from tierguard.render.json_results import render_json
from tierguard.render.policyreport import policy_reports

VALUE = "correct-horse-battery-staple-2024"


def namespace(name: str, tier: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {DEFAULT_POLICY.tier_label: tier}}}


def secret(ns: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"namespace": ns, "name": name},
            "data": {"password": base64.b64encode(VALUE.encode()).decode()}}


def judged() -> list[Any]:
    documents = [namespace("billing-dev", "dev"), namespace("billing-prod", "prod"),
                 secret("billing-prod", "vault-root"), secret("billing-dev", "db")]
    return judge_documents(((d, f"input#{i}") for i, d in enumerate(documents)), DEFAULT_POLICY)


def test_the_namespace_report_names_the_other_tier_but_not_its_secret() -> None:
    reports = {r["metadata"].get("namespace"): r for r in policy_reports(judged())}
    (dev_result,) = [r for r in reports["billing-dev"]["results"] if r["rule"] == "secret-value-shared"]
    assert "a Secret of tier prod" in dev_result["message"]
    assert "vault-root" not in dev_result["message"] and "billing-prod/" not in dev_result["message"]
    assert VALUE not in json.dumps(reports)


def test_platform_side_outputs_name_the_other_holder() -> None:
    rendered = render_json(judged())
    dev = next(r for r in json.loads(rendered)["results"] if r["object"]["namespace"] == "billing-dev"
               and r["object"]["kind"] == "Secret")
    (violation,) = dev["violations"]
    assert violation["rule"] == "secret-value-shared"
    assert "Secret billing-prod/vault-root" in violation["message"]
    assert VALUE not in rendered


def test_an_untiered_holder_is_named_as_such_to_the_requester() -> None:
    documents = [namespace("billing-dev", "dev"), {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": "scratch"}},
                 secret("scratch", "copied"), secret("billing-dev", "db")]
    results = judge_documents(((d, f"input#{i}") for i, d in enumerate(documents)), DEFAULT_POLICY)
    reports = {r["metadata"].get("namespace"): r for r in policy_reports(results)}
    (dev_result,) = [r for r in reports["billing-dev"]["results"] if r["rule"] == "secret-value-shared"]
    assert "as an untiered Secret;" in dev_result["message"] and "scratch" not in dev_result["message"]
    cluster = [r for r in reports[None]["results"] if r["rule"] == "secret-value-shared"]
    assert ["Secret scratch/copied (untiered)" in r["message"] for r in cluster] == [True]


def test_a_workload_consuming_a_shared_value_names_no_other_tiers_secret() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "billing-dev", "name": "app"},
           "spec": {"containers": [{"name": "app", "image": "app", "envFrom": [{"secretRef": {"name": "db"}}]}]}}
    documents = [namespace("billing-dev", "dev"), namespace("billing-prod", "prod"),
                 secret("billing-prod", "vault-root"), secret("billing-dev", "db"), pod]
    results = judge_documents(((d, f"input#{i}") for i, d in enumerate(documents)), DEFAULT_POLICY)
    (violation,) = [v for r in results if r.ref.kind == "Pod" for v in r.decision.violations]
    assert violation.rule == "workload-secret-cross-tier"
    assert "vault-root" not in violation.shown_to_requester  # the admission answer's text
    reports = {r["metadata"].get("namespace"): r for r in policy_reports(results)}
    assert "vault-root" not in json.dumps(reports["billing-dev"])
    # It refers to the Secret's own finding (which the platform's records give in full), so one text serves both.
    assert violation.shown_to_requester == violation.message == (
        "Pod billing-dev/app consumes Secret billing-dev/db, which crosses tiers (secret-value-shared); "
        "see the finding on Secret billing-dev/db")
