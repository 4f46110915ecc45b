"""Audit results as policy reports: ``wgpolicyk8s.io/v1alpha2`` (PolicyReport, ClusterPolicyReport), which Kyverno
and policy-reporter read, or its successor ``openreports.io/v1alpha1`` (Report, ClusterReport), which Kubewarden
emits. The two have the same result and summary shape; only apiVersion and kinds differ.

One report per namespace and one cluster report for cluster-scoped objects (and the full form of the shared-value
findings that namespace reports redact, SPEC), each named ``tierguard`` and
labelled ``app.kubernetes.io/managed-by: tierguard``. ``tierguard audit -o policyreport`` prints them (apply with
``| kubectl apply -f -`` where the CRDs exist); the background audit of ``tierguard run`` writes the same
documents (``webhook/background_audit/report_writer.py``), with ``max_results`` bounding each report's size
and passing objects counted, not listed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from tierguard.engine.evaluation import RULE_FACTS
from tierguard.engine.model import Action, Rule, Violation
from tierguard.engine.offline import Result
from tierguard.engine.rules import TIER_ISOLATION

SOURCE = "tierguard"
NAME = "tierguard"
"""Every report tierguard writes has this name: one per namespace, one cluster report."""
OWNER_LABEL = ("app.kubernetes.io/managed-by", "tierguard")
"""SPEC: tierguard changes only reports carrying this label."""
SUMMARY_KEYS = ("pass", "fail", "warn", "error", "skip")


@dataclass(frozen=True)
class ReportApi:
    """One report API: the group/version and the kinds of its namespaced and cluster report."""

    name: str
    group: str
    version: str
    kind: str
    cluster_kind: str
    plural: str
    cluster_plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    def kind_for(self, namespace: str | None) -> str:
        return self.kind if namespace is not None else self.cluster_kind

    def plural_for(self, namespace: str | None) -> str:
        return self.plural if namespace is not None else self.cluster_plural


WGPOLICYK8S = ReportApi("wgpolicyk8s", "wgpolicyk8s.io", "v1alpha2", "PolicyReport", "ClusterPolicyReport",
                        "policyreports", "clusterpolicyreports")
OPENREPORTS = ReportApi("openreports", "openreports.io", "v1alpha1", "Report", "ClusterReport",
                        "reports", "clusterreports")
API_CHOICES: dict[str, tuple[ReportApi, ...]] = {
    "wgpolicyk8s": (WGPOLICYK8S,), "openreports": (OPENREPORTS,), "both": (WGPOLICYK8S, OPENREPORTS)}
"""``audit.reports.api`` (chart) / ``--audit-reports-api`` -> the APIs written."""
API_VERSION = WGPOLICYK8S.api_version

_RESULT_BY_ACTION = {Action.DENY: "fail", Action.AUDIT: "fail", Action.WARN: "warn"}
_SEVERITY_BY_ACTION = {Action.DENY: "high", Action.AUDIT: "medium", Action.WARN: "low"}
_ORDER = {"error": 0, "fail": 1, "warn": 2, "skip": 3, "pass": 4}
"""Which results a capped report lists first."""


def category(rule: Rule) -> str:
    """SPEC: ``security-parity`` for the sidecar rules, ``tier-isolation`` for every other (each rule's module
    declares it)."""
    return RULE_FACTS[rule].category


def entries_of(result: Result) -> list[dict[str, Any]]:
    # A pass or skip entry has no rule id: it names the category as its rule. A namespace's report is read by that
    # namespace's users: it carries what a requester may see (SPEC), the cluster report the full message.
    resource = {k: v for k, v in result.ref.as_dict().items() if v is not None}
    namespaced = result.ref.namespace is not None
    if result.decision.skipped is not None:  # exempt or untiered: not enforced
        return [{"policy": SOURCE, "rule": TIER_ISOLATION, "result": "skip", "source": SOURCE,
                 "category": TIER_ISOLATION, "resources": [resource], "message": result.decision.skipped}]
    if not result.decision.violations:
        return [{"policy": SOURCE, "rule": TIER_ISOLATION, "result": "pass", "source": SOURCE,
                 "category": TIER_ISOLATION, "resources": [resource]}]
    return [_violation_entry(resource, violation, violation.shown_to_requester if namespaced else violation.message)
            for violation in result.decision.violations]


def _violation_entry(resource: dict[str, Any], violation: Violation, message: str) -> dict[str, Any]:
    invalid = violation.rule is Rule.POLICY_INVALID
    return {"policy": SOURCE, "rule": violation.rule.value, "source": SOURCE, "resources": [resource],
            "result": "error" if invalid else _RESULT_BY_ACTION[violation.action],
            "category": category(violation.rule),
            "severity": "high" if invalid else _SEVERITY_BY_ACTION[violation.action],
            "message": message, "properties": {"action": violation.action.value, "path": violation.path}}


def platform_entries_of(result: Result) -> list[dict[str, Any]]:
    """The full form of each finding of a namespaced object that its namespace's report shows redacted (SPEC: the
    cluster report names what a requester may not read): the cluster report lists them, so the platform team sees
    which objects of two tiers hold one value without reading logs."""
    if result.ref.namespace is None:
        return []
    resource = {k: v for k, v in result.ref.as_dict().items() if v is not None}
    return [_violation_entry(resource, violation, violation.message)
            for violation in result.decision.violations if violation.shown_to_requester != violation.message]


def grouped_entries(results: Iterable[Result]) -> dict[str | None, list[dict[str, Any]]]:
    """Each namespace's (None: the cluster report's) entries, in result order. The cluster report holds the
    cluster-scoped objects' entries, then the full form of what namespace reports redact."""
    grouped: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    platform: list[dict[str, Any]] = []
    for result in results:
        grouped[result.ref.namespace].extend(entries_of(result))
        platform.extend(platform_entries_of(result))
    if platform:
        grouped[None].extend(platform)
    return grouped


def report(namespace: str | None, entries: Sequence[dict[str, Any]], *, api: ReportApi = WGPOLICYK8S,
           max_results: int | None = None, list_passing: bool = True,
           counted: Mapping[str, int] | None = None) -> dict[str, Any]:
    """One report of ``entries``. The summary counts every entry; ``results`` lists at most ``max_results``
    (errors, then failures, then warnings first) and, unless ``list_passing``, no pass or skip entries: the
    summary stays true however many results are left out. ``counted``: more results, by outcome, of entries not
    given at all (the background audit keeps no entry of a passing object, only the count)."""
    summary = {key: sum(1 for e in entries if e["result"] == key) + (counted or {}).get(key, 0)
               for key in SUMMARY_KEYS}
    listed = [e for e in entries if list_passing or e["result"] not in ("pass", "skip")]
    if max_results is not None and len(listed) > max_results:
        listed = sorted(listed, key=lambda e: _ORDER[e["result"]])[:max_results]
    metadata: dict[str, Any] = {"name": NAME, "labels": {OWNER_LABEL[0]: OWNER_LABEL[1]}}
    if namespace is not None:
        metadata["namespace"] = namespace
    document: dict[str, Any] = {"apiVersion": api.api_version, "kind": api.kind_for(namespace),
                                "metadata": metadata, "summary": summary, "results": listed}
    if max_results is not None:  # openreports states the cap; _as_api drops it for wgpolicyk8s (no such field)
        document["configuration"] = {"limits": {"maxResults": max_results}}
    return document


def is_clean(document: dict[str, Any]) -> bool:
    """Nothing failed, warned or erred: a namespace whose report the background audit removes."""
    summary = document.get("summary") or {}
    return not any(summary.get(key) for key in ("fail", "warn", "error"))


def policy_reports(results: Sequence[Result], *, api: ReportApi = WGPOLICYK8S) -> list[dict[str, Any]]:
    grouped = grouped_entries(results)
    return [report(namespace, entries, api=api)
            for namespace, entries in sorted(grouped.items(), key=lambda item: item[0] or "")]


def render_policy_reports(results: Sequence[Result]) -> str:
    return yaml.safe_dump_all(policy_reports(results), sort_keys=False)
