"""``policy-invalid`` for TierPolicy objects: a policy with a typo is refused, so it can never switch
enforcement off. The engine reports every other unevaluable object as ``policy-invalid`` itself."""

from __future__ import annotations

from collections.abc import Iterator

from tierguard.engine.model import Finding, Rule
from tierguard.engine.subject import Subject
from tierguard.errors import PolicyError
from tierguard.policy import load_stored_policy

RULES = (Rule.POLICY_INVALID,)
KINDS = frozenset({"TierPolicy"})


def check(subject: Subject) -> Iterator[Finding]:
    try:
        load_stored_policy(subject.obj)
    except PolicyError as error:
        yield Finding(Rule.POLICY_INVALID, f"{subject.ref} is invalid: {error}", error.field or "spec")
