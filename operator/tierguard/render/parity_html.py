"""The parity matrix as one self-contained HTML page, for people who would rather look than read.

Applications x tiers, the reference tier (prod) marked; each cell lists every required sidecar's state there;
a row where a tier lacks what the reference tier runs is highlighted, and its cells say what is lacking. The
page has no external asset of any kind (inline CSS, no script, no font, no image), so it can be mailed, attached
to a CI run or opened offline. Every name is escaped. Cells carry ``data-*`` attributes (application, tier,
sidecar, state) so tests and scripts read the DOM rather than the wording.

The namespace posture, when there is one to show, is a second table beside it (``parity_posture_html.py``),
highlighted the same way.
"""

from __future__ import annotations

from html import escape

from tierguard.engine.rules.sidecars import SidecarState
from tierguard.parity import Application, Cell, ParityReport
from tierguard.render.page import highlight_style, html_page, verdict_style
from tierguard.render.parity import NOT_DEPLOYED, cell_text
from tierguard.render.parity_posture_html import POSTURE_STYLE, posture_section

STYLE = highlight_style(row="diverges", row_header="app", cell="lacks") + POSTURE_STYLE + """\
th.reference,td.reference{border-left:3px solid #1f4e8c;border-right:3px solid #1f4e8c}
th.reference{background:#dfe8f5}
.state{display:block;white-space:nowrap}
.present,.injected,.provided{color:#116329}.missing,.disabled{color:#cf222e;font-weight:600}
.note{display:block;font-size:.8rem;color:#9a3412;margin-top:.2rem}
.workloads{display:block;font-size:.75rem;color:#57606a;margin-top:.2rem}
ul.legend{list-style:none;padding:0;font-size:.85rem;color:#444}
""" + verdict_style(good="complete", bad="incomplete")

LEGEND = {
    SidecarState.PRESENT: "present: the container is in the pod (template)",
    SidecarState.INJECTED: "injected: not in the template, but the injector will add it",
    SidecarState.PROVIDED: "provided: no container, a namespace or pod label provides it (an ambient mesh)",
    SidecarState.MISSING: "missing: absent and nothing will inject it",
    SidecarState.DISABLED: "disabled: the workload switches injection off",
}


def render_parity_html(report: ParityReport) -> str:
    gaps = len(report.gaps) + len(report.posture.gaps)
    diverging = sum(report.diverges(a) for a in report.rows())
    verdict = ('<span class="verdict-complete">parity complete</span>' if report.complete else
               f'<span class="verdict-incomplete">parity incomplete: {gaps} gap(s)</span>')
    parts = [
        "<h1>Security-sidecar parity</h1>",
        f'<p class="summary">{verdict}. Required sidecars: {_names(report.sidecars) or "none"}. '
        f"Reference tier: <strong>{escape(report.reference)}</strong>. {len(report.applications)} application(s), "
        f"{diverging} where a tier lacks what {escape(report.reference)} runs (highlighted).</p>",
    ]
    clusters = tuple(dict.fromkeys(cluster for cluster, _ in report.columns.values()))
    if clusters:
        parts.append(f'<p class="summary">Clusters: {_names(clusters)}; a column per cluster and tier, every '
                     f"cluster's {escape(report.reference)} column the reference.</p>")
    if not report.sidecars:
        parts.append("<p>No required sidecars in the policy (spec.sidecars.required): nothing to compare.</p>")
    else:
        parts.extend(_matrix(report))
        parts.extend(_legend(report))
        parts.extend(_gaps(report))
    if report.posture.shown:
        parts.extend(posture_section(report.posture))
    return html_page(title="tierguard parity", style=STYLE, body=parts)


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(f"<code>{escape(n)}</code>" for n in names)


def _tier_class(report: ParityReport, tier: str) -> str:
    return ' class="reference"' if report.is_reference(tier) else ""


def _matrix(report: ParityReport) -> list[str]:
    head = "".join(f'<th scope="col"{_tier_class(report, t)}>{escape(t)}'
                   f'{" (reference)" if report.is_reference(t) else ""}</th>' for t in report.tiers)
    rows = [_row(report, a) for a in report.rows()]
    if not rows:
        rows = [f'<tr><td colspan="{len(report.tiers) + 1}" class="none">no tiered workloads</td></tr>']
    return ['<h2>Applications by tier</h2>', '<table id="parity-matrix">',
            f'<thead><tr><th scope="col">application</th>{head}</tr></thead>', "<tbody>", *rows,
            "</tbody></table>"]


def _row(report: ParityReport, application: Application) -> str:
    name = escape(application.name)
    diverges = report.diverges(application)
    cells = []
    for tier in report.tiers:
        cell = application.cells.get(tier)
        lacks = report.lacks(application, tier)
        classes = [c for c in ("reference" if report.is_reference(tier) else "", "lacks" if lacks else "") if c]
        attributes = f' data-tier="{escape(tier)}"' + (f' class="{" ".join(classes)}"' if classes else "")
        if cell is None:
            cells.append(f'<td{attributes}><span class="none">{NOT_DEPLOYED} not deployed</span></td>')
            continue
        states = []
        for sidecar in report.sidecars:
            state = cell.state(sidecar)
            value = state.value if state is not None else "none"
            states.append(f'<span class="state {value}" data-sidecar="{escape(sidecar)}" data-state="{value}">'
                          f"{escape(sidecar)}: {_state_text(cell, sidecar)}</span>")
        if lacks:
            states.append(f'<span class="note">lacks {", ".join(escape(s) for s in lacks)} '
                          f"({escape(report.reference)} runs it)</span>")
        workloads = ", ".join(escape(f"{r.kind} {r.namespace}/{r.name}") for r in cell.workloads)
        states.append(f'<span class="workloads">{workloads}</span>')
        cells.append(f"<td{attributes}>{''.join(states)}</td>")
    row_class = ' class="diverges"' if diverges else ""
    return (f'<tr{row_class} data-application="{name}" data-diverges="{str(diverges).lower()}">'
            f'<th scope="row" class="app">{name}</th>{"".join(cells)}</tr>')


def _state_text(cell: Cell, sidecar: str) -> str:
    text = cell_text(cell, sidecar)
    if "(" not in text:
        return text
    covered, total = cell.covered(sidecar)
    return f"{text.split('(')[0]} <small>({covered} of {total} run it)</small>"


def _legend(report: ParityReport) -> list[str]:
    items = [f'<li><span class="{s.value}">{escape(text)}</span></li>' for s, text in LEGEND.items()]
    items.append(f"<li>highlighted row: a tier lacks a sidecar that the application runs in "
                 f"{escape(report.reference)}; a cell of several workloads shows the worst state among them</li>")
    return ['<ul class="legend">', *items, "</ul>"]


def _gaps(report: ParityReport) -> list[str]:
    if not report.gaps:
        return []
    rows = [f"<tr><td>{escape(g.source)}</td><td>{escape(str(g.ref))}</td><td>{escape(g.tier)}</td>"
            f'<td>{escape(g.sidecar)}</td><td class="{g.state.value}">{g.state.value}</td></tr>' for g in report.gaps]
    return ["<h2>Gaps</h2>", '<table id="parity-gaps">',
            "<thead><tr><th>source</th><th>object</th><th>tier</th><th>sidecar</th><th>state</th></tr></thead>",
            "<tbody>", *rows, "</tbody></table>"]

