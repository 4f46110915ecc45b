"""The chart's README.md (its values table) and values.schema.json are what hack/chart-docs.sh generates from
the annotated values.yaml: no hand copy to drift. The schema's strictness is tested by what it refuses
(tests/chart/test_render.py: test_refused_values and the CRD and `additionalProperties` checks)."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pytest

from .chart_docs import block, generate, schema
from .helm import CHART

REGENERATE = "run hack/chart-docs.sh and commit its output"


def same(name: str, generated: str) -> None:
    checked_in = (CHART / name).read_text()
    if checked_in != generated:
        diff = "".join(difflib.unified_diff(checked_in.splitlines(True), generated.splitlines(True),
                                            f"charts/tierguard/{name}", "generated", n=1))
        pytest.fail(f"charts/tierguard/{name} differs from what values.yaml generates: {REGENERATE}\n{diff[:4000]}",
                    pytrace=False)


def test_checked_in_files_are_generated(helm_docs: str, tmp_path: Path) -> None:
    """Both files, generated into a temporary directory by the pinned helm-docs and the schema generator."""
    generate(helm_docs, tmp_path)
    for name in ("README.md", "values.schema.json"):
        same(name, (tmp_path / name).read_text())


def test_checked_in_schema_is_generated() -> None:
    """The schema half needs no binary, so it runs everywhere."""
    generated = schema((CHART / "values.yaml").read_text())
    same("values.schema.json", json.dumps(generated, indent=2, ensure_ascii=False) + "\n")


def table() -> dict[str, str]:
    rows = re.findall(r"^\| ([A-Za-z][^ |]*) \| [^|]* \| .*? \| (.*) \|$", (CHART / "README.md").read_text(),
                      re.MULTILINE)
    return dict(rows)


def test_every_value_is_documented() -> None:
    """helm-docs lists an undocumented value with an empty description: there is none."""
    rows = table()
    assert len(rows) > 40
    for required in ("replicaCount", "webhook.failurePolicy", "webhook.timeoutSeconds", "certs.renewBeforeDays",
                     "certManager.enabled", "local.enabled", "podDisruptionBudget.minAvailable",
                     "networkPolicy.enabled", "metrics.serviceMonitor.enabled", "policy.tiers"):
        assert required in rows
    assert [key for key, text in rows.items() if not text.strip()] == []


def test_annotation_blocks_must_be_closed() -> None:
    with pytest.raises(ValueError, match="block"):
        block(["# @schema", "# minimum: 1"], "@schema")
    assert block(["# @schema", "# enum: [a, b]", "# @schema", "# -- text"], "@schema") == {"enum": ["a", "b"]}
