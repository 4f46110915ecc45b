"""Generates the chart's README.md and values.schema.json from its annotated values.yaml, the single source.

    python3 -m tests.chart.chart_docs HELM_DOCS [OUT_DIR]     (hack/chart-docs.sh; OUT_DIR: default the chart)

README.md is helm-docs' rendering of README.md.gotmpl (its values table from the `# --` comments). The schema
is built here from the `# @schema` blocks of helm-schema (github.com/dadav/helm-schema), which would be the tool
for it, but the Go module proxy refuses it (`go list -m -versions github.com/dadav/helm-schema`: 403 Forbidden,
"This module version is not available"), as it does the other schema generators tried. This reads the subset
values.yaml's header describes, with helm-schema's meaning: a block's JSON-schema keywords are copied as they
are; a key's type is its value's unless the block gives `type`, `$ref` or a combinator; a non-empty mapping
without `properties` or `additionalProperties` gets its keys as properties and `additionalProperties: false`;
`required: true` lists the key in its parent's `required`; the description is the key's helm-docs comment.
tests/chart/test_chart_docs.py checks that the checked-in files are this output.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "charts" / "tierguard"
TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
         (dict, "object"))
INFERRED_UNLESS = {"type", "$ref", "oneOf", "anyOf", "allOf"}


def block(comments: list[str], marker: str) -> dict[str, Any]:
    """The YAML between the first two `# <marker>` lines of a comment block, parsed ({} when there is none)."""
    marks = [i for i, line in enumerate(comments) if line.strip() == f"# {marker}"]
    if not marks:
        return {}
    if len(marks) != 2:
        raise ValueError(f"want one `# {marker}` ... `# {marker}` block, found {len(marks)} markers: {comments}")
    body = [line.strip()[2:] for line in comments[marks[0] + 1:marks[1]]]
    parsed = yaml.safe_load("\n".join(body))
    return dict(parsed or {})


def description(comments: list[str]) -> str:
    """helm-docs' description: the last `# --` line and the comment lines after it, joined."""
    starts = [i for i, line in enumerate(comments) if line.strip().startswith("# --")]
    if not starts:
        return ""
    # `# -- (int or string) ...`: helm-docs' type column, not description.
    parts = [re.sub(r"^\(.*?\)\s*", "", comments[starts[-1]].strip()[4:].strip())]
    for line in comments[starts[-1] + 1:]:
        text = line.strip()[1:].removeprefix(" ")
        if not text.startswith(("@default --", "@section --", "@notationType --", "@raw")):
            parts.append(text)
    return " ".join(part for part in parts if part)


class Generator:
    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def comments_above(self, line: int) -> list[str]:
        start = line
        while start > 0 and self.lines[start - 1].lstrip().startswith("#"):
            start -= 1
        return self.lines[start:line]

    def mapping(self, node: yaml.MappingNode, value: dict[str, Any], path: str) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for key_node, value_node in node.value:
            key = key_node.value
            properties[key], is_required = self.key(key_node, value_node, value[key], f"{path}.{key}")
            if is_required:
                required.append(key)
        return {"properties": properties, "additionalProperties": False, **({"required": required} if required else {})}

    def key(self, key_node: yaml.Node, value_node: yaml.Node, value: Any, path: str) -> tuple[dict[str, Any], bool]:
        comments = self.comments_above(key_node.start_mark.line)
        annotation = block(comments, "@schema")
        required = annotation.pop("required") if isinstance(annotation.get("required"), bool) else False
        schema: dict[str, Any] = {}
        if text := description(comments):
            schema["description"] = text
        if not INFERRED_UNLESS & annotation.keys():
            types = [name for python_type, name in TYPES if isinstance(value, python_type)]
            if not types:
                raise ValueError(f"{path.lstrip('.')}: give the type of {value!r} in a `# @schema` block")
            schema["type"] = types[0]
        schema.update(annotation)
        if (isinstance(value_node, yaml.MappingNode) and value_node.value
                and not {"properties", "additionalProperties", "$ref"} & annotation.keys()):
            schema.update(self.mapping(value_node, value, path))
        return schema, required


def schema(values_yaml: str) -> dict[str, Any]:
    generator = Generator(values_yaml)
    root = block(generator.lines, "@schema.root")
    extra = root.pop("properties", {})
    document = {"$schema": "http://json-schema.org/draft-07/schema#", "title": root.pop("title", None),
                "type": "object"}
    node = yaml.compose(values_yaml, Loader=yaml.SafeLoader)
    generated = generator.mapping(node, yaml.safe_load(values_yaml), "")
    generated["properties"] = {**extra, **generated["properties"]}
    return {**document, **generated, **root}


def readme(helm_docs: str, chart: Path = CHART) -> str:
    proc = subprocess.run([helm_docs, "--dry-run", "--chart-search-root", str(chart), "--sort-values-order", "file",
                           "--template-files", "README.md.gotmpl", "--log-level", "warning"],
                          capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{helm_docs} exited {proc.returncode}:\n{proc.stderr}")
    return proc.stdout


def generate(helm_docs: str, out: Path, chart: Path = CHART) -> None:
    """Writes README.md and values.schema.json into `out`."""
    values_yaml = (chart / "values.yaml").read_text()
    out.mkdir(parents=True, exist_ok=True)
    (out / "values.schema.json").write_text(json.dumps(schema(values_yaml), indent=2, ensure_ascii=False) + "\n")
    (out / "README.md").write_text(readme(helm_docs, chart))


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or not Path(sys.argv[1]).is_file():
        sys.exit(f"usage: python3 -m tests.chart.chart_docs HELM_DOCS [OUT_DIR] (hack/chart-docs.sh); {sys.argv[1:]}")
    generate(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) == 3 else CHART)
