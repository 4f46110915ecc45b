"""``workload-secret-cross-tier``: workloads and secret-store objects that reach another tier's secrets.

A Pod or pod template is refused when it consumes a Secret that the replication or shared-value rules flag, or
names an external secret path that ``spec.secrets.pathPatterns`` assigns to another tier: Vault agent
annotations (``agent-inject-secret-*``, ``agent-inject-template-*``, ``role``), Bank-Vaults (``vault:`` and
``>>vault:`` env values, ``vault-env-from-path``, ``vault-role``). A SecretProviderClass (Vault provider
``objects[].secretPath``) is refused the same way. The controllers' objects that report this id have modules of
their own: ``external_secrets.py`` (ExternalSecret, PushSecret, their cluster-scoped fan-outs, the stores),
``eso_generators.py``, ``vault_operator.py``.

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
from tierguard.engine.objects import mapping_at, str_at
from tierguard.engine.podspec import WORKLOAD_KINDS, PodSite, env_values, secret_uses
from tierguard.engine.rules import RuleFacts, RuleFamily, owned
from tierguard.engine.rules.replication import replication_findings
from tierguard.engine.rules.shared_values import fleet_findings, shared_value_findings
from tierguard.engine.secrets import SecretView
from tierguard.engine.tiers import other_tiers_of_path
from tierguard.engine.verdicts import CONSUMED_SECRETS
from tierguard.kinds import group_kinds
from tierguard.yamlload import TAG_MISFITS

FACTS = (
    RuleFacts(Rule.WORKLOAD_SECRET_CROSS_TIER,
              "A workload that consumes a cross-tier Secret or names another tier's external secret path."),
)
# policy-invalid too: a consumed Secret whose own annotations cannot be judged is reported on the workload.
RULES = owned(FACTS) | {Rule.POLICY_INVALID}
KINDS = group_kinds(*WORKLOAD_KINDS, "SecretProviderClass")

VAULT = "vault.hashicorp.com/"
BANK_VAULTS = "vault.security.banzaicloud.io/"
SEE_THE_SECRET = "see the finding on Secret"
"""A workload consuming a Secret that crosses tiers refers to that Secret's finding (then its namespace/name)."""
_TEMPLATE_SECRET = re.compile(r"""secret\s+["`]([^"`]+)["`]""")
BANK_VAULTS_VALUE_PREFIXES = ("vault:", ">>vault:")
"""An env value starting with one of these is a Bank-Vaults secret path (``>>``: the value is kept in the pod)."""
_BANK_VAULTS_VALUE = re.compile("^(?:" + "|".join(map(re.escape, BANK_VAULTS_VALUE_PREFIXES)) + ")([^#]+)")


def check(subject: Candidate) -> Iterator[Finding]:
    if subject.kind in WORKLOAD_KINDS:
        site = subject.pod_site()
        if site is not None:
            yield from _consumed_secrets(subject, site)
            yield from _path_findings(subject, _workload_paths(site))
    else:
        yield from _path_findings(subject, _provider_class_paths(subject.obj))


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
            # The Secret's own finding says how it crosses and what to do; repeated here it doubled every line of
            # a report and hid the workload's part, so this one only points to it (and, naming no other tier's
            # object, needs no form redacted for the requester).
            yield Finding(
                Rule.WORKLOAD_SECRET_CROSS_TIER,
                f"{subject.ref} consumes Secret {view.ref}, which crosses tiers ({problem.rule}); "
                f"{SEE_THE_SECRET} {view.ref}",
                use.path,
                related=(view.object_ref, *problem.related),
            )


def _first_crossing(view: SecretView, subject: Candidate) -> Finding | None:
    """Raises Malformed when the Secret's own annotations cannot be judged."""
    return (next(replication_findings(view, subject), None) or next(shared_value_findings(view, subject), None)
            or next(fleet_findings(view, subject), None))


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


def _path_findings(subject: Candidate, paths: Iterator[tuple[str, str]]) -> Iterator[Finding]:
    if not subject.policy.secrets.path_patterns:
        return
    for secret_path, field_path in paths:
        owners = other_tiers_of_path(secret_path, subject.policy, subject.tier)
        if owners:
            yield Finding(
                Rule.WORKLOAD_SECRET_CROSS_TIER,
                f"{subject.ref} ({in_tier(subject.tier)}) names secret path {secret_path.strip()!r} in "
                f"{field_path}, which belongs to tier {', '.join(owners)}; use a path of tier {subject.tier}",
                field_path,
            )


FAMILY = RuleFamily("workloads", KINDS, RULES, check, FACTS)
