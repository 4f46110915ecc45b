"""Vault Secrets Operator (``secrets.hashicorp.com``): its objects that read another tier's Vault secrets.

Reported as ``workload-secret-cross-tier`` (the rule's facts live in ``workloads.py``). What VSO reads, from its
own source (hashicorp/vault-secrets-operator, ``vault/requests.go``, ``controllers/*_controller.go``,
``common/common.go``):

- ``VaultStaticSecret`` reads ``<mount>/data/<path>`` for ``type: kv-v2`` and ``<mount>/<path>`` for ``kv-v1``;
  ``VaultDynamicSecret`` reads ``<mount>/<path>``; ``VaultPKISecret`` issues from ``<mount>/issue/<role>`` (or
  ``<mount>/issuer/<issuerRef>/<role>``). A path ``spec.secrets.pathPatterns`` gives another tier is refused.
- Each names its ``VaultAuth`` by ``vaultAuthRef`` (``name`` or ``namespace/name``): a VaultAuth of another
  tier's namespace authenticates with that tier's Vault role, so it is refused.
- ``VaultAuth`` and ``VaultAuthGlobal``: ``allowedNamespaces`` lets objects of those namespaces use it (``["*"]``
  alone: every namespace). VSO compares the other entries with the namespace's name exactly
  (``isAllowedNamespace``): a ``*`` among names, or a glob such as ``dev-*``, is a name no namespace can have, and
  lets none in. A namespace of another tier is refused; a VaultAuth's ``vaultAuthGlobalRef`` into another tier too.
- HCP Vault Secrets (``controllers/hcpvaultsecretsapp_controller.go``, ``GetHCPAuthForObj``): an ``HCPAuth``'s
  ``allowedNamespaces`` as a VaultAuth's; an ``HCPVaultSecretsApp``'s ``hcpAuthRef`` (``<namespace>/<name>``) as a
  ``vaultAuthRef``, and its ``appName`` matched against ``pathPatterns`` as a store's name.
- Not judged, as they move nothing between tiers: ``spec.namespace`` (a Vault Enterprise namespace, not a
  Kubernetes one), a reference into or an allowed namespace that is exempt (the platform's: VSO's own
  ``default`` VaultAuth in its namespace serves every namespace anyway, as an empty ``vaultAuthRef`` does),
  ``vaultConnectionRef`` (a VaultConnection holds Vault's address and TLS settings; the login is
  the VaultAuth's), ``destination`` and ``rolloutRestartTargets`` (always in the object's own namespace).

Refused, in a ``dev`` namespace with ``pathPatterns: {prod: ["secret/data/prod/*"]}``: a VaultStaticSecret with
``mount: secret``, ``type: kv-v2``, ``path: prod/web``. Allowed: ``path: dev/web``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Malformed, Rule, in_tier
from tierguard.engine.objects import list_at, mapping_at, str_at
from tierguard.engine.rules import RuleFacts, RuleFamily
from tierguard.engine.tiers import other_tiers_of_path
from tierguard.kinds import group_kinds

FACTS: tuple[RuleFacts, ...] = ()
"""It owns no rule id: what it finds is ``workload-secret-cross-tier`` (``workloads.py``)."""
RULES = frozenset({Rule.WORKLOAD_SECRET_CROSS_TIER, Rule.POLICY_INVALID})
SECRET_KINDS = ("VaultStaticSecret", "VaultDynamicSecret", "VaultPKISecret")
AUTH_KINDS = ("VaultAuth", "VaultAuthGlobal", "HCPAuth")
HCP_APP = "HCPVaultSecretsApp"
KINDS = group_kinds(*SECRET_KINDS, *AUTH_KINDS, HCP_APP, group="secrets.hashicorp.com")

EVERY_NAMESPACE = "*"
"""``allowedNamespaces: ["*"]``, when it is the only entry (``isAllowedNamespace``)."""
NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
"""A name a namespace can have (DNS-1123 label): VSO matches other entries exactly, so only these let one in."""


def check(subject: Candidate) -> Iterator[Finding]:
    spec = mapping_at(subject.obj, "spec", "spec")
    if subject.kind in SECRET_KINDS:
        yield from _path_finding(subject, spec)
        yield from _auth_ref_finding(subject, spec)
    elif subject.kind == HCP_APP:
        yield from _app_finding(subject, spec)
        yield from _auth_ref_finding(subject, spec, field="hcpAuthRef", service="HCP Vault Secrets", kind="HCPAuth",
                                     whose="service principal")
    else:
        yield from _allowed_namespace_findings(subject, spec)
        if subject.kind == "VaultAuth":
            yield from _global_ref_finding(subject, spec)


def vault_path(kind: str, spec: Mapping[str, Any]) -> tuple[str, str] | None:
    """The Vault path the object reads, and how VSO joined it (for the message); None when it names none."""
    mount = str_at(spec, "mount", "spec.mount").strip("/")
    if kind == "VaultPKISecret":
        role = str_at(spec, "role", "spec.role").strip("/")
        issuer = str_at(spec, "issuerRef", "spec.issuerRef").strip("/")
        if issuer:
            return _join(mount, "issuer", issuer, role), "<mount>/issuer/<issuerRef>/<role>"
        return _join(mount, "issue", role), "<mount>/issue/<role>"
    path = str_at(spec, "path", "spec.path").strip("/")
    if not mount and not path:
        return None
    if kind == "VaultStaticSecret" and str_at(spec, "type", "spec.type") == "kv-v2":
        return _join(mount, "data", path), "kv-v2: <mount>/data/<path>"
    return _join(mount, path), "<mount>/<path>"


def _join(*parts: str) -> str:
    return "/".join(part for part in parts if part)


def _path_finding(subject: Candidate, spec: Mapping[str, Any]) -> Iterator[Finding]:
    if not subject.policy.secrets.path_patterns:
        return
    found = vault_path(subject.kind, spec)
    if found is None:
        return
    path, joined = found
    owners = other_tiers_of_path(path, subject.policy, subject.tier)
    if owners:
        field = "spec.role" if subject.kind == "VaultPKISecret" else "spec.path"
        yield Finding(
            Rule.WORKLOAD_SECRET_CROSS_TIER,
            f"{subject.ref} ({in_tier(subject.tier)}) reads Vault path {path!r} ({joined}), which belongs to tier "
            f"{', '.join(owners)}; use a path of tier {subject.tier}",
            field,
        )


def _auth_ref_finding(subject: Candidate, spec: Mapping[str, Any], *, field: str = "vaultAuthRef",
                      service: str = "Vault", kind: str = "VaultAuth", whose: str = "Vault role"
                      ) -> Iterator[Finding]:
    ref = str_at(spec, field, f"spec.{field}")
    namespace, _, name = ref.rpartition("/")
    if namespace and namespace != subject.namespace and subject.is_foreign(namespace):
        yield Finding(
            Rule.WORKLOAD_SECRET_CROSS_TIER,
            f"{subject.ref} ({in_tier(subject.tier)}) authenticates to {service} with {kind} {namespace}/{name} "
            f"({in_tier(subject.tier_of(namespace))}), whose {whose} reads that tier's secrets; use a {kind} "
            f"of tier {subject.tier}",
            f"spec.{field}",
        )


def _app_finding(subject: Candidate, spec: Mapping[str, Any]) -> Iterator[Finding]:
    app = str_at(spec, "appName", "spec.appName").strip()
    owners = other_tiers_of_path(app, subject.policy, subject.tier) if app else ()
    if owners:
        yield Finding(
            Rule.WORKLOAD_SECRET_CROSS_TIER,
            f"{subject.ref} ({in_tier(subject.tier)}) reads HCP Vault Secrets app {app!r} (spec.appName), which "
            f"belongs to tier {', '.join(owners)}; use an app of tier {subject.tier}",
            "spec.appName",
        )


def _global_ref_finding(subject: Candidate, spec: Mapping[str, Any]) -> Iterator[Finding]:
    ref = mapping_at(spec, "vaultAuthGlobalRef", "spec.vaultAuthGlobalRef")
    namespace = str_at(ref, "namespace", "spec.vaultAuthGlobalRef.namespace")
    if namespace and namespace != subject.namespace and subject.is_foreign(namespace):
        name = str_at(ref, "name", "spec.vaultAuthGlobalRef.name")
        yield Finding(
            Rule.WORKLOAD_SECRET_CROSS_TIER,
            f"{subject.ref} ({in_tier(subject.tier)}) takes its Vault login from VaultAuthGlobal {namespace}/{name} "
            f"({in_tier(subject.tier_of(namespace))}); use a VaultAuthGlobal of tier {subject.tier}",
            "spec.vaultAuthGlobalRef.namespace",
        )


def _allowed_namespace_findings(subject: Candidate, spec: Mapping[str, Any]) -> Iterator[Finding]:
    allowed = list_at(spec, "allowedNamespaces", "spec.allowedNamespaces")
    for index, namespace in enumerate(allowed):
        if not isinstance(namespace, str):
            raise Malformed(f"spec.allowedNamespaces[{index}]", f"expected a string, got {type(namespace).__name__}")
    # Objects of untiered namespaces are never judged (SPEC), so the VaultAuth has a tier here.
    if allowed == [EVERY_NAMESPACE]:
        others = [t for t in subject.policy.tiers if t != subject.tier]
        among = f"those of tier {', '.join(others)}" if others else "untiered ones"
        yield Finding(
            Rule.WORKLOAD_SECRET_CROSS_TIER,
            f"{subject.ref} ({in_tier(subject.tier)}) lets every namespace use it (allowedNamespaces: ['*']), {among} "
            f"among them; list only namespaces of tier {subject.tier}",
            "spec.allowedNamespaces",
        )
        return
    for index, namespace in enumerate(allowed):
        if not NAMESPACE_NAME.fullmatch(namespace):
            continue  # "*" among names, a glob: no namespace has that name, so VSO lets none in by it
        if namespace != subject.namespace and subject.is_foreign(namespace):
            yield Finding(
                Rule.WORKLOAD_SECRET_CROSS_TIER,
                f"{subject.ref} ({in_tier(subject.tier)}) lets namespace {namespace} "
                f"({in_tier(subject.tier_of(namespace))}) use it, and with it this tier's Vault role; list only "
                f"namespaces of tier {subject.tier}",
                f"spec.allowedNamespaces[{index}]",
            )


FAMILY = RuleFamily("vault-operator", KINDS, RULES, check, FACTS)
