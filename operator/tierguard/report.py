"""Rendering decisions for people (text) and machines (JSON), shared by ``check`` and the audit."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from tierguard.engine.model import Decision, ObjectRef
from tierguard.policy import Action


@dataclass(frozen=True)
class Result:
    ref: ObjectRef
    source: str
    decision: Decision


def summary(results: Sequence[Result]) -> dict[str, int]:
    return {
        "objects": len(results),
        "denied": sum(1 for r in results if not r.decision.allowed),
        "warned": sum(1 for r in results if r.decision.allowed and r.decision.warnings),
    }


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


EXIT_OK, EXIT_DENIED = 0, 1


def emit(results: Sequence[Result], output: str) -> int:
    """Print the report (``text``, ``json`` or ``policyreport``) and return the exit status: 1 when anything
    is denied."""
    try:
        if output == "policyreport":
            from tierguard.audit.policyreport import render_policy_reports  # noqa: PLC0415

            print(render_policy_reports(results), end="")
        else:
            print(render_json(results) if output == "json" else render_text(results))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`| head`) went away: keep the verdict, no traceback, and silence the flush at exit.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    return EXIT_OK if all(r.decision.allowed for r in results) else EXIT_DENIED
