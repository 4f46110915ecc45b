"""Results for machines: SPEC's ``--output json`` document, every input object once, in input order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tierguard.engine.offline import Result
from tierguard.render.summary import summary


def render_json(results: Sequence[Result]) -> str:
    """``json.dumps(document, indent=2)``, byte for byte, built one result at a time: an audit of a large cluster
    never holds every result as a dict, nor the encoder's pieces of the whole document, at once."""
    items = ["    " + indented(_result(result), 2) for result in results]
    listed = "[\n" + ",\n".join(items) + "\n  ]" if items else "[]"
    return '{\n  "results": ' + listed + ',\n  "summary": ' + indented(summary(results), 1) + "\n}"


def indented(value: Any, level: int = 0) -> str:
    """``json.dumps(value, indent=2)`` as it reads ``level`` levels down, for the JSON types (dict keys strings):
    the same bytes, several times faster than the standard library's pure-Python indenting encoder."""
    if isinstance(value, str):
        return _string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return json.dumps(value)
    inner, outer = "\n" + "  " * (level + 1), "\n" + "  " * level
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{" + inner + ("," + inner).join(f"{_string(k)}: {indented(v, level + 1)}" for k, v in value.items()) \
            + outer + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        return "[" + inner + ("," + inner).join(indented(v, level + 1) for v in value) + outer + "]"
    return json.dumps(value, indent=2)  # anything else: the standard library's answer (or its TypeError)


_string = json.encoder.encode_basestring_ascii  # what json.dumps uses for strings (ensure_ascii)


def _result(result: Result) -> dict[str, Any]:
    cluster = {} if result.cluster is None else {"cluster": result.cluster}  # one cluster: SPEC's shape, unchanged
    return {
        "object": result.ref.as_dict(),
        **cluster,
        "source": result.source,
        "allowed": result.decision.allowed,
        "violations": [v.as_dict() for v in result.decision.violations],
    }
