"""No secret value ever leaves the engine or the CLI: not in messages, outputs, errors, nor any repr.

Random values (a distinctive alphabet, at least 16 characters) are planted in Secrets across tiers, in ``data``
(base64) and ``stringData``, some shared between tiers, beside malformed Secrets that carry values too. The
engine, ``tierguard check`` (text, JSON and SARIF) and ``tierguard access`` (text, JSON, HTML) run over them, and
nothing they produce may contain a value or its base64.
"""

from __future__ import annotations

import base64
import contextlib
import io
import sys
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine.helpers import Doc, context_of, namespace, policy, ref_of
from tierguard.commands.root import main
from tierguard.engine import EvaluationRequest, evaluate

ALPHABET = "qxzjkvQXZJKV023456789"
NAMESPACES = [namespace("dev", "dev"), namespace("dev-b", "dev"), namespace("qa", "qa"), namespace("prod", "prod"),
              namespace("shared")]
NAMESPACE_NAMES = [n["metadata"]["name"] for n in NAMESPACES]
POLICY = policy({"secrets": {"fingerprints": {"minLength": 16, "ignoreKeys": ["ca.crt"]}}})

READER_BINDING = """---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: readers, namespace: prod}
subjects: [{kind: ServiceAccount, name: ci, namespace: dev}, {kind: Group, name: system:authenticated}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
"""
"""A binding every run reports as crossing tiers, so ``access`` prints a full matrix over the planted Secrets."""

values = st.text(alphabet=ALPHABET, min_size=16, max_size=40)


@st.composite
def planted(draw: st.DrawFn) -> tuple[list[Doc], list[str]]:
    """Secrets (and a consuming Pod) holding values drawn from a small pool, so tiers share some of them."""
    pool = draw(st.lists(values, min_size=1, max_size=4, unique=True))
    docs: list[Doc] = []
    for index in range(draw(st.integers(min_value=1, max_value=7))):
        ns = draw(st.sampled_from(NAMESPACE_NAMES))
        keys = draw(st.lists(st.sampled_from(["password", "token", "ca.crt", "api-key", "tls.key", "url", "username"]),
                             min_size=1,
                             max_size=3, unique=True))
        data: dict[str, str] = {}
        string_data: dict[str, str] = {}
        for key in keys:
            value = draw(st.sampled_from(pool))
            if draw(st.booleans()):
                data[key] = base64.b64encode(value.encode()).decode()
            else:
                string_data[key] = value
        doc: Doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"s{index}", "namespace": ns}}
        if data:
            doc["data"] = data
        if string_data:
            doc["stringData"] = string_data
        flaw = draw(st.sampled_from(["none", "none", "bad-base64", "not-a-string", "data-list", "string-data-int",
                                     "service-account-token"]))
        value = draw(st.sampled_from(pool))
        if flaw == "bad-base64":
            doc.setdefault("data", {})["broken"] = value + "!"  # a value that is not base64, quoted nowhere
        elif flaw == "not-a-string":
            doc.setdefault("data", {})["broken"] = {"nested": value}
        elif flaw == "data-list":
            doc["data"] = [value, base64.b64encode(value.encode()).decode()]
        elif flaw == "string-data-int":
            doc.setdefault("stringData", {})["port"] = 5432
            doc["stringData"]["also"] = value
        elif flaw == "service-account-token":
            doc["type"] = "kubernetes.io/service-account-token"
        docs.append(doc)
    consumer = draw(st.sampled_from(docs))
    docs.append({"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "app", "namespace": consumer["metadata"]["namespace"]},
                 "spec": {"containers": [{"name": "app", "image": "x",
                                          "envFrom": [{"secretRef": {"name": consumer["metadata"]["name"]}}]}],
                          "volumes": [{"name": "v", "secret": {"secretName": consumer["metadata"]["name"]}}]}})
    return docs, pool


def forms(pool: list[str]) -> list[str]:
    """Each value and its base64 (also without padding, as it would appear inside longer base64)."""
    found = []
    for value in pool:
        encoded = base64.b64encode(value.encode()).decode()
        found += [value, encoded, encoded.rstrip("=")]
    return found


def run_cli(argv: list[str], stdin: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        sys.stdin = saved
    assert code in (0, 1, 2)
    return f"{code}\n{out.getvalue()}\n{err.getvalue()}"


def engine_texts(docs: list[Doc]) -> list[str]:
    everything = [*NAMESPACES, *docs]
    context = context_of(everything, pol=POLICY)
    texts = [repr(context), str(context), repr(context.fingerprinter)]
    for doc in docs:
        try:
            decision = evaluate(EvaluationRequest.from_manifest(doc), context, POLICY)
        except Exception as error:  # pragma: no cover - a crash is a failure, but its text must not leak either
            texts.append(f"{type(error).__name__}: {error}")
            raise
        texts += [repr(decision), str(decision.violations)]
        texts += [f"{v.message} {v.path}" for v in decision.violations]
        ns, _, name = ref_of(doc).partition("/")
        view = context.secret(ns, name)
        if view is not None:
            texts += [repr(view), str(view), repr(view.fingerprints)]
    return texts


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(planted())
def test_values_never_leak(case: tuple[list[Doc], list[str]]) -> None:
    docs, pool = case
    manifest = yaml.safe_dump_all([*NAMESPACES, *docs])
    texts = engine_texts(docs)
    texts.append(run_cli(["check"], manifest))
    texts.append(run_cli(["check", "-o", "json"], manifest))
    texts.append(run_cli(["check", "-o", "json", "--namespace-tier", "shared=qa"], manifest))
    texts.append(run_cli(["check", "-o", "sarif"], manifest))
    texts.append(run_cli(["check", "-o", "sarif", "--namespace-tier", "shared=qa"], manifest))
    # A broken YAML document right after a value: the parse error must not quote it.
    texts.append(run_cli(["check"], manifest + "---\napiVersion: v1\nkind: Secret\nstringData: {a: " + pool[0]
                         + ", b: [\n"))
    texts.append(run_cli(["check"], manifest + "---\n" + pool[0] + ": {\n"))
    texts.append(run_cli(["check", "-o", "sarif"], manifest + "---\n" + pool[0] + ": {\n"))
    # tierguard access reads the same documents (its context fingerprints the Secrets) and prints who reaches them
    for output in ("text", "json", "html"):
        texts.append(run_cli(["access", "-o", output], manifest + READER_BINDING))
    texts.append(run_cli(["access"], manifest + "---\n" + pool[0] + ": {\n"))
    joined = "\n".join(texts)
    for form in forms(pool):
        assert form not in joined, "a planted secret value (or its base64) appears in the output"


@settings(max_examples=20, deadline=None)
@given(values, st.sampled_from(["data", "stringData"]))
def test_shared_value_is_reported_without_the_value(value: str, field: str) -> None:
    """The property above is not vacuous: sharing is detected, and still nothing leaks."""
    encoded = base64.b64encode(value.encode()).decode()
    body: dict[str, Any] = {"data": {"pw": encoded}} if field == "data" else {"stringData": {"pw": value}}
    docs = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": ns}, **body}
            for ns in ("dev", "prod")]
    output = run_cli(["check", "-o", "json"], yaml.safe_dump_all([*NAMESPACES, *docs]))
    assert output.startswith("1\n") and output.count("secret-value-shared") == 2
    assert value not in output and encoded.rstrip("=") not in output
    sarif = run_cli(["check", "-o", "sarif"], yaml.safe_dump_all([*NAMESPACES, *docs]))
    assert sarif.startswith("1\n") and sarif.count('"ruleId": "secret-value-shared"') == 2
    assert value not in sarif and encoded.rstrip("=") not in sarif


LETTERS = "qxzjkv"
"""Lower-case letters of ALPHABET: host names and path segments an address is made of (no digits: not a token)."""


@settings(max_examples=20, deadline=None)
@given(st.text(alphabet=LETTERS, min_size=6, max_size=20), st.text(alphabet=LETTERS + LETTERS.upper(), min_size=6,
                                                                    max_size=30),
       st.text(alphabet=ALPHABET, min_size=8, max_size=30), st.sampled_from(["url", "repo", "DATABASE_URL"]))
def test_a_shared_address_is_advised_on_without_any_part_of_it(host: str, path: str, password: str, key: str
                                                               ) -> None:
    """The advice for a setting looks at the value's shape and names none of it: not the host, not the path, not
    the password of a URL that carries one."""
    plain = f"https://{host}.example.com/{path}"
    secret = f"https://app:{password}@{host}.example.com/{path}"
    for value, advice in ((plain, "looks like configuration, not a credential"),
                          (secret, "issue a separate credential for each tier")):
        docs = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "repo", "namespace": ns},
                 "stringData": {key: value}} for ns in ("dev", "prod")]
        manifest = yaml.safe_dump_all([*NAMESPACES, *docs])
        output = "\n".join(run_cli(["check", "-o", output], manifest) for output in ("text", "json", "sarif"))
        assert output.count(advice) == 6  # both Secrets, in each of the three outputs
        for part in (value, host, path, password):
            assert part not in output
            assert base64.b64encode(part.encode()).decode().rstrip("=") not in output
