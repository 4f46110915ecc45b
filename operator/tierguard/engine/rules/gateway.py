"""``reference-grant-cross-tier``: a Gateway API ReferenceGrant that opens this namespace's Secrets to a
namespace of another tier (e.g. a shared Gateway in ``prod`` terminating TLS with a ``dev`` certificate key).

Refused, in ``prod``: ``from: [{kind: Gateway, namespace: dev}]``, ``to: [{kind: Secret}]``.
Allowed: ``from`` namespaces of the same tier, or ``to`` kinds other than Secret.
"""

from __future__ import annotations

from collections.abc import Iterator

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule, in_tier
from tierguard.engine.objects import mapping_at, mappings_at, str_at
from tierguard.engine.rules import RuleFacts, RuleFamily, owned
from tierguard.kinds import group_kinds

FACTS = (
    RuleFacts(Rule.REFERENCE_GRANT_CROSS_TIER,
              "A Gateway API ReferenceGrant that lets another tier reference this namespace's Secrets."),
)
RULES = owned(FACTS)
KINDS = group_kinds("ReferenceGrant")


def check(subject: Candidate) -> Iterator[Finding]:
    spec = mapping_at(subject.obj, "spec", "spec")
    grants_secrets = any(
        str_at(target, "kind", f"{path}.kind") == "Secret" and str_at(target, "group", f"{path}.group") in ("", "core")
        for target, path in mappings_at(spec, "to", "spec.to")
    )
    if not grants_secrets:
        return
    for source, path in mappings_at(spec, "from", "spec.from"):
        namespace = str_at(source, "namespace", f"{path}.namespace", required=True)
        if subject.is_other_tier(namespace):
            yield Finding(
                Rule.REFERENCE_GRANT_CROSS_TIER,
                f"{subject.ref} lets {str_at(source, 'kind', f'{path}.kind') or 'objects'} in namespace "
                f"{namespace} ({in_tier(subject.tier_of(namespace))}) reference Secrets of "
                f"{subject.namespace} ({in_tier(subject.tier)}); grant only namespaces of the same tier",
                f"{path}.namespace",
            )


FAMILY = RuleFamily("gateway", KINDS, RULES, check, FACTS)
