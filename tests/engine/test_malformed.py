"""policy-invalid: objects that cannot be evaluated are denied with the reason, never crash the engine."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tierguard.engine import EvaluationRequest, evaluate
from tierguard.engine.model import Rule

from .helpers import (
    ISTIO_FIXTURES,
    ISTIO_POLICY,
    STANDARD,
    Case,
    Doc,
    container,
    context_of,
    decisions,
    ids,
    pod,
    pod_spec,
    policy,
    secret,
    workload,
)

P = Rule.POLICY_INVALID.value


def broken(doc: Doc, path: str, value: Any) -> Doc:
    """``doc`` with the dotted ``path`` (list indexes as numbers) set to ``value``."""
    doc = copy.deepcopy(doc)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    holder: Any = doc
    for key in parents:
        holder = holder[key]
    holder[last] = value
    return doc


POD = pod("dev", "app", pod_spec(container(env=[{"name": "A", "value": "b"}])))
DEPLOY = workload("Deployment", "dev", "app")
GOOD_SECRET = secret("dev", "db", {"password": "x" * 20})

CASES = [
    Case("containers is a string", [broken(POD, "spec.containers", "app")], {(P, "dev/app")}),
    Case("a container without a name", [broken(POD, "spec.containers.0.name", None)], {(P, "dev/app")}),
    Case("a container that is a string", [broken(POD, "spec.containers.0", "app")], {(P, "dev/app")}),
    Case("env is not a list", [broken(POD, "spec.containers.0.env", {"A": "b"})], {(P, "dev/app")}),
    Case("an env entry is a string", [broken(POD, "spec.containers.0.env", ["A=b"])], {(P, "dev/app")}),
    Case("envFrom secretRef without a name",
         [broken(POD, "spec.containers.0.envFrom", [{"secretRef": {"optional": True}}])], {(P, "dev/app")}),
    Case("volumes is a mapping", [broken(POD, "spec.volumes", {"v": {}})], {(P, "dev/app")}),
    Case("a secret volume without secretName", [broken(POD, "spec.volumes", [{"name": "v", "secret": {}}])],
         set()),  # an empty secret source is "no secret source": nothing consumed
    Case("a secret volume with a numeric secretName",
         [broken(POD, "spec.volumes", [{"name": "v", "secret": {"secretName": 7}}])], {(P, "dev/app")}),
    Case("imagePullSecrets of strings", [broken(POD, "spec.imagePullSecrets", ["db"])], {(P, "dev/app")}),
    Case("imagePullSecrets entries without a name are valid (the API server admits them)",
         [broken(POD, "spec.imagePullSecrets", [{}, {"name": ""}, {"name": None}])]),
    Case("spec is a list", [broken(POD, "spec", [])], {(P, "dev/app")}),
    Case("a template that is a string", [broken(DEPLOY, "spec.template", "pod")], {(P, "dev/app")}),
    Case("metadata is a string", [broken(POD, "metadata", "app")], {(P, "default/")}),
    Case("data is not a mapping", [broken(GOOD_SECRET, "data", ["password"])], {(P, "dev/db")}),
    Case("data holds invalid base64", [broken(GOOD_SECRET, "data.password", "not base64!")], {(P, "dev/db")}),
    Case("data holds a number", [broken(GOOD_SECRET, "data.password", 12345)], {(P, "dev/db")}),
    Case("stringData is a string", [broken(GOOD_SECRET, "stringData", "password=x")], {(P, "dev/db")}),
    Case("stringData holds a number", [broken(GOOD_SECRET, "stringData", {"port": 5432})], {(P, "dev/db")}),
    Case("a replication selector that does not parse",
         [secret("prod", "db", annotations={"replicator.v1.mittwald.de/replicate-to-matching": "a in (b"})],
         {(P, "prod/db")}),
    Case("a kubed selector that does not parse",
         [secret("prod", "db", annotations={"kubed.appscode.com/sync": "=x"})], {(P, "prod/db")}),
    Case("a Pod consuming a Secret whose selector does not parse names that Secret",
         [secret("dev", "db", annotations={"kubed.appscode.com/sync": "=x"}),
          pod("dev", "app", pod_spec(volumes=[{"name": "v", "secret": {"secretName": "db"}}]))],
         {(P, "dev/db"), (P, "dev/app")}),
    Case("a RoleBinding without roleRef", [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                                           "metadata": {"name": "rb", "namespace": "prod"}, "subjects": []}],
         {(P, "prod/rb")}),
    Case("a ReferenceGrant source without namespace", [
        {"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
         "metadata": {"name": "rg", "namespace": "prod"},
         "spec": {"from": [{"group": "", "kind": "Gateway"}], "to": [{"group": "", "kind": "Secret"}]}}],
        {(P, "prod/rg")}),
    Case("a TierPolicy with a typo", [{"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy",
                                       "metadata": {"name": "p"}, "spec": {"tiers": ["dev"], "tierLable": "x"}}],
         {(P, "p")}),
    Case("a TierPolicy with server-side metadata is fine", [
        {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy",
         "metadata": {"name": "p", "uid": "1", "resourceVersion": "5", "generation": 2},
         "spec": {"tiers": ["dev", "prod"]}, "status": {"observed": True}}]),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_policy_invalid(case: Case) -> None:
    assert case.run() == case.expected


def test_object_without_kind_is_policy_invalid() -> None:
    decision = evaluate(EvaluationRequest({"apiVersion": "v1", "metadata": {"name": "x"}}), context_of([]),
                        policy({}))
    assert [(v.rule.value, v.action.value) for v in decision.violations] == [(P, "deny")]


def test_reason_names_the_field_never_the_value() -> None:
    docs = [*STANDARD, broken(GOOD_SECRET, "data.password", "c2VjcmV0LXZhbHVlLXRoYXQtaXMtbm90LWJhc2U2NA=!")]
    (violation,) = dict(decisions(docs))["dev/db"].violations
    assert violation.path == "data.password"
    assert "not valid base64" in violation.message and "c2VjcmV0" not in violation.message


def test_consumed_secret_that_cannot_be_judged_is_named() -> None:
    docs = [*STANDARD, secret("dev", "db", annotations={"kubed.appscode.com/sync": "=x"}),
            pod("dev", "app", pod_spec(volumes=[{"name": "v", "secret": {"secretName": "db"}}]))]
    (violation,) = dict(decisions(docs))["dev/app"].violations
    assert violation.path == "spec.volumes[0].secret"
    assert "consumes Secret dev/db, which cannot be evaluated" in violation.message


def test_malformed_neighbour_does_not_break_others() -> None:
    """A Secret with broken data is left out of the context; the others are still judged."""
    docs = [*STANDARD, broken(GOOD_SECRET, "data", "x"), secret("prod", "db", {"pw": "y" * 20}),
            secret("dev", "db2", {"pw": "y" * 20})]
    found = {(v.rule.value, ref) for ref, d in decisions(docs) for v in d.violations}
    assert found == {(P, "dev/db"), ("secret-value-shared", "prod/db"), ("secret-value-shared", "dev/db2")}


# --- random mutations of valid objects ------------------------------------------------------------------------

CORPUS: list[Doc] = [d for d in yaml.safe_load_all((Path(__file__).parent / "corpus.yaml").read_text()) if d]
for _path in sorted(ISTIO_FIXTURES.iterdir()):
    for _doc in yaml.safe_load_all(_path.read_text()):
        if _doc:
            _doc.setdefault("metadata", {})["namespace"] = "dev"
            CORPUS.append(_doc)
ODD_VALUES: list[Any] = ["text", 7, 1.5, True, None, [], ["x", 1, {}], {}, {"k": 1}, "a in (b", "!!", "=", "vault:"]
FUZZ_POLICY = policy({
    "secrets": {"pathPatterns": {"prod": ["secret/data/prod/*"], "dev": ["secret/data/dev/*"]}},
    "sidecars": {"required": [{"name": "istio-proxy", "image": "*proxyv2*", "injection": {
        "namespaceLabels": {"istio-injection": "enabled"}, "podLabels": {"sidecar.istio.io/inject": "true"},
        "disabledBy": {"podAnnotations": {"sidecar.istio.io/inject": "false"}}}}]},
})


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield from _paths(child, (*prefix, key))


def _mutate(doc: Doc, rng: random.Random) -> Doc:
    doc = copy.deepcopy(doc)
    paths = [p for p in _paths(doc) if p[0] not in ("apiVersion", "kind")]
    for path in rng.sample(paths, min(len(paths), rng.randint(1, 3))):
        holder: Any = doc
        try:
            for key in path[:-1]:
                holder = holder[key]
            holder[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced a parent
    return doc


@pytest.mark.parametrize("seed", range(8))
def test_random_mutations_never_crash(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(150):
        docs = [_mutate(d, rng) for d in rng.sample(CORPUS, 6)]
        everything = [*STANDARD, *docs]
        context = context_of(everything, pol=FUZZ_POLICY)
        for doc in docs:
            for request in (EvaluationRequest(doc), EvaluationRequest(doc, doc, "UPDATE")):
                decision = evaluate(request, context, FUZZ_POLICY)
                # evaluate() never raises (a rule bug is caught): the crash to look for is an internal error.
                assert decision.internal_errors == (), [v.message for v in decision.violations]
                for violation in decision.violations:
                    assert violation.rule is not Rule.POLICY_INVALID or violation.action.value == "deny"


def test_the_corpus_itself_is_valid() -> None:
    for ref, decision in decisions([*STANDARD, *CORPUS], FUZZ_POLICY):
        assert all(v.rule is not Rule.POLICY_INVALID for v in decision.violations), ref


def test_istio_policy_on_corpus_never_crashes() -> None:
    judged = decisions([*STANDARD, *CORPUS], ISTIO_POLICY)
    assert len(judged) == len(STANDARD) + len(CORPUS)
    assert [ref for ref, decision in judged if decision.internal_errors] == []
