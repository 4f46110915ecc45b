"""``secret-value-shared``: a Secret holding a value (compared by keyed fingerprint) that a Secret of another
tier also holds, i.e. the same credential copied by hand across tiers.

Refused: ``prod/db`` and ``dev/db`` with the same ``password``. Allowed: values shorter than
``fingerprints.minLength``, keys in ``fingerprints.ignoreKeys`` (public certificates), shareable-labelled Secrets,
service-account tokens, and the same value in two namespaces of one tier. At admission the second tier to
store the value is refused; offline every tiered holder is reported. Messages name keys and holders, never values;
what the requester sees (the admission answer, the report in their namespace) names only the other tier
(SPEC), the full message goes to platform-side records (logs, `tierguard audit`'s text and JSON).

The advice follows what the keys hold (``credentials.py``): a credential is issued anew for each tier; a setting
(Argo CD's repository ``url``, a ``username``) is declared public with the shareable labels or moved to a
ConfigMap, since reissuing a URL fixes nothing. A finding is the same either way: only its advice differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from tierguard.engine.candidate import Candidate
from tierguard.engine.credentials import is_credential
from tierguard.engine.fingerprints import Fingerprint, value_shapes
from tierguard.engine.fleet_sets import ForeignHolder
from tierguard.engine.model import Finding, Rule, in_tier
from tierguard.engine.rules import RuleFacts, RuleFamily, owned
from tierguard.engine.secrets import SecretView, is_shareable, value_path
from tierguard.kinds import group_kinds
from tierguard.policy import TierPolicy

NEW_CREDENTIAL = "issue a separate credential for each tier"
NOT_A_CREDENTIAL = "like configuration, not a credential"  # after "key 'url' looks"; then how to stop judging it

FACTS = (
    RuleFacts(Rule.SECRET_VALUE_SHARED, "A Secret holding a value that a Secret of another tier also holds."),
)
RULES = owned(FACTS)
KINDS = group_kinds("Secret")


def check(subject: Candidate) -> Iterator[Finding]:
    view = subject.secret_view()
    yield from shared_value_findings(view, subject, written=subject.obj)
    yield from fleet_findings(view, subject, written=subject.obj)


def compared(fingerprint: Fingerprint, policy: TierPolicy) -> bool:
    """Whether the rule compares this value: at least ``minLength`` bytes, under a key not in ``ignoreKeys``."""
    settings = policy.secrets.fingerprints
    return fingerprint.length >= settings.min_length and fingerprint.key not in settings.ignore_keys


def publishable(views: Iterable[SecretView], tier_of: Callable[[str], str | None],
                policy: TierPolicy) -> dict[str, list[Fingerprint]]:
    """Per tier, the fingerprints of the values this rule compares (what a member publishes to its fleet,
    ``fleet_sets.published_digests``): Secrets of tiered namespaces, not shareable, values compared
    (``compared``). Nothing when fingerprints are off."""
    tiers: dict[str, list[Fingerprint]] = {}
    if not policy.secrets.fingerprints.enabled:
        return tiers
    for view in views:
        tier = tier_of(view.namespace)
        if tier is None or view.kind != "Secret" or is_shareable(view, policy):
            continue
        tiers.setdefault(tier, []).extend(fp for fp in view.fingerprints if compared(fp, policy))
    return tiers


def shared_value_findings(view: SecretView, subject: Candidate, *, written: Mapping[str, Any] | None = None
                          ) -> Iterator[Finding]:
    """One finding per other-tier holder, naming every key of this Secret whose value it holds (and its keys).
    ``written``: the Secret's object as written, when it is the subject, so each finding's path is the field
    that holds the first key (``stringData.<key>`` or ``data.<key>``: SARIF's line)."""
    if not subject.policy.secrets.fingerprints.enabled or is_shareable(view, subject.policy):
        return
    shared: dict[tuple[str, str], tuple[SecretView, list[str], list[str]]] = {}
    for fingerprint in view.fingerprints:
        if not compared(fingerprint, subject.policy):
            continue
        for holder in subject.context.fingerprint_holders(fingerprint.digest):
            key = (holder.namespace, holder.name)
            if key == (view.namespace, view.name) or holder.kind != "Secret":
                continue
            if key not in shared and (is_shareable(holder, subject.policy)
                                      or not subject.is_other_tier(holder.namespace)):
                continue
            their_keys = [fp.key for fp in holder.fingerprints
                          if fp.digest == fingerprint.digest and compared(fp, subject.policy)]
            if not their_keys:
                continue
            _, ours, theirs = shared.setdefault(key, (holder, [], []))
            if fingerprint.key not in ours:
                ours.append(fingerprint.key)
            theirs.extend(k for k in their_keys if k not in theirs)
    for holder, ours, theirs in shared.values():
        where = _where(ours)
        held = "" if theirs == ours else f" (under {'key' if len(theirs) == 1 else 'keys'} " \
                                         f"{', '.join(repr(k) for k in theirs)})"
        theirs_tier = in_tier(subject.tier_of(holder.namespace))
        fix = advice(ours, written, subject.policy)
        yield Finding(
            Rule.SECRET_VALUE_SHARED,
            f"Secret {view.ref} ({in_tier(subject.tier)}) holds in {where} as Secret {holder.ref}"
            f"{held} ({theirs_tier}); {fix}",
            value_path(written or {}, ours[0]),
            related=(holder.object_ref,),
            # The requester learns that the value is another tier's, never where it is (the value oracle).
            requester_message=f"Secret {view.ref} ({in_tier(subject.tier)}) holds in {where} as "
                              f"{an_unnamed_secret(subject.tier_of(holder.namespace))}; {fix}",
        )


def _where(ours: list[str]) -> str:
    return (f"key {ours[0]!r} the same value" if len(ours) == 1
            else f"keys {', '.join(repr(k) for k in ours)} the same values")


def fleet_findings(view: SecretView, subject: Candidate, *, written: Mapping[str, Any] | None = None
                   ) -> Iterator[Finding]:
    """One finding per other cluster of the fleet and tier whose published set holds a value of this Secret
    (docs/fleet.md): all that a set says is its cluster and tier, so that is all the message names, to everyone.
    A match is certain up to the set's false-positive rate (2**-40 by default)."""
    if (subject.tier is None or not subject.policy.secrets.fingerprints.enabled
            or is_shareable(view, subject.policy)):
        return
    held: dict[ForeignHolder, list[str]] = {}
    for fingerprint in view.fingerprints:
        if not compared(fingerprint, subject.policy):
            continue
        for holder in subject.context.foreign_holders(fingerprint):
            if holder.tier != subject.tier:
                keys = held.setdefault(holder, [])
                if fingerprint.key not in keys:
                    keys.append(fingerprint.key)
    for holder, ours in sorted(held.items()):
        message = (f"Secret {view.ref} ({in_tier(subject.tier)}) holds in {_where(ours)} as a Secret of cluster "
                   f"{holder.member!r} ({in_tier(holder.tier)}), by the fingerprints that cluster publishes to the "
                   f"fleet; {advice(ours, written, subject.policy)}")
        yield Finding(Rule.SECRET_VALUE_SHARED, message, value_path(written or {}, ours[0]))


def advice(keys: list[str], written: Mapping[str, Any] | None, policy: TierPolicy) -> str:
    """What to do about values shared under ``keys``: a credential is issued anew per tier; keys that all hold
    settings (``credentials.is_credential``, from the key names and the values' shapes when ``written`` holds
    them) are declared public or moved out of the Secret. Never a word of a value."""
    shapes = value_shapes(written, keys) if written is not None else {}
    if any(is_credential(key, shapes.get(key)) for key in keys):
        return NEW_CREDENTIAL
    one = len(keys) == 1
    named = f"key {keys[0]!r} looks" if one else f"keys {', '.join(repr(k) for k in keys)} look"
    labels = " and ".join(f"{k}={v}" for k, v in policy.secrets.shareable.labels.items())
    public = (f"label the Secret {labels} if {'the value is' if one else 'the values are'} public, or "
              if labels else "")
    return f"{named} {NOT_A_CREDENTIAL}: {public}move {'it' if one else 'them'} to a ConfigMap"


def an_unnamed_secret(tier: str | None) -> str:
    """The other holder as a requester may read of it: ``a Secret of tier prod``, or ``an untiered Secret``."""
    return f"a Secret of tier {tier}" if tier is not None else "an untiered Secret"


FAMILY = RuleFamily("shared_values", KINDS, RULES, check, FACTS)
