"""``policy-invalid`` for TierPolicy objects: a policy with a typo is refused, so it can never switch
enforcement off. The engine reports every other unevaluable object as ``policy-invalid`` itself. A DELETE (the
webhook routes TierPolicy deletions for ``namespace-tier-assignment``) is not judged: the object is the stored
one, and a broken stored policy must stay deletable."""

from __future__ import annotations

from collections.abc import Iterator

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule
from tierguard.engine.rules import RuleFacts, RuleFamily, owned
from tierguard.errors import PolicyError
from tierguard.kinds import group_kinds
from tierguard.policy import load_stored_policy

FACTS = (
    RuleFacts(Rule.POLICY_INVALID, "The object cannot be evaluated (malformed)."),
)
RULES = owned(FACTS)
KINDS = group_kinds("TierPolicy")


def check(subject: Candidate) -> Iterator[Finding]:
    if subject.operation == "DELETE":
        return
    try:
        load_stored_policy(subject.obj)
    except PolicyError as error:
        yield Finding(Rule.POLICY_INVALID, f"{subject.ref} is invalid: {error}", error.field or "spec")


FAMILY = RuleFamily("policy_document", KINDS, RULES, check, FACTS)
