"""Public manifests of the projects tierguard reads (tests/corpus/SOURCES.md), run through ``tierguard check`` as
a user runs it, each object's verdict asserted against verdicts.yaml (decided from SPEC and the projects' docs).
Cases that need another item of issue 10 are strict xfails, so they fail loudly once that item lands."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tierguard.commands.root import main

HERE = Path(__file__).parent
VERDICTS: dict[str, dict[str, Any]] = yaml.safe_load((HERE / "verdicts.yaml").read_text())
ARGS = ["check", "-f", str(HERE / "namespaces.yaml"), "-f", str(HERE / "manifests"), "--policy",
        str(HERE / "policy.yaml"), "--namespace-tier", "some-namespace=dev", "-o", "json"]


def _run() -> dict[str, Any]:
    stdout, stdin = io.StringIO(), io.StringIO("")
    saved = sys.stdout, sys.stdin
    sys.stdout, sys.stdin = stdout, stdin
    try:
        code = main(ARGS)
    finally:
        sys.stdout, sys.stdin = saved
    assert code in (0, 1)
    document: dict[str, Any] = json.loads(stdout.getvalue())
    return document


_RESULTS: dict[str, Any] = {}


def results() -> dict[str, Any]:
    if not _RESULTS:
        manifests = str(HERE / "manifests") + "/"
        for result in _run()["results"]:
            if result["source"].startswith(manifests):
                _RESULTS[result["source"].removeprefix(manifests)] = result
    return _RESULTS


def _case(source: str) -> Any:
    needs = VERDICTS[source].get("needs")
    marks = [pytest.mark.xfail(strict=True, reason=f"needs issue 10 {needs}")] if needs else []
    return pytest.param(source, marks=marks, id=source)


def test_every_object_has_a_verdict() -> None:
    assert sorted(results()) == sorted(VERDICTS)


@pytest.mark.parametrize("source", [_case(s) for s in VERDICTS])
def test_verdict(source: str) -> None:
    result = results()[source]
    expected = set(VERDICTS[source]["rules"])
    assert {v["rule"] for v in result["violations"]} == expected, VERDICTS[source]["why"]
    assert result["allowed"] is (not expected)


def test_no_message_quotes_a_value() -> None:
    values = ["SGFsbG8gV2VsdA==", "Hallo Welt", "my-secret", "b25seQ==", "ZW5hYmxlQ29uZmlnU3luY2VyOiB0cnVlCg=="]
    text = json.dumps(_run())
    leaked = [index for index, value in enumerate(values) if f"{value}" in text]
    assert not leaked, "a Secret value appears in the report"
