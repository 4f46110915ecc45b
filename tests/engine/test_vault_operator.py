"""Vault Secrets Operator objects (``secrets.hashicorp.com``) judged as ``workload-secret-cross-tier``: the Vault
path each reads, joined as VSO joins it (kv-v2 ``<mount>/data/<path>``, kv-v1 and dynamic ``<mount>/<path>``, PKI
``<mount>/issue/<role>``), the VaultAuth it names, and the namespaces a VaultAuth lets use it."""

from __future__ import annotations

from typing import Any

import pytest

from tierguard.engine.model import Rule
from tierguard.engine.rules.vault_operator import vault_path

from .helpers import Case, Doc, decisions, ids, policy

W = Rule.WORKLOAD_SECRET_CROSS_TIER.value
P = Rule.POLICY_INVALID.value
GROUP = "secrets.hashicorp.com/v1beta1"
PATHS = policy({"secrets": {"pathPatterns": {
    "prod": ["secret/data/prod/*", "kvv1/prod/*", "database/creds/prod-*", "pki-prod/*"],
    "dev": ["secret/data/dev/*", "kvv1/dev/*", "database/creds/dev-*", "pki-dev/*"],
}}})

EXEMPT_OPERATOR = policy({"exemptions": {"namespaces": ["kube-system", "vault-secrets-operator-system"]},
                          "secrets": {"pathPatterns": {"prod": ["secret/data/prod/*"], "dev": ["secret/data/dev/*"]}}})

HCP_APPS = policy({"secrets": {"pathPatterns": {"prod": ["prod-*"], "dev": ["dev-*"]}}})


def vso(kind: str, ns: str, name: str = "web", **spec: Any) -> Doc:
    return {"apiVersion": GROUP, "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec}


def static(ns: str, path: str, kv: str = "kv-v2", mount: str = "secret", **spec: Any) -> Doc:
    return vso("VaultStaticSecret", ns, mount=mount, type=kv, path=path, destination={"name": "web"}, **spec)


CASES = [
    # VaultStaticSecret: kv-v2 reads <mount>/data/<path>, so "prod/web" under mount secret is prod's.
    Case("kv-v2 path of another tier", [static("dev", "prod/web")], {(W, "dev/web")}, policy=PATHS),
    Case("kv-v2 path of its own tier", [static("dev", "dev/web")], policy=PATHS),
    Case("kv-v2 slashes around mount and path", [static("dev", "/prod/web", mount="secret/")], {(W, "dev/web")},
         policy=PATHS),
    Case("kv-v1 reads <mount>/<path> (no data/)", [static("dev", "prod/web", kv="kv-v1", mount="kvv1")],
         {(W, "dev/web")}, policy=PATHS),
    Case("kv-v1 under a kv-v2 pattern is not claimed",
         [static("dev", "prod/web", kv="kv-v1")], policy=PATHS),
    Case("kv-v2 path in prod, prod's", [static("prod", "prod/web")], policy=PATHS),
    Case("no pathPatterns: paths are not judged", [static("dev", "prod/web")]),
    # VaultDynamicSecret: <mount>/<path>.
    Case("dynamic secret of another tier", [vso("VaultDynamicSecret", "dev", mount="database", path="creds/prod-ro")],
         {(W, "dev/web")}, policy=PATHS),
    Case("dynamic secret of its tier", [vso("VaultDynamicSecret", "dev", mount="database", path="creds/dev-ro")],
         policy=PATHS),
    # VaultPKISecret: <mount>/issue/<role>, or <mount>/issuer/<issuerRef>/<role>.
    Case("PKI role of another tier", [vso("VaultPKISecret", "dev", mount="pki-prod", role="web")],
         {(W, "dev/web")}, policy=PATHS),
    Case("PKI issuer of another tier", [vso("VaultPKISecret", "dev", mount="pki-prod", issuerRef="root", role="web")],
         {(W, "dev/web")}, policy=PATHS),
    Case("PKI role of its tier", [vso("VaultPKISecret", "dev", mount="pki-dev", role="web")], policy=PATHS),
    # vaultAuthRef: a VaultAuth of another tier's namespace logs in with that tier's role.
    Case("vaultAuthRef into another tier", [static("dev", "dev/web", vaultAuthRef="prod/auth")], {(W, "dev/web")},
         policy=PATHS),
    Case("vaultAuthRef into an untiered namespace", [static("dev", "dev/web", vaultAuthRef="shared/auth")],
         {(W, "dev/web")}, policy=PATHS),
    # The operator's namespace, exempt as the platform's: its default VaultAuth serves every namespace in VSO
    # (isAllowedNamespace), named or not (an empty vaultAuthRef means it), as VSO's integration tests name it.
    Case("vaultAuthRef into an exempt namespace (the operator's default VaultAuth)",
         [static("dev", "dev/web", vaultAuthRef="vault-secrets-operator-system/default")], policy=EXEMPT_OPERATOR),
    Case("VaultAuth letting the exempt operator namespace use it",
         [vso("VaultAuth", "prod", "auth", allowedNamespaces=["vault-secrets-operator-system"])],
         policy=EXEMPT_OPERATOR),
    Case("vaultAuthRef into the same tier", [static("dev", "dev/web", vaultAuthRef="dev-b/auth")], policy=PATHS),
    Case("vaultAuthRef by name: its own namespace", [static("dev", "dev/web", vaultAuthRef="auth")], policy=PATHS),
    # VaultAuth and VaultAuthGlobal: allowedNamespaces.
    Case("VaultAuth open to every namespace", [vso("VaultAuth", "prod", "auth", allowedNamespaces=["*"])],
         {(W, "prod/auth")}),
    Case("VaultAuth open to a namespace of another tier",
         [vso("VaultAuth", "prod", "auth", allowedNamespaces=["prod-b", "dev"])], {(W, "prod/auth")}),
    Case("VaultAuth open to namespaces of its tier", [vso("VaultAuth", "prod", "auth", allowedNamespaces=["prod-b"])]),
    Case("VaultAuth without allowedNamespaces", [vso("VaultAuth", "prod", "auth", method="kubernetes")]),
    # VSO's isAllowedNamespace (common/common.go) compares names exactly: "*" opens every namespace only when it is
    # the only entry, and a glob is no pattern. An entry no namespace can be named (not a DNS-1123 label) lets no
    # namespace in, so it moves nothing.
    Case("a '*' among names matches no namespace",
         [vso("VaultAuth", "prod", "auth", allowedNamespaces=["prod-b", "*"])]),
    Case("a glob matches no namespace (VSO has no globs)",
         [vso("VaultAuth", "prod", "auth", allowedNamespaces=["dev-*", "*-b", "Dev"])]),
    Case("a glob beside a namespace of another tier", [vso("VaultAuth", "prod", "auth",
                                                           allowedNamespaces=["dev-*", "dev"])], {(W, "prod/auth")}),
    Case("VaultAuthGlobal: '*' alone opens every namespace",
         [vso("VaultAuthGlobal", "prod", "global", allowedNamespaces=["*"])], {(W, "prod/global")}),
    # spec.namespace of VaultAuth and VaultPKISecret is a Vault Enterprise namespace, not a Kubernetes one; a
    # vaultConnectionRef names only an address and TLS settings (VSO reads no credential through it: the login is
    # the VaultAuth's own, in its own namespace).
    Case("a Vault namespace named like another tier's namespace",
         [vso("VaultPKISecret", "prod", mount="pki-prod", role="web", namespace="dev"),
          vso("VaultAuth", "prod", "auth", namespace="dev", method="kubernetes")], policy=PATHS),
    Case("vaultConnectionRef into another tier's namespace",
         [vso("VaultAuth", "dev", "auth", vaultConnectionRef="prod/vault", method="kubernetes")], policy=PATHS),
    # Untiered namespaces are not enforced (SPEC): their VaultAuths are not judged, but a tiered object naming
    # one is (the vaultAuthRef cases above).
    Case("untiered VaultAuth open to every namespace", [vso("VaultAuth", "shared", "auth", allowedNamespaces=["*"])]),
    Case("VaultAuthGlobal open to another tier",
         [vso("VaultAuthGlobal", "dev", "global", allowedNamespaces=["qa"])], {(W, "dev/global")}),
    Case("VaultAuth taking its login from another tier's VaultAuthGlobal",
         [vso("VaultAuth", "dev", "auth", vaultAuthGlobalRef={"namespace": "prod", "name": "global"})],
         {(W, "dev/auth")}),
    # HCP Vault Secrets: an HCPAuth's allowedNamespaces (isAllowedNamespace, GetHCPAuthForObj), an
    # HCPVaultSecretsApp's hcpAuthRef ("<namespace>/<name>", ParseResourceRef) and its appName (matched against
    # pathPatterns as a store's name, like an Azure Key Vault's).
    Case("HCPAuth open to every namespace", [vso("HCPAuth", "prod", "hcp", allowedNamespaces=["*"],
                                                 organizationID="o", projectID="p")], {(W, "prod/hcp")}),
    Case("HCPAuth open to namespaces of its tier", [vso("HCPAuth", "prod", "hcp", allowedNamespaces=["prod-b"],
                                                        organizationID="o", projectID="p")]),
    Case("HCPVaultSecretsApp authenticating with another tier's HCPAuth",
         [vso("HCPVaultSecretsApp", "dev", appName="web", hcpAuthRef="prod/hcp", destination={"name": "web"})],
         {(W, "dev/web")}),
    Case("HCPVaultSecretsApp authenticating with its own namespace's HCPAuth",
         [vso("HCPVaultSecretsApp", "dev", appName="web", hcpAuthRef="hcp", destination={"name": "web"})]),
    Case("HCPVaultSecretsApp reading another tier's app", [vso(
        "HCPVaultSecretsApp", "dev", appName="prod-web", destination={"name": "web"})], {(W, "dev/web")},
         policy=HCP_APPS),
    Case("HCPVaultSecretsApp reading its tier's app", [vso(
        "HCPVaultSecretsApp", "dev", appName="dev-web", destination={"name": "web"})], policy=HCP_APPS),
    Case("allowedNamespaces not a list of strings", [vso("VaultAuth", "prod", "auth", allowedNamespaces=[1])],
         {(P, "prod/auth")}),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_vault_secrets_operator(case: Case) -> None:
    assert case.run() == case.expected


@pytest.mark.parametrize(("kind", "spec", "expected"), [
    ("VaultStaticSecret", {"mount": "kv", "type": "kv-v2", "path": "app/db"}, "kv/data/app/db"),
    ("VaultStaticSecret", {"mount": "kv", "type": "kv-v1", "path": "app/db"}, "kv/app/db"),
    ("VaultDynamicSecret", {"mount": "aws", "path": "creds/app"}, "aws/creds/app"),
    ("VaultPKISecret", {"mount": "pki", "role": "web"}, "pki/issue/web"),
    ("VaultPKISecret", {"mount": "pki", "issuerRef": "root", "role": "web"}, "pki/issuer/root/web"),
])
def test_paths_are_joined_as_vso_joins_them(kind: str, spec: dict[str, str], expected: str) -> None:
    found = vault_path(kind, spec)
    assert found is not None and found[0] == expected


def test_message_names_the_joined_path_the_tiers_and_the_fix() -> None:
    results = dict(decisions([*Case("", []).docs, static("dev", "prod/web")], PATHS))
    (violation,) = results["dev/web"].violations
    assert violation.path == "spec.path"
    assert violation.message == (
        "VaultStaticSecret dev/web (tier dev) reads Vault path 'secret/data/prod/web' (kv-v2: <mount>/data/<path>), "
        "which belongs to tier prod; use a path of tier dev")


def test_allowed_namespace_message_points_at_the_entry() -> None:
    auth = vso("VaultAuth", "prod", "auth", allowedNamespaces=["prod-b", "dev"])
    (violation,) = dict(decisions([*Case("", []).docs, auth]))["prod/auth"].violations
    assert violation.path == "spec.allowedNamespaces[1]"
    assert "namespace dev (tier dev)" in violation.message and "tier prod" in violation.message
