"""Reading Kubernetes manifests from files, directories and stdin, each object tagged with its source.

Errors name the file and document index and never quote the document's text: a parse error near a Secret must
not echo its value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from tierguard.errors import ManifestError  # raised here; errors.py maps every error type

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
MAX_INPUT_BYTES = 64 * 1024 * 1024
"""Per file (or stdin): far above any manifest set, low enough to fail fast on a wrong file."""
MAX_EXPANDED_NODES = 1_000_000
"""Per document, counting each alias use: a few aliases nested can otherwise expand exponentially."""
STDIN = "-"


@dataclass(frozen=True)
class SourcedObject:
    obj: Mapping[str, Any]
    source: str
    """``file#document`` (``file#document.items[i]`` for members of a ``kind: List``)."""


def expand_paths(paths: list[str]) -> list[str]:
    """Files as given; directories expanded recursively to their manifest files, sorted for stable output."""
    expanded: list[str] = []
    for path in paths:
        if path == STDIN:
            expanded.append(path)
            continue
        candidate = Path(path)
        if candidate.is_dir():
            expanded.extend(
                str(p) for p in sorted(candidate.rglob("*")) if p.is_file() and p.suffix in MANIFEST_SUFFIXES
            )
        elif candidate.is_file():
            expanded.append(path)
        else:
            raise ManifestError(path, "no such file or directory")
    return expanded


def read_manifests(paths: list[str], stdin: IO[str]) -> list[SourcedObject]:
    objects: list[SourcedObject] = []
    for path in expand_paths(paths or [STDIN]):
        if path == STDIN:
            text, name = stdin.read(), "<stdin>"
        else:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise ManifestError(path, f"cannot read: {error.__class__.__name__}") from None
            name = path
        if len(text) > MAX_INPUT_BYTES:
            raise ManifestError(name, f"larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB; split the input")
        objects.extend(parse_documents(text, name))
    return objects


def parse_documents(text: str, name: str) -> Iterator[SourcedObject]:
    index = 0
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None and _expanded_size(node) > MAX_EXPANDED_NODES:
                raise ManifestError(f"{name}#{index}", f"expands to more than {MAX_EXPANDED_NODES} YAML nodes "
                                                       f"(nested aliases?); refusing to evaluate it")
            document = loader.construct_document(node) if node is not None else None
            if document is not None:
                yield from _objects(document, f"{name}#{index}")
            index += 1
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "cannot be parsed"
        raise ManifestError(f"{name}#{index}", f"not valid YAML{where}: {problem}") from None
    finally:
        loader.dispose()


def _expanded_size(root: yaml.Node) -> int:
    """Nodes in the document once every alias is expanded, computed without expanding (memoized per node)."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1  # a recursive alias counts once instead of looping
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(key) + size(value) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(item) for item in node.value)
        else:
            total = 1
        sizes[id(node)] = min(total, MAX_EXPANDED_NODES + 1)
        return sizes[id(node)]

    return size(root)


def _objects(document: object, source: str) -> Iterator[SourcedObject]:
    obj = _as_object(document, source)
    if obj.get("kind") == "List" or (str(obj.get("kind", "")).endswith("List") and "items" in obj):
        items = obj.get("items") or []
        if not isinstance(items, list):
            raise ManifestError(source, "items of a List must be a list")
        for position, item in enumerate(items):
            yield SourcedObject(_as_object(item, f"{source}.items[{position}]"), f"{source}.items[{position}]")
    else:
        yield SourcedObject(obj, source)


def _as_object(document: object, source: str) -> Mapping[str, Any]:
    if not isinstance(document, Mapping):
        raise ManifestError(source, f"expected a Kubernetes object (a mapping), got {type(document).__name__}")
    for field in ("apiVersion", "kind"):
        if not isinstance(document.get(field), str) or not document.get(field):
            raise ManifestError(source, f"missing or invalid {field}")
    return document
