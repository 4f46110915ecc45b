"""Namespace targeting as secret replicators express it: label selector strings and name-or-regex lists."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tierguard.engine.model import Malformed

_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9_./-]+)\s*"
    r"(?:(?P<op>==|!=|=|\s+in\s+|\s+notin\s+)\s*(?P<value>\([^)]*\)|[A-Za-z0-9_.-]*))?\s*$"
)


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "in", "notin", "exists", "!exists"
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "exists":
            return self.key in labels
        if self.operator == "!exists":
            return self.key not in labels
        if self.operator == "in":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part.strip()]


def parse_selector(text: str, path: str) -> tuple[Requirement, ...]:
    """Parse ``a=b,c!=d,e in (f,g),!h``; an empty selector selects everything."""
    requirements = []
    for part in _split_top_level(text):
        match = _REQUIREMENT.match(part)
        if match is None:
            raise Malformed(path, f"cannot parse label selector requirement {part.strip()!r}")
        key, op, value = match["key"], (match["op"] or "").strip(), match["value"] or ""
        if match["neg"]:
            if op:
                raise Malformed(path, f"cannot parse label selector requirement {part.strip()!r}")
            requirements.append(Requirement(key, "!exists", frozenset()))
        elif not op:
            requirements.append(Requirement(key, "exists", frozenset()))
        elif op in ("=", "=="):
            requirements.append(Requirement(key, "in", frozenset({value})))
        elif op == "!=":
            requirements.append(Requirement(key, "notin", frozenset({value})))
        else:
            values = frozenset(v.strip() for v in value.strip("()").split(",") if v.strip())
            requirements.append(Requirement(key, op, values))
    return tuple(requirements)


def selector_matcher(text: str, path: str) -> Callable[[Mapping[str, str]], bool]:
    requirements = parse_selector(text, path)
    return lambda labels: all(r.matches(labels) for r in requirements)


def split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
"""What Go's ``strconv.ParseBool`` reads as true (kubernetes-replicator, the Vault injector)."""


def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        with warnings.catch_warnings():  # a user's odd pattern must not print FutureWarnings to stderr
            warnings.simplefilter("ignore")
            return re.compile(pattern)
    except re.error:
        return None


def reflector_name_matcher(patterns: list[str]) -> Callable[[str], bool]:
    """reflector's PatternListMatch: a name matches a pattern when the regex's first match spans the whole name
    (so ``prod|prod-b`` does not match ``prod-b``: the first alternative wins); a pattern that is not a regex
    counts as a plain name."""
    literal = set(patterns)
    compiled = [p for p in map(_compiled, patterns) if p is not None]

    def matches(name: str) -> bool:
        if name in literal:
            return True
        for pattern in compiled:
            found = pattern.search(name)
            if found is not None and len(found.group()) == len(name):
                return True
        return False

    return matches


def replicator_name_matcher(patterns: list[str]) -> Callable[[str], bool]:
    """kubernetes-replicator's BuildStrictRegex: each pattern trimmed, then ``^`` and ``$`` added where missing
    (so ``dev|prod`` becomes ``^dev|prod$``, which also matches ``my-prod``); a pattern that is not a regex counts
    as a plain name."""
    literal = {p.strip() for p in patterns}
    compiled = []
    for pattern in literal:
        strict = pattern if pattern.startswith("^") else "^" + pattern
        strict = strict if strict.endswith("$") else strict + "$"
        found = _compiled(strict)
        if found is not None:
            compiled.append(found)
    return lambda name: name in literal or any(p.search(name) for p in compiled)


def label_selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector (``matchLabels`` and ``matchExpressions``); the empty selector matches everything."""
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, Mapping) and any(labels.get(str(k)) != str(v) for k, v in match_labels.items()):
        return False
    expressions = selector.get("matchExpressions")
    for expression in expressions if isinstance(expressions, list) else []:
        if not isinstance(expression, Mapping):
            return False
        key, operator = str(expression.get("key") or ""), str(expression.get("operator") or "")
        values = {str(v) for v in expression.get("values") or [] if v is not None} \
            if isinstance(expression.get("values"), list) else set()
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True
