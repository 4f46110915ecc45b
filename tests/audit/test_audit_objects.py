"""The audit's pure part: listed objects in, the same decisions as `check` out, only judged kinds reported."""

from __future__ import annotations

import base64

from tierguard.audit.listing import listed_kinds
from tierguard.audit.results import audit_objects
from tierguard.engine import judged_kinds
from tierguard.policy import DEFAULT_POLICY

NAMESPACES = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": {"tierguard.io/tier": n}}}
              for n in ("dev", "prod")]
VALUE = base64.b64encode(b"a-long-shared-credential-value").decode()


def secret(namespace: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": namespace},
            "data": {"password": VALUE}}


def test_listing_covers_every_judged_kind() -> None:
    assert judged_kinds() <= {k.kind for k in listed_kinds()}
    assert listed_kinds()[0].kind == "Namespace"  # tiers are known before anything is judged


def test_audit_reports_judged_objects_with_the_whole_cluster_as_context() -> None:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r", "namespace": "dev"},
            "rules": []}
    results = audit_objects([*NAMESPACES, secret("dev"), secret("prod"), role], DEFAULT_POLICY,
                            own_namespace="tierguard-system")
    assert [(r.ref.kind, r.ref.namespace or r.ref.name) for r in results] == [
        ("Namespace", "dev"), ("Namespace", "prod"), ("Secret", "dev"), ("Secret", "prod")]
    assert all(r.source == "cluster" for r in results)
    assert [v.rule.value for r in results for v in r.decision.violations] == ["secret-value-shared"] * 2


def test_namespace_filter_limits_the_report_not_the_context() -> None:
    results = audit_objects([*NAMESPACES, secret("dev"), secret("prod")], DEFAULT_POLICY,
                            own_namespace=None, namespaces=("dev",))
    assert [(r.ref.kind, r.ref.namespace) for r in results] == [("Secret", "dev")]
    assert not results[0].decision.allowed  # prod's copy, outside the report, still counts


def test_policy_reports_group_by_namespace_with_summaries() -> None:
    import yaml  # noqa: PLC0415

    from tierguard.render.policyreport import render_policy_reports  # noqa: PLC0415

    results = audit_objects([*NAMESPACES, secret("dev"), secret("prod"), secret("default")], DEFAULT_POLICY,
                            own_namespace=None)
    reports = list(yaml.safe_load_all(render_policy_reports(results)))
    assert [(r["kind"], r["metadata"].get("namespace")) for r in reports] == [
        ("ClusterPolicyReport", None), ("PolicyReport", "default"), ("PolicyReport", "dev"),
        ("PolicyReport", "prod")]
    cluster_report, default_report, dev_report, _ = reports
    assert default_report["summary"]["skip"] == 1  # untiered: not enforced
    # The two Namespaces pass; the four shared-value findings, redacted in dev's and prod's reports, are listed
    # here in full (SPEC: the cluster report names the other holder).
    assert cluster_report["summary"] == {"pass": 2, "fail": 4, "warn": 0, "error": 0, "skip": 0}
    listed = {(e["resources"][0]["namespace"], e["message"])
              for e in cluster_report["results"] if e["result"] == "fail"}
    assert any(ns == "dev" and "the same value as Secret prod/db (tier prod)" in message for ns, message in listed)
    assert any(ns == "prod" and "the same value as Secret dev/db (tier dev)" in message for ns, message in listed)
    assert all("prod/" not in e.get("message", "") for e in dev_report["results"])
    assert dev_report["summary"]["fail"] == 2  # shared with prod and with untiered default
    entry = dev_report["results"][0]
    assert entry["rule"] == "secret-value-shared" and entry["result"] == "fail"
    assert entry["resources"] == [{"apiVersion": "v1", "kind": "Secret", "namespace": "dev", "name": "db"}]
    assert VALUE not in render_policy_reports(results)
