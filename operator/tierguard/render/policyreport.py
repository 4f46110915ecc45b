"""Audit results as Policy Reports (wgpolicyk8s.io/v1alpha2), the format Kyverno and dashboards read.

One PolicyReport per namespace and one ClusterPolicyReport for cluster-scoped objects, each named
``tierguard``; apply them with ``tierguard audit -o policyreport | kubectl apply -f -`` where the CRDs exist.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import yaml

from tierguard.engine.model import Action, Rule
from tierguard.engine.offline import Result

API_VERSION = "wgpolicyk8s.io/v1alpha2"
SOURCE = "tierguard"
_RESULT_BY_ACTION = {Action.DENY: "fail", Action.AUDIT: "fail", Action.WARN: "warn"}


def _entries(result: Result) -> list[dict[str, Any]]:
    resource = {k: v for k, v in result.ref.as_dict().items() if v is not None}
    if result.decision.skipped is not None:  # exempt or untiered: not enforced
        return [{"policy": SOURCE, "rule": "tier-isolation", "result": "skip", "source": SOURCE,
                 "resources": [resource], "message": result.decision.skipped}]
    if not result.decision.violations:
        return [{"policy": SOURCE, "rule": "tier-isolation", "result": "pass", "source": SOURCE,
                 "resources": [resource]}]
    return [
        {"policy": SOURCE, "rule": violation.rule.value, "source": SOURCE, "resources": [resource],
         "result": "error" if violation.rule is Rule.POLICY_INVALID else _RESULT_BY_ACTION[violation.action],
         "message": violation.message, "properties": {"action": violation.action.value, "path": violation.path}}
        for violation in result.decision.violations
    ]


def policy_reports(results: Sequence[Result]) -> list[dict[str, Any]]:
    grouped: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        grouped[result.ref.namespace].extend(_entries(result))
    reports = []
    for namespace, entries in sorted(grouped.items(), key=lambda item: item[0] or ""):
        summary = {key: sum(1 for e in entries if e["result"] == key)
                   for key in ("pass", "fail", "warn", "error", "skip")}
        metadata: dict[str, Any] = {"name": SOURCE, "labels": {"app.kubernetes.io/managed-by": SOURCE}}
        if namespace is not None:
            metadata["namespace"] = namespace
        reports.append({
            "apiVersion": API_VERSION,
            "kind": "PolicyReport" if namespace is not None else "ClusterPolicyReport",
            "metadata": metadata,
            "summary": summary,
            "results": entries,
        })
    return reports


def render_policy_reports(results: Sequence[Result]) -> str:
    return yaml.safe_dump_all(policy_reports(results), sort_keys=False)
