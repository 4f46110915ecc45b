"""Security-service parity across tiers: for each required sidecar, how many workloads of each tier run it, and
the same per application (applications x tiers, the reference tier, usually prod, as the yardstick).

Counts pod templates (Deployments, StatefulSets, ..., CronJobs) and Pods no controller owns (a controller's
Pods are counted through its template). A workload covers a sidecar when it is present or, for templates, will
be injected. Pure: plain objects in, a report out; every renderer (``render/parity.py``, ``render/parity_html.py``)
draws this one report.

An *application* is the workload's ``app.kubernetes.io/name`` label, else its ``app`` label (each looked up on
the workload, then on its pod template), else the workload's name: the same application in ``shop-dev`` and
``shop-prod`` is one row, whatever the namespaces are called.

Beside the sidecars, each tier's namespace security posture (``namespace_posture.py``): its gaps against
``spec.namespaces`` are gaps like the sidecars', and a tier weaker than the reference tier is flagged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.model import Malformed, ObjectRef
from tierguard.engine.objects import labels_of, metadata_of, object_ref
from tierguard.engine.offline import OfflineRun
from tierguard.engine.podspec import WORKLOAD_KINDS, pod_site
from tierguard.engine.projection import Projected
from tierguard.engine.rules.sidecars import SidecarState
from tierguard.namespace_posture import PostureReport, merge_postures, posture_report
from tierguard.policy import TierPolicy

COVERED = frozenset({SidecarState.PRESENT, SidecarState.INJECTED, SidecarState.PROVIDED})
SEVERITY = (SidecarState.PRESENT, SidecarState.PROVIDED, SidecarState.INJECTED, SidecarState.MISSING,
            SidecarState.DISABLED)
"""States from best to worst: a cell of several workloads shows its worst."""
APPLICATION_LABELS = ("app.kubernetes.io/name", "app")
REFERENCE_TIER = "prod"
"""The yardstick column; a policy without a ``prod`` tier measures against its last (most protected) tier."""


@dataclass(frozen=True)
class Gap:
    ref: ObjectRef
    source: str
    tier: str
    sidecar: str
    state: SidecarState


@dataclass
class Cell:
    """One application's workloads in one tier, and each required sidecar's states among them."""

    workloads: list[ObjectRef] = field(default_factory=list)
    states: dict[str, Counter[SidecarState]] = field(default_factory=dict)

    def state(self, sidecar: str) -> SidecarState | None:
        """The worst state of ``sidecar`` among the workloads; None when none was judged."""
        counts = self.states.get(sidecar, Counter())
        return next((s for s in reversed(SEVERITY) if counts[s]), None)

    def covered(self, sidecar: str) -> tuple[int, int]:
        counts = self.states.get(sidecar, Counter())
        return sum(counts[s] for s in COVERED), sum(counts.values())

    def runs(self, sidecar: str) -> bool:
        """At least one workload runs it (or will be injected with it)."""
        return self.covered(sidecar)[0] > 0

    def runs_everywhere(self, sidecar: str) -> bool:
        covered, total = self.covered(sidecar)
        return total > 0 and covered == total


@dataclass
class Application:
    name: str
    cells: dict[str, Cell] = field(default_factory=dict)
    """tier -> the application's workloads there; a tier it does not run in has no cell."""


@dataclass
class ParityReport:
    tiers: tuple[str, ...]
    sidecars: tuple[str, ...]
    reference: str = REFERENCE_TIER
    counts: dict[tuple[str, str], Counter[SidecarState]] = field(default_factory=dict)
    """(sidecar, tier) -> workloads per state."""
    gaps: list[Gap] = field(default_factory=list)
    applications: dict[str, Application] = field(default_factory=dict)
    """application name -> its row; ``rows()`` gives them sorted."""
    posture: PostureReport = field(default_factory=lambda: PostureReport((), REFERENCE_TIER))
    """Each tier's namespace posture (an empty one shows nothing)."""
    columns: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Several clusters' report (``merge_reports``): each column of ``tiers`` (``cluster/tier``) -> (cluster,
    tier); empty when the columns are the tiers."""

    def is_reference(self, column: str) -> bool:
        """A yardstick column: the reference tier's (of every cluster, with several)."""
        return (self.columns[column][1] if column in self.columns else column) == self.reference

    @property
    def complete(self) -> bool:
        return not self.gaps and not self.posture.gaps

    def covered(self, sidecar: str, tier: str) -> tuple[int, int]:
        states = self.counts.get((sidecar, tier), Counter())
        return sum(states[s] for s in COVERED), sum(states.values())

    def rows(self) -> list[Application]:
        return [self.applications[name] for name in sorted(self.applications)]

    def lacks(self, application: Application, tier: str) -> tuple[str, ...]:
        """The sidecars the application runs in the reference tier that some of its workloads in ``tier`` do
        not (missing or switched off)."""
        references = [c for column in (self.tiers if self.columns else (self.reference,))
                      if self.is_reference(column) and (c := application.cells.get(column)) is not None]
        cell = application.cells.get(tier)
        if self.is_reference(tier) or not references or cell is None:
            return ()
        return tuple(s for s in self.sidecars
                     if any(reference.runs(s) for reference in references) and not cell.runs_everywhere(s))

    def diverges(self, application: Application) -> bool:
        """A tier lacks what the reference tier has: the row to look at first."""
        return any(self.lacks(application, tier) for tier in self.tiers)


def reference_tier(tiers: tuple[str, ...]) -> str:
    return REFERENCE_TIER if REFERENCE_TIER in tiers or not tiers else tiers[-1]


def application_of(obj: Mapping[str, Any]) -> str:
    """The application a workload belongs to (see the module docstring)."""
    own = labels_of(obj)
    try:
        site = pod_site(obj)
    except Malformed:
        site = None
    template = site.labels if site is not None and site.is_template else {}
    for label in APPLICATION_LABELS:
        for labels in (own, template):
            if labels.get(label):
                return labels[label]
    return object_ref(obj).name


def parity_report(objects: Iterable[tuple[Mapping[str, Any] | Projected, str]], policy: TierPolicy, *,
                  own_namespace: str | None = None,
                  namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
                  fingerprinter: Fingerprinter | None = None, network_policies_read: bool = True) -> ParityReport:
    """``objects`` are (object, source) pairs; every one is context, workloads are counted, Namespaces and
    NetworkPolicies read for the posture. Projected Secrets (``audit/listing.py``) need the ``fingerprinter`` they
    were fingerprinted with. ``network_policies_read``: whether the input could hold NetworkPolicies at all (a
    cluster listing of a kinds table without them could not)."""
    listed = list(objects)
    run = OfflineRun((o for o, _ in listed), policy, namespace_labels=namespace_labels, own_namespace=own_namespace,
                     fingerprinter=fingerprinter)
    reference = reference_tier(policy.tiers)
    report = ParityReport(policy.tiers, tuple(s.name for s in policy.required_sidecars), reference=reference,
                          posture=posture_report(listed, policy, run.context, reference, own_namespace=own_namespace,
                                                 network_policies_read=network_policies_read))
    for item, source in listed:
        obj = item.obj if isinstance(item, Projected) else item
        if obj.get("kind") not in WORKLOAD_KINDS:
            continue
        if obj.get("kind") == "Pod" and metadata_of(obj).get("ownerReferences"):
            continue
        tier, states = run.sidecar_states(item)
        if tier is None or not states:
            continue
        name = application_of(obj)
        cell = report.applications.setdefault(name, Application(name)).cells.setdefault(tier, Cell())
        cell.workloads.append(object_ref(obj))
        for sidecar, state in states:
            report.counts.setdefault((sidecar, tier), Counter())[state] += 1
            cell.states.setdefault(sidecar, Counter())[state] += 1
            if state not in COVERED:
                report.gaps.append(Gap(object_ref(obj), source, tier, sidecar, state))
    return report


def merge_reports(reports: Sequence[tuple[str, ParityReport]]) -> ParityReport:
    """Several clusters' reports (each made by ``parity_report`` from its own listing and policy) as one: a column
    per cluster and tier that cluster has (a workload or a namespace of it), named ``cluster/tier``. The reference
    tier's columns, of every cluster, are the yardstick together: a sidecar an application runs in any of them is
    one that every other column must run. A gap keeps its object's source and is placed in its column."""
    tiers = dict.fromkeys(tier for _, report in reports for tier in report.tiers)
    reference = reference_tier(tuple(tiers))
    columns = [(cluster, tier) for cluster, report in reports for tier in report.tiers if _has(report, tier)]
    merged = ParityReport(
        tuple(f"{cluster}/{tier}" for cluster, tier in columns),
        tuple(dict.fromkeys(s for _, report in reports for s in report.sidecars)), reference=reference,
        posture=merge_postures([(cluster, report.posture) for cluster, report in reports], reference, columns),
        columns={f"{cluster}/{tier}": (cluster, tier) for cluster, tier in columns})
    for cluster, report in reports:
        for (sidecar, tier), counts in report.counts.items():
            merged.counts[(sidecar, f"{cluster}/{tier}")] = counts
        merged.gaps.extend(Gap(g.ref, g.source, f"{cluster}/{g.tier}", g.sidecar, g.state) for g in report.gaps)
        for name, application in report.applications.items():
            row = merged.applications.setdefault(name, Application(name))
            row.cells.update({f"{cluster}/{tier}": cell for tier, cell in application.cells.items()})
    return merged


def _has(report: ParityReport, tier: str) -> bool:
    """The cluster has something of ``tier`` to show: a counted workload or a tiered namespace."""
    return (any(t == tier for _, t in report.counts) or bool(report.posture.tier(tier).namespaces))
