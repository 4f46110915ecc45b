"""Security-service parity across tiers: for each required sidecar, how many workloads of each tier run it.

Counts pod templates (Deployments, StatefulSets, ..., CronJobs) and Pods no controller owns (a controller's
Pods are counted through its template). A workload covers a sidecar when it is present or, for templates, will
be injected. Pure: plain objects in, a report out.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tierguard.engine import EvaluationRequest, OfflineContext, object_ref, sidecar_parity
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.model import ObjectRef
from tierguard.engine.objects import metadata_of
from tierguard.engine.podspec import WORKLOAD_KINDS
from tierguard.engine.rules.sidecars import SidecarState
from tierguard.policy import TierPolicy

COVERED = frozenset({SidecarState.PRESENT, SidecarState.INJECTED})


@dataclass(frozen=True)
class Gap:
    ref: ObjectRef
    source: str
    tier: str
    sidecar: str
    state: SidecarState


@dataclass
class ParityReport:
    tiers: tuple[str, ...]
    sidecars: tuple[str, ...]
    counts: dict[tuple[str, str], Counter[SidecarState]] = field(default_factory=dict)
    """(sidecar, tier) -> workloads per state."""
    gaps: list[Gap] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.gaps

    def covered(self, sidecar: str, tier: str) -> tuple[int, int]:
        states = self.counts.get((sidecar, tier), Counter())
        return sum(states[s] for s in COVERED), sum(states.values())


def parity_report(objects: Iterable[tuple[Mapping[str, Any], str]], policy: TierPolicy, *,
                  own_namespace: str | None = None,
                  namespace_labels: Mapping[str, Mapping[str, str]] | None = None) -> ParityReport:
    """``objects`` are (object, source) pairs; every one is context, workloads are counted."""
    listed = list(objects)
    context = OfflineContext.from_objects((o for o, _ in listed), Fingerprinter.random(), namespace_labels)
    report = ParityReport(policy.tiers, tuple(s.name for s in policy.required_sidecars))
    for obj, source in listed:
        if obj.get("kind") not in WORKLOAD_KINDS:
            continue
        if obj.get("kind") == "Pod" and metadata_of(obj).get("ownerReferences"):
            continue
        tier, states = sidecar_parity(EvaluationRequest.from_manifest(obj), context, policy,
                                      own_namespace=own_namespace)
        if tier is None:
            continue
        for sidecar, state in states:
            report.counts.setdefault((sidecar, tier), Counter())[state] += 1
            if state not in COVERED:
                report.gaps.append(Gap(object_ref(obj), source, tier, sidecar, state))
    return report


def render_parity_text(report: ParityReport) -> str:
    if not report.sidecars:
        return "no required sidecars in the policy (spec.sidecars.required): nothing to compare"
    width = max(len("required sidecar"), *(len(s) for s in report.sidecars))
    lines = ["  ".join(["required sidecar".ljust(width), *(t.ljust(9) for t in report.tiers)]).rstrip()]
    for sidecar in report.sidecars:
        cells = []
        for tier in report.tiers:
            covered, total = report.covered(sidecar, tier)
            cells.append(f"{covered}/{total}".ljust(9))
        lines.append("  ".join([sidecar.ljust(width), *cells]).rstrip())
    for gap in report.gaps:
        name = f"{gap.ref.namespace}/{gap.ref.name}" if gap.ref.namespace else gap.ref.name
        lines.append(f"{gap.source} {gap.ref.kind} {name}: {gap.sidecar} {gap.state.value} (tier {gap.tier})")
    verdict = "complete" if report.complete else f"incomplete: {len(report.gaps)} gap(s)"
    lines.append(f"parity {verdict}")
    return "\n".join(lines)


def render_parity_json(report: ParityReport) -> str:
    return json.dumps({
        "sidecars": {
            sidecar: {
                tier: {state.value: report.counts.get((sidecar, tier), Counter())[state] for state in SidecarState}
                for tier in report.tiers
            }
            for sidecar in report.sidecars
        },
        "gaps": [{"object": g.ref.as_dict(), "source": g.source, "tier": g.tier, "sidecar": g.sidecar,
                  "state": g.state.value} for g in report.gaps],
        "complete": report.complete,
    }, indent=2)
