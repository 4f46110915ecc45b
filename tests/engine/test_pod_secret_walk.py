"""The pod-spec walker (``podspec.secret_uses``): every Secret use with its field path, and for each malformed
list or item the Malformed naming that field. The walker checks items as it visits them and formats a path
only for a use or an error, so these pin what it reports in either case."""

from __future__ import annotations

from typing import Any

import pytest

from tierguard.engine.model import Malformed
from tierguard.engine.podspec import pod_site, secret_uses


def uses(spec: dict[str, Any]) -> list[tuple[str, str]]:
    site = pod_site({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "dev"}, "spec": spec})
    assert site is not None
    return [(use.name, use.path) for use in secret_uses(site)]


def test_every_use_with_its_path() -> None:
    spec = {
        "volumes": [
            {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}},
                                                        {"secret": {"name": "proj"}}]}},
            {"name": "creds", "secret": {"secretName": "vol"}},
            {"name": "empty", "projected": {}},
        ],
        "containers": [
            {"name": "a", "image": "a:1",
             "env": [{"name": "PLAIN", "value": "x"},
                     {"name": "FIELD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                     {"name": "S", "valueFrom": {"secretKeyRef": {"name": "env", "key": "k"}}}],
             "envFrom": [{"configMapRef": {"name": "cm"}}, {"secretRef": {"name": "from"}}]},
        ],
        "initContainers": [{"name": "i", "image": "i:1", "envFrom": [{"secretRef": {"name": "init"}}]}],
    }
    assert uses(spec) == [
        ("proj", "spec.volumes[0].projected.sources[1].secret"),
        ("vol", "spec.volumes[1].secret"),
        ("env", "spec.containers[0].env[2].valueFrom.secretKeyRef"),
        ("from", "spec.containers[0].envFrom[1].secretRef"),
        ("init", "spec.initContainers[0].envFrom[0].secretRef"),
    ]


@pytest.mark.parametrize(("spec", "path", "problem"), [
    ({"volumes": "x"}, "spec.volumes", "expected a list, got str"),
    ({"volumes": [{"name": "v"}, 3]}, "spec.volumes[1]", "expected an object, got int"),
    ({"volumes": [{"name": "v", "projected": "x"}]}, "spec.volumes[0].projected", "expected an object, got str"),
    ({"volumes": [{"name": "v", "projected": {"sources": "x"}}]}, "spec.volumes[0].projected.sources",
     "expected a list, got str"),
    ({"volumes": [{"name": "v", "projected": {"sources": [{}, "x"]}}]}, "spec.volumes[0].projected.sources[1]",
     "expected an object, got str"),
    ({"volumes": [{"name": "v", "projected": {"sources": [{"secret": {}}]}}]},
     None, None),  # an empty secret source names nothing
    ({"containers": [{"name": "a", "env": {"A": "b"}}]}, "spec.containers[0].env", "expected a list, got dict"),
    ({"containers": [{"name": "a", "env": [{"name": "A"}, "B=c"]}]}, "spec.containers[0].env[1]",
     "expected an object, got str"),
    ({"containers": [{"name": "a", "env": [{"name": "A", "valueFrom": "x"}]}]},
     "spec.containers[0].env[0].valueFrom", "expected an object, got str"),
    ({"containers": [{"name": "a", "env": [{"name": "A", "valueFrom": {"secretKeyRef": "x"}}]}]},
     "spec.containers[0].env[0].valueFrom.secretKeyRef", "expected an object, got str"),
    ({"containers": [{"name": "a", "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"key": "k"}}}]}]},
     "spec.containers[0].env[0].valueFrom.secretKeyRef.name", "is required"),
    ({"containers": [{"name": "a", "envFrom": "x"}]}, "spec.containers[0].envFrom", "expected a list, got str"),
    ({"containers": [{"name": "a", "envFrom": [None]}]}, "spec.containers[0].envFrom[0]",
     "expected an object, got NoneType"),
    ({"containers": [{"name": "a", "envFrom": [{"secretRef": {"name": 3}}]}]},
     "spec.containers[0].envFrom[0].secretRef.name", "expected a string, got int"),
])
def test_a_malformed_field_is_named(spec: dict[str, Any], path: str | None, problem: str | None) -> None:
    if path is None:
        assert uses(spec) == []
        return
    with pytest.raises(Malformed) as raised:
        uses(spec)
    assert str(raised.value) == str(Malformed(path, problem or ""))
