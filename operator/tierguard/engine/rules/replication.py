"""``secret-replication-cross-tier``: a Secret whose replication annotations move it across tiers.

Covers kubernetes-reflector (``reflects``, ``reflection-allowed[-namespaces[-selector]]``,
``reflection-auto-*``), kubernetes-replicator (``replicate-from``, ``replication-allowed[-namespaces]``,
``replicate-to``, ``replicate-to-matching``), kubed/config-syncer (``kubed.appscode.com/sync`` on a source, the
``kubed.appscode.com/origin.namespace`` label or ``origin`` annotation on a copy) and Sealed Secrets'
``cluster-wide`` scope. Each value is read as its tool reads it: reflector's booleans as .NET ``bool.TryParse``
(``true`` in any case, blanks trimmed) and its name patterns as regexes whose first match must span the name;
replicator's booleans as Go ``strconv.ParseBool`` (``1``, ``t``, ``T``, ``true``, ``True``, ``TRUE``) and its
patterns anchored with ``^``/``$`` unless they already are; config-syncer's ``sync`` value ``"true"`` (exactly)
or ``""`` as every namespace and anything else as a label selector; Sealed Secrets' scope only for exactly
``"true"``. Targets given as regexes or selectors are resolved against the namespaces the
context knows; a target given as a plain name is judged even when no such namespace is known (it is untiered
until it exists with a tier label); "every namespace" is always cross-tier, since untiered namespaces count as
another tier. Reflector's auto-reflection reaches only namespaces that are also allowed (as reflector does), and
its name list and label selector add up (either one admits a namespace).

Refused, in namespace ``dev``: ``reflector.v1.k8s.emberstack.com/reflects: prod/db``.
Allowed: ``replicator.v1.mittwald.de/replicate-to: dev-a,dev-b`` when both are ``dev`` namespaces.

Secrets labelled as shareable (``spec.secrets.shareable.labels``) are never judged here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule, in_tier
from tierguard.engine.rules import RuleFacts, RuleFamily, owned
from tierguard.engine.secrets import SecretView, is_shareable, secret_ref
from tierguard.engine.selectors import (
    GO_TRUE,
    reflector_name_matcher,
    replicator_name_matcher,
    selector_matcher,
    split_list,
)
from tierguard.kinds import group_kinds

FACTS = (
    RuleFacts(Rule.SECRET_REPLICATION_CROSS_TIER,
              "A Secret whose replication, reflection or sync annotations pull from, push to or allow a namespace "
              "of another tier, or a controller's object that copies secret material into one."),
)
RULES = owned(FACTS)
KINDS = group_kinds("Secret", "SealedSecret")

REFLECTOR = "reflector.v1.k8s.emberstack.com/"
REPLICATOR = "replicator.v1.mittwald.de/"
KUBED_SYNC = "kubed.appscode.com/sync"
KUBED_ORIGIN = "kubed.appscode.com/origin"
KUBED_ORIGIN_NAMESPACE = "kubed.appscode.com/origin.namespace"
SEALED_CLUSTER_WIDE = "sealedsecrets.bitnami.com/cluster-wide"

_FIX = "keep each tier's copy sourced from that tier, or label the Secret shareable if it is public"


def check(subject: Candidate) -> Iterator[Finding]:
    yield from replication_findings(subject.secret_view(), subject)


def replication_findings(view: SecretView, subject: Candidate) -> Iterator[Finding]:
    """Why a Secret in the subject's tier is replicated across tiers, if it is."""
    if is_shareable(view, subject.policy):
        return
    notes = view.annotations
    yield from _pulled_from(view, subject, REFLECTOR + "reflects", "reflector")
    yield from _pulled_from(view, subject, REPLICATOR + "replicate-from", "kubernetes-replicator")
    yield from _kubed_copy(view, subject)
    if _dotnet_true(notes.get(REFLECTOR + "reflection-allowed")):
        allowed_key = REFLECTOR + "reflection-allowed-namespaces"
        allowed = _any_of(_names(notes.get(allowed_key, ""), reflector_name_matcher),
                          _labels(notes.get(allowed_key + "-selector", ""), _path(allowed_key + "-selector")))
        yield from _targets(view, subject, allowed_key, allowed, "lets reflector mirror it into")
        if _dotnet_true(notes.get(REFLECTOR + "reflection-auto-enabled")):
            auto_key = REFLECTOR + "reflection-auto-namespaces"
            auto = _any_of(_names(notes.get(auto_key, ""), reflector_name_matcher),
                           _labels(notes.get(auto_key + "-selector", ""), _path(auto_key + "-selector")))
            yield from _targets(view, subject, auto_key, _all_of(allowed, auto), "has reflector push it into")
    if notes.get(REPLICATOR + "replication-allowed") in GO_TRUE:
        yield from _targets(view, subject, REPLICATOR + "replication-allowed-namespaces",
                            _names(notes.get(REPLICATOR + "replication-allowed-namespaces", ""),
                                   replicator_name_matcher),
                            "lets kubernetes-replicator copy it into")
    if REPLICATOR + "replicate-to" in notes:
        targets = notes[REPLICATOR + "replicate-to"]
        yield from _targets(view, subject, REPLICATOR + "replicate-to",
                            _names(targets, replicator_name_matcher) if targets else None,
                            "has kubernetes-replicator push it into", every_if_empty=False)
    if REPLICATOR + "replicate-to-matching" in notes:
        key = REPLICATOR + "replicate-to-matching"
        yield from _targets(view, subject, key, _labels(notes[key], _path(key)),
                            "has kubernetes-replicator push it into namespaces matching a selector, including")
    if KUBED_SYNC in notes:
        # config-syncer (pkg/syncer/util.go): exactly "true" is every namespace; any other value, "" included, is
        # a label selector, and the empty selector selects every namespace.
        selector = notes[KUBED_SYNC]
        every = selector == "true" or not selector.strip()
        yield from _targets(view, subject, KUBED_SYNC, None if every else _labels(selector, _path(KUBED_SYNC)),
                            "has kubed/config-syncer copy it into")
    if notes.get(SEALED_CLUSTER_WIDE) == "true":  # sealed-secrets' SecretScope compares with "true" exactly
        yield Finding(
            Rule.SECRET_REPLICATION_CROSS_TIER,
            f"{view.kind} {view.ref} is sealed cluster-wide, so its ciphertext decrypts in every namespace of "
            f"every tier; seal it with namespace scope (strict) for {view.namespace} instead",
            _path(SEALED_CLUSTER_WIDE),
        )


def written_secret_findings(
    view: SecretView, subject: Candidate, lead: str, path_of: Callable[[str], str]
) -> Iterator[Finding]:
    """``replication_findings`` for a Secret a controller will write with the labels and annotations another
    object gives it (cert-manager's ``spec.secretTemplate``): the same judgement, each message led by ``lead``
    (who has it written, and how) and each path the giving field's (``path_of`` of the Secret's own path)."""
    for finding in replication_findings(view, subject):
        requester = finding.requester_message
        yield replace(finding, message=f"{lead}: {finding.message}", path=path_of(finding.path),
                      requester_message=None if requester is None else f"{lead}: {requester}")


NamespaceFilter = Callable[[str, Mapping[str, str]], bool]

_PLAIN_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
"""A namespace name that is also a regex matching only itself."""


@dataclass(frozen=True)
class Targets:
    """The namespaces an annotation reaches; ``None`` in its place means every namespace."""

    selects: NamespaceFilter
    """Judges a known namespace by name and labels."""
    names: frozenset[str] = frozenset()
    """Plain names among the targets: reached even when the context does not know them (yet)."""


def _names(value: str, matcher_for: Callable[[list[str]], Callable[[str], bool]]) -> Targets | None:
    patterns = split_list(value)
    if not patterns:
        return None
    matcher = matcher_for(patterns)
    return Targets(lambda name, _labels: matcher(name), frozenset(p for p in patterns if _PLAIN_NAME.fullmatch(p)))


def _labels(selector: str, path: str) -> Targets | None:
    if not selector.strip():
        return None
    matcher = selector_matcher(selector, path)
    return Targets(lambda _name, labels: matcher(labels))


def _any_of(*choices: Targets | None) -> Targets | None:
    """Namespaces any of the given (set) choices reach; every namespace when none is set."""
    given = [choice for choice in choices if choice is not None]
    if not given:
        return None
    return Targets(lambda name, labels: any(c.selects(name, labels) for c in given),
                   frozenset().union(*(c.names for c in given)))


def _all_of(first: Targets | None, second: Targets | None) -> Targets | None:
    """Namespaces both reach (``None`` reaches every namespace)."""
    if first is None or second is None:
        return second if first is None else first
    return Targets(
        lambda name, labels: first.selects(name, labels) and second.selects(name, labels),
        frozenset(n for n in first.names | second.names if first.selects(n, {}) and second.selects(n, {})),
    )


def _targets(
    view: SecretView,
    subject: Candidate,
    annotation: str,
    targets: Targets | None,
    verb: str,
    *,
    every_if_empty: bool = True,
) -> Iterator[Finding]:
    """One finding when the targets include a namespace of another tier (``None`` selects every namespace)."""
    if targets is None:
        if every_if_empty:
            yield Finding(
                Rule.SECRET_REPLICATION_CROSS_TIER,
                f"{view.kind} {view.ref} {verb} every namespace, including other tiers and untiered ones; "
                f"list only namespaces of tier {subject.tier}",
                _path(annotation),
            )
        return
    matched = {
        ns.name: in_tier(subject.tier_of(ns.name))
        for ns in subject.context.namespaces()
        if ns.name != view.namespace and targets.selects(ns.name, ns.labels) and subject.is_other_tier(ns.name)
    }
    matched |= {
        name: "not known, so untiered"
        for name in targets.names
        if name != view.namespace and subject.context.namespace(name) is None and subject.is_other_tier(name)
    }
    if matched:
        head = f"{view.kind} {view.ref} ({in_tier(subject.tier)}) {verb}"
        yield Finding(
            Rule.SECRET_REPLICATION_CROSS_TIER,
            f"{head} {_shown(matched)}; {_FIX}",
            _path(annotation),
            # A pattern or selector reaches namespaces the requester did not name: they read those by tier only,
            # or a Secret would list other tiers' namespaces to someone who may not list namespaces.
            requester_message=_named_by_requester(head, matched, targets.names),
        )


def _shown(matched: dict[str, str]) -> str:
    shown = sorted(f"{name} ({where})" for name, where in matched.items())
    return ", ".join(shown[:5]) + (" ..." if len(shown) > 5 else "")


def _named_by_requester(head: str, matched: dict[str, str], named: frozenset[str]) -> str | None:
    unnamed = sorted({where for name, where in matched.items() if name not in named})
    if not unnamed:
        return None
    count = sum(1 for name in matched if name not in named)
    reached = f"{count} namespace{'s' if count > 1 else ''} ({', '.join(unnamed)}) by pattern or selector"
    written = {name: where for name, where in matched.items() if name in named}
    return f"{head} {_shown(written) + ' and ' if written else ''}{reached}; {_FIX}"


def _pulled_from(view: SecretView, subject: Candidate, annotation: str, tool: str) -> Iterator[Finding]:
    source = view.annotations.get(annotation, "").strip()
    if not source:
        return
    namespace, _, name = source.rpartition("/")
    namespace = namespace or view.namespace
    if subject.is_other_tier(namespace):
        yield Finding(
            Rule.SECRET_REPLICATION_CROSS_TIER,
            f"{view.kind} {view.ref} ({in_tier(subject.tier)}) is copied by {tool} from Secret "
            f"{namespace}/{name} ({in_tier(subject.tier_of(namespace))}); {_FIX}",
            _path(annotation),
            related=(secret_ref(namespace, name),),
        )


def _kubed_copy(view: SecretView, subject: Candidate) -> Iterator[Finding]:
    """A copy config-syncer made: its origin namespace is in the label (or the JSON ``origin`` annotation)."""
    origin = view.labels.get(KUBED_ORIGIN_NAMESPACE, "").strip()
    path = f"metadata.labels[{KUBED_ORIGIN_NAMESPACE}]"
    name = view.labels.get(KUBED_ORIGIN_NAMESPACE.replace(".namespace", ".name"), view.name)
    if not origin and KUBED_ORIGIN in view.annotations:
        try:
            reference = json.loads(view.annotations[KUBED_ORIGIN])
        except ValueError:
            reference = None
        if isinstance(reference, Mapping) and isinstance(reference.get("namespace"), str):
            origin, path = reference["namespace"], _path(KUBED_ORIGIN)
            name = str(reference.get("name") or view.name)
    if origin and origin != view.namespace and subject.is_other_tier(origin):
        yield Finding(
            Rule.SECRET_REPLICATION_CROSS_TIER,
            f"{view.kind} {view.ref} ({in_tier(subject.tier)}) is copied by kubed/config-syncer from Secret "
            f"{origin}/{name} ({in_tier(subject.tier_of(origin))}); {_FIX}",
            path,
            related=(secret_ref(origin, name),),
        )


def _dotnet_true(value: str | None) -> bool:
    """.NET ``bool.TryParse``, as reflector reads its annotations: "true" in any case, surrounding blanks ignored."""
    return value is not None and value.strip().lower() == "true"


def _path(annotation: str) -> str:
    return f"metadata.annotations[{annotation}]"


FAMILY = RuleFamily("replication", KINDS, RULES, check, FACTS)
