"""Security-service parity across tiers: for each required sidecar, how many workloads of each tier run it.

Counts pod templates (Deployments, StatefulSets, ..., CronJobs) and Pods no controller owns (a controller's
Pods are counted through its template). A workload covers a sidecar when it is present or, for templates, will
be injected. Pure: plain objects in, a report out (``render/parity.py`` draws it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.model import ObjectRef
from tierguard.engine.objects import metadata_of, object_ref
from tierguard.engine.offline import OfflineRun
from tierguard.engine.podspec import WORKLOAD_KINDS
from tierguard.engine.projection import Projected
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


def parity_report(objects: Iterable[tuple[Mapping[str, Any] | Projected, str]], policy: TierPolicy, *,
                  own_namespace: str | None = None,
                  namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
                  fingerprinter: Fingerprinter | None = None) -> ParityReport:
    """``objects`` are (object, source) pairs; every one is context, workloads are counted. Projected Secrets
    (``audit/scan.py``) need the ``fingerprinter`` they were fingerprinted with."""
    listed = list(objects)
    run = OfflineRun((o for o, _ in listed), policy, namespace_labels=namespace_labels, own_namespace=own_namespace,
                     fingerprinter=fingerprinter)
    report = ParityReport(policy.tiers, tuple(s.name for s in policy.required_sidecars))
    for item, source in listed:
        obj = item.obj if isinstance(item, Projected) else item
        if obj.get("kind") not in WORKLOAD_KINDS:
            continue
        if obj.get("kind") == "Pod" and metadata_of(obj).get("ownerReferences"):
            continue
        tier, states = run.sidecar_states(item)
        if tier is None:
            continue
        for sidecar, state in states:
            report.counts.setdefault((sidecar, tier), Counter())[state] += 1
            if state not in COVERED:
                report.gaps.append(Gap(object_ref(obj), source, tier, sidecar, state))
    return report
