"""The one tier lookup: which tier a namespace belongs to, and whether a namespace is exempt."""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Mapping
from fnmatch import fnmatchcase

from tierguard.policy import TierPolicy


def tier_from_labels(labels: Mapping[str, str], policy: TierPolicy) -> str | None:
    """The tier named by the labels, or None (untiered) when the label is absent or names no known tier."""
    value = labels.get(policy.tier_label)
    return value if value in policy.tiers else None


def is_exempt(namespace: str, policy: TierPolicy, own_namespace: str | None = None) -> bool:
    if own_namespace is not None and namespace == own_namespace:
        return True
    patterns = policy.exemptions.namespaces
    return bool(patterns) and _any_glob(tuple(patterns)).match(namespace) is not None


@functools.lru_cache(maxsize=64)
def _any_glob(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regex matching what any of the globs matches, as ``fnmatchcase`` does (every namespace of every
    request is asked: one match instead of one per pattern)."""
    return re.compile("|".join(f"(?:{fnmatch.translate(pattern)})" for pattern in patterns))


def tiers_of_path(path: str, policy: TierPolicy) -> tuple[str, ...]:
    """The tiers whose ``pathPatterns`` claim an external secret-store path."""
    normalized = path.strip().lstrip("/")
    return tuple(
        tier
        for tier, patterns in policy.secrets.path_patterns.items()
        if any(fnmatchcase(normalized, pattern.lstrip("/")) for pattern in patterns)
    )


def other_tiers_of_path(path: str, policy: TierPolicy, tier: str | None) -> tuple[str, ...]:
    """The tiers claiming a path when ``tier`` is not among them: a path of another tier. Empty when the path is
    ``tier``'s, or no tier's (a path no pattern claims is not judged)."""
    owners = tiers_of_path(path, policy)
    return () if tier in owners else owners


def tiers_under_prefix(prefix: str, policy: TierPolicy) -> tuple[str, ...]:
    """The tiers whose ``pathPatterns`` claim some path starting with ``prefix`` (a search that reads every
    secret under a path, or a whole store for the empty prefix)."""
    normalized = prefix.strip().lstrip("/")
    return tuple(
        tier
        for tier, patterns in policy.secrets.path_patterns.items()
        if any(_glob_accepts_prefix(pattern.lstrip("/"), normalized) for pattern in patterns)
    )


def _glob_tokens(pattern: str) -> list[str]:
    """``fnmatch`` tokens: ``*``, ``?``, a ``[...]`` class, or one literal character."""
    tokens, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "[":
            end = pattern.find("]", index + 2 if pattern[index + 1:index + 2] in ("!", "]") else index + 1)
            if end != -1:
                tokens.append(pattern[index:end + 1])
                index = end + 1
                continue
        tokens.append(char)
        index += 1
    return tokens


def _token_matches(token: str, char: str) -> bool:
    if token == "?":
        return True
    if len(token) > 1:  # a class, as fnmatch reads it
        return fnmatchcase(char, token)
    return token == char


def _glob_accepts_prefix(pattern: str, prefix: str) -> bool:
    """Whether some string that starts with ``prefix`` matches the glob (every glob suffix matches something)."""
    tokens = _glob_tokens(pattern)

    def closure(states: set[int]) -> set[int]:
        result = set(states)
        for state in states:
            position = state
            while position < len(tokens) and tokens[position] == "*":
                position += 1
                result.add(position)
        return result

    states = closure({0})
    for char in prefix:
        following = set()
        for state in states:
            if state >= len(tokens):
                continue
            token = tokens[state]
            if token == "*":
                following.add(state)
            elif _token_matches(token, char):
                following.add(state + 1)
        states = closure(following)
        if not states:
            return False
    return True


_REGEX_SPECIAL = frozenset(".^$*+?()[]{}|\\")


def regex_literal_prefix(expression: str) -> str | None:
    """The literal text every match of an anchored (``^...``) regex starts with; None when it is not anchored."""
    if not expression.startswith("^") or "|" in expression:
        return None  # unanchored, or an alternation that may lift the anchor
    literal = []
    for position, char in enumerate(expression[1:], start=1):
        if char in _REGEX_SPECIAL:
            following = expression[position + 1:position + 2]
            if char == "\\" and following and not following.isalnum():
                literal.append(following)  # an escaped punctuation character is itself
            # a quantifier may make the last literal optional
            if char in "*?{" and literal:
                literal.pop()
            break
        literal.append(char)
    return "".join(literal)
