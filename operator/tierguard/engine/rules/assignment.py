"""Who may assign a tier: ``namespace-tier-assignment``.

A namespace's tier decides whose Secrets it may hold: a person who could create a namespace labelled ``prod``
would be "in prod" there and could mirror prod Secrets into it legitimately. So, once people have tiers
(``spec.subjects.perTier`` names some user or group), only a subject of a tier may put a namespace in it, and
only the platform may write the TierPolicy that says who is in which tier.

``namespace-tier-assignment`` refuses, when ``spec.subjects`` is configured and the request names its user:

- a Namespace CREATE whose tier label names a known tier, or an UPDATE that gives a namespace without a (known)
  tier one, by a subject who does not belong to that tier (``engine/subjects.py``: a person by
  ``spec.subjects``, a ServiceAccount by its namespace's tier; ``platform`` subjects, the group
  ``system:masters`` and ServiceAccounts of exempt namespaces, tierguard's own included, act in every tier; an
  untiered subject belongs to no tier). Changing or removing a tier is ``namespace-tier-changed``'s, for everyone.
- a TierPolicy CREATE, DELETE, or UPDATE of its ``spec``, by a subject who does not act in every tier (deleting
  the policy in force puts SPEC's defaults in force, in which no person has a tier: this rule's own off switch).

Refused, with ``perTier: {dev: {groups: [team-*-dev]}}``: user bob of group ``team-payments-dev`` creating
Namespace ``payments-prod`` labelled ``tierguard.io/tier: prod``, or editing the TierPolicy. Allowed: bob
creating ``payments-dev`` labelled ``dev``; a platform group's member creating either; bob relabelling nothing
(an UPDATE that keeps the label); any TierPolicy UPDATE that leaves ``spec`` as it was (labels, finalizers).

Not judged without a user: ``tierguard check`` and the audits judge documents, not requests, so they never
report this rule. A Namespace violation is enforced with the mode of the tier being assigned; a TierPolicy's
with the default mode. The generated ValidatingAdmissionPolicy (``vap/generate.py``) holds the same with
tierguard gone, except for ServiceAccounts of non-exempt namespaces creating namespaces (their tier is another
namespace's label, which CEL cannot look up): those are the webhook's alone.
"""

from __future__ import annotations

from collections.abc import Iterator

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule
from tierguard.engine.objects import labels_of
from tierguard.engine.request import UserInfo
from tierguard.engine.rules import RuleFacts, RuleFamily, owned
from tierguard.engine.subjects import requester_name
from tierguard.engine.tiers import tier_from_labels
from tierguard.kinds import group_kinds

FACTS = (
    RuleFacts(Rule.NAMESPACE_TIER_ASSIGNMENT,
              "A subject putting a namespace in a tier it does not belong to, or a TierPolicy change by a subject "
              "who is not platform."),
)
RULES = owned(FACTS)
KINDS = group_kinds("Namespace", "TierPolicy")

# The fixed parts of the messages; vap/generate.py's CEL writes the same messages from these.
NAMESPACE_ADVICE = "only subjects of that tier or of the platform (spec.subjects) may put a namespace in it"
EVERY_TIER = "who does not act in every tier"
POLICY_ADVICE = ("only the platform (spec.subjects.platform, system:masters, ServiceAccounts of exempt namespaces) may "
                 "write a TierPolicy: it decides who belongs to which tier")
POLICY_VERBS = {"CREATE": "created", "UPDATE": "changed", "DELETE": "deleted"}


def check(subject: Candidate) -> Iterator[Finding]:
    user = subject.request.user
    if user is None or not subject.policy.subjects.configured:
        return
    if subject.kind == "Namespace":
        yield from _namespace(subject, user)
    else:
        yield from _tier_policy(subject, user)


def _namespace(subject: Candidate, user: UserInfo) -> Iterator[Finding]:
    if subject.operation not in ("CREATE", "UPDATE"):
        return
    # The new object's label, not the candidate's tier: on CREATE the namespace is in no index yet.
    tier = tier_from_labels(labels_of(subject.obj), subject.policy)
    if tier is None:
        return
    if subject.operation == "UPDATE" and subject.old is not None:
        if tier_from_labels(labels_of(subject.old), subject.policy) is not None:
            return  # kept (not judged) or changed (namespace-tier-changed, for everyone)
        how = f"is labelled tier {tier}"
    else:
        how = f"is created in tier {tier}"
    found = subject.requester_tiers(user)
    if found.may_reach(tier):
        return
    yield Finding(
        Rule.NAMESPACE_TIER_ASSIGNMENT,
        f"{subject.ref} {how} by {requester_name(user.username)}, "
        f"who is in {found.describe(subject.policy.tiers)}; "
        f"{NAMESPACE_ADVICE}",
        f"metadata.labels[{subject.policy.tier_label}]",
        tier=tier,
    )


def _tier_policy(subject: Candidate, user: UserInfo) -> Iterator[Finding]:
    verb = POLICY_VERBS.get(subject.operation)
    if verb is None:
        return
    old = subject.old
    if subject.operation == "UPDATE" and old is not None and old.get("spec") == subject.obj.get("spec"):
        return  # metadata only (labels, finalizers: the garbage collector's, a GitOps tool's): no policy change
    found = subject.requester_tiers(user)
    if found.every:
        return
    yield Finding(
        Rule.NAMESPACE_TIER_ASSIGNMENT,
        # Not the requester's tiers: a ServiceAccount's is another namespace's label, which the generated
        # ValidatingAdmissionPolicy could not write, and it refuses these with this same text.
        f"{subject.ref} is {verb} by {requester_name(user.username)}, {EVERY_TIER}; {POLICY_ADVICE}",
        "spec",
    )


FAMILY = RuleFamily("assignment", KINDS, RULES, check, FACTS)
