"""The background audit's passes, against the live context of fake indexes and an in-memory listing: reports of
what exists, re-judging only marked namespaces, metrics, and the marks themselves (``changes.py``)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.indexes import FakeIndexes
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.rules import posture
from tierguard.kinds import BY_KEY, GroupKind, KindInfo, Scope
from tierguard.kube.discovery import Served
from tierguard.kube.rest import HttpError
from tierguard.policy import DEFAULT_POLICY, load_policy
from tierguard.render.policyreport import OPENREPORTS, WGPOLICYK8S
from tierguard.webhook.background_audit import audit as background
from tierguard.webhook.background_audit.audit import BackgroundAudit
from tierguard.webhook.background_audit.changes import Changes, ContentFilter, Dirty
from tierguard.webhook.background_audit.marks import index_observer
from tierguard.webhook.background_audit.report_writer import ReportWriter
from tierguard.webhook.indexes import INDEXES_BY_KIND
from tierguard.webhook.informer import Change
from tierguard.webhook.live_context import LiveContext
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.settings import AuditSettings
from tierguard.webhook.state import RuntimeState

from .test_report_writer import FakeReports

KEY = b"k" * 32
SHARED = base64.b64encode(b"a-long-shared-credential-value").decode()
OTHER = base64.b64encode(b"another-long-credential-value").decode()
DEPLOYMENT = BY_KEY[GroupKind("apps", "Deployment")]
BINDING = BY_KEY[GroupKind("rbac.authorization.k8s.io", "ClusterRoleBinding")]
ROLE_BINDING = BY_KEY[GroupKind("rbac.authorization.k8s.io", "RoleBinding")]


def secret(namespace: str, name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "data": {"password": value}}


def deployment(namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}}


class Listing:
    """Stands in for the API server's list endpoints: objects by kind, and every path asked for."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = objects
        self.paths: list[str] = []

    def __call__(self, api_client: Any, path: str, served: Served, options: Any) -> Iterator[dict[str, Any]]:
        self.paths.append(path)
        for obj in self.objects:
            namespace = obj["metadata"].get("namespace")
            if obj["kind"] == served.info.kind and (f"/namespaces/{namespace}/" in path
                                                    or "/namespaces/" not in path):
                yield dict(obj)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Any:
    fingerprinter = Fingerprinter(KEY)
    indexes = FakeIndexes(fingerprinter)
    for name in ("dev", "prod", "qa"):
        indexes.add_namespace(name, name)
    indexes.add(secret("dev", "db", SHARED))
    indexes.add(secret("prod", "db", SHARED))
    indexes.add(secret("qa", "unique", OTHER))
    state = RuntimeState(own_namespace="tierguard-system")
    state.context = LiveContext(fingerprinter, indexes.data)
    state.use_policy(DEFAULT_POLICY)
    state.indexes_synced = True
    listing = Listing([deployment("dev", "web"), deployment("qa", "web")])
    monkeypatch.setattr(background, "_listing", listing)
    monkeypatch.setattr(background, "resolve_served", lambda *_: [Served(DEPLOYMENT, "apps/v1"),
                                                                 Served(BINDING, "rbac.authorization.k8s.io/v1")])
    monkeypatch.setattr(background, "discover_categories", lambda *_: [])
    reports = FakeReports()
    metrics = Metrics()
    writer = ReportWriter(reports, (WGPOLICYK8S, OPENREPORTS))
    audit = BackgroundAudit(state, metrics, None, writer, AuditSettings(max_results=10,
                                                                        reports_api="both"))

    class World:
        pass

    found = World()
    found.__dict__.update(fingerprinter=fingerprinter, indexes=indexes, state=state, listing=listing,
                          reports=reports, metrics=metrics, audit=audit)
    return found


def gauge(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_a_full_pass_reports_each_namespace_with_findings_once_per_api(world: Any) -> None:
    asyncio.run(world.audit.full_pass())
    assert sorted(world.reports.objects, key=str) == [("openreports", "dev"), ("openreports", "prod"),
                                                      ("openreports", None), ("wgpolicyk8s", "dev"),
                                                      ("wgpolicyk8s", "prod"), ("wgpolicyk8s", None)]
    dev = world.reports.objects[("wgpolicyk8s", "dev")]
    assert [(r["rule"], r["resources"][0]["name"]) for r in dev["results"]] == [("secret-value-shared", "db")]
    assert dev["summary"] == {"pass": 1, "fail": 1, "warn": 0, "error": 0, "skip": 0}  # the Deployment passed
    assert gauge(world.metrics, "tierguard_audit_violations", rule="secret-value-shared", namespace="dev",
                 action="deny") == 1
    assert gauge(world.metrics, "tierguard_audit_last_run_timestamp_seconds")
    assert gauge(world.metrics, "tierguard_audit_duration_seconds") is not None
    assert gauge(world.metrics, "tierguard_audit_report_writes_total", operation="create") == 6
    assert not any("/namespaces/" in path for path in world.listing.paths)  # listed cluster-wide, once per kind


def test_an_unchanged_cluster_writes_nothing_on_the_next_pass(world: Any) -> None:
    asyncio.run(world.audit.full_pass())
    world.reports.calls.clear()
    asyncio.run(world.audit.full_pass())
    assert world.reports.calls == []


def test_an_incremental_pass_judges_only_marked_namespaces_and_clears_fixed_reports(world: Any) -> None:
    asyncio.run(world.audit.full_pass())
    context = world.state.context
    old = context.indexed_secret("prod", "db")
    world.indexes.add(secret("prod", "db", base64.b64encode(b"prod-only-credential-value").decode()))
    world.audit.changes.secret_changed(old, context.indexed_secret("prod", "db"), context)
    dirty = world.audit.changes.take()
    assert dirty.namespaces == {"dev", "prod"}  # its own, and the namespace of the other holder of the old value
    world.listing.paths.clear()
    asyncio.run(world.audit.incremental_pass(dirty))
    assert world.reports.objects == {}
    assert {path.split("/namespaces/")[1].split("/")[0] for path in world.listing.paths} == {"dev", "prod"}
    assert gauge(world.metrics, "tierguard_audit_violations", rule="secret-value-shared", namespace="dev",
                 action="deny") is None


def cluster_findings(world: Any) -> list[str]:
    found = world.reports.objects.get(("wgpolicyk8s", None))
    return sorted(r["message"] for r in found["results"]) if found else []


def test_the_cluster_report_names_the_holders_that_namespace_reports_do_not(world: Any) -> None:
    asyncio.run(world.audit.full_pass())
    dev = world.reports.objects[("wgpolicyk8s", "dev")]
    assert "prod/db" not in str(dev) and "a Secret of tier prod" in dev["results"][0]["message"]
    assert [m.split(";")[0] for m in cluster_findings(world)] == [
        "Secret dev/db (tier dev) holds in key 'password' the same value as Secret prod/db (tier prod)",
        "Secret prod/db (tier prod) holds in key 'password' the same value as Secret dev/db (tier dev)"]


def test_an_incremental_pass_keeps_the_cluster_report_in_step(world: Any) -> None:
    asyncio.run(world.audit.full_pass())
    context = world.state.context
    # qa starts sharing too: a pass of qa alone (and of the holders it marks) adds qa's findings to the cluster
    # report and keeps the others'.
    old = context.indexed_secret("qa", "unique")
    world.indexes.add(secret("qa", "unique", SHARED))
    world.audit.changes.secret_changed(old, context.indexed_secret("qa", "unique"), context)
    asyncio.run(world.audit.incremental_pass(world.audit.changes.take()))
    assert len(cluster_findings(world)) == 6
    assert any(m.startswith("Secret qa/unique (tier qa)") for m in cluster_findings(world))
    # Fixed everywhere: the cluster report goes.
    for namespace, name in (("qa", "unique"), ("prod", "db")):
        old = context.indexed_secret(namespace, name)
        world.indexes.add(secret(namespace, name, base64.b64encode(f"{namespace}-only-credential".encode()).decode()))
        world.audit.changes.secret_changed(old, context.indexed_secret(namespace, name), context)
    dirty = world.audit.changes.take()
    assert dirty.namespaces == {"dev", "prod", "qa"} and not dirty.cluster
    asyncio.run(world.audit.incremental_pass(dirty))
    assert cluster_findings(world) == []
    assert world.reports.objects == {}


def test_a_replica_without_the_lease_keeps_no_marks_and_clears_its_gauges(world: Any) -> None:
    world.audit.set_leader(True)
    asyncio.run(world.audit.full_pass())
    world.audit.set_leader(False)
    assert gauge(world.metrics, "tierguard_audit_leader") == 0
    assert gauge(world.metrics, "tierguard_audit_violations", rule="secret-value-shared", namespace="dev",
                 action="deny") is None
    world.audit.changes.mark_namespace("dev")
    world.audit.marked()
    assert not world.audit.changes


def test_the_loop_writes_only_while_leading(world: Any) -> None:
    async def scenario() -> None:
        task = asyncio.create_task(world.audit.run())
        await asyncio.sleep(0.3)
        assert world.reports.objects == {}  # not the holder: nothing judged, nothing written
        world.audit.set_leader(True)
        for _ in range(100):
            await asyncio.sleep(0.05)
            if world.reports.objects:
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert ("wgpolicyk8s", "dev") in world.reports.objects


# --- the marks -------------------------------------------------------------------------------------------

def test_a_second_holder_of_a_value_marks_the_first_holders_namespace(world: Any) -> None:
    context, changes = world.state.context, Changes()
    world.indexes.add(secret("qa", "copy", SHARED))
    changes.secret_changed(None, context.indexed_secret("qa", "copy"), context)
    assert changes.namespaces == {"qa", "dev", "prod"}


def test_an_unchanged_secret_or_namespace_marks_nothing(world: Any) -> None:
    context, changes = world.state.context, Changes()
    view = context.indexed_secret("dev", "db")
    changes.secret_changed(view, view, context)
    changes.namespace_changed(context.namespace("dev"), context.namespace("dev"), context)
    assert not changes


def test_a_relabelled_namespace_marks_itself_the_cluster_and_who_shares_its_values(world: Any) -> None:
    context, changes = world.state.context, Changes()
    before = context.namespace("dev")
    world.indexes.add_namespace("dev", "prod")
    changes.namespace_changed(before, context.namespace("dev"), context)
    assert changes.namespaces == {"dev", "prod"} and changes.cluster


def test_status_churn_is_not_a_change() -> None:
    seen = ContentFilter()
    pod = {"kind": "Pod", "metadata": {"uid": "u1", "name": "p", "namespace": "dev", "resourceVersion": "1"},
           "spec": {"containers": []}, "status": {"phase": "Pending"}}
    assert seen.changed(pod, deleted=False)
    assert not seen.changed({**pod, "metadata": {**pod["metadata"], "resourceVersion": "2"},
                             "status": {"phase": "Pending", "conditions": [{"type": "Ready"}]}}, deleted=False)
    # A phase is a change: a running pod's runningPodAnnotations are judged (sidecar-missing's providedBy).
    running = {**pod, "status": {"phase": "Running", "podIP": "10.0.0.1"}}
    assert seen.changed(running, deleted=False)
    assert not seen.changed({**running, "status": {"phase": "Running", "podIP": "10.0.0.2"}}, deleted=False)
    assert seen.changed({**pod, "metadata": {**pod["metadata"], "labels": {"a": "b"}}}, deleted=False)
    assert seen.changed(pod, deleted=True) and len(seen) == 0


def test_many_dirty_namespaces_make_one_full_pass(world: Any) -> None:
    from tierguard.webhook.background_audit.changes import Dirty  # noqa: PLC0415

    asyncio.run(world.audit.incremental_pass(Dirty(frozenset(f"ns-{i}" for i in range(50)), False, False)))
    assert world.audit.passes == {"full": 1}
    assert not any("/namespaces/" in path for path in world.listing.paths)


def test_passes_caused_by_marks_rest_in_proportion_to_the_last_pass(world: Any) -> None:
    """While changes keep coming, the audit spends at most ``max_share`` of the time in passes, so admission,
    on the same event loop, keeps the rest."""
    audit = BackgroundAudit(world.state, world.metrics, None, world.audit.writer,
                            AuditSettings(debounce_s=0.01, max_share=0.25, reports_api="wgpolicyk8s"))
    audit._finished("full", time.perf_counter() - 0.4, background.Tally(), 0)  # a pass of 0.4 s just ended
    assert audit.rest_until - audit._monotonic() == pytest.approx(1.2, abs=0.1)  # 0.4 * (1/0.25 - 1)

    async def scenario() -> tuple[int, int]:
        audit.set_leader(True)
        audit._need_full = False  # the first pass of a new leader is not held back; this test is about marks
        audit.changes.mark_namespace("dev")
        task = asyncio.create_task(audit.run())
        before = sum(audit.passes.values())  # the pass that just ended
        await asyncio.sleep(0.6)
        resting = sum(audit.passes.values()) - before
        await asyncio.sleep(1.2)
        after = sum(audit.passes.values()) - before
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return resting, after

    resting, after = asyncio.run(scenario())
    assert resting == 0 and after >= 1


def test_a_full_pass_reports_a_person_of_one_tier_who_reaches_another(world: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 24: what already runs is judged by reach too: a RoleBinding made before people had tiers (or while
    tierguard was down) that lets a dev group create pods in prod is reported, with the path."""
    world.state.use_policy(load_policy({"spec": {"subjects": {"perTier": {"dev": {"groups": ["team-*-dev"]}}}}}))
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "devs", "namespace": "prod"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team-pay-dev"}]}
    world.listing.objects.append(binding)
    monkeypatch.setattr(background, "resolve_served", lambda *_: [Served(ROLE_BINDING, "rbac.authorization.k8s.io/v1")])
    asyncio.run(world.audit.full_pass())
    prod = world.reports.objects[("wgpolicyk8s", "prod")]
    found = [r for r in prod["results"] if r["rule"] == "rbac-cross-tier-subject"]
    assert [r["resources"][0]["name"] for r in found] == ["devs"]
    assert "Group team-pay-dev (tier dev) reach its Secrets: can read Secrets in prod" in found[0]["message"]


# --- namespace-security-missing: a namespace without a default-deny-ingress NetworkPolicy --------------------

NAMESPACE = BY_KEY[GroupKind("", "Namespace")]
NETWORK_POLICIES = INDEXES_BY_KIND["NetworkPolicy"]


def network_policy(namespace: str, name: str, *, deny: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": {}, "policyTypes": ["Ingress"]}
    if not deny:
        spec["ingress"] = [{}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace, "uid": f"{namespace}-{name}"}, "spec": spec}


def observe(world: Any, obj: dict[str, Any], *, deleted: bool = False) -> None:
    """What the NetworkPolicy informer does: tell the observer, then apply the change to the index."""
    world.audit.leading = True  # a replica without the lease keeps no marks
    entries = None if deleted else NETWORK_POLICIES.project(obj, world.fingerprinter)
    index_observer(world.state, world.audit)(Change(NETWORK_POLICIES, obj, entries))
    (world.indexes.remove if deleted else world.indexes.add)(obj)


def test_a_network_policy_marks_the_cluster_only_when_it_starts_or_stops_denying(world: Any) -> None:
    observe(world, network_policy("prod", "allow", deny=False))
    assert world.audit.changes.take() == Dirty(frozenset({"prod"}), False, False)
    observe(world, network_policy("prod", "deny-all"))
    assert world.audit.changes.take() == Dirty(frozenset({"prod"}), True, False)
    observe(world, network_policy("prod", "deny-all"))  # the same content again: nothing
    assert not world.audit.changes
    observe(world, network_policy("prod", "deny-all", deny=False))
    assert world.audit.changes.take().cluster
    observe(world, network_policy("prod", "deny-all", deny=False), deleted=True)
    assert world.audit.changes.take() == Dirty(frozenset({"prod"}), False, False)


def test_the_audit_reports_a_namespace_until_it_has_a_default_deny(world: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    world.state.use_policy(load_policy({"spec": {"namespaces": {"defaultDenyIngress": True}}}))
    namespaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {
        "tierguard.io/tier": name}}} for name in ("dev", "prod", "qa")]
    world.listing.objects += namespaces
    monkeypatch.setattr(background, "resolve_served", lambda *_: [Served(NAMESPACE, "v1")])
    for name in ("dev", "qa"):
        observe(world, network_policy(name, "deny-all"))
    asyncio.run(world.audit.full_pass())
    assert [m for m in cluster_findings(world) if "NetworkPolicy" in m] == [
        "Namespace prod (tier prod) has no NetworkPolicy denying all ingress; " + posture.CREATE_ONE]
    observe(world, network_policy("prod", "default-deny-ingress"))
    asyncio.run(world.audit.incremental_pass(world.audit.changes.take()))
    assert not [m for m in cluster_findings(world) if "NetworkPolicy" in m]
    observe(world, network_policy("dev", "deny-all"), deleted=True)
    asyncio.run(world.audit.incremental_pass(world.audit.changes.take()))
    assert [m.split(";")[0] for m in cluster_findings(world) if "NetworkPolicy" in m] == [
        "Namespace dev (tier dev) has no NetworkPolicy denying all ingress"]


INSTANCE = KindInfo("rds.aws.upbound.io", "*", "Instance", "instances", Scope.CLUSTER, judged=True)
"""A Crossplane managed resource's kind, as API discovery finds it by its category (no row of the kinds table)."""


def managed(target: str) -> dict[str, Any]:
    return {"apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "Instance",
            "metadata": {"name": "db", "labels": {"crossplane.io/claim-namespace": "dev"}},
            "spec": {"writeConnectionSecretToRef": {"namespace": target, "name": "db-conn"}}}


def test_kinds_found_by_their_category_are_audited(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, ...]] = []

    def discover(_client: Any, categories: tuple[str, ...], _timeout: float) -> list[Served]:
        asked.append(tuple(categories))
        return [Served(INSTANCE, "rds.aws.upbound.io/v1beta1")]

    monkeypatch.setattr(background, "discover_categories", discover)
    world.listing.objects.append(managed("prod"))
    asyncio.run(world.audit.full_pass())
    assert asked == [("claim", "composite", "managed")]
    cluster = world.reports.objects[("wgpolicyk8s", None)]
    found = [r["resources"][0] for r in cluster["results"] if r["rule"] == "secret-replication-cross-tier"]
    assert [(r["kind"], r["name"]) for r in found] == [("Instance", "db")]


def test_a_kind_found_by_its_category_but_not_granted_is_skipped(world: Any, monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """403 on a discovered kind (the chart's crossplane.auditGroups does not name its group): the pass goes on."""
    monkeypatch.setattr(background, "discover_categories", lambda *_: [Served(INSTANCE, "rds.aws.upbound.io/v1")])
    listing = world.listing

    def forbidden(api_client: Any, path: str, served: Served, options: Any) -> Iterator[dict[str, Any]]:
        if served.info is INSTANCE:
            raise HttpError(403, "Forbidden", "instances.rds.aws.upbound.io is forbidden")
        return listing(api_client, path, served, options)

    monkeypatch.setattr(background, "_listing", forbidden)
    asyncio.run(world.audit.full_pass())
    assert ("wgpolicyk8s", "dev") in world.reports.objects  # the rest of the pass was written
    assert "cannot list Instance (rds.aws.upbound.io/v1): not granted" in caplog.text
