"""Writing CEL text: literals, fnmatch globs as RE2 regexes, and the expressions that format values the way the
engine's messages do. Pure string building; nothing here evaluates CEL.

Every policy value (tier names, label keys, globs, sidecar names) becomes a CEL literal at generation time; only
values read from the admitted object are formatted at evaluation time, by the expressions below.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable

NEVER = r"[^\s\S]"
"""An RE2 (and Python) regex that matches no character: fnmatch's empty range, which Python writes ``(?!)``."""

_TRANSLATED = re.compile(r"^\(\?s:(?P<body>.*)\)\\[Zz]$", re.DOTALL)


def string(value: str) -> str:
    """A CEL string literal. JSON's escapes are CEL's; non-ASCII stays literal (CEL has no surrogate escapes)."""
    return json.dumps(value, ensure_ascii=False)


def quoted(value: str) -> str:
    """A CEL string literal in single quotes, as the generator's hand-written CEL writes them, when ``value`` needs
    no escape; else ``string(value)``."""
    return f"'{value}'" if value.isprintable() and not any(c in value for c in "'\\\"") else string(value)


def strings(values: Iterable[str]) -> str:
    """A CEL list literal of strings."""
    return "[" + ", ".join(string(v) for v in values) + "]"


def glob_body(pattern: str) -> str:
    """The RE2 regex matching what ``fnmatch.fnmatchcase(text, pattern)`` matches, without anchors or flags.

    ``*`` is ``.*`` and ``?`` is ``.`` (any character, newlines too: the full pattern sets ``s``); a character
    class is translated by Python's own fnmatch so its quirks (``!`` negation, empty ranges dropped, ``-`` at
    either end literal) are exactly fnmatch's; every other character is a literal.
    """
    parts: list[str] = []
    index, size = 0, len(pattern)
    while index < size:
        char = pattern[index]
        index += 1
        if char == "*":
            if not parts or parts[-1] != ".*":  # fnmatch collapses runs of stars
                parts.append(".*")
        elif char == "?":
            parts.append(".")
        elif char == "[":
            end = index
            if end < size and pattern[end] == "!":
                end += 1
            if end < size and pattern[end] == "]":
                end += 1
            while end < size and pattern[end] != "]":
                end += 1
            if end >= size:
                parts.append(r"\[")
                continue
            parts.append(_class(pattern[index - 1:end + 1]))
            index = end + 1
        else:
            parts.append(_literal(char))
    return "".join(parts)


def _class(bracketed: str) -> str:
    match = _TRANSLATED.match(fnmatch.translate(bracketed))
    if match is None:  # a future Python that writes its regex differently: refuse rather than guess
        raise ValueError(f"cannot translate the glob class {bracketed!r}")
    body = match.group("body")
    return NEVER if body == "(?!)" else body


_REGEX_META = frozenset("\\.+*?()|[]{}^$")


def _literal(char: str) -> str:
    # RE2 and Python both read a backslash before a metacharacter as that character.
    return "\\" + char if char in _REGEX_META else char


def glob_regex(pattern: str) -> str:
    """The anchored RE2 regex for ``matches()``: the whole text must match, as with fnmatch."""
    return f"^(?s:{glob_body(pattern)})$"


def any_glob(subject: str, patterns: Iterable[str]) -> str:
    """CEL: ``subject`` matches one of the globs (false for none)."""
    tests = [f"{subject}.matches({string(glob_regex(p))})" for p in patterns]
    return "(" + " || ".join(tests) + ")" if tests else "false"


def py_repr(subject: str) -> str:
    """CEL formatting a string as Python's ``repr`` does for printable text: single quotes unless the text holds
    a single quote and no double quote; backslashes doubled, the chosen quote escaped. (Control characters, which
    repr escapes, come out raw: no object field tierguard quotes this way can hold them.)"""
    escaped = f"{subject}.replace('\\\\', '\\\\\\\\')"
    return (f"({subject}.contains(\"'\") && !{subject}.contains('\"') ? '\"' + {escaped} + '\"' : "
            f"\"'\" + {escaped}.replace(\"'\", \"\\\\'\") + \"'\")")


def str_map(holder: str, field: str) -> str:
    """CEL: ``holder.field`` (a string map such as ``metadata.labels``), or the empty map when absent."""
    return f"(has({holder}.{field}) ? {holder}.{field} : {{}})"


def map_has(mapping: str, key: str, value: str) -> str:
    """CEL: the map holds ``key`` with exactly ``value``."""
    return f"({string(key)} in {mapping} && {mapping}[{string(key)}] == {string(value)})"
