"""Each tier's namespace posture (``namespace_posture.py``) for people and machines: a text table of checks (each
label, the default-deny NetworkPolicy) x tiers, the tiers weaker than the reference at the end of their row, and
the JSON ``posture`` section. ``parity.py`` places them in the parity report; ``parity_posture_html.py`` draws the
same as a table of the page."""

from __future__ import annotations

from typing import Any

from tierguard.namespace_posture import DEFAULT_DENY, POD_SECURITY_LABELS, PostureReport, TierPosture, level_rank

NO_NAMESPACE = "-"
"""A tier without namespaces (as ``-`` is an application not deployed there)."""
UNSET = "unset"
"""A label's cell: the namespaces that lack it."""
NOT_LISTED = "not listed"
"""The default-deny cell when the input could hold no NetworkPolicy (``namespace_posture.py``)."""


def posture_values(posture: TierPosture, label: str) -> list[tuple[str | None, int]]:
    """A label's values among a tier's namespaces with how many carry each (None: lack it): Pod Security levels
    weakest first (the unset first of all: they count as ``privileged``), other values by name, the unset last."""
    counts = posture.values(label)
    if label in POD_SECURITY_LABELS:
        return sorted(counts.items(), key=lambda item: (level_rank(item[0], label), item[0] is not None, item[0] or ""))
    return sorted(counts.items(), key=lambda item: (item[0] is None, item[0] or ""))


def posture_cell_text(report: PostureReport, tier: str, check: str) -> str:
    """One check in one tier: the label's value (each with its count when they differ), or ``keeping/all`` for
    the default-deny NetworkPolicy; ``-`` where the tier has no namespace."""
    posture = report.tier(tier)
    if not posture.namespaces:
        return NO_NAMESPACE
    if check == DEFAULT_DENY:
        return "{}/{}".format(*posture.default_deny()) if report.network_policies_read else NOT_LISTED
    values = posture_values(posture, check)
    if len(values) == 1:
        return values[0][0] or UNSET
    return ",".join(f"{value or UNSET}({count})" for value, count in values)


def posture_rows(report: PostureReport) -> tuple[list[str], list[list[str]]]:
    """The text table's header and rows: one per check, the tiers weaker than the reference at its end, then how
    many namespaces each tier has."""
    header = ["namespace posture",
              *(f"{t} (reference)" if report.is_reference(t) else t for t in report.tiers), ""]
    rows = []
    for check in report.checks:
        weaker = [t for t in report.tiers if check in report.weaker(t)]
        note = f"weaker than {report.reference}: {', '.join(weaker)}" if weaker else ""
        rows.append([check, *(posture_cell_text(report, t, check) for t in report.tiers), note])
    namespaces = [len(report.tier(t).namespaces) for t in report.tiers]
    rows.append(["namespaces", *(str(n) if n else NO_NAMESPACE for n in namespaces), ""])
    return header, rows


def posture_legend(report: PostureReport) -> list[str]:
    """The line under the table: Pod Security's order, and what ``unset`` means when a cell shows it."""
    pod_security = [label for label in report.labels if label in POD_SECURITY_LABELS]
    if not pod_security:
        return []
    unset = any(report.tier(t).values(label)[None] for label in pod_security for t in report.tiers)
    return ["Pod Security levels, weakest first: privileged < baseline < restricted"
            + (f"; {UNSET}: the namespace lacks the label (Pod Security: privileged)" if unset else "")]


def posture_document(report: PostureReport) -> dict[str, Any]:
    """Each tier's namespace posture as data: ``labels`` (per shown label, ``required`` values or null, and per
    tier the ``values`` with how many namespaces carry each, ``unset``, ``outsidePolicy``, the Pod Security
    ``weakest`` level and ``weaker``), ``defaultDenyIngress`` (``keeping`` of ``namespaces`` per tier, null counts
    when NetworkPolicies were not listed), ``tiers`` (namespaces and the checks where the tier is weaker), and
    ``gaps`` (namespaces outside ``spec.namespaces``)."""
    def label_tier(label: str, tier: str) -> dict[str, Any]:
        posture = report.tier(tier)
        values = posture.values(label)
        return {"values": {v: n for v, n in posture_values(posture, label) if v is not None},
                "unset": values[None],
                "outsidePolicy": report.outside_policy(tier, label),
                "weakest": posture.weakest(label) if label in POD_SECURITY_LABELS else None,
                "weaker": label in report.weaker(tier)}

    def deny_tier(tier: str) -> dict[str, Any]:
        keeping, total = report.tier(tier).default_deny()
        return {"keeping": keeping if report.network_policies_read else None, "namespaces": total,
                "weaker": DEFAULT_DENY in report.weaker(tier)}

    return {
        "shown": report.shown,
        "labels": {label: {"required": list(report.required[label]) if label in report.required else None,
                           "tiers": {tier: label_tier(label, tier) for tier in report.tiers}}
                   for label in report.labels},
        "defaultDenyIngress": {"required": report.default_deny_required, "shown": report.default_deny_shown,
                               "listed": report.network_policies_read,
                               "tiers": {tier: deny_tier(tier) for tier in report.tiers}},
        "tiers": {tier: {"namespaces": [n.name for n in report.tier(tier).namespaces],
                         "weaker": list(report.weaker(tier))} for tier in report.tiers},
        "gaps": [{"namespace": g.namespace, "source": g.source, "tier": g.tier,
                  "label": None if g.label is None else g.label.label,
                  "value": None if g.label is None else g.label.actual,
                  "wanted": None if g.label is None else list(g.label.wanted),
                  "message": g.phrase()} for g in report.gaps],
    }
