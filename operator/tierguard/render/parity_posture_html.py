"""Each tier's namespace posture as the parity page's second table: checks (each label, the default-deny
NetworkPolicy, the namespaces) x tiers, the reference tier framed, highlighted as the sidecar matrix is: a row
where a tier is weaker than the reference tier shaded, that tier's cell outlined. Cells carry ``data-check`` (on
the row), ``data-tier``, ``data-weaker``, and each value ``data-value`` (or ``data-unset``) and
``data-namespaces``, so tests and scripts read the DOM rather than the wording. Every name is escaped.
"""

from __future__ import annotations

from html import escape

from tierguard.namespace_posture import (
    ABSENT_LEVEL,
    DEFAULT_DENY,
    POD_SECURITY_LABELS,
    POD_SECURITY_LEVELS,
    PostureReport,
)
from tierguard.render.page import highlight_style
from tierguard.render.parity_posture import NO_NAMESPACE, NOT_LISTED, UNSET, posture_values

POSTURE_STYLE = highlight_style(row="drifts", row_header="check", cell="weaker") + """\
.value{display:block;white-space:nowrap}
.unset,.outside{color:#cf222e}
"""
"""The table's own rules (the page's shared ones, ``th.reference`` and ``.note``, come from ``parity_html.py``)."""


def posture_section(report: PostureReport) -> list[str]:
    """The heading, a summary of the weaker tiers, the table, its legend and the namespaces outside the policy."""
    head = "".join(f'<th scope="col"{_reference_class(report.is_reference(t))}>{escape(t)}'
                   f'{" (reference)" if report.is_reference(t) else ""}</th>' for t in report.tiers)
    weaker = report.weaker_tiers()
    summary = (f"{len(weaker)} tier(s) weaker than {escape(report.reference)} (highlighted): "
               f"{', '.join(escape(t) for t in weaker)}." if weaker else
               f"No tier is weaker than {escape(report.reference)}.")
    rows = [_posture_row(report, check) for check in report.checks]
    names = "".join(f'<td data-tier="{escape(t)}"{_reference_class(report.is_reference(t))}>'
                    f'{", ".join(escape(n.name) for n in report.tier(t).namespaces) or _none()}</td>'
                    for t in report.tiers)
    rows.append(f'<tr data-check="namespaces"><th scope="row" class="check">namespaces</th>{names}</tr>')
    return ["<h2>Namespace posture by tier</h2>", f'<p class="summary">{summary}</p>', '<table id="posture-matrix">',
            f'<thead><tr><th scope="col">check</th>{head}</tr></thead>', "<tbody>", *rows, "</tbody></table>",
            *_posture_legend(report), *_posture_gaps(report)]


def _reference_class(reference: bool, *more: str) -> str:
    classes = [c for c in ("reference" if reference else "", *more) if c]
    return f' class="{" ".join(classes)}"' if classes else ""


def _none() -> str:
    return f'<span class="none">{NO_NAMESPACE} no namespace</span>'


def _posture_row(report: PostureReport, check: str) -> str:
    cells = []
    for tier in report.tiers:
        weaker = check in report.weaker(tier)
        attributes = (f' data-tier="{escape(tier)}" data-weaker="{str(weaker).lower()}"'
                      + _reference_class(report.is_reference(tier), "weaker" if weaker else ""))
        cells.append(f"<td{attributes}>{_posture_cell(report, tier, check, weaker)}</td>")
    drifts = any(check in report.weaker(t) for t in report.tiers)
    row_class = ' class="drifts"' if drifts else ""
    required = " (required)" if check in report.required or (check == DEFAULT_DENY and report.default_deny_required) \
        else ""
    return (f'<tr{row_class} data-check="{escape(check)}" data-drifts="{str(drifts).lower()}">'
            f'<th scope="row" class="check"><code>{escape(check)}</code>{required}</th>{"".join(cells)}</tr>')


def _posture_cell(report: PostureReport, tier: str, check: str, weaker: bool) -> str:
    posture = report.tier(tier)
    if not posture.namespaces:
        return _none()
    note = f'<span class="note">weaker than {escape(report.reference)}</span>' if weaker else ""
    if check == DEFAULT_DENY:
        if not report.network_policies_read:
            return f'<span class="none">{NOT_LISTED}</span>'
        keeping, total = posture.default_deny()
        short = keeping < total and report.default_deny_required
        return (f'<span class="value{" outside" if short else ""}" data-value="{keeping}/{total}">'
                f"{keeping} of {total} namespace(s) keep one</span>{note}")
    spans = []
    for value, count in posture_values(posture, check):
        shown = escape(value) if value is not None else UNSET
        if value is None and check in POD_SECURITY_LABELS:
            shown = f"{UNSET} <small>({ABSENT_LEVEL})</small>"
        data = f' data-value="{escape(value)}"' if value is not None else ' data-unset="true"'
        css = "value unset" if value is None and check in report.required else "value"
        spans.append(f'<span class="{css}"{data} data-namespaces="{count}">{shown} <small>&times;{count}</small>'
                     "</span>")
    outside = report.outside_policy(tier, check)
    if outside:
        spans.append(f'<span class="note">{outside} of {len(posture.namespaces)} outside the policy</span>')
    return "".join(spans) + note


def _posture_legend(report: PostureReport) -> list[str]:
    items = []
    if any(label in POD_SECURITY_LABELS for label in report.labels):
        items.append(f"<li>Pod Security levels, weakest first: {' &lt; '.join(POD_SECURITY_LEVELS)}; "
                     f"{UNSET}: the namespace lacks the label, which Pod Security reads as {ABSENT_LEVEL} "
                     f"(unless the API server's admission configuration sets other defaults)</li>")
    if report.default_deny_shown:
        items.append(f"<li><code>{DEFAULT_DENY}</code>: namespaces keeping a NetworkPolicy that selects all "
                     "their pods and admits no ingress</li>")
    items.append(f"<li>highlighted row: a tier is weaker than {escape(report.reference)} (a lower Pod Security "
                 f"level than {escape(report.reference)}'s weakest namespace; another label's value or absence "
                 f"that {escape(report.reference)} does not have; fewer namespaces with a default-deny policy "
                 f"while all of {escape(report.reference)}'s keep one)</li>")
    return ['<ul class="legend">', *items, "</ul>"]


def _posture_gaps(report: PostureReport) -> list[str]:
    if not report.gaps:
        return []
    rows = [f"<tr><td>{escape(g.source)}</td><td>{escape(g.namespace)}</td><td>{escape(g.tier)}</td>"
            f'<td class="outside">{escape(g.phrase())}</td></tr>' for g in report.gaps]
    return ["<h2>Namespaces outside the policy</h2>", '<table id="posture-gaps">',
            "<thead><tr><th>source</th><th>namespace</th><th>tier</th><th>gap</th></tr></thead>",
            "<tbody>", *rows, "</tbody></table>"]
