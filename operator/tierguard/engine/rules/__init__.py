"""Rule families: one module per family, and everything about its rules in that module.

A newcomer finds any rule's id, description, category and documentation from its module alone:

- ``FACTS``: one ``RuleFacts`` per rule id the module owns (a family such as ``namespaces`` or ``sidecars`` owns
  several): the id (a ``Rule`` member, whose value is the id string), the one-sentence description (SARIF's
  ``shortDescription``, the first line of the id's section of docs/rules.md) and the category (SARIF's tag and
  the PolicyReport ``category``). Reports, the VAP generator and docs/rules.md take them from there
  (``RULE_FACTS`` in ``engine/evaluation.py`` collects them; tests hold the ``Rule`` enum and docs/rules.md to
  them).
- The module docstring: what each of its ids refuses and allows, with examples (docs/rules.md says it at length).
- ``RULES`` (every rule id its findings may carry: its own, and ``policy-invalid`` for some), ``KINDS`` (the
  rows of the kinds table it judges), ``check(candidate)`` yielding Findings, and ``FAMILY``, the typed
  declaration of all of them that the engine's table (``engine/evaluation.py``) lists. There is no discovery.

A family may also raise Malformed (the engine reports it as ``policy-invalid``); any other exception is a bug
the engine reports as tierguard's internal error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule
from tierguard.kinds import FieldJudged, GroupKind

Category = Literal["tier-isolation", "security-parity"]
TIER_ISOLATION: Category = "tier-isolation"
"""Material of one tier reaching another (every rule but the sidecar ones)."""
SECURITY_PARITY: Category = "security-parity"
"""Every tier runs the same security services (the sidecar rules)."""


@dataclass(frozen=True)
class RuleFacts:
    """What reports and docs say of one rule id, declared by the module that owns it."""

    rule: Rule
    description: str
    """One sentence: SARIF's ``shortDescription`` and the first line of the id's section of docs/rules.md."""
    category: Category = TIER_ISOLATION
    """SARIF's second tag and the PolicyReport ``category`` (plain strings: YAML's safe dumper needs them so)."""
    break_glass_by_group: bool = False
    """A member of ``exemptions.breakGlass.groups`` is admitted (with a warning, logged and counted) without a
    reason annotation: the request has no object to carry one (a CONNECT's body is its options)."""

    @property
    def id(self) -> str:
        return self.rule.value


@dataclass(frozen=True)
class RuleFamily:
    name: str
    kinds: frozenset[GroupKind]
    """Rows of ``tierguard.kinds.KINDS`` (judged ones) this family judges."""
    rules: frozenset[Rule]
    """Every rule id its findings may carry (a test holds each family to it)."""
    check: Callable[[Candidate], Iterator[Finding]]
    facts: tuple[RuleFacts, ...] = ()
    """The rule ids this family owns, with their facts (a test holds their union to ``Rule``)."""
    fields: tuple[FieldJudged, ...] = ()
    """Fields of ``tierguard.kinds.BY_FIELD``: it also judges any object carrying one, whatever its group and kind
    (Crossplane's ``spec.writeConnectionSecretToRef``)."""


def owned(facts: tuple[RuleFacts, ...]) -> frozenset[Rule]:
    """The rule ids of ``facts``: a family's ``RULES`` when it reports no other."""
    return frozenset(f.rule for f in facts)
