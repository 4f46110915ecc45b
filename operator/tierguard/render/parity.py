"""The parity matrix for people (tables, then each gap) and machines (JSON); ``parity_html`` draws the same
report as a page. The namespace posture (``namespace_posture.py``) is a table of its own, checks x tiers, after
the applications, and only when there is one to show: a policy and namespaces without any render as before."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from tierguard.engine.rules.sidecars import SidecarState
from tierguard.namespace_posture import DEFAULT_DENY, POD_SECURITY_LABELS, PostureReport, TierPosture, level_rank
from tierguard.parity import Application, Cell, ParityReport

NOT_DEPLOYED = "-"
UNSET = "unset"
"""A label's cell: the namespaces that lack it."""
NOT_LISTED = "not listed"
"""The default-deny cell when the input could hold no NetworkPolicy (module ``namespace_posture``)."""


def render_parity_text(report: ParityReport) -> str:
    posture = report.posture
    lines: list[str] = []
    if not report.sidecars:
        if not posture.shown:
            return "no required sidecars in the policy (spec.sidecars.required): nothing to compare"
        lines.append("no required sidecars in the policy (spec.sidecars.required)")
    else:
        lines.extend(_table(["required sidecar", *report.tiers],
                            [[sidecar, *("{}/{}".format(*report.covered(sidecar, tier)) for tier in report.tiers)]
                             for sidecar in report.sidecars], min_width=9))
    if report.sidecars and report.applications:
        lines.append("")
        lines.extend(_application_table(report))
    if posture.shown:
        lines.append("")
        lines.extend(_posture_table(posture))
    for gap in report.gaps:
        name = f"{gap.ref.namespace}/{gap.ref.name}" if gap.ref.namespace else gap.ref.name
        lines.append(f"{gap.source} {gap.ref.kind} {name}: {gap.sidecar} {gap.state.value} (tier {gap.tier})")
    for posture_gap in posture.gaps:
        lines.append(f"{posture_gap.source} Namespace {posture_gap.namespace}: {posture_gap.phrase()} "
                     f"(tier {posture_gap.tier})")
    gaps = len(report.gaps) + len(posture.gaps)
    lines.append(f"parity {'complete' if report.complete else f'incomplete: {gaps} gap(s)'}")
    return "\n".join(lines)


def posture_values(posture: TierPosture, label: str) -> list[tuple[str | None, int]]:
    """A label's values among a tier's namespaces with how many carry each (None: lack it): Pod Security levels
    weakest first (the unset first of all: they count as ``privileged``), other values by name, the unset last."""
    counts = posture.values(label)
    if label in POD_SECURITY_LABELS:
        return sorted(counts.items(), key=lambda item: (level_rank(item[0]), item[0] is not None, item[0] or ""))
    return sorted(counts.items(), key=lambda item: (item[0] is None, item[0] or ""))


def posture_cell_text(report: PostureReport, tier: str, check: str) -> str:
    """One check in one tier: the label's value (each with its count when they differ), or ``keeping/all`` for
    the default-deny NetworkPolicy; ``-`` where the tier has no namespace."""
    posture = report.tier(tier)
    if not posture.namespaces:
        return NOT_DEPLOYED
    if check == DEFAULT_DENY:
        return "{}/{}".format(*posture.default_deny()) if report.network_policies_read else NOT_LISTED
    values = posture_values(posture, check)
    if len(values) == 1:
        return values[0][0] or UNSET
    return ",".join(f"{value or UNSET}({count})" for value, count in values)


def _posture_table(report: PostureReport) -> list[str]:
    header = ["namespace posture",
              *(f"{t} (reference)" if t == report.reference else t for t in report.tiers), ""]
    rows = []
    for check in report.checks:
        weaker = [t for t in report.tiers if check in report.weaker(t)]
        note = f"weaker than {report.reference}: {', '.join(weaker)}" if weaker else ""
        rows.append([check, *(posture_cell_text(report, t, check) for t in report.tiers), note])
    namespaces = [len(report.tier(t).namespaces) for t in report.tiers]
    rows.append(["namespaces", *(str(n) if n else NOT_DEPLOYED for n in namespaces), ""])
    lines = _table(header, rows)
    pod_security = [label for label in report.labels if label in POD_SECURITY_LABELS]
    if pod_security:
        unset = any(report.tier(t).values(label)[None] for label in pod_security for t in report.tiers)
        lines.append("Pod Security levels, weakest first: privileged < baseline < restricted"
                     + (f"; {UNSET}: the namespace lacks the label (Pod Security: privileged)" if unset else ""))
    return lines


def cell_text(cell: Cell | None, sidecar: str) -> str:
    """One sidecar in one cell: its worst state, with how many workloads cover it when they differ."""
    if cell is None:
        return NOT_DEPLOYED
    state = cell.state(sidecar)
    if state is None:
        return NOT_DEPLOYED
    covered, total = cell.covered(sidecar)
    mixed = len([s for s, n in cell.states[sidecar].items() if n]) > 1
    return f"{state.value}({covered}/{total})" if mixed else state.value


def _application_table(report: ParityReport) -> list[str]:
    header = ["application", *(f"{t} (reference)" if t == report.reference else t for t in report.tiers)]
    rows = []
    for application in report.rows():
        cells = [NOT_DEPLOYED if (cell := application.cells.get(tier)) is None else
                 ",".join(cell_text(cell, s) for s in report.sidecars) for tier in report.tiers]
        rows.append([application.name, *cells, _lacking(report, application)])
    lines = _table([*header, ""], rows)
    if len(report.sidecars) > 1:
        lines.append(f"cells: {', '.join(report.sidecars)}; {NOT_DEPLOYED}: not deployed in that tier")
    return lines


def _lacking(report: ParityReport, application: Application) -> str:
    return "; ".join(f"{tier} lacks {', '.join(lacks)}" for tier in report.tiers
                     if (lacks := report.lacks(application, tier)))


def _table(header: list[str], rows: list[list[str]], min_width: int = 0) -> list[str]:
    widths = [max(min_width, len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    widths[0] = max(len(header[0]), *(len(r[0]) for r in rows))
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]


def _counts(states: Counter[SidecarState]) -> dict[str, int]:
    return {state.value: states[state] for state in SidecarState}


def parity_document(report: ParityReport) -> dict[str, Any]:
    """The report as plain data: what ``-o json`` prints and the HTML page embeds nothing beyond."""
    return {
        "sidecars": {
            sidecar: {tier: _counts(report.counts.get((sidecar, tier), Counter())) for tier in report.tiers}
            for sidecar in report.sidecars
        },
        "reference": report.reference,
        "applications": [
            {"name": application.name,
             "diverges": report.diverges(application),
             "tiers": {tier: None if (cell := application.cells.get(tier)) is None else {
                 "workloads": [ref.as_dict() for ref in cell.workloads],
                 "sidecars": {s: {"state": None if (state := cell.state(s)) is None else state.value,
                                  **_counts(cell.states.get(s, Counter()))} for s in report.sidecars},
                 "lacks": list(report.lacks(application, tier)),
             } for tier in report.tiers}}
            for application in report.rows()
        ],
        "gaps": [{"object": g.ref.as_dict(), "source": g.source, "tier": g.tier, "sidecar": g.sidecar,
                  "state": g.state.value} for g in report.gaps],
        "posture": posture_document(report.posture),
        "complete": report.complete,
    }


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


def render_parity_json(report: ParityReport) -> str:
    return json.dumps(parity_document(report), indent=2)
