"""``yamlload.build`` against PyYAML: every document of the repository's YAML files and of generated YAML texts
loads to the same values (types included: ``True`` is not ``1``, ``1.0`` is not ``1``), the same field lines and
the same errors as ``yaml.safe_load`` and as the loader did before ``build`` (PyYAML's constructor alone)."""

from __future__ import annotations

import datetime
import gc
import math
import subprocess
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierguard import manifests
from tierguard.errors import ManifestError
from tierguard.lines import FieldLines
from tierguard.yamlload import Unusual, build

REPO = Path(__file__).resolve().parents[2]


def strict(value: object) -> object:
    """A comparable form that keeps each value's type (``True == 1`` and ``1.0 == 1`` in Python)."""
    if isinstance(value, dict):
        return ("dict", [(strict(k), strict(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [strict(item) for item in value])
    if isinstance(value, (set, frozenset)):
        return ("set", sorted(repr(strict(item)) for item in value))
    if isinstance(value, tuple):
        return ("tuple", [strict(item) for item in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def lines_form(lines: FieldLines | None) -> object:
    if lines is None:
        return None
    return (lines.line, [(key, line, lines_form(sub)) for key, (line, sub) in lines.keys.items()],
            [lines_form(item) for item in lines.items])


def outcome(chunk: str, line: int) -> object:
    try:
        document, present, lines = manifests._parse_chunk(chunk, "f#0", line)
    except ManifestError as error:
        return ("error", str(error))
    return (strict(document), present, lines_form(lines))


def before(chunk: str, line: int) -> object:
    """The loader as it was before ``build``: PyYAML's constructor for every document."""
    with mock.patch.object(manifests, "build", side_effect=Unusual):
        return outcome(chunk, line)


def check_text(text: str) -> None:
    for line, chunk in manifests._yaml_documents(text):
        new = outcome(chunk, line)
        assert new == before(chunk, line)
        body = chunk[3:] if chunk.startswith("---") else chunk
        if new[0] != "error" and not body.lstrip().startswith(("{", "[")):  # JSON-looking text is read as JSON
            assert new[0] == strict(yaml.safe_load(chunk))


def repository_yaml() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "*.yaml", "*.yml"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout.split()
    return sorted(listed)


def test_the_repository_has_yaml_to_compare() -> None:
    assert len(repository_yaml()) > 50


@pytest.mark.parametrize("path", repository_yaml())
def test_every_repository_yaml_file_loads_as_pyyaml_loads_it(path: str) -> None:
    check_text((REPO / path).read_text(encoding="utf-8").removeprefix("\ufeff"))


YAML_1_1 = ["yes", "No", "on", "OFF", "y", "n", "true", "False", "~", "null", "Null", "", "0777", "0o17", "0x1F",
            "0b101", "1_000", "-12", "+3", "1:30:00", "-1:20", "190:20:30.15", "1.0", "1e3", "1.5e3", "6.8523015e+5",
            ".inf", "-.Inf", ".NaN", "1.", ".5", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10",
            "2002-12-14T21:59:43Z", "0", "00", "08", "0.1.2", "1,000", "=", "<<", "nan", "inf", "abc", "a b",
            "http://x.example/a", "9.9.9", "-", "0x", "+.inf", "3.14_15"]
TAGS = ["", "", "", "", "!!str ", "!!int ", "!!float ", "!!bool ", "!!null ", "!!timestamp ", "!!binary ",
        "!custom ", "! ", "!!set ", "!!map ", "!!seq ", "!!omap ", "!!python/name:os.system "]


@st.composite
def scalars(draw: st.DrawFn) -> str:
    token = draw(st.sampled_from(YAML_1_1) | st.from_regex(r"\A[a-z0-9][a-z0-9._/-]{0,8}\Z"))
    style = draw(st.sampled_from(["plain", "plain", "plain", "single", "double"]))
    tag = draw(st.sampled_from(TAGS))
    if style == "single":
        token = "'" + token.replace("'", "''") + "'"
    elif style == "double":
        token = '"' + token.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif token == "" or (token in ("-", "=", "<<") and tag):
        token = "''" if token == "" else token
    return tag + token


Tree = object


def trees() -> st.SearchStrategy[Tree]:
    keys = st.sampled_from(["a", "b", "name", "<<", "1", "yes", "~", "=", "0777", "'a'", "1.0", "2001-12-14"])
    return st.recursive(
        scalars(),
        lambda children: st.lists(children, max_size=4).map(lambda items: ("seq", items))
        | st.lists(st.tuples(keys | scalars(), children), max_size=4).map(lambda pairs: ("map", pairs)),
        max_leaves=20)


def render(tree: Tree, indent: int, flow: bool, anchor: str) -> Iterator[str]:
    """Lines of ``tree`` at ``indent`` (block style, or flow style below ``flow``)."""
    pad = " " * indent
    if isinstance(tree, str):
        yield pad + anchor + tree
        return
    assert isinstance(tree, tuple)
    kind, members = tree
    if flow or not members:
        yield pad + anchor + flow_text(tree)
        return
    if anchor:
        yield pad + anchor.strip()
    for member in members:
        if kind == "seq":
            if isinstance(member, str):
                yield f"{pad}- {member}"
            else:
                yield f"{pad}-"
                yield from render(member, indent + 2, False, "")
        else:
            key, value = member
            if isinstance(value, str):
                yield f"{pad}{key}: {value}"
            else:
                yield f"{pad}{key}:"
                yield from render(value, indent + 2, False, "")


def flow_text(tree: Tree) -> str:
    if isinstance(tree, str):
        return tree
    assert isinstance(tree, tuple)
    kind, members = tree
    if kind == "seq":
        return "[" + ", ".join(flow_text(item) for item in members) + "]"
    return "{" + ", ".join(f"{key}: {flow_text(value)}" for key, value in members) + "}"


@st.composite
def documents(draw: st.DrawFn) -> str:
    tree = draw(trees())
    flow = draw(st.booleans())
    anchor = draw(st.sampled_from(["", "", "&x "]))
    text = "\n".join(render(("map", [("top", tree), ("other", "*x" if anchor and draw(st.booleans()) else "1")]),
                            0, False, ""))
    if anchor:
        text = text.replace("top:", "top: " + anchor.strip(), 1) if not flow else text
    return text + "\n"


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.lists(documents(), min_size=1, max_size=3))
def test_generated_yaml_loads_as_pyyaml_loads_it(texts: list[str]) -> None:
    check_text("---\n".join(texts))


def test_a_value_that_does_not_fit_its_tag_is_a_clear_error() -> None:
    # Found by the differential test: SafeConstructor raises ValueError (a traceback) for these.
    for text in ("a: !!int yes\n", "a: !!float x\n", "a: !!bool maybe\n", "a: !!timestamp soon\n",
                 "a: !!int ''\n", "top:\n  !!int -: yes\n"):
        with pytest.raises(ManifestError, match="explicit tag cannot read"):
            list(manifests.parse_documents(text, "f.yaml"))


@pytest.mark.parametrize("text", [
    "a: yes\nb: 0777\nc: 1:30\nd: 2001-12-14\ne: .inf\nf: ~\ng: '1'\nh: !!str 12\ni: !!int '12'\nj: 1.0\nk: 1\n",
    "a: 1\na: 2\nb: {1: x, true: y}\n",
    "base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n",
    "a: &l [1, 2]\nb: *l\n",
    "s: !!set {a, b}\nbin: !!binary aGVsbG8=\n",
    "? [a, b]\n: c\n",
    "a: !custom x\n",
    "a: [1, 2\n",
    "=: v\n",
    "a: *undefined\n",
    "schedule: 0 3 * * *\n",
])
def test_tricky_documents_load_as_before(text: str) -> None:
    check_text(text)


def test_build_takes_the_plain_core_and_refuses_the_rest() -> None:
    def built(text: str) -> object:
        loader = yaml.CSafeLoader(text)
        try:
            return build(loader, loader.get_single_node(), 0, aliases="*" in text)[0]
        finally:
            loader.dispose()

    assert strict(built("a: [yes, '1', 1.5, 2001-12-14]\n")) == strict(
        {"a": [True, "1", 1.5, datetime.date(2001, 12, 14)]})
    for unusual in ("a: &x [1]\nb: *x\n", "<<: {a: 1}\n", "? [a]\n: b\n", "a: !!set {x}\n", "a: !t x\n"):
        with pytest.raises(Unusual):
            built(unusual)


def test_loading_leaves_no_reference_cycles() -> None:
    # ``read_input`` keeps the cyclic collector off while loading: anything cyclic made there would stay.
    plain = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n"
    unusual = "apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: b}\nbase: &b {x: 1}\ndata: {<<: *b}\nm: *m\n"
    text = "---\n".join([plain, unusual] * 20)
    gc.disable()
    try:
        gc.collect()
        objects = list(manifests.parse_documents(text, "f.yaml"))
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert len(objects) == 40
