"""The cluster listing of ``audit`` and ``parity`` (``audit/listing.py``) against a real HTTP server speaking the list
API: pages of ``--chunk-size``, a ``410 Gone`` in the middle restarts that kind and every object is still yielded
exactly once, Secrets arrive as fingerprints only, failures name the kind and the API server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.apiserver import FakeApiServer, namespace, secret, serving
from tierguard.audit.listing import connect, list_cluster
from tierguard.audit.results import audit_objects
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.projection import Projected, project
from tierguard.engine.secrets import LAST_APPLIED
from tierguard.errors import ClusterUnreadable
from tierguard.kinds import BY_FIELD
from tierguard.kube.pager import ListOptions
from tierguard.policy import DEFAULT_POLICY

SHARED = b"a-long-shared-credential-value"


class Recorder:
    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.counts: list[int] = []
        self.notes: list[str] = []

    def kind_started(self, kind: str, number: int, total: int) -> None:
        self.kinds.append(kind)

    def objects_listed(self, count: int) -> None:
        self.counts.append(count)

    def note(self, message: str) -> None:
        self.notes.append(message)


def cluster(secrets: int = 11) -> FakeApiServer:
    return FakeApiServer(objects={
        "namespaces": [namespace("dev", "dev"), namespace("prod", "prod")],
        "secrets": [secret("dev" if i % 2 else "prod", f"s{i:02d}", f"value-number-{i:04d}-long".encode())
                    for i in range(secrets)],
    })


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with serving(cluster()) as running:
        yield running


def listing(api: FakeApiServer, tmp_path: Path, options: ListOptions, observer: Recorder | None = None,
            fingerprinter: Fingerprinter | None = None) -> list[Projected]:
    client = connect(str(api.kubeconfig(tmp_path)), options.timeout)
    return list(list_cluster(client, fingerprinter or Fingerprinter.random(), options, observer))


def names(objects: list[Projected], kind: str) -> list[str]:
    return [o.obj["metadata"]["name"] for o in objects if o.obj["kind"] == kind]


def test_every_kind_is_listed_in_pages_of_the_chunk_size(api: FakeApiServer, tmp_path: Path) -> None:
    observer = Recorder()
    objects = listing(api, tmp_path, ListOptions(chunk_size=4), observer)
    assert names(objects, "Secret") == [f"s{i:02d}" for i in sorted(range(11), key=lambda i: (i % 2 == 0, i))]
    assert sorted(names(objects, "Namespace")) == ["dev", "prod"]
    secret_requests = [r for r in api.requests if r.resource == "secrets"]
    assert [(r.limit, r.continued) for r in secret_requests] == [(4, False), (4, True), (4, True)]
    assert all(r.limit == 4 for r in api.requests)
    assert observer.kinds[0] == "Namespace" and "Secret" in observer.kinds and "Pod" in observer.kinds
    assert sum(observer.counts) == len(objects) and observer.notes == []


def test_an_expired_continue_token_restarts_the_kind_and_yields_every_object_once(tmp_path: Path) -> None:
    api = cluster(secrets=11)
    api.expire = {"secrets": [2]}  # the 2nd continued page of Secrets: 410 Gone, after 2 pages (8 objects) came
    created = secret("dev", "s05b", b"created-while-the-list-ran")  # sorts inside the part listed already
    api.created_on_expiry = {"secrets": [created]}
    observer = Recorder()
    with serving(api):
        objects = listing(api, tmp_path, ListOptions(chunk_size=4), observer)

    listed = names(objects, "Secret")
    assert sorted(listed) == sorted([f"s{i:02d}" for i in range(11)] + ["s05b"])
    assert len(listed) == len(set(listed)) == 12  # exactly once each, the new one included
    secret_requests = [(r.limit, r.continued) for r in api.requests if r.resource == "secrets"]
    assert secret_requests == [(4, False), (4, True), (4, True),  # 2 pages, then 410 on the 3rd request
                               (4, False), (4, True), (4, True)]  # from the start: 12 objects in 3 pages
    assert len(observer.notes) == 1
    note = observer.notes[0]
    assert "Secret (v1)" in note and "410 Gone" in note and "again from the start" in note
    assert sorted(names(objects, "Namespace")) == ["dev", "prod"]  # other kinds untouched


def test_a_token_that_keeps_expiring_fails_naming_the_kind_and_the_server(tmp_path: Path) -> None:
    api = cluster(secrets=11)
    api.expire = {"secrets": list(range(1, 50))}
    with serving(api), pytest.raises(ClusterUnreadable) as failed:
        listing(api, tmp_path, ListOptions(chunk_size=4, max_restarts=2))
    message = str(failed.value)
    assert message.startswith(f"cannot read the cluster at {api.url}: listing Secret (v1) failed: HTTP 410")
    assert "\n" not in message


def test_a_failed_listing_names_the_kind_the_server_and_its_message(tmp_path: Path) -> None:
    api = cluster()
    api.fail = {"pods": (403, 'pods is forbidden: User "auditor" cannot list resource "pods"')}
    with serving(api), pytest.raises(ClusterUnreadable) as failed:
        listing(api, tmp_path, ListOptions())
    assert str(failed.value) == (f"cannot read the cluster at {api.url}: listing Pod (v1) failed: HTTP 403 "
                                 f'Forbidden: pods is forbidden: User "auditor" cannot list resource "pods"')


def test_a_slow_page_fails_after_the_timeout(tmp_path: Path) -> None:
    api = cluster()
    api.delay_s = {"secrets": 3.0}
    with serving(api), pytest.raises(ClusterUnreadable) as failed:
        listing(api, tmp_path, ListOptions(timeout=0.3))
    assert str(failed.value) == (f"cannot read the cluster at {api.url}: listing Secret (v1) failed: "
                                 "no answer within 0.3s (--timeout)")
    assert len([r for r in api.requests if r.resource == "secrets"]) == 1  # not retried


def test_listed_secrets_keep_fingerprints_never_values(api: FakeApiServer, tmp_path: Path) -> None:
    objects = listing(api, tmp_path, ListOptions(chunk_size=3))
    secrets = [o for o in objects if o.obj["kind"] == "Secret"]
    assert secrets and all(o.secret is not None for o in secrets)
    for item in secrets:
        assert "data" not in item.obj and "managedFields" not in item.obj["metadata"]
        text = json.dumps(item.obj) + repr(item)
        assert "value-number" not in text and "dmFsdWUtbnVtYmVy" not in text  # raw or base64


def test_projection_drops_values_and_their_last_applied_copy() -> None:
    fingerprinter = Fingerprinter.random()
    stored = {"apiVersion": "v1", "kind": "Secret", **secret("dev", "db", SHARED, **{LAST_APPLIED: "{\"data\": 1}",
                                                                                   "keep": "me"}),
              "status": {"x": 1}}
    item = project(stored, fingerprinter)
    assert set(item.obj) == {"apiVersion", "kind", "metadata", "type"}
    assert item.obj["metadata"]["annotations"] == {"keep": "me"}
    assert not isinstance(item.secret, Exception) and item.secret is not None
    assert item.secret.annotations == {"keep": "me"} and len(item.secret.fingerprints) == 1
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "dev", "managedFields": []},
           "spec": {"containers": []}, "status": {"phase": "Running", "podIP": "10.0.0.1"}}
    assert project(pod, fingerprinter).obj == {"apiVersion": "v1", "kind": "Pod",
                                               "metadata": {"name": "p", "namespace": "dev"},
                                               "spec": {"containers": []},
                                               "status": {"phase": "Running"}}  # sidecars: a running pod
    assert project(pod, fingerprinter).secret is None


def judged(objects: list[Any], fingerprinter: Fingerprinter | None = None) -> list[tuple[str, list[str]]]:
    results = audit_objects(objects, DEFAULT_POLICY, own_namespace=None, fingerprinter=fingerprinter)
    return [(r.ref.name, [v.rule.value for v in r.decision.violations]) for r in results]


def test_projected_objects_are_judged_as_the_objects_they_came_from() -> None:
    fingerprinter = Fingerprinter.random()
    stored: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", **namespace("dev", "dev")},
        {"apiVersion": "v1", "kind": "Namespace", **namespace("prod", "prod")},
        {"apiVersion": "v1", "kind": "Secret", **secret("dev", "copy", SHARED)},
        {"apiVersion": "v1", "kind": "Secret", **secret("prod", "db", SHARED)},
        {"apiVersion": "v1", "kind": "Secret",
         **secret("dev", "mirror", b"x" * 20, **{"reflector.v1.k8s.emberstack.com/reflects": "prod/db"})},
        {"apiVersion": "v1", "kind": "Secret", **{**secret("dev", "broken", b""), "data": {"k": "%%%"}}},
    ]
    expected = judged(stored)
    assert ("copy", ["secret-value-shared"]) in expected and ("broken", ["policy-invalid"]) in expected
    assert judged([project(o, fingerprinter) for o in stored], fingerprinter) == expected
    with pytest.raises(ValueError, match="another key"):
        judged([project(o, fingerprinter) for o in stored], Fingerprinter.random())


def test_kinds_judged_by_a_field_are_found_by_their_categories_and_judged(tmp_path: Path) -> None:
    """Crossplane's kinds have no row (any provider's group): the audit finds them by their CRDs' categories
    (``managed``, ``composite``, ``claim``) and judges them by ``spec.writeConnectionSecretToRef``; a kind of another
    category is not listed."""
    api = cluster(secrets=0)
    api.custom = {
        "instances": ("rds.aws.upbound.io/v1beta1", "Instance", False, ("crossplane", "managed", "aws")),
        "widgets": ("example.org/v1", "Widget", False, ("all",)),
    }
    api.objects["instances"] = [{"metadata": {"name": "db", "labels": {"crossplane.io/claim-namespace": "dev"}},
                                 "spec": {"writeConnectionSecretToRef": {"namespace": "prod", "name": "db-conn"}}}]
    api.objects["widgets"] = [{"metadata": {"name": "w"}, "spec": {}}]
    observer = Recorder()
    with serving(api):
        client = connect(str(api.kubeconfig(tmp_path)), 5)
        objects = list(list_cluster(client, Fingerprinter.random(), ListOptions(), observer,
                                    fields=BY_FIELD))
    assert observer.kinds[-1] == "Instance" and "Widget" not in observer.kinds
    assert names(objects, "Instance") == ["db"] and names(objects, "Widget") == []
    (instance,) = (o for o in objects if o.obj["kind"] == "Instance")
    assert instance.obj["apiVersion"] == "rds.aws.upbound.io/v1beta1"
    results = audit_objects(objects, DEFAULT_POLICY, own_namespace=None)
    (found,) = [r for r in results if r.ref.kind == "Instance"]
    assert [v.rule.value for v in found.decision.violations] == ["secret-replication-cross-tier"]
    # Without fields (a command that lists a few table kinds) nothing is discovered.
    with serving(api):
        client = connect(str(api.kubeconfig(tmp_path)), 5)
        assert names(list(list_cluster(client, Fingerprinter.random(), ListOptions())), "Instance") == []
