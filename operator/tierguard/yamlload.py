"""A YAML document's Python value and field lines in one walk of libyaml's node tree, or a refusal.

PyYAML's ``SafeConstructor`` spends ~3 us of Python per node (a generator per collection, memo dictionaries,
a dispatch through ``construct_object``), and ``field_lines`` walked the same tree again: together more than
half of ``tierguard check``'s time (bench/README.md, "``tierguard check``: no collector while loading").
Kubernetes manifests use a small part of YAML: mappings with scalar keys, sequences, and the implicitly resolved
core scalars. ``build`` handles exactly that part and raises ``Unusual`` for anything else (an explicit tag
other than the core ones, a merge key ``<<``, a non-scalar key, an alias of a mapping or sequence, a ``=``
value key), so the caller can let PyYAML's constructor do it as before. What it does handle it does as
``yaml.safe_load`` does: strings are the node's text, every other scalar is made by SafeConstructor's own
function for its tag (so ``yes``, ``0777``, ``1:30``, dates and ``.inf`` stay YAML 1.1 as PyYAML reads them),
and a later duplicate key overwrites an earlier one in the earlier one's place, as ``dict`` assignment does in
SafeConstructor.

The node tree itself is still libyaml's (``CSafeLoader``'s composer, which calls PyYAML's Python resolver once
per scalar): a leaner resolver measured 0.14 us less per scalar, ~1.5% of ``check``, not worth a copy of
PyYAML's resolution rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tierguard.lines import FieldLines

TAG_MISFITS = (ValueError, KeyError, AttributeError, TypeError, IndexError)
"""What SafeConstructor's scalar functions raise, instead of a YAMLError, for a text that does not fit the tag
written before it (``!!int yes``: ValueError, ``!!bool x``: KeyError, ``!!timestamp x``: AttributeError,
``!!int -`` or ``!!int ''``: IndexError). Every reader of YAML catches them as it catches a YAMLError."""
TAG_MISFIT_PROBLEM = "a value its explicit tag cannot read (such as '!!int yes'); quote it or drop the tag"

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_SCALARS: dict[str, Callable[[Any, Node], object]] = {
    tag: yaml.SafeLoader.yaml_constructors[tag]
    for tag in ("tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary")
}
"""Scalar tags besides str, each with SafeConstructor's function: these scalars are PyYAML's by construction."""


class Unusual(Exception):
    """The node tree uses something ``build`` leaves to PyYAML's constructor."""


class _Builder:
    """One document's walk. A class rather than nested functions: a closure that calls itself is a reference
    cycle, which only the cyclic collector frees (``tierguard check`` keeps the collector off while loading)."""

    __slots__ = ("_containers", "_loader", "_offset")

    def __init__(self, loader: yaml.SafeLoader, line_offset: int, aliases: bool) -> None:
        self._loader = loader
        self._offset = line_offset + 1
        # A collection node met twice is an alias of it (``*name``): PyYAML shares the value and bounds the
        # expansion, so that case goes to it. Only a text with a ``*`` can hold one.
        self._containers: set[int] | None = set() if aliases else None

    def node(self, node: Node) -> tuple[object, FieldLines]:
        lines = FieldLines(self._offset + node.start_mark.line)
        kind = node.__class__
        if kind is ScalarNode:
            return self._scalar(node), lines
        if self._containers is not None:
            if id(node) in self._containers:
                raise Unusual
            self._containers.add(id(node))
        if kind is MappingNode and node.tag == _MAP:
            mapping: dict[object, object] = {}
            keys = lines.keys
            for key_node, value_node in node.value:
                if key_node.__class__ is not ScalarNode:
                    raise Unusual
                text = key_node.value
                if value_node.__class__ is ScalarNode and value_node.tag == _STR:  # most values: no call
                    value, value_lines = value_node.value, FieldLines(self._offset + value_node.start_mark.line)
                else:
                    value, value_lines = self.node(value_node)
                mapping[text if key_node.tag == _STR else self._scalar(key_node)] = value
                keys[text] = (self._offset + key_node.start_mark.line, value_lines)
            return mapping, lines
        if kind is SequenceNode and node.tag == _SEQ:
            sequence: list[object] = []
            items = lines.items
            for item in node.value:
                value, item_lines = self.node(item)
                sequence.append(value)
                items.append(item_lines)
            return sequence, lines
        raise Unusual

    def _scalar(self, node: Node) -> object:
        tag = node.tag
        if tag == _STR:
            return node.value
        construct = _SCALARS.get(tag)
        if construct is None:
            raise Unusual
        return construct(self._loader, node)


def build(loader: yaml.SafeLoader, node: Node, line_offset: int, *, aliases: bool) -> tuple[object, FieldLines]:
    """The value ``loader.construct_document(node)`` would give, and the lines ``field_lines(node, line_offset)``
    would; raises Unusual (or RecursionError, or a YAMLError of a scalar) for PyYAML's constructor to take over.
    ``aliases``: whether the text may hold an alias (it holds a ``*``). The tree is left as it was."""
    return _Builder(loader, line_offset, aliases).node(node)
