"""``secret-value-shared``: a Secret holding a value (compared by keyed fingerprint) that a Secret of another
tier also holds, i.e. the same credential copied by hand across tiers.

Refused: ``prod/db`` and ``dev/db`` with the same ``password``. Allowed: values shorter than
``fingerprints.minLength``, keys in ``fingerprints.ignoreKeys`` (public certificates), shareable-labelled Secrets,
service-account tokens, and the same value in two namespaces of one tier. At admission the second tier to
store the value is refused; offline every tiered holder is reported. Messages name keys and holders, never values;
what the requester sees (the admission answer, the report in their namespace) names only the other tier
(SPEC), the full message goes to platform-side records (logs, `tierguard audit`'s text and JSON).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tierguard.engine.candidate import Candidate
from tierguard.engine.fingerprints import Fingerprint
from tierguard.engine.model import Finding, Rule, in_tier
from tierguard.engine.rules import RuleFacts, RuleFamily, owned
from tierguard.engine.secrets import SecretView, is_shareable, value_path
from tierguard.kinds import group_kinds

FACTS = (
    RuleFacts(Rule.SECRET_VALUE_SHARED, "A Secret holding a value that a Secret of another tier also holds."),
)
RULES = owned(FACTS)
KINDS = group_kinds("Secret")


def check(subject: Candidate) -> Iterator[Finding]:
    yield from shared_value_findings(subject.secret_view(), subject, written=subject.obj)


def _compared(fingerprint: Fingerprint, subject: Candidate) -> bool:
    settings = subject.policy.secrets.fingerprints
    return fingerprint.length >= settings.min_length and fingerprint.key not in settings.ignore_keys


def shared_value_findings(view: SecretView, subject: Candidate, *, written: Mapping[str, Any] | None = None
                          ) -> Iterator[Finding]:
    """One finding per other-tier holder, naming every key of this Secret whose value it holds (and its keys).
    ``written``: the Secret's object as written, when it is the subject, so each finding's path is the field
    that holds the first key (``stringData.<key>`` or ``data.<key>``: SARIF's line)."""
    if not subject.policy.secrets.fingerprints.enabled or is_shareable(view, subject.policy):
        return
    shared: dict[tuple[str, str], tuple[SecretView, list[str], list[str]]] = {}
    for fingerprint in view.fingerprints:
        if not _compared(fingerprint, subject):
            continue
        for holder in subject.context.fingerprint_holders(fingerprint.digest):
            key = (holder.namespace, holder.name)
            if key == (view.namespace, view.name) or holder.kind != "Secret":
                continue
            if key not in shared and (is_shareable(holder, subject.policy)
                                      or not subject.is_other_tier(holder.namespace)):
                continue
            their_keys = [fp.key for fp in holder.fingerprints
                          if fp.digest == fingerprint.digest and _compared(fp, subject)]
            if not their_keys:
                continue
            _, ours, theirs = shared.setdefault(key, (holder, [], []))
            if fingerprint.key not in ours:
                ours.append(fingerprint.key)
            theirs.extend(k for k in their_keys if k not in theirs)
    for holder, ours, theirs in shared.values():
        where = (f"key {ours[0]!r} the same value" if len(ours) == 1
                 else f"keys {', '.join(repr(k) for k in ours)} the same values")
        held = "" if theirs == ours else f" (under {'key' if len(theirs) == 1 else 'keys'} " \
                                         f"{', '.join(repr(k) for k in theirs)})"
        theirs_tier = in_tier(subject.tier_of(holder.namespace))
        yield Finding(
            Rule.SECRET_VALUE_SHARED,
            f"Secret {view.ref} ({in_tier(subject.tier)}) holds in {where} as Secret {holder.ref}"
            f"{held} ({theirs_tier}); issue a separate credential for each tier",
            value_path(written or {}, ours[0]),
            related=(holder.object_ref,),
            # The requester learns that the value is another tier's, never where it is (the value oracle).
            requester_message=f"Secret {view.ref} ({in_tier(subject.tier)}) holds in {where} as "
                              f"{an_unnamed_secret(subject.tier_of(holder.namespace))}; issue a separate "
                              f"credential for each tier",
        )


def an_unnamed_secret(tier: str | None) -> str:
    """The other holder as a requester may read of it: ``a Secret of tier prod``, or ``an untiered Secret``."""
    return f"a Secret of tier {tier}" if tier is not None else "an untiered Secret"


FAMILY = RuleFamily("shared_values", KINDS, RULES, check, FACTS)
