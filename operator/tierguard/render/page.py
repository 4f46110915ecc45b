"""What tierguard's HTML pages (``parity_html.py``, ``access_html.py``) share: the document around their content
and the style that makes them look alike (type, tables, a highlighted row, the verdict's colours). Each page adds
only the rules of its own classes.

A page is self-contained: no external asset of any kind (inline CSS, no script, no font, no image), so it can be
mailed, attached to a CI run or opened offline.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

BASE_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#1b1f24;background:#fff}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.15rem;margin:2rem 0 .5rem}
p.summary{margin:.25rem 0 1rem;color:#444}
table{border-collapse:collapse;font-size:.9rem}
th,td{border:1px solid #c9ced4;padding:.35rem .6rem;text-align:left;vertical-align:top}
th{background:#f0f2f5}
.none{color:#8c959f}
"""
"""Every page's rules, before its own."""


def highlight_style(*, row: str, row_header: str, cell: str) -> str:
    """A row that needs a look (class ``row``: shaded, its header cell of class ``row_header`` marked with a
    warning sign) and a cell at fault (class ``cell``: outlined in red). Each page names the classes for what
    they mean there, which its tests read."""
    return (f"tr.{row} td,tr.{row} th{{background:#fff4d6}}\n"
            f'tr.{row} th.{row_header}::before{{content:"\\26A0\\FE0E  ";color:#9a6700}}\n'
            f"td.{cell}{{outline:2px solid #cf222e;outline-offset:-2px}}\n")


def verdict_style(*, good: str, bad: str) -> str:
    """The summary's verdict: ``verdict-<good>`` in green, ``verdict-<bad>`` in red."""
    return f".verdict-{good}{{color:#116329}}.verdict-{bad}{{color:#cf222e}}\n"


def html_page(*, title: str, style: str, body: Iterable[str]) -> str:
    """The whole document: ``BASE_STYLE`` then ``style``, and the ``body`` lines in order; ends with a newline."""
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{BASE_STYLE}{style}</style></head><body>",
        *body,
        "</body></html>",
    ]) + "\n"
