"""The live indexes: each descriptor's projection (what an informer stores of one object), the in-memory index,
the test double, and LiveContext's lookups over it, which must answer as the offline context does."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.indexes import FakeIndexes
from tierguard.engine.context import OfflineContext
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.kinds import INDEXED
from tierguard.policy import stored_document
from tierguard.webhook import indexes
from tierguard.webhook.live_context import LiveContext
from tierguard.webhook.store import LiveIndex

from .helpers import KEY, b64

FP = Fingerprinter(KEY)
VALUE = "a-long-credential-value-0123456789"


def ns(name: str, tier: str | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"tierguard.io/tier": tier} if tier else {}}}


SECRET = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
          "metadata": {"name": "db", "namespace": "dev", "labels": {"a": "b"}, "annotations": {"x": "y"}},
          "data": {"password": b64(VALUE)}}
SEALED = {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {"name": "s", "namespace": "dev"},
          "spec": {"encryptedData": {"k": "AgB..."},
                   "template": {"metadata": {"annotations": {"sealedsecrets.bitnami.com/cluster-wide": "true"}}}}}
PV = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv", "uid": "u"},
      "spec": {"claimRef": {"namespace": "dev", "name": "data"},
               "csi": {"driver": "d", "volumeHandle": "h", "nodeStageSecretRef": {"name": "c", "namespace": "prod"}}},
      "status": {"phase": "Bound"}}
PREBOUND_PV = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv2"}, "spec": {}}
CLAIM = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "logs", "namespace": "dev"},
         "spec": {"volumeName": "pv2", "storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}}}
STORAGE_CLASS = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"},
                 "provisioner": "p", "parameters": {"csi.storage.k8s.io/node-stage-secret-namespace": "prod"}}
RULES = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r", "namespace": "dev"},
        "rules": RULES}
CLUSTER_ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cr"},
                "rules": RULES}
STORE = {"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "st", "namespace": "dev"},
         "spec": {"provider": {"kubernetes": {"remoteNamespace": "prod"}}}}
CLUSTER_STORE = {"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": "cst"},
                 "spec": {"provider": {"kubernetes": {"remoteNamespace": "dev"}}}}
POLICY = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy",
          "metadata": {"name": "default", "uid": "u", "resourceVersion": "7"}, "spec": {"tiers": ["dev", "prod"]},
          "status": {"x": 1}}
OBJECTS = [ns("dev", "dev"), ns("prod", "prod"), SECRET, SEALED, PV, PREBOUND_PV, CLAIM, STORAGE_CLASS, ROLE,
           CLUSTER_ROLE, STORE, CLUSTER_STORE, POLICY]


def test_one_descriptor_per_indexed_kind() -> None:
    assert [spec.watches for spec in indexes.INDEXES] == list(INDEXED)
    assert {spec.id for spec in indexes.INDEXES} == {info.index for info in INDEXED}
    for constant in (indexes.NAMESPACES, indexes.SECRETS, indexes.SEALED_SECRETS, indexes.VOLUMES, indexes.CLAIMS,
                     indexes.STORAGE_CLASSES, indexes.POLICIES):
        assert constant in indexes.INDEXES_BY_ID


def test_the_index_keeps_each_contributors_values_under_each_key() -> None:
    index = LiveIndex()
    index.put(("dev", "a"), {"k": 1, "only-a": 2})
    index.put(("dev", "b"), {"k": 3})
    assert sorted(index.get("k")) == [1, 3] and list(index.get("only-a")) == [2] and len(index) == 2
    index.put(("dev", "a"), {"k": 4})  # a changed object replaces all it contributed
    assert sorted(index.get("k")) == [3, 4] and index.get("only-a") is None
    assert index.remove(("dev", "b"))
    assert list(index.get("k")) == [4] and index.objects == 1
    assert index.names_in("dev") == ("a",) and index.names_in("prod") == ()
    index.remove(("dev", "a"))
    assert len(index) == 0 and index.get("k", ()) == () and not index.remove(("dev", "a"))
    assert index.names_in("dev") == ()
    a_dict_value = {"rules": []}
    index.put(("", "r"), {"role": a_dict_value})  # a value that is itself a dict stays one value
    assert list(index.get("role")) == [a_dict_value]


def test_a_new_listing_replaces_the_index_whole() -> None:
    index, listing = LiveIndex(), LiveIndex()
    index.put(("dev", "gone"), {"g": 1})
    listing.put(("dev", "new"), {"n": 2})
    index.replace(listing)
    assert index == {"n": [2]} and index.objects == 1 and listing == {}


def test_secret_projection_keeps_fingerprints_never_values() -> None:
    entries = indexes.project_secret(SECRET, FP)
    (view,) = {id(v): v for v in entries.values()}.values()
    assert set(entries) == {indexes.secret_key("dev", "db"), *(indexes.fingerprint_key(fp.digest)
                                                             for fp in view.fingerprints)}
    assert (view.namespace, view.name, view.labels, view.annotations) == ("dev", "db", {"a": "b"}, {"x": "y"})
    assert len(view.fingerprints) == 1 and VALUE not in repr(entries) and b64(VALUE) not in repr(entries)


def test_a_malformed_secret_is_indexed_without_fingerprints() -> None:
    entries = indexes.project_secret({**SECRET, "data": {"password": "not base64!"}}, FP)
    assert list(entries) == [indexes.secret_key("dev", "db")]
    assert entries[indexes.secret_key("dev", "db")].fingerprints == ()


def test_sealed_secret_projection_takes_the_templates_annotations() -> None:
    (view,) = indexes.project_sealed_secret(SEALED, FP).values()
    assert view.kind == "SealedSecret" and view.annotations["sealedsecrets.bitnami.com/cluster-wide"] == "true"


def test_volume_projection_by_name_and_by_claim() -> None:
    entries = indexes.project_volume(PV, FP)
    assert set(entries) == {indexes.volume_key("pv"), indexes.volume_claim_key("dev", "data")}
    assert "status" not in entries[indexes.volume_key("pv")]
    assert set(indexes.project_volume(PREBOUND_PV, FP)) == {indexes.volume_key("pv2")}


def test_claim_storage_class_role_and_store_projections_keep_what_rules_read() -> None:
    assert indexes.project_claim(CLAIM, FP) == {("dev", "logs"): {"spec": {"volumeName": "pv2",
                                                                           "storageClassName": "fast"}}}
    assert indexes.project_storage_class(STORAGE_CLASS, FP)["fast"]["parameters"] == STORAGE_CLASS["parameters"]
    assert indexes.project_role(ROLE, FP) == {("Role", "dev", "r"): RULES}
    assert indexes.project_cluster_role(CLUSTER_ROLE, FP) == {("ClusterRole", None, "cr"): RULES,
                                                              indexes.cluster_role_labels_key(): ("cr", {})}
    aggregated = {**CLUSTER_ROLE, "metadata": {"name": "agg", "labels": {"team": "a"}},
                  "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]}}
    entries = indexes.project_cluster_role(aggregated, FP)
    assert entries[indexes.aggregation_key("agg")] == [{"matchLabels": {"x": "y"}}]
    assert entries[indexes.cluster_role_labels_key()] == ("agg", {"team": "a"})
    default = {**STORAGE_CLASS, "metadata": {"name": "std", "annotations": {
        "storageclass.kubernetes.io/is-default-class": "true"}}}
    assert indexes.default_storage_class_key() in indexes.project_storage_class(default, FP)
    assert indexes.default_storage_class_key() not in indexes.project_storage_class(STORAGE_CLASS, FP)
    assert list(indexes.project_secret_store(STORE, FP)) == [("SecretStore", "dev", "st")]
    assert list(indexes.project_cluster_secret_store(CLUSTER_STORE, FP)) == [("ClusterSecretStore", None, "cst")]


def test_policy_projection_is_the_stored_document_with_generation_and_status() -> None:
    # The status and generation are for the status writer (policy_status.py); uid and resourceVersion are dropped.
    assert indexes.project_policy(POLICY, FP) == {"default": {
        "apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "default"},
        "spec": {"tiers": ["dev", "prod"]}, "status": {"x": 1}}}
    generated = {**POLICY, "metadata": {**POLICY["metadata"], "generation": 3}}
    (document,) = indexes.project_policy(generated, FP).values()
    assert document["metadata"] == {"name": "default", "generation": 3}
    assert stored_document(document) == stored_document(POLICY)  # what loading judges is unchanged


def test_the_double_replaces_and_removes_what_an_object_contributed() -> None:
    fake = FakeIndexes(FP, [SECRET])
    fake.add({**SECRET, "metadata": {**SECRET["metadata"], "labels": {"c": "d"}}})
    (view,) = fake.data["tg_secrets"][indexes.secret_key("dev", "db")]
    assert view.labels == {"c": "d"}
    fake.remove(SECRET)
    assert fake.data["tg_secrets"] == {}
    fake.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})  # not watched: ignored
    assert all(not index for index in fake.data.values())


QUESTIONS = [
    ("namespace", ("dev",)), ("namespace", ("nope",)),
    ("secret", ("dev", "db")), ("secret", ("dev", "s")), ("secret", ("prod", "db")),
    ("persistent_volume", ("pv",)), ("volume_for_claim", ("dev", "data")), ("volume_for_claim", ("dev", "logs")),
    ("volume_for_claim", ("prod", "data")), ("claim", ("dev", "logs")), ("storage_class", ("fast",)),
    ("role_rules", ("Role", "dev", "r")), ("role_rules", ("ClusterRole", "dev", "cr")),
    ("role_rules", ("Role", "prod", "r")), ("secret_store", ("SecretStore", "dev", "st")),
    ("secret_store", ("ClusterSecretStore", "dev", "cst")), ("secret_store", ("SecretStore", "dev", "cst")),
]


def _comparable(answer: Any) -> Any:
    """What rules read of an answer (the live claim keeps only the spec fields rules read)."""
    if (isinstance(answer, dict) and answer.get("kind") == "PersistentVolumeClaim") or (
            isinstance(answer, dict) and "metadata" not in answer):
        spec = answer.get("spec", {})
        return ("claim", spec.get("volumeName"), spec.get("storageClassName"))
    if isinstance(answer, dict):
        return ("object", answer.get("metadata", {}).get("name"), answer.get("spec"), answer.get("parameters"))
    if hasattr(answer, "ref"):
        return ("view", answer.kind, answer.ref, answer.labels, answer.annotations, answer.fingerprints)
    if isinstance(answer, list):
        return [dict(item) for item in answer]
    return answer


@pytest.mark.parametrize(("question", "args"), QUESTIONS, ids=[f"{q}{a}" for q, a in QUESTIONS])
def test_live_context_answers_as_the_offline_context(question: str, args: tuple[Any, ...]) -> None:
    live = LiveContext(FP, FakeIndexes(FP, OBJECTS).data)
    offline = OfflineContext.from_objects(OBJECTS, FP)
    answer = getattr(live, question)(*args)
    assert _comparable(answer) == _comparable(getattr(offline, question)(*args))
    positive = args not in {("nope",), ("prod", "db"), ("prod", "data"), ("Role", "prod", "r"),
                            ("SecretStore", "dev", "cst")}
    assert (answer is not None) == positive, (question, args)


def test_fingerprint_holders_and_namespaces() -> None:
    live = LiveContext(FP, FakeIndexes(FP, OBJECTS).data)
    (fingerprint,) = next(iter(indexes.project_secret(SECRET, FP).values())).fingerprints
    assert [v.ref for v in live.fingerprint_holders(fingerprint.digest)] == ["dev/db"]
    assert sorted(view.name for view in live.namespaces()) == ["dev", "prod"]


def test_kopf_watches_nothing_and_the_audit_marks_what_no_informer_indexes() -> None:
    from tierguard.kinds import JUDGED  # noqa: PLC0415
    from tierguard.webhook.background_audit.marks import marker_informers  # noqa: PLC0415 - imports the audit
    from tierguard.webhook.indexing import build_registry  # noqa: PLC0415
    from tierguard.webhook.settings import WatchSettings  # noqa: PLC0415

    registry = build_registry()
    # kopf's indexes made the initial listing quadratic, and one of its watchers ended the process when a
    # watched CRD was deleted (webhook/informer.py, background_audit/marks.py): every watch is an informer's.
    assert list(registry._indexing.get_all_handlers()) == []
    assert list(registry._watching.get_all_handlers()) == []
    markers = marker_informers(None, lambda: FP, lambda change: None, WatchSettings())  # type: ignore[arg-type]
    marked = {(i.spec.watches.group, i.spec.watches.resource) for i in markers.informers}
    informed = {(info.group, info.resource) for info in INDEXED}
    assert marked == {(info.group, info.resource) for info in JUDGED} - informed
    assert all(i.watch_only for i in markers.informers)


def test_listed_secrets_without_labels_or_kept_annotations_share_one_empty_map() -> None:
    """At 100k Secrets an empty dict each is megabytes: a Secret with no labels, or whose only annotation is
    `kubectl apply`'s copy of itself (never kept), holds the shared empty map."""
    fingerprinter = Fingerprinter(KEY)
    applied = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": {"k": b64("a-long-enough-value")},
               "metadata": {"name": "a", "namespace": "dev", "annotations": {
                   "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"k":"..."}}'}}}
    plain = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b", "namespace": "dev"}, "data": {}}
    first = indexes.project_secret(applied, fingerprinter)[indexes.secret_key("dev", "a")]
    second = indexes.project_secret(plain, fingerprinter)[indexes.secret_key("dev", "b")]
    assert first.annotations == {} and first.labels == {}
    assert first.annotations is second.annotations is second.labels is first.labels
