"""Results for code scanning: SARIF 2.1.0 (``check -o sarif``), one run, one result per violation.

Each result names its rule (``tool.driver.rules`` lists every rule id, with a link to its section of
docs/rules.md), its level (``error`` deny, ``warning`` warn, ``note`` audit), the engine's message (never a
value: messages name objects, tiers and fields only) and the file and line of the offending field. Objects
Helm rendered are placed in their template (``# Source:``). The other object of a cross-object finding (the prod
Secret a dev Secret copies, the other holder of a value) is a related location when the input holds it.

``partialFingerprints`` identify a finding by rule, file, object and field path, not by line or message, so a
finding keeps its alert when lines move or wording changes, and a fixed one closes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tierguard import __version__
from tierguard.engine.evaluation import RULE_FACTS
from tierguard.engine.model import Action, ObjectRef, Rule, Violation
from tierguard.engine.offline import Result
from tierguard.manifests import Location

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
DEFAULT_RULES_URL = "https://github.com/tierguard/tierguard/blob/main/docs/rules.md"
"""Where docs/rules.md is published; ``TIERGUARD_RULES_URL`` overrides it (the GitHub Action sets it to the
action's own repository and ref, so links match the version that ran)."""
FINGERPRINT_KEY = "tierguardFinding/v1"
STDIN_URI = "stdin"
"""The artifact of objects read from stdin that carry no Helm ``# Source:`` comment."""

LEVELS = {Action.DENY: "error", Action.WARN: "warning", Action.AUDIT: "note"}

def rules_url() -> str:
    return os.environ.get("TIERGUARD_RULES_URL") or DEFAULT_RULES_URL


def _rule(rule: Rule, base: str) -> dict[str, Any]:
    facts = RULE_FACTS[rule]  # its module's description and category
    return {
        "id": rule.value,
        "name": "".join(part.capitalize() for part in rule.value.split("-")),
        "shortDescription": {"text": facts.description},
        "helpUri": f"{base}#{rule.value}",
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["security", facts.category]},
    }


def artifact_uri(location: Location | None) -> str:
    """The file as a relative URI (relative to the working directory when it lies below it)."""
    if location is None:
        return STDIN_URI
    if location.origin is not None:
        return quote(location.origin.replace("\\", "/"))
    if location.file.startswith("<") or location.file in ("-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"):
        return STDIN_URI
    path = Path(location.file)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            return path.resolve().as_uri()
    return quote(path.as_posix().removeprefix("./"))


def _line(location: Location | None, path: str) -> int:
    if location is None:
        return 1
    line = location.line_of(path)
    if location.origin is not None:  # the line in the template, as rendered after its Source comment
        line -= location.origin_line
    return max(line, 1)


def _physical(location: Location | None, path: str) -> dict[str, Any]:
    return {"artifactLocation": {"uri": artifact_uri(location)}, "region": {"startLine": _line(location, path)}}


def fingerprint(rule: str, uri: str, ref: ObjectRef, path: str) -> str:
    identity = "\x1f".join([rule, uri, ref.kind, ref.namespace or "", ref.name, path])
    return hashlib.sha256(identity.encode()).hexdigest()


RefKey = tuple[str, str | None, str]


def _key(ref: ObjectRef) -> RefKey:
    return (ref.kind, ref.namespace, ref.name)


def _related(violation: Violation, objects: Mapping[RefKey, Location | None]) -> list[dict[str, Any]]:
    related: list[dict[str, Any]] = []
    for ref in violation.related:
        key = _key(ref)
        if key not in objects and ref.namespace == "default":
            key = (ref.kind, None, ref.name)  # written without a namespace: placed in default
        if key not in objects:
            continue
        related.append({
            "id": len(related) + 1,
            "physicalLocation": _physical(objects[key], ""),
            "message": {"text": str(ref)},
        })
    return related


def sarif_log(results: Sequence[Result], locations: Mapping[str, Location] | None = None) -> dict[str, Any]:
    locations = locations or {}
    base = rules_url()
    objects: dict[RefKey, Location | None] = {}
    for result in results:
        objects.setdefault(_key(result.ref), locations.get(result.source))
    sarif_results = []
    for result in results:
        location = locations.get(result.source)
        for violation in result.decision.violations:
            uri = artifact_uri(location)
            entry: dict[str, Any] = {
                "ruleId": violation.rule.value,
                "ruleIndex": list(Rule).index(violation.rule),
                "level": LEVELS[violation.action],
                "message": {"text": " ".join(violation.message.split())},
                "locations": [{
                    "physicalLocation": _physical(location, violation.path),
                    "logicalLocations": [{"name": result.ref.name, "kind": result.ref.kind,
                                          "fullyQualifiedName": f"{result.ref}"
                                                                + (f" {violation.path}" if violation.path else "")}],
                }],
                "partialFingerprints": {FINGERPRINT_KEY: fingerprint(violation.rule.value, uri, result.ref,
                                                                     violation.path)},
                "properties": {"action": violation.action.value, "path": violation.path,
                               "source": result.source},
            }
            related = _related(violation, objects)
            if related:
                entry["relatedLocations"] = related
            sarif_results.append(entry)
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "tierguard",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": base.rsplit("/docs/", 1)[0],
                "rules": [_rule(rule, base) for rule in Rule],
            }},
            "columnKind": "unicodeCodePoints",
            "results": sarif_results,
        }],
    }


def render_sarif(results: Sequence[Result], locations: Mapping[str, Location] | None = None) -> str:
    return json.dumps(sarif_log(results, locations), indent=2) + "\n"
