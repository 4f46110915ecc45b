"""Every renderer, in one place: decisions and reports turned into text for people and machines.

``text``, ``json`` and ``sarif`` (``check``, ``audit``), ``policyreport`` (``audit``), the parity matrix
(``parity``: text, json, html, in ``PARITY_RENDERERS``) and the access matrix (``access``: text, json, html, in
``ACCESS_RENDERERS``). Renderers are pure: results (and where each object is
written) in, one string out (the exact bytes to print). Where the string goes, and the exit status, belong to the
commands. A new output format is one module here and one row in ``RENDERERS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from tierguard.access import AccessReport
from tierguard.engine.offline import Result
from tierguard.manifests import Location
from tierguard.parity import ParityReport
from tierguard.render.access import render_access_json, render_access_text
from tierguard.render.access_html import render_access_html
from tierguard.render.json_results import render_json
from tierguard.render.parity import render_parity_json, render_parity_text
from tierguard.render.parity_html import render_parity_html
from tierguard.render.policyreport import render_policy_reports
from tierguard.render.sarif import render_sarif
from tierguard.render.text import render_text

R = TypeVar("R")

Locations = Mapping[str, Location]
"""A result's source (``file#document``) -> where its object is written: lines and Helm templates."""

RENDERERS: dict[str, Callable[[Sequence[Result], Locations], str]] = {
    "text": lambda results, locations: render_text(results, locations) + "\n",
    "json": lambda results, _locations: render_json(results) + "\n",
    "sarif": render_sarif,
    "policyreport": lambda results, _locations: render_policy_reports(results),
}
"""Output format (``--output``) -> renderer of a list of results."""


def render_results(results: Sequence[Result], output: str, locations: Locations | None = None) -> str:
    """The report in format ``output`` (a key of ``RENDERERS``), ending with a newline."""
    return RENDERERS[output](results, locations or {})


ReportRenderers = dict[str, Callable[[R], str]]
"""Output format of a matrix command (``parity``, ``access``) -> renderer of its one report."""


def report_renderers(*, text: Callable[[R], str], json: Callable[[R], str],
                     html: Callable[[R], str]) -> ReportRenderers[R]:
    """A matrix report's formats, each string ending with a newline (the page already does)."""
    return {"text": lambda report: text(report) + "\n", "json": lambda report: json(report) + "\n", "html": html}


PARITY_RENDERERS: ReportRenderers[ParityReport] = report_renderers(
    text=render_parity_text, json=render_parity_json, html=render_parity_html)
"""The matrix is built once, in ``parity.py``; every format draws it."""


def render_parity(report: ParityReport, output: str) -> str:
    """The parity report in format ``output`` (a key of ``PARITY_RENDERERS``), ending with a newline."""
    return PARITY_RENDERERS[output](report)


ACCESS_RENDERERS: ReportRenderers[AccessReport] = report_renderers(
    text=render_access_text, json=render_access_json, html=render_access_html)
"""The report is built once, in ``access.py``; every format draws it."""


def render_access(report: AccessReport, output: str) -> str:
    """The access report in format ``output`` (a key of ``ACCESS_RENDERERS``), ending with a newline."""
    return ACCESS_RENDERERS[output](report)
