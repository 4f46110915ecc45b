"""Rule families. Each module declares the same names: ``RULES`` (the rule ids it may report), ``KINDS`` (the
rows of the kinds table it judges), ``check(candidate)`` yielding Findings, and ``FAMILY``, the typed
declaration of all three that the engine's table (``engine/evaluation.py``) lists. There is no discovery.

A family may also raise Malformed (the engine reports it as ``policy-invalid``); any other exception is a bug
the engine reports as tierguard's internal error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule
from tierguard.kinds import GroupKind


@dataclass(frozen=True)
class RuleFamily:
    name: str
    kinds: frozenset[GroupKind]
    """Rows of ``tierguard.kinds.KINDS`` (judged ones) this family judges."""
    rules: frozenset[Rule]
    """Every rule id its findings may carry (a test holds each family to it)."""
    check: Callable[[Candidate], Iterator[Finding]]
