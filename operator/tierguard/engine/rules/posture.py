"""Namespace security posture: what ``spec.namespaces`` says every tiered namespace keeps in force.

``namespace-security-missing``:

- ``requiredLabels``: a tiered namespace (its tier label names a tier; not exempt) created without a required
  label, or with a value the policy does not list. With ``{pod-security.kubernetes.io/enforce: [baseline,
  restricted]}``: refused, a ``dev`` namespace without the label, or with ``enforce: privileged``; allowed, one
  with ``enforce: restricted``, and an untiered namespace. An UPDATE is refused only for a gap it makes: a label
  it removes or sets to a value not listed, or the labels of a namespace it puts into a tier. A gap the namespace
  already had, left as it was, is admitted (a namespace older than the policy stays manageable: its
  controllers' and users' other writes go on) and reported by the audit.
- ``defaultDenyIngress``: the DELETE of a NetworkPolicy that denies all ingress to its tiered namespace
  (``podSelector: {}``, ``policyTypes: [Ingress]``, no ingress rule), or an UPDATE that makes it admit some,
  when no other such NetworkPolicy is left in the namespace. Refused: deleting ``default-deny-ingress`` of a
  ``prod`` namespace that has no other. Allowed: deleting it while ``deny-all`` (another default-deny) stays;
  deleting any NetworkPolicy of a namespace being deleted (the namespace controller deletes them all and must
  finish). The audit (an object as it stands) reports a tiered Namespace that has no such NetworkPolicy;
  admission and ``tierguard check`` do not, since a NetworkPolicy can only be created once its namespace exists.

A namespace being deleted (``deletionTimestamp``) is never held up.
"""

from __future__ import annotations

from collections.abc import Iterator

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule
from tierguard.engine.objects import is_terminating, labels_of
from tierguard.engine.posture import LabelGap, denies_all_ingress, label_gaps
from tierguard.engine.rules import SECURITY_PARITY, RuleFacts, RuleFamily, owned
from tierguard.engine.tiers import tier_from_labels
from tierguard.kinds import group_kinds

FACTS = (
    RuleFacts(Rule.NAMESPACE_SECURITY_MISSING,
              "A tiered namespace without a required label, or losing its last default-deny-ingress NetworkPolicy.",
              SECURITY_PARITY),
)
RULES = owned(FACTS)
KINDS = group_kinds("Namespace", "NetworkPolicy")

# The fixed advice of each message; vap/generate.py's CEL writes the label messages from these.
LABEL_FIX = "set it to a wanted value (the TierPolicy's spec.namespaces.requiredLabels)"
SHAPE = "NetworkPolicy denying all ingress (podSelector {}, policyTypes [Ingress], no ingress rules)"
REQUIRED_BY = "the TierPolicy's spec.namespaces.defaultDenyIngress keeps one in every tiered namespace"
CREATE_ONE = f"create a {SHAPE}; {REQUIRED_BY}"
KEEP_ONE = f"first create another {SHAPE}; {REQUIRED_BY}"


def label_message(namespace: str, tier: str, gap: LabelGap) -> str:
    """The one message of a label gap (vap/generate.py's CEL writes the same)."""
    return f"Namespace {namespace} (tier {tier}): {gap.phrase()}; {LABEL_FIX}"


def check(subject: Candidate) -> Iterator[Finding]:
    if subject.kind == "Namespace":
        yield from _namespace(subject)
    elif subject.policy.namespaces.default_deny_ingress and subject.operation in ("UPDATE", "DELETE"):
        yield from _network_policy(subject)


def _namespace(subject: Candidate) -> Iterator[Finding]:
    if is_terminating(subject.obj):
        return
    posture = subject.policy.namespaces
    labels = labels_of(subject.obj)
    tier = tier_from_labels(labels, subject.policy)
    if tier is None:
        return
    old = subject.old if subject.operation == "UPDATE" else None
    old_labels = labels_of(old) if old is not None else {}
    # An UPDATE keeps the gaps the namespace had in its tier; it is refused for the gaps it makes.
    was_tiered = old is not None and tier_from_labels(old_labels, subject.policy) is not None
    for gap in label_gaps(posture, labels):
        if was_tiered and old_labels.get(gap.label) == gap.actual:
            continue
        yield Finding(Rule.NAMESPACE_SECURITY_MISSING, label_message(subject.ref.name, tier, gap),
                      f"metadata.labels[{gap.label}]", tier=tier)
    # Only as it stands (the audits): a NetworkPolicy cannot be created before its namespace.
    if (subject.standing and posture.default_deny_ingress
            and not subject.context.default_deny_ingress_policies(subject.ref.name)):
        yield Finding(Rule.NAMESPACE_SECURITY_MISSING,
                      f"{subject.ref} (tier {tier}) has no NetworkPolicy denying all ingress; {CREATE_ONE}",
                      "", tier=tier)


def _network_policy(subject: Candidate) -> Iterator[Finding]:
    namespace = subject.namespace
    view = subject.context.namespace(namespace) if namespace is not None else None
    if namespace is None or view is None or view.terminating:
        return  # gone or going: the namespace controller deletes its NetworkPolicies
    stored = subject.obj if subject.operation == "DELETE" else subject.old
    if stored is None or not denies_all_ingress(stored):
        return
    if subject.operation == "UPDATE" and denies_all_ingress(subject.obj):
        return
    others = set(subject.context.default_deny_ingress_policies(namespace)) - {subject.ref.name}
    if others:
        return
    change = "deleting it" if subject.operation == "DELETE" else "this change"
    yield Finding(Rule.NAMESPACE_SECURITY_MISSING,
                  f"{subject.ref} is the last NetworkPolicy denying all ingress in namespace {namespace} (tier "
                  f"{subject.tier}): {change} would leave the namespace open; {KEEP_ONE}",
                  "spec" if subject.operation == "UPDATE" else "")


FAMILY = RuleFamily("posture", KINDS, RULES, check, FACTS)
