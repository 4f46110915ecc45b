"""External Secrets generators (``generators.external-secrets.io``) that read another tier's Vault secrets.

Reported as ``workload-secret-cross-tier`` (the rule's facts live in ``workloads.py``). From External Secrets'
own source (``apis/generators/v1alpha1``, ``generators/v1/vault/vault.go``): a ``VaultDynamicSecret`` generator
reads ``spec.path`` as it is (the whole Vault path, mount included) with the role of ``spec.provider.auth``; a
``ClusterGenerator`` wraps any generator's spec (``spec.generator.vaultDynamicSecretSpec``) and, being
cluster-scoped, serves an ExternalSecret or PushSecret of any namespace (``generatorRef``), so a path of one
tier there is open to every tier.

The other generator kinds move nothing between tiers, so they are not judged: each reads its ``secretRef``s and
``serviceAccountRef`` in the namespace of the ExternalSecret or PushSecret using it, whatever namespace a ref
names (``resolvers.SecretKeyRef`` with ``EmptyStoreKind``; the GitHub, ACR, ECR and STS generators' own lookups
take that namespace too), and what they name is no store path: a registry (ACRAccessToken, ECRAuthorizationToken,
GCRAccessToken, QuayAccessToken, CloudsmithAccessToken), an installation or project (GithubAccessToken,
GitlabDeployToken, Grafana), an AWS role (STSSessionToken), a URL (Webhook), or nothing at all (Password, SSHKey,
UUID, Fake, MFA).

Refused, in a ``dev`` namespace with ``pathPatterns: {prod: ["database/creds/prod-*"]}``: a VaultDynamicSecret
generator with ``path: database/creds/prod-ro``; a ClusterGenerator of that path. Allowed: a dev generator of
``database/creds/dev-ro``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule, in_tier
from tierguard.engine.objects import mapping_at, str_at
from tierguard.engine.rules import RuleFacts, RuleFamily
from tierguard.engine.tiers import other_tiers_of_path, tiers_of_path
from tierguard.kinds import group_kinds

FACTS: tuple[RuleFacts, ...] = ()
"""It owns no rule id: what it finds is ``workload-secret-cross-tier`` (``workloads.py``)."""
RULES = frozenset({Rule.WORKLOAD_SECRET_CROSS_TIER, Rule.POLICY_INVALID})
GROUP = "generators.external-secrets.io"
KINDS = group_kinds("VaultDynamicSecret", "ClusterGenerator", group=GROUP)
VAULT_SPEC = "vaultDynamicSecretSpec"
"""Where a ClusterGenerator holds a VaultDynamicSecret generator's spec."""


def check(subject: Candidate) -> Iterator[Finding]:
    if not subject.policy.secrets.path_patterns:
        return
    spec = mapping_at(subject.obj, "spec", "spec")
    if subject.kind == "ClusterGenerator":
        base = f"spec.generator.{VAULT_SPEC}"
        inner = mapping_at(mapping_at(spec, "generator", "spec.generator"), VAULT_SPEC, base)
        yield from _cluster_findings(subject, _reads(inner, base))
    else:
        for path, field in _reads(spec, "spec"):
            owners = other_tiers_of_path(path, subject.policy, subject.tier)
            if owners:
                yield Finding(
                    Rule.WORKLOAD_SECRET_CROSS_TIER,
                    f"{subject.ref} ({in_tier(subject.tier)}) reads Vault {_what(field)} {path.strip()!r} ({field}), "
                    f"which belongs to tier {', '.join(owners)}; use one of tier {subject.tier}",
                    field,
                )


def _reads(spec: Mapping[str, Any], base: str) -> Iterator[tuple[str, str]]:
    """The Vault path a VaultDynamicSecret generator spec reads, and the Vault role it logs in with (roles are
    matched against ``pathPatterns`` as the Vault agent's and the CSI provider's are)."""
    path = str_at(spec, "path", f"{base}.path")
    if path:
        yield path, f"{base}.path"
    auth_path = f"{base}.provider.auth"
    auth = mapping_at(mapping_at(spec, "provider", f"{base}.provider"), "auth", auth_path)
    for method in ("kubernetes", "jwt"):
        role = str_at(mapping_at(auth, method, f"{auth_path}.{method}"), "role", f"{auth_path}.{method}.role")
        if role:
            yield role, f"{auth_path}.{method}.role"


def _what(field: str) -> str:
    return "role" if field.endswith(".role") else "path"


def _cluster_findings(subject: Candidate, reads: Iterator[tuple[str, str]]) -> Iterator[Finding]:
    """A ClusterGenerator has no tier: any namespace may use it, so a tier's path there reaches every tier. It
    is enforced in the tier that owns the path."""
    for path, field in reads:
        owners = tiers_of_path(path, subject.policy)
        if owners:
            yield Finding(
                Rule.WORKLOAD_SECRET_CROSS_TIER,
                f"{subject.ref} (cluster-scoped) reads Vault {_what(field)} {path.strip()!r} ({field}), which belongs "
                f"to tier {', '.join(owners)}, and an ExternalSecret or PushSecret of any tier may use it "
                f"(generatorRef); use a namespaced VaultDynamicSecret generator in each tier",
                field,
                tier=owners[0],
            )


FAMILY = RuleFamily("eso-generators", KINDS, RULES, check, FACTS)
