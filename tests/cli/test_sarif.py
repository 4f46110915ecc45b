"""``tierguard check -o sarif``: valid SARIF 2.1.0 (the official schema), one result per violation at the file and
line of the offending field, related locations for cross-object findings, stable fingerprints."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tierguard.commands.root import main
from tierguard.engine.model import Rule

from .manifests import NAMESPACES

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "tests" / "fixtures" / "sarif" / "sarif-schema-2.1.0.json").read_text())
EXAMPLES = REPO / "examples"

# Line numbers below are of this file: 1-based.
WORKLOADS = """\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
type: Opaque
---
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: dev
  annotations:
    reflector.v1.k8s.emberstack.com/reflects: prod/db
---
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: dev}
  spec:
    selector: {matchLabels: {app: web}}
    template:
      metadata: {labels: {app: web}}
      spec:
        containers:
        - name: a
          image: a
        - name: b
          image: b
          env:
          - name: PASSWORD
            valueFrom:
              secretKeyRef: {name: db, key: password}
"""


def check(*argv: str, stdin: str = "", monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
          ) -> tuple[int, dict[str, Any]]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["check", "-o", "sarif", *argv])
    out, err = capsys.readouterr()
    assert err == ""
    return code, json.loads(out)


def validate(log: dict[str, Any]) -> None:
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER).validate(log)


@pytest.fixture
def sarif(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    def run(*argv: str, stdin: str = "") -> tuple[int, dict[str, Any]]:
        return check(*argv, stdin=stdin, monkeypatch=monkeypatch, capsys=capsys)

    return run


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def results_of(log: dict[str, Any]) -> list[dict[str, Any]]:
    return list(log["runs"][0]["results"])


def region(result: dict[str, Any]) -> tuple[str, int]:
    physical = result["locations"][0]["physicalLocation"]
    return physical["artifactLocation"]["uri"], physical["region"]["startLine"]


def test_valid_sarif_with_every_rule(sarif: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "namespaces.yaml", NAMESPACES)
    write(tmp_path, "app.yaml", WORKLOADS)
    code, log = sarif("-f", "namespaces.yaml", "-f", "app.yaml")
    validate(log)
    assert code == 1
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1
    driver = log["runs"][0]["tool"]["driver"]
    assert [r["id"] for r in driver["rules"]] == [r.value for r in Rule]
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
        assert rule["helpUri"].endswith(f"/docs/rules.md#{rule['id']}")
    for result in results_of(log):
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_rule_sections_exist_in_the_rules_doc() -> None:
    headings = {line.removeprefix("## ").strip() for line in (REPO / "docs" / "rules.md").read_text().splitlines()
                if line.startswith("## ")}
    assert {r.value for r in Rule} <= headings


def test_line_of_the_offending_field(sarif: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "namespaces.yaml", NAMESPACES)
    write(tmp_path, "app.yaml", WORKLOADS)
    _, log = sarif("-f", "namespaces.yaml", "-f", "app.yaml")
    found = {(r["ruleId"], region(r)) for r in results_of(log)}
    assert found == {
        # the reflects annotation of the dev Secret (document 1)
        ("secret-replication-cross-tier", ("app.yaml", 14)),
        # kind: List item 0, containers[1].env[0].valueFrom.secretKeyRef (the consuming reference)
        ("workload-secret-cross-tier", ("app.yaml", 35)),
    }


def test_related_locations_name_the_other_object(sarif: Any, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "namespaces.yaml", NAMESPACES)
    write(tmp_path, "app.yaml", WORKLOADS)
    _, log = sarif("-f", "namespaces.yaml", "-f", "app.yaml")
    by_rule = {r["ruleId"]: r for r in results_of(log)}
    mirror = by_rule["secret-replication-cross-tier"]["relatedLocations"]
    assert [(m["message"]["text"], m["physicalLocation"]["region"]["startLine"]) for m in mirror] == [
        ("Secret prod/db", 1)]
    consumer = by_rule["workload-secret-cross-tier"]["relatedLocations"]
    assert [m["message"]["text"] for m in consumer] == ["Secret dev/db", "Secret prod/db"]
    assert [m["physicalLocation"]["region"]["startLine"] for m in consumer] == [8, 1]


def test_levels_follow_the_action(sarif: Any, tmp_path: Path) -> None:
    for mode, level, code in (("enforce", "error", 1), ("warn", "warning", 0), ("audit", "note", 0)):
        policy = write(tmp_path, f"{mode}.yaml", f"spec: {{enforcement: {{default: {mode}}}}}\n")
        exit_code, log = sarif("--policy", str(policy), stdin=NAMESPACES + "---\n" + WORKLOADS)
        validate(log)
        assert exit_code == code
        assert {r["level"] for r in results_of(log)} == {level}
        assert {r["properties"]["action"] for r in results_of(log)} == {"deny" if mode == "enforce" else mode}


def test_no_violation_is_an_empty_run(sarif: Any) -> None:
    code, log = sarif(stdin=NAMESPACES)
    validate(log)
    assert code == 0 and results_of(log) == []


def test_fingerprints_are_stable_across_runs_and_line_moves(sarif: Any, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "namespaces.yaml", NAMESPACES)
    write(tmp_path, "app.yaml", WORKLOADS)
    runs = [sarif("-f", "namespaces.yaml", "-f", "app.yaml")[1] for _ in range(2)]
    write(tmp_path, "app.yaml", "# a comment moves every line\n\n" + WORKLOADS)
    runs.append(sarif("-f", "namespaces.yaml", "-f", "app.yaml")[1])

    def prints(log: dict[str, Any]) -> list[dict[str, str]]:
        return [r["partialFingerprints"] for r in results_of(log)]

    assert prints(runs[0]) == prints(runs[1]) == prints(runs[2])
    assert len({json.dumps(p) for p in prints(runs[0])}) == len(results_of(runs[0]))  # one per finding
    assert region(results_of(runs[2])[0])[1] == region(results_of(runs[0])[0])[1] + 2


def test_helm_source_comments_place_results_in_the_template(sarif: Any) -> None:
    rendered = ("---\n# Source: app/templates/namespaces.yaml\n" + NAMESPACES
                + "---\n# Source: app/templates/secret.yaml\n" + WORKLOADS.split("---\n")[1])
    code, log = sarif(stdin=rendered)
    validate(log)
    assert code == 1
    [result] = results_of(log)
    # The annotation is line 7 of the rendered secret.yaml, counted from the line after its Source comment.
    assert region(result) == ("app/templates/secret.yaml", 7)
    assert result["properties"]["source"] == "<stdin>#2"


def test_json_manifests_have_lines_too(sarif: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    mirror = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "db", "namespace": "dev",
                           "annotations": {"reflector.v1.k8s.emberstack.com/reflects": "prod/db"}}}
    write(tmp_path, "ns.yaml", NAMESPACES)
    write(tmp_path, "mirror.json", json.dumps(mirror, indent=2))
    _, log = sarif("-f", "ns.yaml", "-f", "mirror.json")
    validate(log)
    assert [region(r) for r in results_of(log)] == [("mirror.json", 8)]


SHARED = """\
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: prod}
data:
  password: Y29ycmVjdC1ob3JzZS1iYXR0ZXJ5LXN0YXBsZQ==
---
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: dev
stringData:
  user: app
  password: correct-horse-battery-staple
"""


def test_a_string_data_key_is_located_at_its_line(sarif: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    """secret-value-shared on a stringData key: the key's line, not the document's first; a data key likewise."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "namespaces.yaml", NAMESPACES)
    write(tmp_path, "secrets.yaml", SHARED)
    _, log = sarif("-f", "namespaces.yaml", "-f", "secrets.yaml")
    validate(log)
    found = {(r["properties"]["path"], region(r)) for r in results_of(log)}
    assert found == {("data.password", ("secrets.yaml", 5)), ("stringData.password", ("secrets.yaml", 14))}


def test_a_string_data_key_of_json_input_is_located_at_its_line(sarif: Any, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    dev = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "dev"},
           "stringData": {"user": "app", "password": "correct-horse-battery-staple"}}
    write(tmp_path, "namespaces.yaml", NAMESPACES)
    write(tmp_path, "prod.yaml", SHARED.split("---\n", maxsplit=1)[0])
    # A stream of two JSON values in one file: the second's stringData key at line 18.
    write(tmp_path, "dev.json", json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                            "metadata": {"name": "c", "namespace": "dev"}}, indent=2)
          + "\n" + json.dumps(dev, indent=2))
    lines = (tmp_path / "dev.json").read_text().splitlines()
    assert lines[17].strip().startswith('"password"')
    _, log = sarif("-f", "namespaces.yaml", "-f", "prod.yaml", "-f", "dev.json")
    validate(log)
    by_uri = {region(r)[0]: region(r)[1] for r in results_of(log)}
    assert by_uri == {"prod.yaml": 5, "dev.json": 18}


def test_examples_are_valid_sarif(sarif: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    for example, policy in (("reflector", None), ("vault-app", "examples/vault-app/policy.yaml"),
                            ("istio-app", "examples/istio-app/policy.yaml"),
                            ("istio-ambient", "examples/istio-ambient/policy.yaml")):
        args = ["-f", f"examples/{example}"] + (["--policy", policy] if policy else [])
        code, log = sarif(*args)
        validate(log)
        assert code == 1, example
        for result in results_of(log):
            uri, line = region(result)
            # bad/ holds what check refuses; istio-app's drift/ is the parity example (a dev workload off the mesh)
            assert uri.startswith((f"examples/{example}/bad/", f"examples/{example}/drift/")) and line > 1
