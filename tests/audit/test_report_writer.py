"""Report writes: only changes are sent, clean scopes lose their report, foreign reports are never touched, the
size is capped with a true summary, and both report APIs get the same content."""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from typing import Any

import pytest

from tierguard.audit.results import audit_objects
from tierguard.policy import DEFAULT_POLICY
from tierguard.render.policyreport import (
    NAME,
    OPENREPORTS,
    WGPOLICYK8S,
    ReportApi,
    category,
    entries_of,
    grouped_entries,
    report,
)
from tierguard.webhook.background_audit.report_writer import ApiMissing, Conflict, ReportWriter

Key = tuple[str, str | None]


class FakeReports:
    def __init__(self, missing: tuple[str, ...] = ()) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, str | None]] = []
        self.missing = missing
        self.version = 0

    def _check(self, api: ReportApi) -> None:
        if api.name in self.missing:
            raise ApiMissing(api.name)

    def list_owned(self, api: ReportApi) -> list[Mapping[str, Any]]:
        self._check(api)
        return [copy.deepcopy(o) for (name, _), o in self.objects.items()
                if name == api.name and o["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by")]

    def read(self, api: ReportApi, namespace: str | None) -> Mapping[str, Any] | None:
        self._check(api)
        found = self.objects.get((api.name, namespace))
        return copy.deepcopy(found) if found else None

    def create(self, api: ReportApi, namespace: str | None, body: Mapping[str, Any]) -> Mapping[str, Any]:
        self._check(api)
        self.calls.append(("create", api.name, namespace))
        if (api.name, namespace) in self.objects:
            raise Conflict("exists")
        return self._store(api, namespace, body)

    def replace(self, api: ReportApi, namespace: str | None, body: Mapping[str, Any]) -> Mapping[str, Any]:
        self.calls.append(("replace", api.name, namespace))
        current = self.objects[(api.name, namespace)]
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise Conflict("changed")
        return self._store(api, namespace, body)

    def delete(self, api: ReportApi, namespace: str | None) -> None:
        self.calls.append(("delete", api.name, namespace))
        del self.objects[(api.name, namespace)]

    def _store(self, api: ReportApi, namespace: str | None, body: Mapping[str, Any]) -> Mapping[str, Any]:
        self.version += 1
        stored = copy.deepcopy(dict(body))
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[(api.name, namespace)] = stored
        return stored


VALUE = base64.b64encode(b"a-long-shared-credential-value").decode()
OTHER = base64.b64encode(b"another-long-credential-value").decode()
NAMESPACES = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": {"tierguard.io/tier": n}}}
              for n in ("dev", "prod")]


def secret(namespace: str, name: str = "db", value: str = VALUE) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "data": {"password": value}}


def reports_of(objects: list[dict[str, Any]], **options: Any) -> dict[str | None, dict[str, Any]]:
    results = audit_objects([*NAMESPACES, *objects], DEFAULT_POLICY, own_namespace="tierguard-system")
    return {scope: report(scope, entries, list_passing=False, **options)
            for scope, entries in grouped_entries(results).items()}


def test_reports_are_created_once_and_not_rewritten_when_nothing_changed() -> None:
    api = FakeReports()
    writer = ReportWriter(api, [WGPOLICYK8S])
    desired = reports_of([secret("dev"), secret("prod")])
    writer.sync(desired, ["dev", "prod", None])
    # The cluster report lists the full form of the two findings the namespace reports redact.
    assert sorted(api.calls, key=str) == [("create", "wgpolicyk8s", "dev"), ("create", "wgpolicyk8s", "prod"),
                                          ("create", "wgpolicyk8s", None)]
    stored = api.objects[("wgpolicyk8s", "dev")]
    assert stored["kind"] == "PolicyReport" and stored["metadata"]["name"] == NAME
    assert stored["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "tierguard"}
    assert [(r["rule"], r["result"], r["category"]) for r in stored["results"]] == [
        ("secret-value-shared", "fail", "tier-isolation")]
    assert stored["results"][0]["resources"] == [{"apiVersion": "v1", "kind": "Secret", "namespace": "dev",
                                                  "name": "db"}]
    assert VALUE not in str(api.objects) and "a-long-shared" not in str(api.objects)
    api.calls.clear()
    writer.sync(reports_of([secret("dev"), secret("prod")]), ["dev", "prod", None])
    assert api.calls == []  # unchanged: nothing rewritten


def test_fixing_a_finding_deletes_the_clean_report_and_keeps_the_others() -> None:
    api = FakeReports()
    writer = ReportWriter(api, [WGPOLICYK8S])
    writer.sync(reports_of([secret("dev"), secret("prod"), secret("dev", "other"), secret("prod", "other")]),
                ["dev", "prod"])
    fixed = reports_of([secret("dev"), secret("prod"), secret("dev", "other", OTHER),
                        secret("prod", "other")])
    api.calls.clear()
    writer.sync(fixed, ["dev", "prod"])
    assert sorted(api.calls) == [("replace", "wgpolicyk8s", "dev"), ("replace", "wgpolicyk8s", "prod")]
    writer.sync(reports_of([secret("dev"), secret("prod", value=OTHER)]), ["dev", "prod"])
    assert ("wgpolicyk8s", "dev") not in api.objects and ("wgpolicyk8s", "prod") not in api.objects


def test_a_report_without_the_owner_label_is_never_changed() -> None:
    api = FakeReports()
    foreign = {"apiVersion": WGPOLICYK8S.api_version, "kind": "PolicyReport",
               "metadata": {"name": NAME, "namespace": "dev", "resourceVersion": "7"}, "results": []}
    api.objects[("wgpolicyk8s", "dev")] = foreign
    writer = ReportWriter(api, [WGPOLICYK8S])
    writer.resync()
    writer.sync(reports_of([secret("dev"), secret("prod")]), ["dev", "prod"])
    assert api.objects[("wgpolicyk8s", "dev")] == foreign
    assert ("wgpolicyk8s", "dev") in writer.stats.foreign
    writer.sync({}, ["dev"])  # clean now: still not deleted, it is not ours
    assert api.objects[("wgpolicyk8s", "dev")] == foreign


def test_a_new_writer_learns_existing_reports_and_removes_stale_ones() -> None:
    api = FakeReports()
    ReportWriter(api, [WGPOLICYK8S]).sync(reports_of([secret("dev"), secret("prod")]), ["dev", "prod"])
    successor = ReportWriter(api, [WGPOLICYK8S])
    successor.resync()
    assert successor.known_scopes() == {"dev", "prod"}
    api.calls.clear()
    successor.sync(reports_of([secret("dev"), secret("prod")]), ["dev", "prod"])
    assert api.calls == []  # what the previous writer wrote is already right
    successor.sync({}, sorted(successor.known_scopes(), key=str))
    assert api.objects == {}


def test_results_past_the_cap_are_counted_in_the_summary_not_listed() -> None:
    objects = [secret("dev", f"s{i}", base64.b64encode(f"credential-number-{i:04d}".encode()).decode())
               for i in range(30)]
    objects += [secret("prod", f"s{i}", base64.b64encode(f"credential-number-{i:04d}".encode()).decode())
                for i in range(30)]
    objects += [secret("dev", "unique", base64.b64encode(b"only-in-dev-credential").decode())]
    dev = reports_of(objects, max_results=10)["dev"]
    assert len(dev["results"]) == 10
    assert dev["summary"]["fail"] == 30 and dev["summary"]["pass"] == 1


def test_both_apis_get_the_same_content_and_a_missing_crd_skips_only_its_api() -> None:
    api = FakeReports(missing=("wgpolicyk8s",))
    writer = ReportWriter(api, [WGPOLICYK8S, OPENREPORTS])
    writer.resync()
    writer.sync(reports_of([secret("dev"), secret("prod")], max_results=50), ["dev", "prod"])
    stored = api.objects[("openreports", "dev")]
    assert stored["apiVersion"] == "openreports.io/v1alpha1" and stored["kind"] == "Report"
    assert stored["configuration"] == {"limits": {"maxResults": 50}}
    assert [r["rule"] for r in stored["results"]] == ["secret-value-shared"]
    assert not [key for key in api.objects if key[0] == "wgpolicyk8s"]


def test_cluster_reports_use_the_cluster_kinds() -> None:
    assert WGPOLICYK8S.kind_for(None) == "ClusterPolicyReport" and OPENREPORTS.kind_for(None) == "ClusterReport"
    assert OPENREPORTS.plural_for(None) == "clusterreports"


@pytest.mark.parametrize(("rule", "expected"), [("sidecar-missing", "security-parity"),
                                                ("sidecar-injection-disabled", "security-parity"),
                                                ("secret-value-shared", "tier-isolation"),
                                                ("workload-secret-cross-tier", "tier-isolation")])
def test_categories(rule: str, expected: str) -> None:
    from tierguard.engine.model import Rule  # noqa: PLC0415

    assert category(Rule(rule)) == expected


def test_every_finding_entry_has_spec_fields() -> None:
    results = audit_objects([*NAMESPACES, secret("dev"), secret("prod")], DEFAULT_POLICY, own_namespace=None)
    entries = [e for r in results for e in entries_of(r) if e["result"] == "fail"]
    assert entries and all({"policy", "rule", "result", "category", "severity", "message", "resources"} <= set(e)
                           and e["policy"] == "tierguard" for e in entries)
