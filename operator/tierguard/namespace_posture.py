"""Each tier's namespace security posture, the parity matrix's second table: per tier, the values its namespaces
carry for each label that matters (``spec.namespaces.requiredLabels``, and the Pod Security labels), and how
many keep a default-deny-ingress NetworkPolicy; a tier weaker than the reference tier (prod) is flagged, as an
application lacking a sidecar prod runs is, and every namespace outside the policy is a gap.

What is shown: a ``requiredLabels`` label always; a Pod Security label (``pod-security.kubernetes.io/enforce``,
``audit``, ``warn``) also when the policy does not require it, as soon as one tiered namespace carries it (the
drift between tiers is the point); the default-deny-ingress count when the policy requires it or one tiered
namespace keeps such a policy. With nothing of that, there is no posture to show (the report is as before).

Which namespaces: the Namespace objects of the input (their labels are known) that are tiered and not exempt, the
ones ``namespace-security-missing`` judges. A namespace known only by ``--namespace-tier`` has no labels to read
and is left out. Pure: plain objects in, a report out (``engine/posture.py`` reads each namespace).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tierguard.engine.context import Context
from tierguard.engine.objects import name_of, object_ref
from tierguard.engine.posture import LabelGap, denies_all_ingress, label_gaps
from tierguard.engine.projection import Projected
from tierguard.engine.tiers import is_exempt, tier_from_labels
from tierguard.kinds import group_of
from tierguard.policy import TierPolicy

POD_SECURITY_LABELS = tuple(f"pod-security.kubernetes.io/{mode}" for mode in ("enforce", "audit", "warn"))
ENFORCE_LABEL = POD_SECURITY_LABELS[0]
POD_SECURITY_LEVELS = ("privileged", "baseline", "restricted")
"""Pod Security's levels, weakest first."""
ABSENT_LEVEL = "privileged"
"""A namespace without the label: the Pod Security admission's default for every mode, unless the API server's
``AdmissionConfiguration`` sets ``defaults`` otherwise (tierguard reads labels, not that file)."""
DEFAULT_DENY = "default-deny-ingress"
"""The name of the NetworkPolicy check beside the labels (in ``weaker``, the JSON and the page)."""
NETWORK_POLICY_GROUP = "networking.k8s.io"


def level_rank(value: str | None, label: str | None = None) -> int:
    """A Pod Security label's strength: absent is ``privileged``; a value that is no level (a typo) is what Pod
    Security makes of it (``PolicyToEvaluate`` in k8s.io/pod-security-admission/api/helpers.go): ``restricted``
    for ``enforce`` (it fails closed), ``privileged`` for ``audit`` and ``warn`` (they fail open) and when the
    label is not said."""
    level = ABSENT_LEVEL if value is None else value
    if level in POD_SECURITY_LEVELS:
        return POD_SECURITY_LEVELS.index(level)
    return len(POD_SECURITY_LEVELS) - 1 if label == ENFORCE_LABEL else 0


@dataclass(frozen=True)
class NamespaceReading:
    """One tiered namespace as read: its labels and whether it keeps a default-deny-ingress NetworkPolicy."""

    name: str
    source: str
    tier: str
    labels: Mapping[str, str]
    default_deny: bool


@dataclass(frozen=True)
class PostureGap:
    """A namespace outside ``spec.namespaces``: a required label missing or not allowed (``label``), or no
    default-deny-ingress NetworkPolicy (``label`` None)."""

    namespace: str
    source: str
    tier: str
    label: LabelGap | None

    def phrase(self) -> str:
        return self.label.phrase() if self.label is not None else f"no {DEFAULT_DENY} NetworkPolicy"


@dataclass
class TierPosture:
    """The namespaces of one tier."""

    namespaces: list[NamespaceReading] = field(default_factory=list)

    def values(self, label: str) -> Counter[str | None]:
        """Value -> how many namespaces carry it; None: how many lack the label."""
        return Counter(n.labels.get(label) for n in self.namespaces)

    def weakest(self, label: str) -> str | None:
        """For a Pod Security label, the weakest level among the namespaces (absent counts as ``privileged``);
        None without namespaces."""
        values = self.values(label)
        if not values:
            return None
        value = min(values, key=lambda v: level_rank(v, label))
        return ABSENT_LEVEL if value is None else value

    def default_deny(self) -> tuple[int, int]:
        """How many namespaces keep a default-deny-ingress NetworkPolicy, of all."""
        return sum(n.default_deny for n in self.namespaces), len(self.namespaces)


@dataclass
class PostureReport:
    tiers: tuple[str, ...]
    reference: str
    labels: tuple[str, ...] = ()
    """The labels shown, in order: the Pod Security labels, then the other required labels (module docstring)."""
    required: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """``requiredLabels``: label -> the values allowed (empty: any)."""
    default_deny_required: bool = False
    default_deny_shown: bool = False
    network_policies_read: bool = True
    """False when the input could not hold NetworkPolicies (a cluster listing without that kind): no count and no
    gap is made up from their absence."""
    by_tier: dict[str, TierPosture] = field(default_factory=dict)
    """tier -> its namespaces, by name; ``tier()`` gives an empty one for a tier without any."""
    gaps: list[PostureGap] = field(default_factory=list)
    column_tiers: Mapping[str, str] = field(default_factory=dict)
    """Several clusters' report (``merge_postures``): each column of ``tiers`` (``cluster/tier``) -> its tier;
    empty when the columns are the tiers."""

    def is_reference(self, column: str) -> bool:
        """A yardstick column: the reference tier's (of every cluster, with several)."""
        return self.column_tiers.get(column, column) == self.reference

    def _reference(self) -> TierPosture:
        """The namespaces of every reference column, as one tier."""
        return TierPosture([n for t in self.tiers if self.is_reference(t) for n in self.tier(t).namespaces])

    @property
    def shown(self) -> bool:
        """Anything to show: a label or the NetworkPolicy count."""
        return bool(self.labels) or self.default_deny_shown

    @property
    def checks(self) -> tuple[str, ...]:
        """The rows of the table: each label, then the NetworkPolicy check when shown."""
        return (*self.labels, *((DEFAULT_DENY,) if self.default_deny_shown else ()))

    def tier(self, tier: str) -> TierPosture:
        return self.by_tier.get(tier) or TierPosture()

    def outside_policy(self, tier: str, label: str) -> int:
        """How many of the tier's namespaces lack a required label or carry a value it does not allow."""
        return sum(1 for g in self.gaps if g.tier == tier and g.label is not None and g.label.label == label)

    def weaker(self, tier: str) -> tuple[str, ...]:
        """The checks where ``tier`` is weaker than the reference tier: a Pod Security label whose weakest level
        is below the reference's weakest; another label with a value (or an absence) the reference's namespaces
        do not have; fewer than all namespaces keeping a default-deny-ingress policy while the reference's all
        do. Nothing for the reference itself or when either tier has no namespaces."""
        reference, own = (self._reference() if self.column_tiers else self.tier(self.reference)), self.tier(tier)
        if self.is_reference(tier) or not reference.namespaces or not own.namespaces:
            return ()
        weaker = []
        for label in self.labels:
            if label in POD_SECURITY_LABELS:
                if level_rank(own.weakest(label), label) < level_rank(reference.weakest(label), label):
                    weaker.append(label)
            elif not set(own.values(label)) <= set(reference.values(label)):
                weaker.append(label)
        if self.default_deny_shown and self.network_policies_read:
            keeping, total = reference.default_deny()
            if keeping == total and own.default_deny()[0] < len(own.namespaces):
                weaker.append(DEFAULT_DENY)
        return tuple(weaker)

    def weaker_tiers(self) -> tuple[str, ...]:
        return tuple(t for t in self.tiers if self.weaker(t))


def posture_report(objects: Iterable[tuple[Mapping[str, Any] | Projected, str]], policy: TierPolicy,
                   context: Context, reference: str, *, own_namespace: str | None = None,
                   network_policies_read: bool = True) -> PostureReport:
    """Each tiered Namespace object of ``objects`` ((object, source) pairs) read with its labels as ``context``
    resolves them (``--namespace-tier`` merged), and the NetworkPolicies of the input in its namespace."""
    namespaces: list[tuple[str, str]] = []
    denying: set[str] = set()
    for item, source in objects:
        obj = item.obj if isinstance(item, Projected) else item
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind == "Namespace" and name_of(obj):
            namespaces.append((name_of(obj), source))
        elif (kind == "NetworkPolicy" and isinstance(api_version, str)
              and group_of(api_version) == NETWORK_POLICY_GROUP and denies_all_ingress(obj)):
            denying.add(object_ref(obj).namespace or "default")
    readings = []
    for name, source in namespaces:
        view = context.namespace(name)
        labels = dict(view.labels) if view is not None else {}
        tier = tier_from_labels(labels, policy)
        if tier is None or is_exempt(name, policy, own_namespace):
            continue
        readings.append(NamespaceReading(name, source, tier, labels, name in denying))
    return _report(readings, policy, reference, network_policies_read)


def _report(readings: list[NamespaceReading], policy: TierPolicy, reference: str,
            network_policies_read: bool) -> PostureReport:
    posture = policy.namespaces
    carried = {label for r in readings for label in r.labels}
    pod_security = [label for label in POD_SECURITY_LABELS if label in posture.required_labels or label in carried]
    others = [label for label in posture.required_labels if label not in POD_SECURITY_LABELS]
    report = PostureReport(
        policy.tiers, reference, labels=(*pod_security, *others), required=posture.required_labels,
        default_deny_required=posture.default_deny_ingress, network_policies_read=network_policies_read,
        default_deny_shown=posture.default_deny_ingress or any(r.default_deny for r in readings))
    for reading in sorted(readings, key=lambda r: r.name):
        report.by_tier.setdefault(reading.tier, TierPosture()).namespaces.append(reading)
        report.gaps.extend(PostureGap(reading.name, reading.source, reading.tier, gap)
                           for gap in label_gaps(posture, reading.labels))
        if posture.default_deny_ingress and network_policies_read and not reading.default_deny:
            report.gaps.append(PostureGap(reading.name, reading.source, reading.tier, None))
    return report



def merge_postures(reports: Sequence[tuple[str, PostureReport]], reference: str,
                   columns: Sequence[tuple[str, str]]) -> PostureReport:
    """Several clusters' postures as one, a column per cluster and tier (``columns``: (cluster, tier) pairs, in
    order): the labels shown by any, each namespace and gap under its cluster's column."""
    labels = dict.fromkeys(label for _, report in reports for label in report.labels)
    required: dict[str, tuple[str, ...]] = {}
    for _, report in reports:
        for label, values in report.required.items():
            required.setdefault(label, values)
    merged = PostureReport(
        tuple(f"{cluster}/{tier}" for cluster, tier in columns), reference, labels=tuple(labels), required=required,
        default_deny_required=any(r.default_deny_required for _, r in reports),
        default_deny_shown=any(r.default_deny_shown for _, r in reports),
        network_policies_read=all(r.network_policies_read for _, r in reports),
        column_tiers={f"{cluster}/{tier}": tier for cluster, tier in columns})
    for cluster, report in reports:
        for tier, posture in report.by_tier.items():
            merged.by_tier[f"{cluster}/{tier}"] = posture
        merged.gaps.extend(PostureGap(g.namespace, g.source, f"{cluster}/{g.tier}", g.label) for g in report.gaps)
    return merged
