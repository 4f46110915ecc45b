"""Namespace tier labels.

``namespace-tier-unknown``: a tier label whose value is not in ``spec.tiers``, so a typo cannot opt a namespace
out. Refused: ``tierguard.io/tier: prd``. Allowed: ``tierguard.io/tier: prod``, or no label (untiered).

``namespace-tier-changed``: an UPDATE that changes or removes a valid tier label; re-tiering would hand a
namespace's secrets to another tier. Refused: ``prod`` -> ``dev``, or removing the label. Allowed: labelling
an untiered namespace, or correcting a value that was never a known tier.
"""

from __future__ import annotations

from collections.abc import Iterator

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule
from tierguard.engine.objects import labels_of
from tierguard.engine.rules import RuleFacts, RuleFamily, owned
from tierguard.kinds import group_kinds

FACTS = (
    RuleFacts(Rule.NAMESPACE_TIER_UNKNOWN, "A namespace labelled with a tier that is not in the policy's tiers."),
    RuleFacts(Rule.NAMESPACE_TIER_CHANGED, "An update that changes or removes a namespace's tier label."),
)
RULES = owned(FACTS)
KINDS = group_kinds("Namespace")

# The fixed advice of each message; vap/generate.py's CEL writes the same messages from these.
FIX_UNKNOWN = "fix the label value"
TIER_IS_FIXED = ("a namespace's tier is fixed because its secrets belong to that tier: create a new namespace in "
                 "the other tier instead")


def check(subject: Candidate) -> Iterator[Finding]:
    label = subject.policy.tier_label
    path = f"metadata.labels[{label}]"
    value = labels_of(subject.obj).get(label)
    if value is not None and value not in subject.policy.tiers:
        yield Finding(
            Rule.NAMESPACE_TIER_UNKNOWN,
            f"{subject.ref} has tier label {label}={value!r}, which is not one of the tiers "
            f"({', '.join(subject.policy.tiers)}); {FIX_UNKNOWN}",
            path,
        )
    if subject.operation == "UPDATE" and subject.old is not None:
        old_value = labels_of(subject.old).get(label)
        if old_value in subject.policy.tiers and value != old_value:
            change = f"changes its tier from {old_value} to {value}" if value else f"removes its tier {old_value}"
            yield Finding(
                Rule.NAMESPACE_TIER_CHANGED,
                f"{subject.ref} {change}; {TIER_IS_FIXED}",
                path,
                tier=old_value,
            )


FAMILY = RuleFamily("namespaces", KINDS, RULES, check, FACTS)
