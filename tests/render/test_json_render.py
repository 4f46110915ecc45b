"""``render_json`` builds the document one result at a time (an audit of a big cluster never holds the encoder's
pieces of all of it), and must print exactly what ``json.dumps(document, indent=2)`` prints."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tierguard.audit.results import audit_objects
from tierguard.policy import DEFAULT_POLICY
from tierguard.render.json_results import _result, indented, render_json
from tierguard.render.summary import summary

NAMESPACES = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": {"tierguard.io/tier": n}}}
              for n in ("dev", "prod")]
VALUE = base64.b64encode(b"a-long-shared-credential-value").decode()
SECRETS = [{"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": 'd\n"b', "namespace": ns,
                         "annotations": {"reflector.v1.k8s.emberstack.com/reflects": "prod/db"}},
            "data": {"p": VALUE}} for ns in ("dev", "prod", "elsewhere")]


@pytest.mark.parametrize("objects", [[], NAMESPACES, NAMESPACES + SECRETS], ids=["empty", "clean", "violations"])
def test_the_same_bytes_as_one_dumps_of_the_document(objects: list[dict[str, Any]]) -> None:
    results = audit_objects(objects, DEFAULT_POLICY, own_namespace=None)
    document = {"results": [_result(r) for r in results], "summary": summary(results)}
    assert render_json(results) == json.dumps(document, indent=2)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


@given(JSON)
def test_indented_is_json_dumps_with_indent_2(value: Any) -> None:
    assert indented(value) == json.dumps(value, indent=2)
