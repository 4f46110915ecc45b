"""The access matrix as one self-contained HTML page, like the parity page (``parity_html.py``).

Subjects x tiers (then ``untiered``); each cell lists the paths by which the subject reaches that tier's
namespaces, and where (namespaces, or every namespace); a cell that crosses tiers is outlined and its row
highlighted. Below: each cross-tier reach with its binding, role and verbs, the bindings that could not be judged,
and what each path means. No external asset of any kind (inline CSS, no script, no font, no image), so it can be
mailed, attached to a CI run or opened offline. Every name is escaped. Rows and cells carry ``data-*`` attributes
(subject, column, paths, crosses) so tests and scripts read the DOM rather than the wording.
"""

from __future__ import annotations

from html import escape

from tierguard.access import ALL_PATHS, EVERY_NAMESPACE, UNTIERED, AccessReport, Cell, Grant, Row
from tierguard.engine.reach import PATHS
from tierguard.render.access import NONE, reach_text, verdict
from tierguard.render.page import highlight_style, html_page, verdict_style

STYLE = highlight_style(row="crosses", row_header="subject", cell="crosses") + """\
th.untiered,td.untiered{color:#57606a;background:#fafbfc}
.path{display:inline-block;white-space:nowrap;margin:0 .3rem .15rem 0;padding:0 .3rem;border-radius:3px;
background:#eaeef2;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.8rem}
td.crosses .path{background:#ffebe9;color:#a40e26;font-weight:600}
.where{display:block;font-size:.75rem;color:#57606a;margin-top:.2rem}
.standing{white-space:nowrap}
ul.reach{margin:.2rem 0;padding-left:1.2rem}
dl.legend{font-size:.85rem;color:#444}dl.legend dt{font-family:ui-monospace,monospace;font-weight:600}
dl.legend dd{margin:0 0 .35rem 1.2rem}
""" + verdict_style(good="clean", bad="crosses")


def render_access_html(report: AccessReport) -> str:
    crossing_rows = sum(row.crosses for row in report.rows())
    verdict_class = "verdict-clean" if report.clean else "verdict-crosses"
    parts = [
        "<h1>Who can reach each tier's secrets</h1>",
        f'<p class="summary"><span class="{verdict_class}">{escape(verdict(report))}</span>. '
        f"Tiers: {', '.join(f'<code>{escape(t)}</code>' for t in report.tiers)}. "
        f"{len(report.subjects)} subject(s) reach secret material, {crossing_rows} of them in a tier they do not "
        f"belong to (highlighted).</p>",
    ]
    parts.extend(_matrix(report))
    parts.extend(_crossings(report))
    parts.extend(_unjudged(report))
    parts.extend(_legend())
    return html_page(title="tierguard access", style=STYLE, body=parts)


def _column_class(column: str) -> str:
    return ' class="untiered"' if column == UNTIERED else ""


def _matrix(report: AccessReport) -> list[str]:
    head = "".join(f'<th scope="col" data-column="{escape(c)}"{_column_class(c)}>{escape(c)}</th>'
                   for c in report.columns)
    rows = [_row(report, row) for row in report.rows()]
    if not rows:
        rows = [f'<tr><td colspan="{len(report.columns) + 2}" class="none">no binding grants a path to secret '
                f"material</td></tr>"]
    return ["<h2>Subjects by tier</h2>", '<table id="access-matrix">',
            f'<thead><tr><th scope="col">subject</th><th scope="col">tiers</th>{head}</tr></thead>', "<tbody>",
            *rows, "</tbody></table>"]


def _row(report: AccessReport, row: Row) -> str:
    subject = row.subject
    standing = row.standing.describe(report.tiers)
    cells = "".join(_cell(column, row.cells.get(column)) for column in report.columns)
    row_class = ' class="crosses"' if row.crosses else ""
    return (f'<tr{row_class} data-subject="{escape(str(subject))}" data-kind="{subject.kind}" '
            f'data-name="{escape(subject.name)}" data-namespace="{escape(subject.namespace or "")}" '
            f'data-standing="{escape(standing)}" data-crosses="{str(row.crosses).lower()}">'
            f'<th scope="row" class="subject">{escape(str(subject))}</th>'
            f'<td class="standing">{escape(standing)}</td>{cells}</tr>')


def _cell(column: str, cell: Cell | None) -> str:
    paths = cell.path_ids() if cell is not None else ()
    crosses = cell is not None and cell.crosses
    classes = " ".join(c for c in ("untiered" if column == UNTIERED else "", "crosses" if crosses else "") if c)
    attributes = (f' data-column="{escape(column)}" data-paths="{" ".join(paths)}" '
                  f'data-crosses="{str(crosses).lower()}"' + (f' class="{classes}"' if classes else ""))
    if cell is None:
        return f'<td{attributes}><span class="none">{NONE}</span></td>'
    if paths == ALL_PATHS:  # cluster-admin and the like: one word, not eleven
        spans = '<span class="path all" title="every path to secret material">all paths</span>'
    else:
        spans = "".join(f'<span class="path" data-path="{p}" title="{escape(_MEANING[p])}">{p}</span>' for p in paths)
    where = [EVERY_NAMESPACE] if cell.every_namespace else []
    where.extend(cell.namespaces())
    return f'<td{attributes}>{spans}<span class="where">{escape(", ".join(where))}</span></td>'


def _crossings(report: AccessReport) -> list[str]:
    if not report.crossing:
        return []
    rows = [_crossing(report, grant) for grant in report.crossing]
    return ["<h2>Cross-tier reach</h2>", '<table id="access-crossings">',
            "<thead><tr><th>subject</th><th>reaches</th><th>binding</th><th>role</th><th>paths</th>"
            "<th>source</th></tr></thead>", "<tbody>", *rows, "</tbody></table>"]


def _crossing(report: AccessReport, grant: Grant) -> str:
    standing = report.subjects[grant.subject].standing.describe(report.tiers)
    reaches = "".join(f'<li data-path="{r.path.id}" data-verb="{escape(r.verb)}" '
                      f'data-resource="{escape(r.resource)}">{escape(reach_text(r, grant.where))}</li>'
                      for r in grant.paths)
    return (f'<tr data-subject="{escape(str(grant.subject))}" data-binding="{escape(str(grant.binding))}" '
            f'data-crosses="{escape(" ".join(grant.crosses))}">'
            f"<td>{escape(str(grant.subject))} <small>({escape(standing)})</small></td>"
            f"<td>{escape(', '.join(grant.crosses))} <small>({escape(grant.where)})</small></td>"
            f"<td>{escape(str(grant.binding))}</td><td>{escape(grant.role)}</td>"
            f'<td><ul class="reach">{reaches}</ul></td><td>{escape(grant.source)}</td></tr>')


def _unjudged(report: AccessReport) -> list[str]:
    if not report.unjudged:
        return []
    rows = [f"<tr><td>{escape(u.source)}</td><td>{escape(str(u.binding))}</td><td>{escape(u.reason)}</td></tr>"
            for u in report.unjudged]
    return ["<h2>Not judged</h2>", '<table id="access-unjudged">',
            "<thead><tr><th>source</th><th>binding</th><th>why</th></tr></thead>", "<tbody>", *rows,
            "</tbody></table>"]


def _meanings() -> dict[str, str]:
    """Each path id in words, from ``engine/reach.py``'s table: the verbs, the resources, and why it reaches."""
    meanings: dict[str, str] = {}
    for path_id in ALL_PATHS:
        rows = [p for p in PATHS if p.id == path_id]
        resources = [f"{r}.{p.group}" if p.group else r for p in rows for r in p.resources]
        verbs = _either(rows[0].verbs)
        why = f", {rows[0].why}" if rows[0].why else ""
        meanings[path_id] = f"{verbs} {_either(tuple(resources))}{why}"
    return meanings


def _either(words: tuple[str, ...]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


_MEANING = _meanings()


def _legend() -> list[str]:
    items = [f"<dt>{p}</dt><dd>{escape(text)}</dd>" for p, text in _MEANING.items()]
    items.append("<dt>all paths</dt><dd>every path above (cluster-admin, or a role of wildcards)</dd>")
    items.append(f"<dt>{UNTIERED}</dt><dd>namespaces of no tier (unlabelled, or exempt): reaching them crosses "
                 f"no tier</dd>")
    items.append("<dt>highlighted row</dt><dd>the subject reaches a tier it does not belong to (outlined cells); "
                 "a group every subject is in (everyone) belongs to no single tier</dd>")
    return ["<h2>Paths</h2>", '<dl class="legend">', *items, "</dl>"]
