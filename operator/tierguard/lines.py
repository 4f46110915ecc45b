"""Where each field of a manifest is written: line numbers kept while loading YAML, for SARIF and people.

PyYAML composes a document into a node tree whose nodes carry start marks before it constructs Python values;
``manifests.py`` already composes that tree (to bound alias expansion), so the lines come from the same parse
at no extra cost and with no second YAML library. ``FieldLines`` keeps only line numbers and key names, never a
value, so nothing here can leak a Secret.

A violation's path (``spec.template.spec.containers[1].env[0]``, ``metadata.annotations[example.com/x]``,
``data.tls.crt``) is resolved against the tree: ``[N]`` indexes a sequence, ``[key]`` names a mapping key, and a
dotted segment matches the longest key that fits (data keys and annotation keys may contain dots). A path that
leads nowhere (a field the object lacks, such as a missing ``containers`` entry) stops at the deepest field found.
"""

from __future__ import annotations

import yaml


class FieldLines:
    """The 1-based line where a node starts, its mapping keys (each with the key's line) and its items."""

    __slots__ = ("items", "keys", "line")

    def __init__(self, line: int) -> None:
        self.line = line
        self.keys: dict[str, tuple[int, FieldLines]] = {}
        self.items: list[FieldLines] = []

    def line_of(self, path: str) -> int:
        """The line of the field at ``path`` (a mapping value: the line of its key), or of the deepest parent."""
        node, line, rest = self, self.line, path
        guard = 0
        while rest and guard < 10_000:
            guard += 1
            if rest.startswith("["):
                end = rest.find("]")
                if end < 0:
                    break
                token, rest = rest[1:end], rest[end + 1:].removeprefix(".")
                if token.isdigit() and node.items:
                    index = int(token)
                    if index >= len(node.items):
                        break
                    node = node.items[index]
                    line = node.line
                elif token in node.keys:
                    line, node = node.keys[token]
                else:
                    break
                continue
            key = self._longest_key(node, rest)
            if key is None:
                break
            line, node = node.keys[key]
            rest = rest[len(key):].removeprefix(".")
        return line

    @staticmethod
    def _longest_key(node: FieldLines, rest: str) -> str | None:
        best: str | None = None
        for key in node.keys:
            if rest.startswith(key) and (len(rest) == len(key) or rest[len(key)] in ".[") and (
                    best is None or len(key) > len(best)):
                best = key
        return best


def field_lines(node: yaml.Node, line_offset: int = 0) -> FieldLines:
    """The lines of a composed YAML node tree; ``line_offset`` is the 0-based line where its text starts."""
    return _build(node, line_offset, {})


def _build(current: yaml.Node, line_offset: int, built: dict[int, FieldLines]) -> FieldLines:
    # A module function, not a closure calling itself: that would be a reference cycle per document, left to
    # the cyclic collector, which ``tierguard check`` keeps off while loading.
    known = built.get(id(current))
    if known is not None:  # an alias (or a recursive one): the anchor's lines
        return known
    lines = FieldLines(line_offset + current.start_mark.line + 1)
    built[id(current)] = lines
    if isinstance(current, yaml.MappingNode):
        # Built after construction, so merge keys (``<<``) are already flattened in; a later key wins, as
        # it does in the constructed mapping.
        for key, value in current.value:
            if isinstance(key, yaml.ScalarNode):
                lines.keys[str(key.value)] = (line_offset + key.start_mark.line + 1, _build(value, line_offset, built))
    elif isinstance(current, yaml.SequenceNode):
        lines.items = [_build(item, line_offset, built) for item in current.value]
    return lines
