"""Each replicator's values read as its own source reads them (issue 10, item 6).

config-syncer (kubeops/config-syncer ``pkg/syncer/util.go``): ``sync: "true"`` (exactly) is every namespace, any
other value a label selector (``""`` selects everything); copies carry ``kubed.appscode.com/origin.namespace``.
kubernetes-replicator: ``strconv.ParseBool`` for ``replication-allowed``, patterns anchored by BuildStrictRegex.
reflector: .NET ``bool.TryParse``, patterns whose first regex match must span the name. Sealed Secrets: only
``cluster-wide: "true"``.
"""

from __future__ import annotations

import json

import pytest

from tierguard.engine.model import Rule

from .helpers import STANDARD, Case, Doc, ids, namespace, secret

R = Rule.SECRET_REPLICATION_CROSS_TIER.value
KUBED = "kubed.appscode.com/"
REFLECTOR = "reflector.v1.k8s.emberstack.com/"
REPLICATOR = "replicator.v1.mittwald.de/"
SELECTED = [*STANDARD, namespace("labelled-dev", "dev", labels={"app": "kubed"}),
            namespace("labelled-prod", "prod", labels={"app": "kubed-prod", "True": "x"}),
            namespace("prod-sandbox", "dev")]


def annotated(ns: str, **annotations: str) -> Doc:
    return secret(ns, "db", {"user": "app"}, annotations=annotations)


def labelled(ns: str, labels: dict[str, str], **annotations: str) -> Doc:
    return secret(ns, "db", {"user": "app"}, labels=labels, annotations=annotations)


def sync(value: str) -> Doc:
    return annotated("prod", **{KUBED + "sync": value})


KUBED_CASES = [
    Case('sync "true" is every namespace', [sync("true")], {(R, "prod/db")}, namespaces=SELECTED),
    Case('sync "" is every namespace', [sync("")], {(R, "prod/db")}, namespaces=SELECTED),
    Case("sync with a selector reaching dev", [sync("app=kubed")], {(R, "prod/db")}, namespaces=SELECTED),
    Case("sync with a selector reaching only prod", [sync("app=kubed-prod")], namespaces=SELECTED),
    Case("sync with a set selector reaching dev", [sync("app in (kubed, other)")], {(R, "prod/db")},
         namespaces=SELECTED),
    Case('sync "True" is a selector on the label key True (prod only)', [sync("True")], namespaces=SELECTED),
    Case('sync "1" is a selector on the label key 1 (nothing)', [sync("1")], namespaces=SELECTED),
    Case('sync "false" is a selector on the label key false (nothing)', [sync("false")], namespaces=SELECTED),
    Case("sync with an existence selector reaching dev", [sync("app")], {(R, "prod/db")}, namespaces=SELECTED),
    Case("a copy whose origin label names prod, in dev",
         [labelled("dev", {KUBED + "origin.name": "db", KUBED + "origin.namespace": "prod",
                           KUBED + "origin.cluster": "c"})], {(R, "dev/db")}),
    Case("a copy whose origin label names its own tier",
         [labelled("dev", {KUBED + "origin.name": "db", KUBED + "origin.namespace": "dev-b"})]),
    Case("a copy whose origin annotation names prod, in dev",
         [annotated("dev", **{KUBED + "origin": json.dumps({"kind": "Secret", "namespace": "prod", "name": "db"})})],
         {(R, "dev/db")}),
    Case("an origin annotation that is not JSON is ignored", [annotated("dev", **{KUBED + "origin": "prod/db"})]),
]

REPLICATOR_CASES = [
    *[Case(f"replication-allowed {value!r} is true (ParseBool)",
           [annotated("prod", **{REPLICATOR + "replication-allowed": value,
                                 REPLICATOR + "replication-allowed-namespaces": "dev"})], {(R, "prod/db")})
      for value in ("1", "t", "T", "TRUE", "true", "True")],
    *[Case(f"replication-allowed {value!r} is not true",
           [annotated("prod", **{REPLICATOR + "replication-allowed": value,
                                 REPLICATOR + "replication-allowed-namespaces": "dev"})])
      for value in ("yes", "on", " true", "tRUE", "0", "false")],
    Case("replicate-to alternation is anchored at its ends only (^prod|prod-b$ reaches prod-sandbox)",
         [annotated("prod", **{REPLICATOR + "replicate-to": "prod|prod-b"})], {(R, "prod/db")},
         namespaces=SELECTED),
    Case("replicate-to with an explicit anchored group stays in prod",
         [annotated("prod", **{REPLICATOR + "replicate-to": "^(prod|prod-b)$"})], namespaces=SELECTED),
    Case("allowed namespaces trimmed and anchored",
         [annotated("prod", **{REPLICATOR + "replication-allowed": "true",
                               REPLICATOR + "replication-allowed-namespaces": " prod-b , prod-.* "})],
         {(R, "prod/db")}, namespaces=SELECTED),
]

REFLECTOR_CASES = [
    Case("reflection-allowed ' TRUE ' is true (bool.TryParse)",
         [annotated("prod", **{REFLECTOR + "reflection-allowed": " TRUE ",
                               REFLECTOR + "reflection-allowed-namespaces": "dev"})], {(R, "prod/db")}),
    Case("reflection-allowed '1' is not true for .NET",
         [annotated("prod", **{REFLECTOR + "reflection-allowed": "1",
                               REFLECTOR + "reflection-allowed-namespaces": "dev"})]),
    Case("the first match must span the name: prod|prod-sandbox does not reach prod-sandbox",
         [annotated("prod", **{REFLECTOR + "reflection-allowed": "true",
                               REFLECTOR + "reflection-allowed-namespaces": "prod|prod-sandbox"})],
         namespaces=SELECTED),
    Case("a regex spanning the name reaches it",
         [annotated("prod", **{REFLECTOR + "reflection-allowed": "true",
                               REFLECTOR + "reflection-allowed-namespaces": "prod-.*"})], {(R, "prod/db")},
         namespaces=SELECTED),
]

SEALED_CASES = [
    Case('cluster-wide "true"', [annotated("prod", **{"sealedsecrets.bitnami.com/cluster-wide": "true"})],
         {(R, "prod/db")}),
    *[Case(f"cluster-wide {value!r} is strict scope", [annotated("prod", **{"sealedsecrets.bitnami.com/cluster-wide":
                                                                           value})])
      for value in ("True", "1", "yes")],
]

CASES = KUBED_CASES + REPLICATOR_CASES + REFLECTOR_CASES + SEALED_CASES


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_values_read_as_each_tool_reads_them(case: Case) -> None:
    assert case.run() == case.expected
