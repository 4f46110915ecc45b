"""``secret-value-shared``: a Secret holding a value (compared by keyed fingerprint) that a Secret of another
tier also holds, i.e. the same credential copied by hand across tiers.

Refused: ``prod/db`` and ``dev/db`` with the same ``password``. Allowed: values shorter than
``fingerprints.minLength``, keys in ``fingerprints.ignoreKeys`` (public certificates), shareable-labelled Secrets,
service-account tokens, and the same value in two namespaces of one tier. At admission the second tier to
store the value is refused; offline every tiered holder is reported. Messages name keys and holders, never values.
"""

from __future__ import annotations

from collections.abc import Iterator

from tierguard.engine.candidate import Candidate
from tierguard.engine.fingerprints import Fingerprint
from tierguard.engine.model import Finding, Rule, in_tier
from tierguard.engine.rules import RuleFamily
from tierguard.engine.secrets import SecretView, is_shareable
from tierguard.kinds import group_kinds

RULES = frozenset({Rule.SECRET_VALUE_SHARED})
KINDS = group_kinds("Secret")


def check(subject: Candidate) -> Iterator[Finding]:
    yield from shared_value_findings(subject.secret_view(), subject)


def _compared(fingerprint: Fingerprint, subject: Candidate) -> bool:
    settings = subject.policy.secrets.fingerprints
    return fingerprint.length >= settings.min_length and fingerprint.key not in settings.ignore_keys


def shared_value_findings(view: SecretView, subject: Candidate) -> Iterator[Finding]:
    if not subject.policy.secrets.fingerprints.enabled or is_shareable(view, subject.policy):
        return
    reported: set[tuple[str, str]] = set()
    for fingerprint in view.fingerprints:
        if not _compared(fingerprint, subject):
            continue
        for holder in subject.context.fingerprint_holders(fingerprint.digest):
            key = (holder.namespace, holder.name)
            if key in reported or key == (view.namespace, view.name) or holder.kind != "Secret":
                continue
            if is_shareable(holder, subject.policy) or not subject.is_other_tier(holder.namespace):
                continue
            if not any(fp.digest == fingerprint.digest and _compared(fp, subject) for fp in holder.fingerprints):
                continue
            reported.add(key)
            yield Finding(
                Rule.SECRET_VALUE_SHARED,
                f"Secret {view.ref} ({in_tier(subject.tier)}) holds in key {fingerprint.key!r} the same "
                f"value as Secret {holder.ref} ({in_tier(subject.tier_of(holder.namespace))}); "
                f"issue a separate credential for each tier",
                f"data.{fingerprint.key}",
            )


FAMILY = RuleFamily("shared_values", KINDS, RULES, check)
