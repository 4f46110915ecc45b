"""Every renderer, in one place: decisions and reports turned into text for people and machines.

``text`` and ``json`` (``check``, ``audit``), ``policyreport`` (``audit``), and the parity matrix (``parity``).
Renderers are pure: results in, one string out (the exact bytes to print). Where the string goes, and the exit
status, belong to the commands. A new output format (SARIF) is one module here and one row in ``RENDERERS``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tierguard.engine.offline import Result
from tierguard.render.json_results import render_json
from tierguard.render.policyreport import render_policy_reports
from tierguard.render.text import render_text

RENDERERS: dict[str, Callable[[Sequence[Result]], str]] = {
    "text": lambda results: render_text(results) + "\n",
    "json": lambda results: render_json(results) + "\n",
    "policyreport": render_policy_reports,
}
"""Output format (``--output``) -> renderer of a list of results."""


def render_results(results: Sequence[Result], output: str) -> str:
    """The report in format ``output`` (a key of ``RENDERERS``), ending with a newline."""
    return RENDERERS[output](results)
