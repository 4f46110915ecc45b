"""``policy-invalid`` for TierPolicy objects: a policy with a typo is refused, so it can never switch
enforcement off. The engine reports every other unevaluable object as ``policy-invalid`` itself."""

from __future__ import annotations

from collections.abc import Iterator

from tierguard.engine.model import Finding, Rule
from tierguard.engine.subject import Subject
from tierguard.policy import PolicyError, load_policy

RULES = (Rule.POLICY_INVALID,)
KINDS = frozenset({"TierPolicy"})


def check(subject: Subject) -> Iterator[Finding]:
    document = {k: v for k, v in subject.obj.items() if k != "status"}
    # The API server adds these server-side metadata fields; the policy loader judges only what users write.
    metadata = document.get("metadata")
    document["metadata"] = {"name": metadata.get("name", "default")} if isinstance(metadata, dict) else metadata
    try:
        load_policy(document)
    except PolicyError as error:
        yield Finding(Rule.POLICY_INVALID, f"{subject.ref} is invalid: {error}", error.field or "spec")
