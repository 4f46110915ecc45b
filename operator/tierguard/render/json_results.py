"""Results for machines: SPEC's ``--output json`` document, every input object once, in input order."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tierguard.engine.offline import Result
from tierguard.render.summary import summary


def render_json(results: Sequence[Result]) -> str:
    document = {
        "results": [
            {
                "object": result.ref.as_dict(),
                "source": result.source,
                "allowed": result.decision.allowed,
                "violations": [v.as_dict() for v in result.decision.violations],
            }
            for result in results
        ],
        "summary": summary(results),
    }
    return json.dumps(document, indent=2)
