"""The parity matrix for people (tables, then each gap) and machines (JSON); ``parity_html`` draws the same
report as a page. The namespace posture (``parity_posture.py``) is a table of its own after the applications, and
only when there is one to show: a policy and namespaces without any render as before."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from tierguard.engine.rules.sidecars import SidecarState
from tierguard.parity import Application, Cell, ParityReport
from tierguard.render.parity_posture import posture_document, posture_legend, posture_rows

NOT_DEPLOYED = "-"


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
        lines.extend(_table(*posture_rows(posture)))
        lines.extend(posture_legend(posture))
    for gap in report.gaps:
        name = f"{gap.ref.namespace}/{gap.ref.name}" if gap.ref.namespace else gap.ref.name
        lines.append(f"{gap.source} {gap.ref.kind} {name}: {gap.sidecar} {gap.state.value} (tier {gap.tier})")
    for posture_gap in posture.gaps:
        lines.append(f"{posture_gap.source} Namespace {posture_gap.namespace}: {posture_gap.phrase()} "
                     f"(tier {posture_gap.tier})")
    gaps = len(report.gaps) + len(posture.gaps)
    lines.append(f"parity {'complete' if report.complete else f'incomplete: {gaps} gap(s)'}")
    return "\n".join(lines)


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
    header = ["application", *(f"{t} (reference)" if report.is_reference(t) else t for t in report.tiers)]
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
        # Several clusters: what each column is (one cluster's document is as before, its columns its tiers).
        **({"columns": {column: {"cluster": cluster, "tier": tier}
                        for column, (cluster, tier) in report.columns.items()}} if report.columns else {}),
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


def render_parity_json(report: ParityReport) -> str:
    return json.dumps(parity_document(report), indent=2)
