"""Reading Kubernetes manifests from files, directories, pipes and stdin, each object tagged with its source.

Errors name the file, the document index, the line and column and the kind of problem, and never quote the
document's text: a parse error near a Secret must not echo its value. PyYAML's and json's messages quote the
offending token (``found undefined alias 'Xk9...'``), so only fixed phrases of ours are ever shown.

``.json`` files are read with a JSON parser (one or more JSON values); in YAML streams, a document that is JSON
(it starts with ``{`` or ``[``) is read with a JSON parser first, so JSON that YAML cannot read (tab
indentation) is still understood.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import IO, Any

import yaml

from tierguard.errors import ManifestError  # raised here; errors.py maps every error type
from tierguard.lines import FieldLines, field_lines
from tierguard.yamlload import TAG_MISFIT_PROBLEM, TAG_MISFITS, Unusual, build

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
MAX_INPUT_BYTES = 64 * 1024 * 1024
"""Per file (or stdin): far above any manifest set, low enough to fail fast on a wrong file."""
MAX_EXPANDED_NODES = 1_000_000
"""Per document, counting each alias use: a few aliases nested can otherwise expand exponentially."""
STDIN = "-"
STDIN_PATHS = frozenset({"/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})
"""Names of the process's own stdin: read from the stdin stream given, like ``-``."""


MAX_JSON_LINES_BYTES = 4 * 1024 * 1024
"""A JSON value larger than this keeps only its first line (its fields' lines cost a second, YAML, parse)."""
_HELM_SOURCE = re.compile(r"^#\s*Source:\s*(\S.*?)\s*$")


@dataclass(frozen=True)
class Location:
    """Where an object is written: its file, its first line and the line of each of its fields.

    ``origin`` is the template Helm rendered it from (its ``# Source: chart/templates/x.yaml`` comment), with
    ``origin_line`` the line of that comment in the stream, so ``line - origin_line`` approximates the line in
    the template (exact when the template's lines render one to one).
    """

    file: str
    line: int
    lines: FieldLines | None = dataclass_field(default=None, compare=False, repr=False)
    origin: str | None = None
    origin_line: int = 0

    def line_of(self, path: str) -> int:
        """The line of the field at ``path`` in ``file`` (the object's first line when it cannot be found)."""
        return self.lines.line_of(path) if self.lines is not None and path else self.line

    def within(self, lines: FieldLines | None) -> Location:
        """The location of a member (a ``kind: List`` item) whose lines are ``lines``."""
        if lines is None:
            return self
        return Location(self.file, lines.line, lines, self.origin, self.origin_line)


@dataclass(frozen=True)
class SourcedObject:
    obj: Mapping[str, Any]
    source: str
    """``file#document`` (``file#document.items[i]`` for members of a ``kind: List``)."""
    location: Location | None = dataclass_field(default=None, compare=False)
    """Where it is written (file, lines, Helm template), for SARIF and text output."""


def expand_paths(paths: list[str]) -> list[str]:
    """Paths as given; directories expanded recursively to their manifest files, sorted for stable output.

    A Helm chart (a directory holding ``Chart.yaml``) below a directory given is left out: its templates are not
    manifests until rendered (``helm template ... | tierguard check -f -``). A chart directory given itself is
    read as given (and fails on its first template that is not YAML, which says why).

    Any path that exists and is not a directory is read as given: a regular file, a pipe (``<(helm template
    ...)``, ``/dev/fd/N``), ``/dev/stdin``.
    """
    expanded: list[str] = []
    for path in paths:
        if path == STDIN or path in STDIN_PATHS:
            expanded.append(path)
            continue
        candidate = Path(path)
        if candidate.is_dir():
            charts = [c.parent for c in candidate.rglob("Chart.yaml")] if not (candidate / "Chart.yaml").is_file() \
                else []
            expanded.extend(
                str(p) for p in sorted(candidate.rglob("*")) if p.is_file() and p.suffix in MANIFEST_SUFFIXES
                and not any(chart in p.parents for chart in charts)
            )
        elif candidate.exists():
            expanded.append(path)
        else:
            raise ManifestError(path, "no such file or directory")
    return expanded


def read_manifests(paths: list[str], stdin: IO[str], *, skip_non_objects: bool = False) -> list[SourcedObject]:
    """Every object of ``paths`` (stdin without any). ``skip_non_objects`` leaves out documents that are not
    Kubernetes objects (no ``apiVersion`` and ``kind``: a CI config, a values file) instead of failing on them, for
    hooks that are handed every changed YAML file; a document that cannot be parsed still fails."""
    objects: list[SourcedObject] = []
    for path in expand_paths(paths or [STDIN]):
        if path == STDIN or path in STDIN_PATHS:
            text, name = stdin.read(MAX_INPUT_BYTES + 1), "<stdin>" if path == STDIN else path
        else:
            name = path
            try:
                with open(path, "rb") as stream:  # not Path.read_text: pipes and devices have no size to trust
                    raw = stream.read(MAX_INPUT_BYTES + 1)
                text = raw.decode("utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise ManifestError(path, f"cannot read: {error.__class__.__name__}") from None
        if len(text) > MAX_INPUT_BYTES:
            raise ManifestError(name, f"larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB; split the input")
        objects.extend(parse_documents(text, name, json_file=name.lower().endswith(".json"),
                                       skip_non_objects=skip_non_objects))
    return objects


def parse_documents(text: str, name: str, *, json_file: bool = False, skip_non_objects: bool = False
                    ) -> Iterator[SourcedObject]:
    """Every object of a YAML stream (or, with ``json_file``, of a stream of JSON values)."""
    text = text.removeprefix("\ufeff")
    if json_file:
        for index, (document, location) in enumerate(_json_values(text, name)):
            if not skip_non_objects or _is_object(document):
                yield from _objects(document, f"{name}#{index}", location)
        return
    index = 0
    for line, chunk in _yaml_documents(text):
        document, present, lines = _parse_chunk(chunk, f"{name}#{index}", line)
        if not present:
            continue
        if document is not None:
            origin, origin_line = _helm_source(chunk, line)
            location = Location(name, lines.line if lines is not None else line + 1, lines, origin, origin_line)
            if not skip_non_objects or _is_object(document):
                yield from _objects(document, f"{name}#{index}", location)
        index += 1


def _helm_source(chunk: str, line_offset: int) -> tuple[str | None, int]:
    """The ``# Source:`` comment Helm writes before each rendered document, with its 1-based line."""
    if "Source:" not in chunk:  # most chunks: no need to split them into lines
        return None, 0
    for number, text in enumerate(chunk.splitlines()):
        stripped = text.strip()
        if not stripped or stripped == "---" or stripped.startswith("%"):
            continue
        if not stripped.startswith("#"):
            break
        match = _HELM_SOURCE.match(stripped)
        if match:
            return match.group(1), line_offset + number + 1
    return None, 0


def _json_lines(text: str, line_offset: int) -> FieldLines | None:
    """The lines of a JSON value, composed as YAML (JSON that YAML cannot read keeps no field lines)."""
    if len(text) > MAX_JSON_LINES_BYTES:
        return None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        return field_lines(node, line_offset) if node is not None else None
    except (yaml.YAMLError, RecursionError):
        return None
    finally:
        loader.dispose()


_DOCUMENT_START = re.compile(r"^---(?=[ \t\r]|$)", re.MULTILINE)


def _yaml_documents(text: str) -> Iterator[tuple[int, str]]:
    """The stream cut at each ``---`` marker, as (first line, text); every chunk but the first holds one document.

    YAML forbids a ``---`` at the start of a line inside a document, so cutting there agrees with the parser. A
    chunk of directives only (``%YAML 1.1``) stays with the document it introduces.
    """
    starts = [match.start() for match in _DOCUMENT_START.finditer(text)]
    bounds = [0, *starts] if not starts or starts[0] != 0 else starts
    line, pending, pending_line = 0, "", 0
    for position, start in enumerate(bounds):
        end = bounds[position + 1] if position + 1 < len(bounds) else len(text)
        chunk = text[start:end]
        if not pending:
            pending_line = line
        line += chunk.count("\n")
        if _only_directives(chunk) and end < len(text):
            pending += chunk
            continue
        yield pending_line, pending + chunk
        pending = ""


def _only_directives(chunk: str) -> bool:
    if "%" not in chunk:  # most chunks: no need to split them into lines
        return False
    lines = [line.strip() for line in chunk.splitlines()]
    meaningful = [line for line in lines if line and not line.startswith("#")]
    return bool(meaningful) and all(line.startswith("%") for line in meaningful)


def _parse_chunk(chunk: str, source: str, line_offset: int) -> tuple[object, bool, FieldLines | None]:
    """(document, whether the chunk holds a document, its lines); JSON-looking documents are tried as JSON first."""
    body = chunk[3:] if chunk.startswith("---") else chunk
    if body.lstrip().startswith(("{", "[")):
        try:
            return json.loads(body), True, _json_lines(chunk, line_offset)
        except ValueError:
            pass  # flow-style YAML, or broken JSON: YAML says which
        except RecursionError:
            raise ManifestError(source, "nested too deeply") from None
    if _FAST_LOADER is not yaml.SafeLoader:
        try:
            return _load_chunk(_FAST_LOADER, chunk, source, line_offset)
        except ManifestError:
            raise  # our own verdict (a ValueError too), the same from either loader
        except (yaml.YAMLError, RecursionError, *TAG_MISFITS):
            pass  # the pure-Python loader below gives the same verdict and the messages users have always seen
    try:
        return _load_chunk(yaml.SafeLoader, chunk, source, line_offset)
    except yaml.YAMLError as error:
        raise ManifestError(source, f"not valid YAML{_where(error, line_offset)}: {yaml_problem(error)}") from None
    except RecursionError:
        raise ManifestError(source, "nested too deeply") from None
    except ManifestError:
        raise
    except TAG_MISFITS:
        raise ManifestError(source, f"not valid YAML: {TAG_MISFIT_PROBLEM}") from None




_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's composer, then ``yamlload.build`` (PyYAML's safe constructor for what it leaves): the same documents
as SafeLoader, ~10x faster (SafeLoader's pure-Python composer was 95% of ``tierguard check``'s time on 10k
objects). Absent when PyYAML was built without libyaml; then SafeLoader does everything."""


def _load_chunk(loader_class: type[yaml.SafeLoader], chunk: str, source: str, line_offset: int
                ) -> tuple[object, bool, FieldLines | None]:
    loader = loader_class(chunk)
    try:
        if not loader.check_node():
            return None, False, None
        node = loader.get_node()
        document: object = None
        lines: FieldLines | None = None
        if node is not None and loader_class is _FAST_LOADER and 2 * len(chunk) < MAX_EXPANDED_NODES:
            # Without an alias a document has fewer nodes than twice its characters (see _may_expand). What
            # build leaves or fails on, PyYAML's constructor below decides, as it always did.
            with contextlib.suppress(Unusual, yaml.YAMLError, RecursionError):
                document, lines = build(loader, node, line_offset, aliases="*" in chunk)
        if lines is None:
            document, lines = _construct(loader, node, chunk, source, line_offset)
        if loader.check_node():
            raise ManifestError(source, "more than one document between two '---' lines")
        return document, True, lines
    finally:
        loader.dispose()


def _construct(loader: yaml.SafeLoader, node: yaml.Node | None, chunk: str, source: str, line_offset: int
               ) -> tuple[object, FieldLines | None]:
    """PyYAML's own construction of the document, under the alias-expansion bound."""
    if node is not None and _may_expand(chunk) and _expanded_size(node) > MAX_EXPANDED_NODES:
        raise ManifestError(source, f"expands to more than {MAX_EXPANDED_NODES} YAML nodes "
                                    f"(nested aliases?); refusing to evaluate it")
    document = loader.construct_document(node) if node is not None else None
    return document, field_lines(node, line_offset) if node is not None else None


def _json_values(text: str, name: str) -> Iterator[tuple[object, Location]]:
    """One or more JSON values, separated by whitespace (``kubectl get -o json``, ``jq -c`` output)."""
    decoder = json.JSONDecoder()
    position, index = 0, 0
    while True:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if position >= len(text):
            return
        start = position
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise ManifestError(f"{name}#{index}", f"not valid JSON at line {error.lineno}, column {error.colno}: "
                                                   f"{json_problem(error)}") from None
        except RecursionError:
            raise ManifestError(f"{name}#{index}", "nested too deeply") from None
        line_offset = text.count("\n", 0, start)
        lines = _json_lines(text[start:position], line_offset)
        yield value, Location(name, lines.line if lines is not None else line_offset + 1, lines)
        index += 1


def _where(error: yaml.YAMLError, line_offset: int) -> str:
    mark = getattr(error, "problem_mark", None)
    if mark is None:
        return ""
    return f" at line {line_offset + mark.line + 1}, column {mark.column + 1}"


# Problems whose parser message embeds document text: said in our words instead.
_EMBEDDING_PROBLEMS: tuple[tuple[str, str], ...] = (
    ("found undefined alias", "an unquoted value starts with '*', which YAML reads as an alias; quote the value"),
    ("could not determine a constructor for the tag",
     "an unquoted value starts with '!', which YAML reads as a tag; quote the value"),
    ("found character '\\t' that cannot start any token", "a tab where YAML expects indentation (use spaces)"),
    ("found character", "a character that cannot start any YAML token (an unquoted value starting with '@', "
                        "'`' or '%'?); quote the value"),
    ("found unknown escape character", "an unknown escape sequence in a double-quoted string"),
    ("found undefined tag handle", "an undefined tag handle"),
    ("duplicate tag handle", "a duplicate tag handle"),
    ("found duplicate anchor", "a duplicate anchor"),
    ("unacceptable character", "a character YAML does not accept"),
    ("expected escape sequence of", "an incomplete escape sequence in a double-quoted string"),
    ("expected a single mapping item", "an ordered-map item that is not a single mapping"),
)
_STATIC_PROBLEMS = frozenset({
    "expected ' '", "expected '!'", "expected ',' or ']'", "expected ',' or '}'", "expected '<document start>'",
    "expected '>'", "expected <block end>", "expected URI escape sequence of 2 hexadecimal numbers", "expected URI",
    "expected a comment or a line break", "expected a digit or ' '", "expected a digit or '.'", "expected a digit",
    "expected alphabetic or numeric character", "expected chomping or indentation indicators",
    "expected indentation indicator in the range 1-9", "expected non-empty name appended to the tag",
    "expected the node content", "expected the empty value", "expected a single document in the stream",
    "found duplicate YAML directive", "found duplicate key", "found incompatible YAML document (version 1.* is "
    "required)", "found non-specific tag '!'", "found unconstructable recursive node",
    "found unexpected document separator", "found unexpected end of stream", "found unhashable key",
    "invalid indentation or unclosed '[' or '{'", "mapping keys are not allowed here",
    "mapping values are not allowed here", "sequence entries are not allowed here", "could not find expected ':'",
    "special characters are not allowed", "but found another document",
})
_BUT_FOUND = re.compile(r", but (?:found|got) .*\Z", re.DOTALL)


def yaml_problem(error: yaml.YAMLError) -> str:
    """What is wrong, in fixed words: never the token PyYAML quotes (it can be a Secret's value)."""
    problem = getattr(error, "problem", None)
    if not isinstance(problem, str):
        return "cannot be parsed"
    for prefix, said in _EMBEDDING_PROBLEMS:
        if problem.startswith(prefix):
            return said
    stripped = _BUT_FOUND.sub("", problem)
    return stripped if stripped in _STATIC_PROBLEMS else "cannot be parsed"


_JSON_PROBLEMS = frozenset({
    "Expecting value", "Expecting property name enclosed in double quotes", "Expecting ':' delimiter",
    "Expecting ',' delimiter", "Invalid control character at", "Unterminated string starting at",
    "Invalid \\escape", "Invalid \\uXXXX escape", "Extra data", "Illegal trailing comma before end of object",
    "Illegal trailing comma before end of array",
})


def json_problem(error: json.JSONDecodeError) -> str:
    """json's message when it is one of its fixed phrases (they quote nothing), else a generic one."""
    return error.msg if error.msg in _JSON_PROBLEMS else "cannot be parsed"


def _may_expand(chunk: str) -> bool:
    """Whether the document could exceed MAX_EXPANDED_NODES: only through aliases (``*name``), or by sheer
    size (a node takes at least half a character: ``- - -``, ``?``). Most chunks are neither, and counting their
    nodes was a seventh of ``tierguard check``'s time."""
    return "*" in chunk or 2 * len(chunk) >= MAX_EXPANDED_NODES


def _expanded_size(root: yaml.Node) -> int:
    """Nodes in the document once every alias is expanded, computed without expanding (memoized per node)."""
    return _size(root, {})


def _size(node: yaml.Node, sizes: dict[int, int]) -> int:
    # A module function, not a closure calling itself (a reference cycle the collector, off while loading,
    # would not free).
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = 1  # a recursive alias counts once instead of looping
    if isinstance(node, yaml.MappingNode):
        total = 1 + sum(_size(key, sizes) + _size(value, sizes) for key, value in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_size(item, sizes) for item in node.value)
    else:
        total = 1
    sizes[id(node)] = min(total, MAX_EXPANDED_NODES + 1)
    return sizes[id(node)]


def _objects(document: object, source: str, location: Location | None = None) -> Iterator[SourcedObject]:
    obj = _as_object(document, source)
    if obj.get("kind") == "List" or (str(obj.get("kind", "")).endswith("List") and "items" in obj):
        items = obj.get("items") or []
        if not isinstance(items, list):
            raise ManifestError(source, "items of a List must be a list")
        listed = location.lines.keys.get("items") if location is not None and location.lines is not None else None
        for position, item in enumerate(items):
            member = listed[1].items[position] if listed is not None and position < len(listed[1].items) else None
            yield SourcedObject(_as_object(item, f"{source}.items[{position}]"), f"{source}.items[{position}]",
                                location.within(member) if location is not None else None)
    else:
        yield SourcedObject(obj, source, location)


def _is_object(document: object) -> bool:
    return isinstance(document, Mapping) and all(
        isinstance(document.get(field), str) and document.get(field) for field in ("apiVersion", "kind"))


def _as_object(document: object, source: str) -> Mapping[str, Any]:
    if not isinstance(document, Mapping):
        raise ManifestError(source, f"expected a Kubernetes object (a mapping), got {type(document).__name__}")
    for field in ("apiVersion", "kind"):
        if not isinstance(document.get(field), str) or not document.get(field):
            raise ManifestError(source, f"missing or invalid {field}")
    return document
