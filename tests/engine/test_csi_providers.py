"""Secrets Store CSI: each maintained provider's SecretProviderClass parameters, as its docs write them (issue 10,
item 8): Vault and Akeyless ``objects[].secretPath``, Azure ``keyvaultName`` + ``objects.array[].objectName``, AWS
``objects[].objectName`` (names and ARNs), GCP ``secrets[].resourceName``, Conjur ``secrets`` maps and
``identity``."""

from __future__ import annotations

import pytest

from tierguard.engine.model import Rule

from .helpers import Case, Doc, ids, policy

W = Rule.WORKLOAD_SECRET_CROSS_TIER.value
PATHS = policy({"secrets": {"pathPatterns": {
    "dev": ["secret/data/dev/*", "projects/shop-dev/*", "kv-shop-dev*", "dev/*", "conjur/dev/*", "host/dev/*"],
    "prod": ["secret/data/prod/*", "projects/shop-prod/*", "kv-shop-prod*", "prod/*", "conjur/prod/*",
             "host/prod/*"],
}}})


def spc(provider: str, ns: str = "dev", **parameters: str) -> Doc:
    return {"apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
            "metadata": {"name": "spc", "namespace": ns}, "spec": {"provider": provider, "parameters": parameters}}


GCP_PROD = '- resourceName: "projects/shop-prod/secrets/db/versions/latest"\n  path: "good1.txt"\n'
GCP_DEV = '- resourceName: "projects/shop-dev/secrets/db/versions/latest"\n  path: "prod-db.txt"\n'
AZURE_OBJECTS = 'array:\n  - |\n    objectName: db-password\n    objectType: secret\n    objectVersion: ""\n'
AWS_NAME = '- objectName: "prod/db"\n  objectType: "secretsmanager"\n'
AWS_ARN = '- objectName: "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"\n'
AWS_SSM = '- objectName: "arn:aws:ssm:us-east-1:123456789012:parameter/prod/db"\n  objectType: "ssmparameter"\n'
AWS_DEV = '- objectName: "dev/db"\n  objectType: "secretsmanager"\n  objectAlias: "prod-db"\n'
CONJUR_PROD = '- "relative/path/a.txt": "conjur/prod/db"\n- "relative/path/b.txt": "conjur/dev/db"\n'
CONJUR_DEV = '- "relative/path/prod.txt": "conjur/dev/db"\n'
AKEYLESS = '- secretPath: "/prod/db"\n  fileName: "db"\n'
VAULT_FILE_NAMED_LIKE_A_PATH = '- objectName: "prod/db"\n  secretPath: "secret/data/dev/db"\n'

CASES = [
    Case("GCP resourceName of another tier", [spc("gcp", secrets=GCP_PROD)], {(W, "dev/spc")}, policy=PATHS),
    Case("GCP resourceName of its own tier (a file named prod is no path)", [spc("gcp", secrets=GCP_DEV)],
         policy=PATHS),
    Case("Azure key vault of another tier", [spc("azure", keyvaultName="kv-shop-prod", objects=AZURE_OBJECTS)],
         {(W, "dev/spc")}, policy=PATHS),
    Case("Azure key vault of its own tier", [spc("azure", keyvaultName="kv-shop-dev", objects=AZURE_OBJECTS)],
         policy=PATHS),
    Case("AWS secret name of another tier", [spc("aws", objects=AWS_NAME)], {(W, "dev/spc")}, policy=PATHS),
    Case("AWS secret ARN of another tier", [spc("aws", objects=AWS_ARN)], {(W, "dev/spc")}, policy=PATHS),
    Case("AWS SSM parameter ARN of another tier", [spc("aws", objects=AWS_SSM)], {(W, "dev/spc")}, policy=PATHS),
    Case("AWS name of its own tier, aliased", [spc("aws", objects=AWS_DEV)], policy=PATHS),
    Case("Conjur variable of another tier", [spc("conjur", secrets=CONJUR_PROD, identity="host/dev/app")],
         {(W, "dev/spc")}, policy=PATHS),
    Case("Conjur identity of another tier", [spc("conjur", secrets=CONJUR_DEV, identity="host/prod/app")],
         {(W, "dev/spc")}, policy=PATHS),
    Case("Conjur of its own tier", [spc("conjur", secrets=CONJUR_DEV, identity="host/dev/app")], policy=PATHS),
    Case("Conjur secrets that are not a list", [spc("conjur", secrets="a: b")], {("policy-invalid", "dev/spc")},
         policy=PATHS),
    Case("objects a YAML tag cannot read: malformed, not tierguard's bug", [spc("aws", objects="- !!int ''\n")],
         {("policy-invalid", "dev/spc")}, policy=PATHS),
    Case("Azure array items a YAML tag cannot read", [spc("azure", objects="array:\n  - '!!int -'\n")],
         {("policy-invalid", "dev/spc")}, policy=PATHS),
    Case("Akeyless secretPath of another tier", [spc("akeyless", objects=AKEYLESS)], {(W, "dev/spc")},
         policy=PATHS),
    Case("Vault: objectName is a file name, not a path", [spc("vault", objects=VAULT_FILE_NAMED_LIKE_A_PATH)],
         policy=PATHS),
    Case("Another provider's objects are read for their paths",
         [spc("example", objects='- objectName: "prod/db"\n')], {(W, "dev/spc")}, policy=PATHS),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_provider_parameters(case: Case) -> None:
    assert case.run() == case.expected
