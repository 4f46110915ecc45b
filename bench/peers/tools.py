"""The three tools of part 6: how each is run on a tree, and which objects its output says violate.

Every tool runs as its user runs it, in a fresh process, with machine-readable output written to a file:
  tierguard  ``python -m tierguard check -f TREE --policy tierpolicy.yaml -o json`` (descends into directories);
  gator      ``gator test -f TREE -f policies/gatekeeper -o json`` (Namespaces from the input feed its
             namespaceSelector; every input object also fills its inventory);
  kyverno    ``kyverno apply clusterpolicy.yaml --resource FLAT --values-file VALUES --policy-report
             --output-format json`` (one flat directory, namespace labels from the values file);
  kyverno_cel  the same with validatingpolicy.yaml, the CEL form, on trees of up to 1,000 objects only (the CLI
             compiles the policy again for every object: minutes at 10,000).
A parser that meets something it does not expect (another rule firing, an error result) raises: the figures
are only worth comparing when the verdicts are the same.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.peers.tree import ObjectId, Tree

POLICIES = Path(__file__).resolve().parent / "policies"
TIERPOLICY = POLICIES / "tierguard" / "tierpolicy.yaml"
GATEKEEPER = POLICIES / "gatekeeper"
KYVERNO_POLICY = POLICIES / "kyverno" / "clusterpolicy.yaml"
KYVERNO_CEL_POLICY = POLICIES / "kyverno" / "validatingpolicy.yaml"
SIDECAR_RULE = "sidecar-missing"


class OutputError(ValueError):
    """A tool's output is not what the bench can compare (an error result, another rule, unreadable)."""


@dataclass(frozen=True)
class Tool:
    name: str
    argv: Callable[[Tree], list[str]]
    violations: Callable[[str], set[ObjectId]]
    exit_codes: frozenset[int]
    """Exit codes of a run that judged everything (violations found or not)."""
    max_objects: int | None = None
    """Trees larger than this are left to the others (a tool too slow to repeat there)."""


def _object_id(kind: Any, namespace: Any, name: Any, where: str) -> ObjectId:
    if not all(isinstance(part, str) and part for part in (kind, namespace, name)):
        raise OutputError(f"{where}: a violation without kind, namespace and name: {kind!r} {namespace!r} {name!r}")
    return (kind, namespace, name)


def _load_json(text: str, tool: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except json.JSONDecodeError as error:
        raise OutputError(f"{tool}: output is not JSON ({error}): {text[:200]!r}") from None


def tierguard_violations(text: str) -> set[ObjectId]:
    found: set[ObjectId] = set()
    report = _load_json(text, "tierguard")
    if not isinstance(report, dict) or not isinstance(report.get("results"), list):
        raise OutputError("tierguard: no results list in its JSON report")
    for result in report["results"]:
        rules = {violation["rule"] for violation in result.get("violations", [])}
        if rules - {SIDECAR_RULE}:
            raise OutputError(f"tierguard: {result['object']} broke {sorted(rules - {SIDECAR_RULE})}, which the "
                              "generated tree is built not to")
        if SIDECAR_RULE in rules:
            obj = result["object"]
            found.add(_object_id(obj.get("kind"), obj.get("namespace"), obj.get("name"), "tierguard"))
    return found


def gator_violations(text: str) -> set[ObjectId]:
    found: set[ObjectId] = set()
    results = _load_json(text, "gator") or []
    if not isinstance(results, list):
        raise OutputError("gator: its JSON output is not a list of results")
    for result in results:
        obj = result.get("violatingObject") or {}
        meta = obj.get("metadata", {})
        found.add(_object_id(obj.get("kind"), meta.get("namespace"), meta.get("name"), "gator"))
    return found


def kyverno_violations(text: str) -> set[ObjectId]:
    found: set[ObjectId] = set()
    # v1.19 prints its deprecation warning for ClusterPolicy on stdout, before the report: skip to the report.
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(("{", "["))), len(lines))
    loaded = _load_json("\n".join(lines[start:]), "kyverno")
    reports = loaded if isinstance(loaded, list) else [loaded] if loaded else []
    for report in reports:
        if not isinstance(report, dict):
            raise OutputError("kyverno: a policy report that is not an object")
        for result in report.get("results") or []:
            outcome = result.get("result")
            if outcome in ("error", "warn"):
                raise OutputError(f"kyverno: result {outcome!r} for {result.get('resources')}: "
                                  f"{str(result.get('message'))[:200]}")
            if outcome == "fail":
                for res in result.get("resources") or []:
                    found.add(_object_id(res.get("kind"), res.get("namespace"), res.get("name"), "kyverno"))
    return found


def tierguard() -> Tool:
    return Tool("tierguard",
                lambda tree: [sys.executable, "-m", "tierguard", "check", "-f", str(tree.nested), "--policy",
                              str(TIERPOLICY), "-o", "json"],
                tierguard_violations, frozenset({0, 1}))


def gator(binary: Path) -> Tool:
    return Tool("gator",
                lambda tree: [str(binary), "test", "-f", str(tree.nested), "-f", str(GATEKEEPER), "-o", "json"],
                gator_violations, frozenset({0, 1}))


def kyverno(binary: Path, cel: bool = False) -> Tool:
    policy = KYVERNO_CEL_POLICY if cel else KYVERNO_POLICY
    return Tool("kyverno_cel" if cel else "kyverno",
                lambda tree: [str(binary), "apply", str(policy), "--resource", str(tree.flat),
                              "--values-file", str(tree.kyverno_values), "--policy-report",
                              "--output-format", "json", "--remove-color"],
                kyverno_violations, frozenset({0, 1}), max_objects=1000 if cel else None)
