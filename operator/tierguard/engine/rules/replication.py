"""``secret-replication-cross-tier``: a Secret whose replication annotations move it across tiers.

Covers kubernetes-reflector (``reflects``, ``reflection-allowed[-namespaces]``, ``reflection-auto-*``),
kubernetes-replicator (``replicate-from``, ``replication-allowed[-namespaces]``, ``replicate-to``,
``replicate-to-matching``), kubed/config-syncer (``kubed.appscode.com/sync``) and Sealed Secrets'
``cluster-wide`` scope. Targets given as regexes or selectors are resolved against the namespaces the context
knows; "every namespace" is always cross-tier, since untiered namespaces count as another tier.

Refused, in namespace ``dev``: ``reflector.v1.k8s.emberstack.com/reflects: prod/db``.
Allowed: ``replicator.v1.mittwald.de/replicate-to: dev-a,dev-b`` when both are ``dev`` namespaces.

Secrets labelled as shareable (``spec.secrets.shareable.labels``) are never judged here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from tierguard.engine.context import SecretView
from tierguard.engine.model import Finding, Rule, tier_name
from tierguard.engine.selectors import name_matcher, selector_matcher, split_list
from tierguard.engine.subject import Subject

RULES = (Rule.SECRET_REPLICATION_CROSS_TIER,)
KINDS = frozenset({"Secret", "SealedSecret"})

REFLECTOR = "reflector.v1.k8s.emberstack.com/"
REPLICATOR = "replicator.v1.mittwald.de/"
KUBED_SYNC = "kubed.appscode.com/sync"
SEALED_CLUSTER_WIDE = "sealedsecrets.bitnami.com/cluster-wide"

_FIX = "keep each tier's copy sourced from that tier, or label the Secret shareable if it is public"


def is_shareable(view: SecretView, subject: Subject) -> bool:
    wanted = subject.policy.secrets.shareable.labels
    return bool(wanted) and all(view.labels.get(k) == v for k, v in wanted.items())


def check(subject: Subject) -> Iterator[Finding]:
    view = SecretView.from_object(subject.obj, subject.context.fingerprinter, subject.namespace)
    yield from replication_findings(view, subject)


def replication_findings(view: SecretView, subject: Subject) -> Iterator[Finding]:
    """Why a Secret in the subject's tier is replicated across tiers, if it is."""
    if is_shareable(view, subject):
        return
    notes = view.annotations
    yield from _pulled_from(view, subject, REFLECTOR + "reflects", "reflector")
    yield from _pulled_from(view, subject, REPLICATOR + "replicate-from", "kubernetes-replicator")
    if _true(notes.get(REFLECTOR + "reflection-allowed")):
        allowed = notes.get(REFLECTOR + "reflection-allowed-namespaces", "")
        yield from _targets(view, subject, REFLECTOR + "reflection-allowed-namespaces",
                            _names(allowed), "lets reflector mirror it into")
        if _true(notes.get(REFLECTOR + "reflection-auto-enabled")):
            auto = notes.get(REFLECTOR + "reflection-auto-namespaces", "") or allowed
            yield from _targets(view, subject, REFLECTOR + "reflection-auto-namespaces",
                                _names(auto), "has reflector push it into")
    if _true(notes.get(REPLICATOR + "replication-allowed")):
        allowed = notes.get(REPLICATOR + "replication-allowed-namespaces", "")
        yield from _targets(view, subject, REPLICATOR + "replication-allowed-namespaces",
                            _names(allowed), "lets kubernetes-replicator copy it into")
    if REPLICATOR + "replicate-to" in notes:
        targets = notes[REPLICATOR + "replicate-to"]
        yield from _targets(view, subject, REPLICATOR + "replicate-to", _names(targets) if targets else None,
                            "has kubernetes-replicator push it into", every_if_empty=False)
    if REPLICATOR + "replicate-to-matching" in notes:
        key = REPLICATOR + "replicate-to-matching"
        yield from _targets(view, subject, key, _labels(notes[key], _path(key)),
                            "has kubernetes-replicator push it into namespaces matching a selector, including")
    if KUBED_SYNC in notes:
        selector = notes[KUBED_SYNC]
        yield from _targets(view, subject, KUBED_SYNC, _labels(selector, _path(KUBED_SYNC)) if selector else None,
                            "has kubed/config-syncer copy it into")
    if _true(notes.get(SEALED_CLUSTER_WIDE)):
        yield Finding(
            Rule.SECRET_REPLICATION_CROSS_TIER,
            f"{view.kind} {view.ref} is sealed cluster-wide, so its ciphertext decrypts in every namespace of "
            f"every tier; seal it with namespace scope (strict) for {view.namespace} instead",
            _path(SEALED_CLUSTER_WIDE),
        )


NamespaceFilter = Callable[[str, Mapping[str, str]], bool]


def _names(value: str) -> NamespaceFilter | None:
    patterns = split_list(value)
    if not patterns:
        return None
    matcher = name_matcher(patterns)
    return lambda name, _labels: matcher(name)


def _labels(selector: str, path: str) -> NamespaceFilter | None:
    if not selector.strip():
        return None
    matcher = selector_matcher(selector, path)
    return lambda _name, labels: matcher(labels)


def _targets(
    view: SecretView,
    subject: Subject,
    annotation: str,
    selects: NamespaceFilter | None,
    verb: str,
    *,
    every_if_empty: bool = True,
) -> Iterator[Finding]:
    """One finding when the targets include a namespace of another tier (``None`` selects every namespace)."""
    if selects is None:
        if every_if_empty:
            yield Finding(
                Rule.SECRET_REPLICATION_CROSS_TIER,
                f"{view.kind} {view.ref} {verb} every namespace, including other tiers and untiered ones; "
                f"list only namespaces of tier {tier_name(subject.tier)}",
                _path(annotation),
            )
        return
    crossing = [
        f"{ns.name} ({tier_name(subject.tier_of(ns.name))})"
        for ns in subject.context.namespaces()
        if ns.name != view.namespace and selects(ns.name, ns.labels) and subject.is_other_tier(ns.name)
    ]
    if crossing:
        shown = ", ".join(sorted(crossing)[:5]) + (" ..." if len(crossing) > 5 else "")
        yield Finding(
            Rule.SECRET_REPLICATION_CROSS_TIER,
            f"{view.kind} {view.ref} (tier {tier_name(subject.tier)}) {verb} {shown}; {_FIX}",
            _path(annotation),
        )


def _pulled_from(view: SecretView, subject: Subject, annotation: str, tool: str) -> Iterator[Finding]:
    source = view.annotations.get(annotation, "").strip()
    if not source:
        return
    namespace, _, name = source.rpartition("/")
    namespace = namespace or view.namespace
    if subject.is_other_tier(namespace):
        yield Finding(
            Rule.SECRET_REPLICATION_CROSS_TIER,
            f"{view.kind} {view.ref} (tier {tier_name(subject.tier)}) is copied by {tool} from Secret "
            f"{namespace}/{name} of tier {tier_name(subject.tier_of(namespace))}; {_FIX}",
            _path(annotation),
        )


def _true(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"


def _path(annotation: str) -> str:
    return f"metadata.annotations[{annotation}]"
