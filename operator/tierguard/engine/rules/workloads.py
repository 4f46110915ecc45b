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
from typing import Any

import yaml

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Malformed, Rule, in_tier
from tierguard.engine.objects import mapping_at, mappings_at, str_at
from tierguard.engine.podspec import WORKLOAD_KINDS, PodSite, env_values, pod_site, secret_uses
from tierguard.engine.rules import RuleFamily
from tierguard.engine.rules.replication import replication_findings
from tierguard.engine.rules.shared_values import shared_value_findings
from tierguard.engine.secrets import SecretView
from tierguard.engine.tiers import tiers_of_path
from tierguard.kinds import group_kinds

# policy-invalid too: a consumed Secret whose own annotations cannot be judged is reported on the workload.
RULES = frozenset({Rule.WORKLOAD_SECRET_CROSS_TIER, Rule.POLICY_INVALID})
KINDS = group_kinds(*WORKLOAD_KINDS, "SecretProviderClass", "ExternalSecret", "SecretStore", "ClusterSecretStore")

VAULT = "vault.hashicorp.com/"
BANK_VAULTS = "vault.security.banzaicloud.io/"
_TEMPLATE_SECRET = re.compile(r"""secret\s+["`]([^"`]+)["`]""")
_BANK_VAULTS_VALUE = re.compile(r"^(?:>>)?vault:([^#]+)")


def check(subject: Candidate) -> Iterator[Finding]:
    if subject.kind in WORKLOAD_KINDS:
        site = pod_site(subject.obj)
        if site is not None:
            yield from _consumed_secrets(subject, site)
            yield from _path_findings(subject, _workload_paths(site))
    elif subject.kind == "SecretProviderClass":
        yield from _path_findings(subject, _provider_class_paths(subject.obj))
    elif subject.kind == "ExternalSecret":
        yield from _path_findings(subject, _external_secret_paths(subject.obj))
        yield from _external_secret_store(subject)
    else:
        yield from _store_remote_namespace(subject, subject.obj, "spec.provider.kubernetes.remoteNamespace")


def _consumed_secrets(subject: Candidate, site: PodSite) -> Iterator[Finding]:
    namespace = subject.namespace or "default"
    judged: dict[str, tuple[SecretView, Finding | Malformed | None] | None] = {}
    for use in secret_uses(site):
        if use.name not in judged:  # a Secret used by env, envFrom and a volume is judged once
            judged[use.name] = _judge_secret(subject, namespace, use.name)
        verdict = judged[use.name]
        if verdict is None:
            continue
        view, problem = verdict
        if isinstance(problem, Malformed):
            # The Secret's own annotations cannot be judged: say so about that Secret, not about this workload.
            yield Finding(Rule.POLICY_INVALID, f"{subject.ref} consumes Secret {view.ref}, which cannot be "
                          f"evaluated ({problem}); fix the Secret", use.path)
        elif problem is not None:
            yield Finding(
                Rule.WORKLOAD_SECRET_CROSS_TIER,
                f"{subject.ref} consumes Secret {view.ref}, which crosses tiers ({problem.rule}): "
                f"{problem.message}",
                use.path,
            )


def _judge_secret(subject: Candidate, namespace: str, name: str
                  ) -> tuple[SecretView, Finding | Malformed | None] | None:
    """The first reason a consumed Secret crosses tiers (None when it does not; None overall if unknown)."""
    view = subject.context.secret(namespace, name)
    if view is None:
        return None
    try:
        return view, next(replication_findings(view, subject), None) or next(shared_value_findings(view, subject),
                                                                              None)
    except Malformed as error:
        return view, error


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


def _provider_class_paths(obj: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    spec = mapping_at(obj, "spec", "spec")
    parameters = mapping_at(spec, "parameters", "spec.parameters")
    role = str_at(parameters, "roleName", "spec.parameters.roleName")
    if role:
        yield role, "spec.parameters.roleName"
    objects_text = str_at(parameters, "objects", "spec.parameters.objects")
    if not objects_text:
        return
    try:
        objects = yaml.safe_load(objects_text)
    except yaml.YAMLError:
        raise Malformed("spec.parameters.objects", "is not a valid YAML list") from None
    if isinstance(objects, Mapping) and "array" in objects:  # the Azure/GCP providers wrap items in "array"
        objects = [yaml.safe_load(item) if isinstance(item, str) else item for item in objects["array"] or []]
    if not isinstance(objects, list):
        raise Malformed("spec.parameters.objects", "must be a YAML list of objects")
    for index, item in enumerate(objects):
        if not isinstance(item, Mapping):
            raise Malformed(f"spec.parameters.objects[{index}]", "expected an object")
        for field in ("secretPath", "objectName"):
            value = item.get(field)
            if isinstance(value, str) and value:
                yield value, f"spec.parameters.objects[{index}].{field}"


def _external_secret_paths(obj: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    spec = mapping_at(obj, "spec", "spec")
    for item, path in mappings_at(spec, "data", "spec.data"):
        key = str_at(mapping_at(item, "remoteRef", f"{path}.remoteRef"), "key", f"{path}.remoteRef.key")
        if key:
            yield key, f"{path}.remoteRef.key"
    for item, path in mappings_at(spec, "dataFrom", "spec.dataFrom"):
        key = str_at(mapping_at(item, "extract", f"{path}.extract"), "key", f"{path}.extract.key")
        if key:
            yield key, f"{path}.extract.key"


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


def _external_secret_store(subject: Candidate) -> Iterator[Finding]:
    spec = mapping_at(subject.obj, "spec", "spec")
    ref = mapping_at(spec, "secretStoreRef", "spec.secretStoreRef")
    name = str_at(ref, "name", "spec.secretStoreRef.name")
    if not name:
        return
    kind = str_at(ref, "kind", "spec.secretStoreRef.kind") or "SecretStore"
    store = subject.context.secret_store(kind, subject.namespace, name)
    if store is not None:
        for finding in _store_remote_namespace(subject, store, "spec.secretStoreRef"):
            yield Finding(finding.rule, f"{subject.ref} uses {kind} {name}: {finding.message}", finding.path)


def _store_remote_namespace(subject: Candidate, store: Mapping[str, Any], path: str) -> Iterator[Finding]:
    """A store whose kubernetes provider reads Secrets of a namespace in another tier."""
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
    if remote_tier != subject.tier:
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


FAMILY = RuleFamily("workloads", KINDS, RULES, check)
