"""Results for people: one line per violation, then the counts."""

from __future__ import annotations

from collections.abc import Sequence

from tierguard.engine.model import Action
from tierguard.engine.offline import Result
from tierguard.render.summary import summary


def render_text(results: Sequence[Result]) -> str:
    lines = []
    for result in results:
        for violation in result.decision.violations:
            ref = result.ref
            name = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
            suffix = "" if violation.action is Action.DENY else f" ({violation.action.value})"
            # One line per violation even when a message quotes a multi-line annotation.
            message = " ".join(violation.message.split())
            lines.append(f"{result.source} {ref.kind} {name}: [{violation.rule}] {message}{suffix}")
    counts = summary(results)
    lines.append(f"{counts['objects']} objects checked: {counts['denied']} denied, {counts['warned']} warned")
    return "\n".join(lines)
