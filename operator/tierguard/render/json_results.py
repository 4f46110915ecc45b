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
    items = [_nested(json.dumps(_result(result), indent=2), 2) for result in results]
    listed = "[\n" + ",\n".join(items) + "\n  ]" if items else "[]"
    return '{\n  "results": ' + listed + ',\n  "summary": ' + _nested(json.dumps(summary(results), indent=2), 1)[2:] \
        + "\n}"


def _result(result: Result) -> dict[str, Any]:
    return {
        "object": result.ref.as_dict(),
        "source": result.source,
        "allowed": result.decision.allowed,
        "violations": [v.as_dict() for v in result.decision.violations],
    }


def _nested(text: str, depth: int) -> str:
    """A value encoded with ``indent=2`` at the top, as it reads ``depth`` levels down (JSON strings hold no raw
    newline: every newline is the encoder's own)."""
    pad = "  " * depth
    return pad + text.replace("\n", "\n" + pad)
