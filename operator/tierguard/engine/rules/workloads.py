"""``workload-secret-cross-tier``: workloads and secret-store objects that reach another tier's secrets.

A Pod or pod template is refused when it consumes a Secret that the replication or shared-value rules flag, or
names an external secret path that ``spec.secrets.pathPatterns`` assigns to another tier: Vault agent
annotations (``agent-inject-secret-*``, ``agent-inject-template-*``, ``role``), Bank-Vaults (``vault:`` and
``>>vault:`` env values, ``vault-env-from-path``, ``vault-role``). A SecretProviderClass (Vault provider
``objects[].secretPath``), ExternalSecret (``remoteRef.key``, its store's remote namespace) or SecretStore /
ClusterSecretStore (kubernetes provider ``remoteNamespace``) is refused the same way.

Refused, in a ``dev`` namespace with ``pathPatterns: {prod: ["secret/data/prod/*"]}``:
``vault.hashicorp.com/agent-inject-secret-db: secret/data/prod/db``. Allowed: ``secret/data/dev/db``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Malformed, Rule, in_tier
from tierguard.engine.objects import mapping_at, mappings_at, str_at
from tierguard.engine.podspec import WORKLOAD_KINDS, PodSite, env_values, secret_uses
from tierguard.engine.rules import RuleFacts, RuleFamily, owned
from tierguard.engine.rules.replication import replication_findings
from tierguard.engine.rules.shared_values import shared_value_findings
from tierguard.engine.secrets import SecretView
from tierguard.engine.selectors import label_selector_matches
from tierguard.engine.tiers import regex_literal_prefix, tiers_of_path, tiers_under_prefix
from tierguard.engine.verdicts import CONSUMED_SECRETS
from tierguard.kinds import group_kinds
from tierguard.yamlload import TAG_MISFITS

FACTS = (
    RuleFacts(Rule.WORKLOAD_SECRET_CROSS_TIER,
              "A workload that consumes a cross-tier Secret or names another tier's external secret path."),
)
# policy-invalid too: a consumed Secret whose own annotations cannot be judged is reported on the workload.
RULES = owned(FACTS) | {Rule.POLICY_INVALID}
KINDS = group_kinds(*WORKLOAD_KINDS, "SecretProviderClass", "ExternalSecret", "ClusterExternalSecret", "PushSecret",
                    "SecretStore", "ClusterSecretStore")

VAULT = "vault.hashicorp.com/"
BANK_VAULTS = "vault.security.banzaicloud.io/"
_TEMPLATE_SECRET = re.compile(r"""secret\s+["`]([^"`]+)["`]""")
_BANK_VAULTS_VALUE = re.compile(r"^(?:>>)?vault:([^#]+)")


def check(subject: Candidate) -> Iterator[Finding]:
    if subject.kind in WORKLOAD_KINDS:
        site = subject.pod_site()
        if site is not None:
            yield from _consumed_secrets(subject, site)
            yield from _path_findings(subject, _workload_paths(site))
    elif subject.kind == "SecretProviderClass":
        yield from _path_findings(subject, _provider_class_paths(subject.obj))
    elif subject.kind == "ExternalSecret":
        spec = mapping_at(subject.obj, "spec", "spec")
        yield from _external_secret_findings(subject, spec, "spec", subject.namespace, subject.tier)
    elif subject.kind == "ClusterExternalSecret":
        yield from _cluster_external_secret(subject)
    elif subject.kind == "PushSecret":
        yield from _push_secret(subject)
    else:
        yield from _store_remote_namespace(subject, subject.obj, "spec.provider.kubernetes.remoteNamespace")


def _consumed_secrets(subject: Candidate, site: PodSite) -> Iterator[Finding]:
    namespace = subject.namespace or "default"
    uses = secret_uses(site)
    names = tuple(dict.fromkeys(use.name for use in uses))  # a Secret used by env, envFrom and a volume: once
    judged = dict(zip(names, CONSUMED_SECRETS.consumed(subject, namespace, names, _first_crossing), strict=True))
    for use in uses:
        verdict = judged[use.name]
        if verdict is None:
            continue
        view, problem = verdict
        if isinstance(problem, Malformed):
            # The Secret's own annotations cannot be judged: say so about that Secret, not about this workload.
            yield Finding(Rule.POLICY_INVALID, f"{subject.ref} consumes Secret {view.ref}, which cannot be "
                          f"evaluated ({problem}); fix the Secret", use.path)
        elif problem is not None:
            crossing = f"{subject.ref} consumes Secret {view.ref}, which crosses tiers ({problem.rule}): "
            yield Finding(
                Rule.WORKLOAD_SECRET_CROSS_TIER,
                crossing + problem.message,
                use.path,
                related=(view.object_ref, *problem.related),
                # The Secret's own finding may be redacted for the requester (a shared value): so is this one.
                requester_message=None if problem.requester_message is None
                else crossing + problem.requester_message,
            )


def _first_crossing(view: SecretView, subject: Candidate) -> Finding | None:
    """Raises Malformed when the Secret's own annotations cannot be judged."""
    return next(replication_findings(view, subject), None) or next(shared_value_findings(view, subject), None)


def _workload_paths(site: PodSite) -> Iterator[tuple[str, str]]:
    for key, value in site.annotations.items():
        path = f"{site.metadata_path}.annotations[{key}]"
        if key.startswith(VAULT + "agent-inject-secret-") or key in (VAULT + "role", BANK_VAULTS + "vault-role"):
            yield value, path
        elif key.startswith(VAULT + "agent-inject-template-"):
            for match in _TEMPLATE_SECRET.finditer(value):
                yield match.group(1), path
        elif key == BANK_VAULTS + "vault-env-from-path":
            for item in value.split(","):
                yield item, path
    for value, path in env_values(site):
        reference = _BANK_VAULTS_VALUE.match(value)
        if reference:
            yield reference.group(1), path


def _yaml_items(parameters: Mapping[str, Any], key: str) -> list[tuple[object, str]]:
    """A SecretProviderClass parameter holding a YAML list as a string (Azure and Akeyless wrap it in
    ``array:``, whose items may be YAML strings themselves), with each item's field path."""
    text = str_at(parameters, key, f"spec.parameters.{key}")
    if not text:
        return []
    try:
        items = yaml.safe_load(text)
    except (yaml.YAMLError, *TAG_MISFITS):
        raise Malformed(f"spec.parameters.{key}", "is not a valid YAML list") from None
    if isinstance(items, Mapping) and "array" in items:
        try:
            items = [yaml.safe_load(item) if isinstance(item, str) else item for item in items["array"] or []]
        except (yaml.YAMLError, *TAG_MISFITS):
            raise Malformed(f"spec.parameters.{key}.array", "is not a list of YAML objects") from None
    if not isinstance(items, list):
        raise Malformed(f"spec.parameters.{key}", "must be a YAML list of objects")
    return [(item, f"spec.parameters.{key}[{index}]") for index, item in enumerate(items)]


def _fields(items: list[tuple[object, str]], *names: str) -> Iterator[tuple[str, str]]:
    for item, path in items:
        if not isinstance(item, Mapping):
            raise Malformed(path, "expected an object")
        for name in names:
            value = item.get(name)
            if isinstance(value, str) and value:
                yield value, f"{path}.{name}"


_AWS_ARN = re.compile(r"^arn:aws[\w-]*:(?:secretsmanager|ssm):[^:]*:[^:]*:(?:secret:(?P<secret>.+?)(?:-\w{6})?|"
                      r"parameter(?P<parameter>/.+))$")

_PROVIDER_ROLES = {"vault": "roleName", "conjur": "identity"}
"""Per provider, the parameter naming the identity it reads as (matched like a path, so role globs pin tiers)."""


def _provider_class_paths(obj: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every remote secret a SecretProviderClass names, in its provider's own parameter format (from each
    provider's docs): Vault and Akeyless ``objects[].secretPath``; Azure ``keyvaultName`` and
    ``objects.array[].objectName`` (also as ``<vault>/<object>``); AWS ``objects[].objectName`` (a name or an
    ARN, also read as the name inside the ARN); GCP ``secrets[].resourceName``; Conjur ``secrets`` (file: variable
    id maps). Another provider's ``objects``/``secrets`` items are read for ``secretPath``, ``objectName`` and
    ``resourceName``."""
    spec = mapping_at(obj, "spec", "spec")
    provider = str_at(spec, "provider", "spec.provider").lower()
    parameters = mapping_at(spec, "parameters", "spec.parameters")
    role_key = _PROVIDER_ROLES.get(provider, "roleName")
    role = str_at(parameters, role_key, f"spec.parameters.{role_key}")
    if role:
        yield role, f"spec.parameters.{role_key}"
    if provider in ("vault", "akeyless"):
        yield from _fields(_yaml_items(parameters, "objects"), "secretPath")
    elif provider == "azure":
        vault = str_at(parameters, "keyvaultName", "spec.parameters.keyvaultName")
        if vault:
            yield vault, "spec.parameters.keyvaultName"
        for name, path in _fields(_yaml_items(parameters, "objects"), "objectName"):
            yield name, path
            if vault:
                yield f"{vault}/{name}", path
    elif provider == "aws":
        for name, path in _fields(_yaml_items(parameters, "objects"), "objectName"):
            yield name, path
            arn = _AWS_ARN.match(name)
            if arn:
                yield arn.group("secret") or arn.group("parameter"), path
    elif provider == "gcp":
        yield from _fields(_yaml_items(parameters, "secrets"), "resourceName")
    elif provider == "conjur":
        for item, path in _yaml_items(parameters, "secrets"):
            if isinstance(item, str):
                yield item, path
            elif isinstance(item, Mapping):
                yield from ((str(v), path) for v in item.values() if isinstance(v, str) and v)
            else:
                raise Malformed(path, "expected a file: variable-id mapping")
    else:
        for key in ("objects", "secrets"):
            yield from _fields(_yaml_items(parameters, key), "secretPath", "objectName", "resourceName")


@dataclass(frozen=True)
class RemotePath:
    """A remote secret named by an ExternalSecret or PushSecret: one ``path``, or (``prefix``) every secret whose
    name starts with it (``dataFrom[].find``; the empty prefix is the whole store)."""

    path: str
    field: str
    prefix: bool = False
    store: tuple[str, str] | None = None
    """(kind, name) of the store this entry reads through, when not the object's ``secretStoreRef``."""


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
        if find:
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


def _external_secret_findings(subject: Candidate, spec: Mapping[str, Any], base: str, namespace: str | None,
                              tier: str | None, *, via: str = "") -> Iterator[Finding]:
    """An ExternalSecret spec judged as living in ``namespace`` of ``tier``: its paths and its stores."""
    default_store = None
    ref = mapping_at(spec, "secretStoreRef", f"{base}.secretStoreRef")
    name = str_at(ref, "name", f"{base}.secretStoreRef.name")
    if name:
        default_store = (str_at(ref, "kind", f"{base}.secretStoreRef.kind") or "SecretStore", name)
    stores = {default_store} if default_store else set()
    paths = list(external_secret_paths(spec, base))
    stores.update(p.store for p in paths if p.store)
    yield from _remote_path_findings(subject, paths, tier, via=via)
    for kind, store_name in sorted(stores):
        yield from _store_findings(subject, (kind, store_name), namespace, tier,
                                   f"{base}.secretStoreRef" if (kind, store_name) == default_store else
                                   next(p.field.rsplit(".", 1)[0] for p in paths if p.store == (kind, store_name)),
                                   via=via)


def _remote_path_findings(subject: Candidate, paths: list[RemotePath], tier: str | None, *, via: str = ""
                          ) -> Iterator[Finding]:
    if not subject.policy.secrets.path_patterns:
        return
    for remote in paths:
        if remote.prefix:
            reached = tuple(t for t in tiers_under_prefix(remote.path, subject.policy) if t != tier)
            if reached:
                scope = (f"every remote secret under {remote.path.strip()!r}" if remote.path.strip()
                         else "every remote secret of its store")
                yield Finding(
                    Rule.WORKLOAD_SECRET_CROSS_TIER,
                    f"{subject.ref}{via} ({in_tier(tier)}) reads {scope} ({remote.field}), which includes paths of "
                    f"tier {', '.join(reached)}; narrow find.path to a path of tier {tier}",
                    remote.field,
                    tier=(tier or reached[0]) if via else None,
                )
            continue
        owners = tiers_of_path(remote.path, subject.policy)
        if owners and tier not in owners:
            yield Finding(
                Rule.WORKLOAD_SECRET_CROSS_TIER,
                f"{subject.ref}{via} ({in_tier(tier)}) names secret path {remote.path.strip()!r} in {remote.field}, "
                f"which belongs to tier {', '.join(owners)}; use a path of tier {tier}",
                remote.field,
                tier=(tier or owners[0]) if via else None,
            )


def _store_findings(subject: Candidate, store_ref: tuple[str, str], namespace: str | None, tier: str | None,
                    path: str, *, via: str = "") -> Iterator[Finding]:
    kind, name = store_ref
    store = subject.context.secret_store(kind, namespace, name)
    if store is None:
        return
    for finding in _store_remote_namespace(subject, store, path, tier=tier):
        enforced = None
        if via:  # a cluster-scoped subject: the tier involved, the target's or else the store's remote one
            remote = str_at(mapping_at(mapping_at(mapping_at(store, "spec", "spec"), "provider", "spec.provider"),
                                       "kubernetes", "spec.provider.kubernetes"), "remoteNamespace", path)
            enforced = tier or subject.tier_of(remote or "default")
        yield Finding(finding.rule, f"{subject.ref}{via} uses {kind} {name}: {finding.message}", finding.path,
                      tier=enforced)


def _cluster_external_secret(subject: Candidate) -> Iterator[Finding]:
    """A ClusterExternalSecret creates its ExternalSecret in every namespace it selects: each is judged as an
    ExternalSecret of that namespace's tier (an untiered namespace counts as another tier for tiered paths)."""
    spec = mapping_at(subject.obj, "spec", "spec")
    inner = mapping_at(spec, "externalSecretSpec", "spec.externalSecretSpec")
    for namespace in _selected_namespaces(subject, spec):
        tier = subject.tier_of(namespace)
        via = f" (its ExternalSecret in namespace {namespace})"
        for finding in _external_secret_findings(subject, inner, "spec.externalSecretSpec", namespace, tier, via=via):
            if finding.tier is not None:  # None: an untiered namespace reading untiered material
                yield finding


def _selected_namespaces(subject: Candidate, spec: Mapping[str, Any]) -> list[str]:
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


def _push_secret(subject: Candidate) -> Iterator[Finding]:
    """A PushSecret writes a local Secret to ``data[].match.remoteRef.remoteKey`` of each store it names."""
    spec = mapping_at(subject.obj, "spec", "spec")
    paths = []
    for item, path in mappings_at(spec, "data", "spec.data"):
        remote = mapping_at(mapping_at(item, "match", f"{path}.match"), "remoteRef", f"{path}.match.remoteRef")
        key = str_at(remote, "remoteKey", f"{path}.match.remoteRef.remoteKey")
        if key:
            paths.append(RemotePath(key, f"{path}.match.remoteRef.remoteKey"))
    yield from _remote_path_findings(subject, paths, subject.tier)
    for ref, path in mappings_at(spec, "secretStoreRefs", "spec.secretStoreRefs"):
        name = str_at(ref, "name", f"{path}.name")
        if name:
            yield from _store_findings(subject, (str_at(ref, "kind", f"{path}.kind") or "SecretStore", name),
                                       subject.namespace, subject.tier, path)


def _path_findings(subject: Candidate, paths: Iterator[tuple[str, str]]) -> Iterator[Finding]:
    if not subject.policy.secrets.path_patterns:
        return
    for secret_path, field_path in paths:
        owners = tiers_of_path(secret_path, subject.policy)
        if owners and subject.tier not in owners:
            yield Finding(
                Rule.WORKLOAD_SECRET_CROSS_TIER,
                f"{subject.ref} ({in_tier(subject.tier)}) names secret path {secret_path.strip()!r} in "
                f"{field_path}, which belongs to tier {', '.join(owners)}; use a path of tier {subject.tier}",
                field_path,
            )


def _store_remote_namespace(subject: Candidate, store: Mapping[str, Any], path: str, *, tier: str | None = None
                            ) -> Iterator[Finding]:
    """A store whose kubernetes provider reads Secrets of a namespace in another tier (than ``tier``, by default
    the subject's)."""
    own = subject.tier if tier is None else tier
    spec = mapping_at(store, "spec", "spec")
    provider = mapping_at(mapping_at(spec, "provider", "spec.provider"), "kubernetes", "spec.provider.kubernetes")
    if not provider:
        return
    # The kubernetes provider reads from "default" when remoteNamespace is unset.
    remote = str_at(provider, "remoteNamespace", "spec.provider.kubernetes.remoteNamespace") or "default"
    remote_tier = subject.tier_of(remote)
    if store.get("kind") == "ClusterSecretStore" and subject.kind == "ClusterSecretStore":
        if remote_tier is not None and not _conditions_pin_tier(subject, spec, remote_tier):
            yield Finding(
                Rule.WORKLOAD_SECRET_CROSS_TIER,
                f"{subject.ref} reads Secrets of namespace {remote} (tier {remote_tier}) and every tier may use "
                f"it; limit spec.conditions to namespaces of tier {remote_tier}",
                path,
                tier=remote_tier,
            )
        return
    if remote_tier != own:
        yield Finding(
            Rule.WORKLOAD_SECRET_CROSS_TIER,
            f"{subject.ref} ({in_tier(own)}) reads Secrets of namespace {remote} "
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


FAMILY = RuleFamily("workloads", KINDS, RULES, check, FACTS)
