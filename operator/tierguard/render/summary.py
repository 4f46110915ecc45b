"""The counts every results report ends with."""

from __future__ import annotations

from collections.abc import Sequence

from tierguard.engine.offline import Result


def summary(results: Sequence[Result]) -> dict[str, int]:
    return {
        "objects": len(results),
        "denied": sum(1 for r in results if not r.decision.allowed),
        "warned": sum(1 for r in results if r.decision.allowed and r.decision.warnings),
    }
