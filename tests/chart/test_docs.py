"""docs/helm.md lists every value that values.yaml documents (each `# --` comment), and nothing stale."""

from __future__ import annotations

import re

from .helm import CHART, REPO

DOCS = REPO / "docs" / "helm.md"


def documented_values() -> list[str]:
    """Dotted paths of the keys that carry a `# --` comment in values.yaml."""
    keys: list[str] = []
    stack: list[tuple[int, str]] = []
    pending = False
    for line in (CHART / "values.yaml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = True
            continue
        match = re.match(r"^(\s*)([A-Za-z][\w.-]*):", line)
        if not match or stripped.startswith("#"):
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match.group(2)))
        if pending:
            keys.append(".".join(key for _, key in stack))
            pending = False
    return keys


def test_every_value_is_documented_in_values_yaml() -> None:
    keys = documented_values()
    assert len(keys) > 40
    for required in ("replicaCount", "webhook.failurePolicy", "webhook.timeoutSeconds", "certs.renewBeforeDays",
                     "certManager.enabled", "local.enabled", "podDisruptionBudget.minAvailable",
                     "networkPolicy.enabled", "metrics.serviceMonitor.enabled", "policy.tiers"):
        assert required in keys


def test_docs_table_matches_values() -> None:
    table = {match.group(1) for match in re.finditer(r"^\| `([^`]+)` \|", DOCS.read_text(), re.MULTILINE)}
    keys = set(documented_values())
    assert keys - table == set(), "values missing from docs/helm.md"
    assert table - keys == set(), "docs/helm.md lists values that values.yaml no longer has"
