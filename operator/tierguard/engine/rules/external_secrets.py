"""External Secrets Operator (``external-secrets.io``): objects that read or write another tier's secrets.

Reported as ``workload-secret-cross-tier`` (the rule's facts live in ``workloads.py``):

- An ExternalSecret names remote paths (``data[].remoteRef.key``, ``dataFrom[].extract.key``, ``dataFrom[].find``)
  and the stores it reads through; a path ``spec.secrets.pathPatterns`` gives another tier, or a store whose
  kubernetes provider reads another tier's namespace, is refused.
- A PushSecret writes a Secret of its namespace to ``data[].match.remoteRef.remoteKey`` of each store it names:
  a remote key of another tier, or a store writing into another tier's namespace, is refused. So is an entry's
  ``metadata.spec.remoteNamespace`` (a ``PushSecretMetadata``) of another tier: the kubernetes provider writes
  that entry there instead of into the store's ``remoteNamespace``, through a ClusterSecretStore only
  (``providers/v1/kubernetes/client.go``, ``PushSecret``; through a SecretStore it refuses the override).
  ``dataTo[]`` pushes in bulk (``pkg/controllers/pushsecret``, ``expandSingleDataTo``): into its ``remoteKey``,
  or each key of the source Secret matching ``match.regexp`` into a remote secret named by the key after the
  ``rewrite`` regexps. Those names are judged when the Secret is known; a ``transform`` rewrite (a Go template),
  a Secret chosen by labels or a generator's output give names tierguard cannot know: not judged.
- Through a known store of the vault provider, a key is also judged as the provider joins it with the store's
  mount (``vault_store_path``): ``key: prod/db`` under ``path: secret`` (KV v2) is ``secret/data/prod/db``.
- A ClusterExternalSecret or ClusterPushSecret creates its ExternalSecret or PushSecret in each namespace it
  selects: each is judged as if it lived there, and enforced in that namespace's tier.
- A SecretStore or ClusterSecretStore whose kubernetes provider reads another tier's namespace (a
  ClusterSecretStore serves every tier unless ``spec.conditions`` pin one).

Refused, in a ``dev`` namespace with ``pathPatterns: {prod: ["secret/data/prod/*"]}``: an ExternalSecret with
``data[0].remoteRef.key: secret/data/prod/db``. Allowed: ``secret/data/dev/db``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule, in_tier
from tierguard.engine.objects import mapping_at, mappings_at, str_at
from tierguard.engine.rules import RuleFacts, RuleFamily
from tierguard.engine.selectors import label_selector_matches
from tierguard.engine.tiers import other_tiers_of_path, regex_literal_prefix, tiers_under_prefix
from tierguard.kinds import group_kinds

FACTS: tuple[RuleFacts, ...] = ()
"""It owns no rule id: what it finds is ``workload-secret-cross-tier`` (``workloads.py``)."""
RULES = frozenset({Rule.WORKLOAD_SECRET_CROSS_TIER, Rule.POLICY_INVALID})
KINDS = group_kinds("ExternalSecret", "ClusterExternalSecret", "PushSecret", "ClusterPushSecret", "SecretStore",
                    "ClusterSecretStore")


def check(subject: Candidate) -> Iterator[Finding]:
    spec = mapping_at(subject.obj, "spec", "spec")
    if subject.kind == "ExternalSecret":
        yield from _external_secret_findings(subject, spec, "spec", Holder.own(subject))
    elif subject.kind == "PushSecret":
        yield from _push_secret_findings(subject, spec, "spec", Holder.own(subject))
    elif subject.kind == "ClusterExternalSecret":
        inner = mapping_at(spec, "externalSecretSpec", "spec.externalSecretSpec")
        for holder in Holder.fanned_out(subject, spec, "ExternalSecret"):
            yield from _tiered(_external_secret_findings(subject, inner, "spec.externalSecretSpec", holder))
    elif subject.kind == "ClusterPushSecret":
        inner = mapping_at(spec, "pushSecretSpec", "spec.pushSecretSpec")
        for holder in Holder.fanned_out(subject, spec, "PushSecret"):
            yield from _tiered(_push_secret_findings(subject, inner, "spec.pushSecretSpec", holder))
    else:
        yield from _store_remote_namespace(subject, subject.obj, "spec.provider.kubernetes.remoteNamespace")


@dataclass(frozen=True)
class Holder:
    """Where an ExternalSecret or PushSecret spec is judged: the object's own namespace, or each namespace a
    cluster-scoped ClusterExternalSecret or ClusterPushSecret creates its object in."""

    who: str
    """How messages name it: ``ExternalSecret dev/app (tier dev)``, or ``ClusterExternalSecret fanout's
    ExternalSecret in namespace team-a (tier dev)`` (a cluster-scoped object has no tier of its own)."""
    namespace: str | None
    tier: str | None
    cluster_made: bool = False
    """Made by a cluster-scoped object: each finding carries the tier it is enforced in."""

    @classmethod
    def own(cls, subject: Candidate) -> Holder:
        return cls(f"{subject.ref} ({in_tier(subject.tier)})", subject.namespace, subject.tier)

    @classmethod
    def fanned_out(cls, subject: Candidate, spec: Mapping[str, Any], made: str) -> Iterator[Holder]:
        for namespace in selected_namespaces(subject, spec):
            tier = subject.tier_of(namespace)
            yield cls(f"{subject.ref}'s {made} in namespace {namespace} ({in_tier(tier)})", namespace, tier,
                      cluster_made=True)


def _tiered(findings: Iterator[Finding]) -> Iterator[Finding]:
    """A fanned-out finding without a tier is untiered material reaching an untiered namespace: nothing to say."""
    return (finding for finding in findings if finding.tier is not None)


@dataclass(frozen=True)
class RemotePath:
    """A remote secret named by an ExternalSecret or PushSecret: one ``path``, or (``prefix``) every secret whose
    name starts with it (``dataFrom[].find``; the empty prefix is the whole store)."""

    path: str
    field: str
    prefix: bool = False
    store: tuple[str, str] | None = None
    """(kind, name) of the store this entry reads through, when not the object's ``secretStoreRef``."""
    via: str = ""
    """How the path was made from the one written (a Vault store's mount), for the message."""

    @property
    def shown(self) -> str:
        return f"{self.path.strip()!r} ({self.via})" if self.via else repr(self.path.strip())


def vault_store_path(store: Mapping[str, Any], key: str) -> str | None:
    """The Vault path External Secrets' vault provider reads or writes for ``key`` through ``store``
    (``providers/v1/vault/client_get.go``, ``buildPath``): under the store's ``path`` (its KV mount), with
    ``data`` for KV v2 (the default version), a key already under the mount kept; without a mount, KV v2 puts
    ``data`` after the key's first segment unless the key has a ``/data/``. None for a store of another provider."""
    provider = mapping_at(mapping_at(store, "spec", "spec"), "provider", "spec.provider")
    vault = mapping_at(provider, "vault", "spec.provider.vault")
    if not vault:
        return None
    v2 = (str_at(vault, "version", "spec.provider.vault.version") or "v2") == "v2"
    mount = vault.get("path")
    if isinstance(mount, str):
        out = key
        if out.startswith(mount + "/"):
            out = out[len(mount) + 1:]
            if v2 and out.startswith("data/"):
                out = out[len("data/"):]
        # A mount written with a trailing slash ("secret/") joins as "secret//data/...": read as one slash.
        return re.sub("/+", "/", "/".join([mount, *(["data"] if v2 else []), out]))
    if v2 and "/data/" not in key:
        first, _, rest = key.partition("/")
        return "/".join([first, "data", rest]) if rest else f"{first}/data/"
    return key


def _store_ref(holder: Mapping[str, Any], path: str) -> tuple[str, str] | None:
    ref = mapping_at(holder, "storeRef", f"{path}.storeRef")
    name = str_at(ref, "name", f"{path}.storeRef.name")
    return (str_at(ref, "kind", f"{path}.storeRef.kind") or "SecretStore", name) if name else None


def external_secret_paths(spec: Mapping[str, Any], base: str) -> Iterator[RemotePath]:
    """Every remote secret an ExternalSecret spec names, in v1 and v1beta1 (and v1alpha1's ``dataFrom[].key``):
    ``data[].remoteRef.key``, ``dataFrom[].extract.key``, ``dataFrom[].find`` (by ``path``, ``name.regexp``,
    ``tags``) and the store each entry's ``sourceRef.storeRef`` reads through."""
    for item, path in mappings_at(spec, "data", f"{base}.data"):
        store = _store_ref(mapping_at(item, "sourceRef", f"{path}.sourceRef"), f"{path}.sourceRef")
        key = str_at(mapping_at(item, "remoteRef", f"{path}.remoteRef"), "key", f"{path}.remoteRef.key")
        if key:
            yield RemotePath(key, f"{path}.remoteRef.key", store=store)
    for item, path in mappings_at(spec, "dataFrom", f"{base}.dataFrom"):
        store = _store_ref(mapping_at(item, "sourceRef", f"{path}.sourceRef"), f"{path}.sourceRef")
        key = str_at(mapping_at(item, "extract", f"{path}.extract"), "key", f"{path}.extract.key")
        if key:
            yield RemotePath(key, f"{path}.extract.key", store=store)
        legacy = str_at(item, "key", f"{path}.key")  # v1alpha1: dataFrom items are remote refs themselves
        if legacy:
            yield RemotePath(legacy, f"{path}.key", store=store)
        find = mapping_at(item, "find", f"{path}.find")
        if item.get("find") is not None:  # an empty find ({}) names nothing to narrow by: the whole store
            yield _find_scope(find, f"{path}.find", store)


def _find_scope(find: Mapping[str, Any], path: str, store: tuple[str, str] | None) -> RemotePath:
    """What a find reads: names under ``path`` (a name prefix for every provider), narrowed by an anchored
    ``name.regexp``'s literal start. Tags and unanchored regexes cannot be judged offline: they narrow nothing."""
    under = str_at(find, "path", f"{path}.path")
    expression = str_at(mapping_at(find, "name", f"{path}.name"), "regexp", f"{path}.name.regexp")
    start = regex_literal_prefix(expression) if expression else None
    prefix, field = under, f"{path}.path" if under else path
    if start:
        # Providers match the regex against the full name: keep the longer of the two starts when they agree.
        normalized = under.lstrip("/")
        if start.lstrip("/").startswith(normalized):
            prefix, field = start, f"{path}.name.regexp"
    return RemotePath(prefix, field, prefix=True, store=store)


def _push_secret_paths(subject: Candidate, spec: Mapping[str, Any], base: str, holder: Holder) -> list[RemotePath]:
    """Where a PushSecret spec writes: ``data[].match.remoteRef.remoteKey``, and what ``dataTo[]`` makes."""
    paths = []
    for item, path in mappings_at(spec, "data", f"{base}.data"):
        remote = mapping_at(mapping_at(item, "match", f"{path}.match"), "remoteRef", f"{path}.match.remoteRef")
        key = str_at(remote, "remoteKey", f"{path}.match.remoteRef.remoteKey")
        if key:
            paths.append(RemotePath(key, f"{path}.match.remoteRef.remoteKey"))
    bulk = mappings_at(spec, "dataTo", f"{base}.dataTo")
    keys = _source_keys(subject, spec, base, holder) if bulk else None
    for item, path in bulk:
        key = str_at(item, "remoteKey", f"{path}.remoteKey")
        if key:
            paths.append(RemotePath(key, f"{path}.remoteKey"))
        elif keys is not None:
            paths.extend(RemotePath(name, path) for name in bulk_names(keys, item, path))
    return paths


def _source_keys(subject: Candidate, spec: Mapping[str, Any], base: str, holder: Holder) -> list[str] | None:
    """The keys of the Secret a PushSecret pushes (``selector.secret.name`` in its namespace), when known."""
    selector = mapping_at(spec, "selector", f"{base}.selector")
    name = str_at(mapping_at(selector, "secret", f"{base}.selector.secret"), "name", f"{base}.selector.secret.name")
    view = subject.context.secret(holder.namespace, name) if name and holder.namespace else None
    return None if view is None else sorted({fingerprint.key for fingerprint in view.fingerprints})


_GO_GROUP = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def bulk_names(keys: list[str], item: Mapping[str, Any], path: str) -> list[str]:
    """The remote names ``dataTo`` gives ``keys``: those ``match.regexp`` selects (unanchored, as Go's
    ``MatchString``), each rewritten by every ``rewrite[].regexp`` in turn (``ReplaceAllString``, ``$1`` and
    ``${name}`` expanded). Empty when a pattern does not compile here or a ``transform`` makes names unknowable."""
    expression = str_at(mapping_at(item, "match", f"{path}.match"), "regexp", f"{path}.match.regexp")
    rewrites = []
    for rewrite, at in mappings_at(item, "rewrite", f"{path}.rewrite"):
        if rewrite.get("transform") is not None:
            return []
        regexp = mapping_at(rewrite, "regexp", f"{at}.regexp")
        target = str_at(regexp, "target", f"{at}.regexp.target")
        rewrites.append((str_at(regexp, "source", f"{at}.regexp.source"),
                         _GO_GROUP.sub(lambda m: f"\\g<{m.group(1) or m.group(2)}>", target.replace("\\", "\\\\"))))
    try:
        names = [key for key in keys if not expression or re.search(expression, key)]
        for source, target in rewrites:
            names = [re.sub(source, target, name) for name in names]
    except (re.error, IndexError):
        return []
    return names


def _external_secret_findings(subject: Candidate, spec: Mapping[str, Any], base: str, holder: Holder
                              ) -> Iterator[Finding]:
    """An ExternalSecret spec judged where ``holder`` places it: its paths and its stores."""
    default_store = None
    ref = mapping_at(spec, "secretStoreRef", f"{base}.secretStoreRef")
    name = str_at(ref, "name", f"{base}.secretStoreRef.name")
    if name:
        default_store = (str_at(ref, "kind", f"{base}.secretStoreRef.kind") or "SecretStore", name)
    stores = {default_store} if default_store else set()
    paths = list(external_secret_paths(spec, base))
    stores.update(p.store for p in paths if p.store)
    joined = [j for p in paths for j in _joined(subject, p, [p.store or default_store], holder)]
    yield from _remote_path_findings(subject, paths + joined, holder, "reads")
    for kind, store_name in sorted(stores):
        field = (f"{base}.secretStoreRef" if (kind, store_name) == default_store else
                 next(p.field.rsplit(".", 1)[0] for p in paths if p.store == (kind, store_name)))
        yield from _store_findings(subject, (kind, store_name), holder, field)


def _push_secret_findings(subject: Candidate, spec: Mapping[str, Any], base: str, holder: Holder
                          ) -> Iterator[Finding]:
    """A PushSecret spec judged where ``holder`` places it: where it writes, and the stores it writes through."""
    refs = [(str_at(ref, "kind", f"{path}.kind") or "SecretStore", str_at(ref, "name", f"{path}.name"), path)
            for ref, path in mappings_at(spec, "secretStoreRefs", f"{base}.secretStoreRefs")]
    named = [(kind, name) for kind, name, _ in refs if name]
    paths = _push_secret_paths(subject, spec, base, holder)
    joined = [j for p in paths for j in _joined(subject, p, named, holder)]
    yield from _remote_path_findings(subject, paths + joined, holder, "writes")
    for kind, name, path in refs:
        if name:
            yield from _store_findings(subject, (kind, name), holder, path)
    if any(_may_be_kubernetes(subject, name) for kind, name, _ in refs if kind == "ClusterSecretStore"):
        yield from _push_namespace_findings(subject, spec, base, holder)


def _may_be_kubernetes(subject: Candidate, name: str) -> bool:
    """Whether a ClusterSecretStore may be of the kubernetes provider: it is, or it is not known here (or chosen
    by a ``labelSelector``, without a name)."""
    store = subject.context.secret_store("ClusterSecretStore", None, name) if name else None
    return store is None or _kubernetes_remote(store) is not None


def _push_namespace_findings(subject: Candidate, spec: Mapping[str, Any], base: str, holder: Holder
                             ) -> Iterator[Finding]:
    """Each entry whose ``PushSecretMetadata`` has the kubernetes provider write into a namespace of another tier."""
    entries = mappings_at(spec, "data", f"{base}.data") + mappings_at(spec, "dataTo", f"{base}.dataTo")
    for item, path in entries:
        metadata = mapping_at(item, "metadata", f"{path}.metadata")
        field = f"{path}.metadata.spec.remoteNamespace"
        remote = str_at(mapping_at(metadata, "spec", f"{path}.metadata.spec"), "remoteNamespace", field)
        if not remote or remote == holder.namespace or subject.is_exempt(remote):
            continue
        remote_tier = subject.tier_of(remote)
        if remote_tier != holder.tier:
            yield Finding(
                Rule.WORKLOAD_SECRET_CROSS_TIER,
                f"{holder.who} pushes its Secret into namespace {remote} ({in_tier(remote_tier)}) by {field} "
                f"(the kubernetes provider of a ClusterSecretStore writes there); push only into namespaces of "
                f"{in_tier(holder.tier)}",
                field,
                tier=(holder.tier or remote_tier) if holder.cluster_made else None,
            )


def _joined(subject: Candidate, remote: RemotePath, stores: Sequence[tuple[str, str] | None], holder: Holder
            ) -> Iterator[RemotePath]:
    """``remote`` as each known Vault store among ``stores`` joins it with its mount, when that differs."""
    for ref in stores:
        if ref is None:
            continue
        kind, name = ref
        store = subject.context.secret_store(kind, holder.namespace, name)
        joined = vault_store_path(store, remote.path.strip().lstrip("/")) if store is not None else None
        if joined is not None and joined.strip("/") != remote.path.strip().strip("/"):
            via = f"key {remote.path.strip()!r} under {kind} {name}'s Vault mount"
            yield RemotePath(joined, remote.field, remote.prefix, remote.store, via)


def _remote_path_findings(subject: Candidate, paths: list[RemotePath], holder: Holder, verb: str
                          ) -> Iterator[Finding]:
    if not subject.policy.secrets.path_patterns:
        return
    tier = holder.tier
    crossing: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for remote in paths:
        if remote.prefix:
            reached = tuple(t for t in tiers_under_prefix(remote.path, subject.policy) if t != tier)
            if reached:
                scope = (f"every remote secret under {remote.shown}" if remote.path.strip()
                         else "every remote secret of its store")
                yield Finding(
                    Rule.WORKLOAD_SECRET_CROSS_TIER,
                    f"{holder.who} reads {scope} ({remote.field}), which includes paths of tier "
                    f"{', '.join(reached)}; narrow find.path to a path of tier {tier}",
                    remote.field,
                    tier=(tier or reached[0]) if holder.cluster_made else None,
                )
            continue
        owners = other_tiers_of_path(remote.path, subject.policy, tier)
        if owners:
            crossing.setdefault((remote.field, owners), []).append(remote.shown)
    # One finding per field and tiers: a dataTo entry names one remote path per key of its Secret.
    for (field, owners), names in crossing.items():
        named = ("names secret path" if verb == "reads" else "writes to secret path") + ("s" if len(names) > 1 else "")
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        yield Finding(
            Rule.WORKLOAD_SECRET_CROSS_TIER,
            f"{holder.who} {named} {shown} in {field}, which belong{'' if len(names) > 1 else 's'} to tier "
            f"{', '.join(owners)}; use a path of tier {tier}",
            field,
            tier=(tier or owners[0]) if holder.cluster_made else None,
        )


def _store_findings(subject: Candidate, store_ref: tuple[str, str], holder: Holder, path: str) -> Iterator[Finding]:
    kind, name = store_ref
    store = subject.context.secret_store(kind, holder.namespace, name)
    if store is None:
        return
    reads = _kubernetes_remote(store)
    if reads is None:
        return
    remote = reads[0]
    remote_tier = subject.tier_of(remote)
    if remote_tier != holder.tier:
        yield Finding(
            Rule.WORKLOAD_SECRET_CROSS_TIER,
            f"{holder.who} uses {kind} {name}, which reaches Secrets of namespace {remote} ({in_tier(remote_tier)}); "
            f"use a store that reaches only namespaces of {in_tier(holder.tier)}",
            path,
            # A cluster-scoped subject: the tier involved, the target's or else the store's remote one.
            tier=(holder.tier or remote_tier) if holder.cluster_made else None,
        )


def selected_namespaces(subject: Candidate, spec: Mapping[str, Any]) -> list[str]:
    """Namespaces a ClusterExternalSecret (or ClusterPushSecret) selects: ``namespaces`` by name, and every known
    namespace matching ``namespaceSelector`` or any of ``namespaceSelectors``."""
    names = [n for n in (spec.get("namespaces") or []) if isinstance(n, str) and n] \
        if isinstance(spec.get("namespaces"), list) else []
    selectors = [s for s, _ in mappings_at(spec, "namespaceSelectors", "spec.namespaceSelectors")]
    single = spec.get("namespaceSelector")
    if isinstance(single, Mapping):
        selectors.append(single)
    selected = list(dict.fromkeys(names))
    for namespace in subject.context.namespaces():
        if namespace.name not in selected and any(label_selector_matches(s, namespace.labels) for s in selectors):
            selected.append(namespace.name)
    return selected


def _kubernetes_remote(store: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """The namespace a store's kubernetes provider reaches (``default`` when ``remoteNamespace`` is unset, as
    External Secrets reads it) and the store's spec; None for any other provider."""
    spec = mapping_at(store, "spec", "spec")
    provider = mapping_at(mapping_at(spec, "provider", "spec.provider"), "kubernetes", "spec.provider.kubernetes")
    if not provider:
        return None
    return str_at(provider, "remoteNamespace", "spec.provider.kubernetes.remoteNamespace") or "default", spec


def _store_remote_namespace(subject: Candidate, store: Mapping[str, Any], path: str) -> Iterator[Finding]:
    """A SecretStore whose kubernetes provider reaches a namespace of another tier; a ClusterSecretStore
    reaching a tiered namespace without ``spec.conditions`` that keep the other tiers out."""
    reads = _kubernetes_remote(store)
    if reads is None:
        return
    remote, spec = reads
    remote_tier = subject.tier_of(remote)
    if subject.kind == "ClusterSecretStore":
        if remote_tier is not None and not _conditions_pin_tier(subject, spec, remote_tier):
            yield Finding(
                Rule.WORKLOAD_SECRET_CROSS_TIER,
                f"{subject.ref} reads Secrets of namespace {remote} (tier {remote_tier}) and every tier may use "
                f"it; limit spec.conditions to namespaces of tier {remote_tier}",
                path,
                tier=remote_tier,
            )
    elif remote_tier != subject.tier:
        yield Finding(
            Rule.WORKLOAD_SECRET_CROSS_TIER,
            f"{subject.ref} ({in_tier(subject.tier)}) reads Secrets of namespace {remote} "
            f"({in_tier(remote_tier)}); read only from namespaces of its own tier",
            path,
        )


def _conditions_pin_tier(subject: Candidate, spec: Mapping[str, Any], tier: str) -> bool:
    conditions = mappings_at(spec, "conditions", "spec.conditions")
    if not conditions:
        return False
    label = subject.policy.tier_label
    for condition, path in conditions:
        names = condition.get("namespaces")
        selector = mapping_at(condition, "namespaceSelector", f"{path}.namespaceSelector")
        match_labels = mapping_at(selector, "matchLabels", f"{path}.namespaceSelector.matchLabels")
        if isinstance(names, list) and names and not condition.get("namespaceRegexes"):
            if any(not isinstance(n, str) or subject.tier_of(n) != tier for n in names):
                return False
        elif match_labels.get(label) != tier:
            return False
    return True


FAMILY = RuleFamily("external-secrets", KINDS, RULES, check, FACTS)
