"""Property-based fuzzing of what reads untrusted input: the AdmissionReview path (parsing, the engine behind it,
rendering), policy loading and the manifest loader. ``python -m bench.fuzz [--examples N] [--seed S]``.

Each target states what "handled" means: the admission service always answers a well-formed AdmissionReview
(denials with a 4xx/5xx code and a message, never an exception, never tierguard's internal error); policy
loading returns a policy or raises PolicyError; the manifest loader yields objects or raises ManifestError.
Anything else is a crash, printed with the input that caused it. The suite runs the same targets with a small
fixed number of examples (tests/contracts/test_fuzz.py); this script runs many more and prints one JSON line of
figures: inputs tried and crashes per target.
"""

from __future__ import annotations

import argparse
import json
import logging
import string
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from tests.fakes.indexes import FakeIndexes

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.errors import ManifestError, PolicyError
from tierguard.kinds import JUDGED
from tierguard.manifests import parse_documents
from tierguard.policy import DEFAULT_POLICY, load_policy
from tierguard.webhook.admission import AdmissionService
from tierguard.webhook.live_context import LiveContext
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.routes import ROUTES
from tierguard.webhook.state import RuntimeState

KEYS = ["apiVersion", "kind", "metadata", "spec", "data", "stringData", "name", "namespace", "labels",
        "annotations", "containers", "initContainers", "ephemeralContainers", "image", "env", "value", "volumes",
        "secret", "secretName", "template", "jobTemplate", "tiers", "tierLabel", "enforcement", "perTier",
        "default", "secrets", "pathPatterns", "sidecars", "required", "injection", "exemptions", "namespaces",
        "subjects", "roleRef", "rules", "from", "to", "parameters", "provider", "restartPolicy", "hostNetwork",
        "tierguard.io/tier", "vault.hashicorp.com/agent-inject-secret-db", "reflector.v1.k8s.emberstack.com/reflects",
        "uid", "request", "object", "oldObject", "operation", "userInfo", "groups", "username", "dryRun"]
"""Field names the code looks for, so generated documents reach past the first type check."""

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["dev", "prod", "qa", "CREATE", "UPDATE", "DELETE", "v1",
                                                           "Pod", "Secret", "Namespace", "prd", "secret/data/prod/x",
                                                           "vault:secret/data/prod/x#k", "Always", "ZGF0YQ==",
                                                           "\u0000", "\ud800".encode("utf-8", "surrogatepass")
                                                           .decode("utf-8", "replace")]))
keys = st.one_of(st.sampled_from(KEYS), st.text(string.printable, max_size=12), st.text(max_size=6))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                            st.dictionaries(keys, inner, max_size=6)),
                           max_leaves=40)


def _kind_objects() -> st.SearchStrategy[dict[str, Any]]:
    """Objects of a judged kind (right apiVersion and kind) whose other fields are anything."""
    rows = st.sampled_from(JUDGED)
    return rows.flatmap(lambda row: st.fixed_dictionaries(
        {"apiVersion": st.just(f"{row.group}/{row.version}".lstrip("/").replace("/*", "/v1")),
         "kind": st.just(row.kind)},
        optional={"metadata": st.one_of(json_values, st.fixed_dictionaries(
            {}, optional={"name": scalars, "namespace": st.sampled_from(["dev", "prod", "default", "nowhere"]),
                          "labels": st.dictionaries(keys, scalars, max_size=3),
                          "annotations": st.dictionaries(keys, scalars, max_size=3)})),
            "spec": json_values, "data": json_values, "stringData": json_values, "subjects": json_values,
            "roleRef": json_values, "rules": json_values, "parameters": json_values}))


objects = st.one_of(_kind_objects(), json_values)


def _object_for(route: Any) -> st.SearchStrategy[Any]:
    """An object of the route's kind, with anything in its other fields."""
    api_version = f"{route.group}/{route.version}".lstrip("/").replace("/*", "/v1")
    return st.fixed_dictionaries(
        {"apiVersion": st.just(api_version), "kind": st.just(route.kind),
         "metadata": st.fixed_dictionaries({"name": st.just("x")}, optional={
             "namespace": st.sampled_from(["dev", "prod"]), "labels": st.dictionaries(keys, scalars, max_size=3),
             "annotations": st.dictionaries(keys, scalars, max_size=3)})},
        optional={"spec": json_values, "data": json_values, "stringData": json_values, "subjects": json_values,
                  "roleRef": json_values, "rules": json_values, "parameters": json_values, "type": scalars})


@st.composite
def reviews(draw: st.DrawFn) -> tuple[Any, str]:
    """An AdmissionReview and the handler path it is posted to: mostly well-formed around a fuzzed object (so
    the engine is reached), sometimes with fuzzed request fields, sometimes anything at all."""
    route = draw(st.sampled_from(ROUTES))
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return draw(json_values), draw(st.one_of(st.just(route.id), st.text(max_size=10)))
    obj = draw(st.one_of(_object_for(route), objects) if shape < 3 else _object_for(route))
    request: dict[str, Any] = {
        "uid": "u-1", "kind": {"group": route.group, "version": route.version, "kind": route.kind},
        # A session route's CONNECT too (its body is the options, the pod is request.name).
        "operation": draw(st.sampled_from(sorted({"CREATE", "UPDATE", *route.operations}))), "name": "x",
        "namespace": "dev" if route.namespaced else "",
        "userInfo": {"username": "a", "groups": ["system:authenticated"]}, "object": obj,
        "oldObject": draw(st.one_of(st.none(), _object_for(route))), "dryRun": False}
    if shape < 3:  # fuzz some of the request's own fields too
        request.update(draw(st.dictionaries(st.sampled_from(sorted(request)), json_values, max_size=3)))
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}, route.id


def admission_service() -> tuple[AdmissionService, Metrics]:
    indexes = FakeIndexes(Fingerprinter(b"f" * 32))
    indexes.add_namespace("dev", "dev")
    indexes.add_namespace("prod", "prod")
    indexes.add_namespace("default")
    state = RuntimeState(own_namespace="tierguard-system")
    state.context = LiveContext(Fingerprinter(b"f" * 32), indexes.data)
    state.indexes_synced = True
    state.use_policy(DEFAULT_POLICY)
    metrics = Metrics()
    return AdmissionService(state, metrics), metrics


def check_review(service: AdmissionService, metrics: Metrics, review: Any, path: str) -> str:
    """The admission service answers every review with an AdmissionReview; a refusal carries a code and a
    message; tierguard's internal error (a bug, not the input's fault) never happens."""
    before = _internal_errors(metrics)
    answer = service.answer(review, path)
    response = answer["response"]
    assert isinstance(response["uid"], str) and isinstance(response["allowed"], bool)
    if not response["allowed"]:
        status = response["status"]
        assert status["code"] in (400, 403, 404, 503), status
        assert isinstance(status["message"], str) and status["message"]
        assert "internal error" not in status["message"], status["message"]
    assert _internal_errors(metrics) == before, "an internal error was counted"
    json.dumps(answer)  # the server must be able to send it
    if response["allowed"]:
        return "allowed"
    message = response["status"]["message"]
    return f"{response['status']['code']}" + (" policy-invalid" if "[policy-invalid]" in message else "")


def _internal_errors(metrics: Metrics) -> float:
    return sum(sample.value for family in metrics.internal_errors.collect() for sample in family.samples
               if sample.name.endswith("_total"))


def check_policy(document: Any) -> str:
    """A policy document is a policy or a PolicyError naming the field."""
    try:
        load_policy(document)
    except PolicyError as error:
        assert str(error)
        return "PolicyError"
    return "loaded"


policy_documents = st.one_of(
    json_values,
    st.fixed_dictionaries({"apiVersion": st.just("tierguard.io/v1alpha1"), "kind": st.just("TierPolicy")},
                          optional={"metadata": json_values, "spec": st.one_of(json_values, st.dictionaries(
                              st.sampled_from(["tierLabel", "tiers", "enforcement", "secrets", "sidecars",
                                               "exemptions"]), json_values, max_size=6))}))

yaml_texts = st.one_of(st.text(max_size=200), st.lists(objects, max_size=3).map(
    lambda docs: "---\n".join(yaml.safe_dump(d) for d in docs)), st.lists(st.sampled_from(
    ["---\n", "apiVersion: v1\n", "kind: Pod\n", "kind: List\n", "items:\n", "- a\n", "  - b: [1, {c: d}]\n",
     "metadata: {name: x}\n", "  name: &a x\n", "ref: *a\n", "\t\n", "key: 'unterminated\n", "? complex\n",
     "{", "]", "!!python/object:os.system\n", "%YAML 1.1\n", "# Source: chart/templates/x.yaml\n", "\ufeff",
     "x: !!binary aGk=\n", "spec:\n  containers: 5\n"]), max_size=12).map("".join))


def check_manifests(text: str, json_file: bool) -> str:
    """Manifest text gives objects or a ManifestError naming file#document."""
    try:
        found = list(parse_documents(text, "fuzz.yaml", json_file=json_file))
    except ManifestError as error:
        assert str(error).startswith("fuzz.yaml")
        return "ManifestError"
    return "objects" if found else "empty"


@dataclass
class Tally:
    tried: int = 0
    crashes: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    """How the handled inputs ended (allowed, a refusal's code, an error type): proof the inputs got far."""


def run_target(check: Callable[..., str], strategies: Mapping[str, st.SearchStrategy[Any]], examples: int,
               run_seed: int) -> Tally:
    """Run one target for ``examples`` inputs, collecting every crash instead of stopping at the first."""
    tally = Tally()

    @seed(run_seed)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(**strategies)
    def target(**inputs: Any) -> None:
        tally.tried += 1
        try:
            outcome = check(**inputs)
            tally.outcomes[outcome] = tally.outcomes.get(outcome, 0) + 1
        except Exception:
            tally.crashes.append(traceback.format_exc()[-1500:])

    target()
    return tally


def targets() -> dict[str, tuple[Callable[..., str], dict[str, st.SearchStrategy[Any]]]]:
    service, metrics = admission_service()

    def review_target(case: tuple[Any, str]) -> str:
        return check_review(service, metrics, *case)

    return {
        "admission": (review_target, {"case": reviews()}),
        "policy": (check_policy, {"document": policy_documents}),
        "manifests": (check_manifests, {"text": yaml_texts, "json_file": st.booleans()}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000, help="inputs per target (default 5000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)  # refusals are logged per request; crashes are caught and counted here
    figures: dict[str, Any] = {"examples_per_target": args.examples, "seed": args.seed}
    for name, (check, strategies) in targets().items():
        started = time.perf_counter()
        tally = run_target(check, strategies, args.examples, args.seed)
        figures[name] = {"tried": tally.tried, "crashes": len(tally.crashes),
                         "seconds": round(time.perf_counter() - started, 1), "outcomes": tally.outcomes}
        for crash in tally.crashes[:3]:
            print(f"--- {name} crash:\n{crash}", file=sys.stderr)
    print(json.dumps(figures))
    return 1 if any(figures[name]["crashes"] for name in targets()) else 0


if __name__ == "__main__":
    sys.exit(main())
