"""Results for people: one line per violation, then the counts.

An object Helm rendered is named by its template first (``chart/templates/x.yaml (<stdin>#3)``), from the
``# Source:`` comment Helm writes; every other object by its source alone, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tierguard.engine.model import Action
from tierguard.engine.offline import Result
from tierguard.manifests import Location
from tierguard.render.summary import summary


def render_text(results: Sequence[Result], locations: Mapping[str, Location] | None = None) -> str:
    lines = []
    for result in results:
        location = (locations or {}).get(result.source)
        source = f"{location.origin} ({result.source})" if location is not None and location.origin else result.source
        for violation in result.decision.violations:
            ref = result.ref
            name = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
            suffix = "" if violation.action is Action.DENY else f" ({violation.action.value})"
            # One line per violation even when a message quotes a multi-line annotation.
            message = " ".join(violation.message.split())
            lines.append(f"{source} {ref.kind} {name}: [{violation.rule}] {message}{suffix}")
    counts = summary(results)
    lines.append(f"{counts['objects']} objects checked: {counts['denied']} denied, {counts['warned']} warned")
    return "\n".join(lines)
