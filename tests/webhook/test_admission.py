"""The admission callback: decisions, messages, fail-closed answers and metrics, without HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.webhook.helpers import FakeIndexes, b64, review
from tierguard.policy import load_policy
from tierguard.webhook.admission import MAX_WARNING_LENGTH, AdmissionService
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.state import RuntimeState

SHARED = "shared-database-password-0123456789"


def pod(namespace: str, **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": namespace, **metadata},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]}}


def secret(namespace: str, name: str, value: str, **annotations: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
            "data": {"password": b64(value)}}


def answer(service: AdmissionService, body: dict[str, Any], path: str) -> dict[str, Any]:
    response: dict[str, Any] = service.answer(body, path)["response"]
    assert response["uid"] == body["request"]["uid"]
    return response


def test_clean_object_is_allowed(service: AdmissionService) -> None:
    response = answer(service, review(pod("dev")), "pods")
    assert response["allowed"] is True
    assert "status" not in response


def test_denial_is_403_and_names_the_rule(service: AdmissionService, indexes: FakeIndexes) -> None:
    indexes.add_secret(secret("prod", "db", SHARED))
    response = answer(service, review(secret("dev", "db", SHARED)), "secrets")
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    assert response["status"]["reason"] == "Forbidden"
    assert response["status"]["message"].startswith("[secret-value-shared] ")
    # SPEC: the requester learns the other tier, not which of its Secrets holds the value (the value oracle).
    assert "a Secret of tier prod" in response["status"]["message"]
    assert "prod/db" not in response["status"]["message"]
    assert SHARED not in str(response) and b64(SHARED) not in str(response)


def test_shared_value_denied_only_in_second_tier(service: AdmissionService, indexes: FakeIndexes) -> None:
    first = secret("prod", "db", SHARED)
    assert answer(service, review(first), "secrets")["allowed"] is True
    indexes.add_secret(first)  # the watch indexes it once admitted
    assert answer(service, review(secret("dev", "db", SHARED)), "secrets")["allowed"] is False


def test_a_shared_setting_is_answered_with_a_settings_advice(service: AdmissionService, indexes: FakeIndexes
                                                             ) -> None:
    """The review carries the Secret's values: the answer's advice looks at the shape of the value written (a URL
    with nothing secret in it) and quotes none of it; the index, which keeps no value, is not asked for one."""
    url = "https://github.com/argoproj/argocd-example-apps.git"
    repo = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "repo", "namespace": "prod"},
            "data": {"url": b64(url)}}
    indexes.add_secret(repo)
    dev = {**repo, "metadata": {"name": "repo", "namespace": "dev"}}
    message = answer(service, review(dev), "secrets")["status"]["message"]
    assert message == ("[secret-value-shared] Secret dev/repo (tier dev) holds in key 'url' the same value as a "
                       "Secret of tier prod; key 'url' looks like configuration, not a credential: label the Secret "
                       "tierguard.io/shareable=true if the value is public, or move it to a ConfigMap")
    tokened = {**dev, "data": {"url": b64(url.replace("https://", "https://ci:" + SHARED + "@"))}}
    indexes.add_secret({**tokened, "metadata": {"name": "repo", "namespace": "prod"}})
    message = answer(service, review(tokened), "secrets")["status"]["message"]
    assert message.endswith("; issue a separate credential for each tier") and SHARED not in message


def test_warn_mode_admits_with_short_rule_prefixed_warnings(state: RuntimeState, service: AdmissionService) -> None:
    state.use_policy(load_policy({"spec": {"enforcement": {"perTier": {"dev": "warn"}}}}))
    obj = secret("dev", "db", "x" * 20, **{"reflector.v1.k8s.emberstack.com/reflects": "prod/db"})
    response = answer(service, review(obj), "secrets")
    assert response["allowed"] is True
    assert response["warnings"][0].startswith("[secret-replication-cross-tier] ")
    assert all(len(w) <= MAX_WARNING_LENGTH for w in response["warnings"])


def test_audit_mode_admits_silently_but_counts(state: RuntimeState, service: AdmissionService,
                                               metrics: Metrics) -> None:
    state.use_policy(load_policy({"spec": {"enforcement": {"default": "audit"}}}))
    obj = secret("dev", "db", "x" * 20, **{"reflector.v1.k8s.emberstack.com/reflects": "prod/db"})
    response = answer(service, review(obj), "secrets")
    assert response["allowed"] is True and "warnings" not in response
    value = metrics.registry.get_sample_value(
        "tierguard_violations_total", {"rule": "secret-replication-cross-tier", "action": "audit"})
    assert value == 1


@pytest.mark.parametrize("path", ["", "nope", "pods/extra", "Secrets"])
def test_unknown_path_is_denied(service: AdmissionService, path: str) -> None:
    response = answer(service, review(pod("dev")), path)
    assert response["allowed"] is False
    assert response["status"]["code"] == 404
    assert "no admission handler" in response["status"]["message"]


def test_kind_routed_to_wrong_handler_is_denied(service: AdmissionService) -> None:
    response = answer(service, review(pod("dev")), "secrets")
    assert response["allowed"] is False and "wrong path" in response["status"]["message"]


@pytest.mark.parametrize("reason_setup", ["unsynced", "no-policy", "api-down"])
def test_not_ready_denies_everything(state: RuntimeState, service: AdmissionService, reason_setup: str) -> None:
    if reason_setup == "unsynced":
        state.indexes_synced = False
    elif reason_setup == "no-policy":
        state.policy = None
    else:
        state.api_failures = state.api_failure_threshold
    response = answer(service, review(pod("dev")), "pods")
    assert response["allowed"] is False
    assert response["status"]["code"] == 503
    assert response["status"]["message"].startswith("tierguard is not ready")


@pytest.mark.parametrize("broken", [
    None, [], "text", {"request": None}, {"request": {"uid": ""}}, {"request": {"uid": 5}},
])
def test_broken_review_is_denied_with_a_reason(service: AdmissionService, broken: Any) -> None:
    response = service.answer(broken, "pods")["response"]
    assert response["allowed"] is False
    assert response["status"]["message"]


@pytest.mark.parametrize("request_patch, field", [
    ({"operation": "EXPLODE"}, "request.operation"),
    ({"object": "not-an-object"}, "request.object"),
    ({"object": None}, "request.object"),
    ({"oldObject": 7}, "request.oldObject"),
])
def test_malformed_request_fields_name_the_field(service: AdmissionService, request_patch: dict[str, Any],
                                                 field: str) -> None:
    body = review(pod("dev"))
    body["request"].update(request_patch)
    response = answer(service, body, "pods")
    assert response["allowed"] is False
    assert response["status"]["message"].startswith("[policy-invalid]")
    assert field in response["status"]["message"]


def test_malformed_object_is_policy_invalid(service: AdmissionService) -> None:
    obj = pod("dev")
    obj["spec"]["containers"] = "nginx"
    response = answer(service, review(obj), "pods")
    assert response["allowed"] is False
    assert response["status"]["message"].startswith("[policy-invalid]")
    assert "spec.containers" in response["status"]["message"]


def test_engine_fault_fails_closed(service: AdmissionService, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("tierguard.webhook.admission.evaluate", explode)
    response = answer(service, review(pod("dev")), "pods")
    assert response["allowed"] is False and response["status"]["code"] == 500


def test_namespace_tier_removal_is_denied(service: AdmissionService) -> None:
    old = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod",
                                                                 "labels": {"tierguard.io/tier": "prod"}}}
    new = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {}}}
    response = answer(service, review(new, operation="UPDATE", old=old), "namespaces")
    assert response["allowed"] is False
    assert response["status"]["message"].startswith("[namespace-tier-changed]")


def test_break_glass_needs_group_and_reason(state: RuntimeState, service: AdmissionService,
                                            metrics: Metrics) -> None:
    state.use_policy(load_policy({"spec": {"exemptions": {"breakGlass": {"groups": ["sre"]}}}}))
    obj = secret("dev", "db", "x" * 20, **{"reflector.v1.k8s.emberstack.com/reflects": "prod/db",
                                           "tierguard.io/break-glass": "INC-42 restore"})
    assert answer(service, review(obj, groups=("devs",)), "secrets")["allowed"] is False
    response = answer(service, review(obj, groups=("sre",)), "secrets")
    assert response["allowed"] is True
    assert response["warnings"][0] == "tierguard: admitted by break-glass (INC-42 restore)"
    assert response["warnings"][1].startswith("[secret-replication-cross-tier]")
    assert metrics.registry.get_sample_value(
        "tierguard_break_glass_total", {"rule": "secret-replication-cross-tier"}) == 1


def test_dry_run_gets_the_same_decision(service: AdmissionService, indexes: FakeIndexes) -> None:
    indexes.add_secret(secret("prod", "db", SHARED))
    wet = answer(service, review(secret("dev", "db", SHARED)), "secrets")
    dry = answer(service, review(secret("dev", "db", SHARED), dry_run=True), "secrets")
    assert (wet["allowed"], wet["status"]["message"]) == (dry["allowed"], dry["status"]["message"])


def test_ephemeral_container_update_is_judged(service: AdmissionService, indexes: FakeIndexes) -> None:
    indexes.add_secret(secret("dev", "copied", "y" * 20, **{"replicator.v1.mittwald.de/replicate-from": "prod/x"}))
    obj = pod("dev")
    obj["spec"]["ephemeralContainers"] = [{"name": "debug", "image": "busybox",
                                           "envFrom": [{"secretRef": {"name": "copied"}}]}]
    response = answer(service, review(obj, operation="UPDATE", old=pod("dev"), subresource="ephemeralcontainers"),
                      "pods-ephemeralcontainers")
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert message.startswith("[workload-secret-cross-tier] Pod dev/web consumes Secret dev/copied"), message
    # The ephemeral container is what consumes it: the same Pod without one is admitted on that path.
    plain = answer(service, review(pod("dev"), operation="UPDATE", old=pod("dev"), subresource="ephemeralcontainers"),
                   "pods-ephemeralcontainers")
    assert plain["allowed"] is True


def test_invalid_tierpolicy_is_refused(service: AdmissionService) -> None:
    obj = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "default"},
           "spec": {"tiers": ["dev", "dev"]}}
    response = answer(service, review(obj), "tierpolicies")
    assert response["allowed"] is False
    assert response["status"]["message"].startswith("[policy-invalid]")
    assert "spec.tiers[1]" in response["status"]["message"]


def test_metrics_count_requests_by_decision(service: AdmissionService, metrics: Metrics) -> None:
    answer(service, review(pod("dev")), "pods")
    answer(service, review(pod("dev")), "nope")
    assert metrics.registry.get_sample_value(
        "tierguard_admission_requests_total", {"kind": "Pod", "operation": "CREATE", "decision": "allowed"}) == 1
    assert metrics.registry.get_sample_value(
        "tierguard_admission_requests_total", {"kind": "Pod", "operation": "CREATE", "decision": "denied"}) == 1


def test_waits_briefly_for_a_namespace_the_index_has_not_seen(service: AdmissionService,
                                                             indexes: FakeIndexes) -> None:
    obj = secret("fresh", "db", "x" * 20, **{"reflector.v1.k8s.emberstack.com/reflects": "prod/db"})

    async def namespace_arrives() -> None:
        await asyncio.sleep(0.2)
        indexes.add_namespace("fresh", "dev")

    async def scenario() -> dict[str, Any]:
        arrival = asyncio.create_task(namespace_arrives())
        answered = await service(review(obj), webhook="secrets")
        await arrival
        return answered

    response = asyncio.run(scenario())["response"]
    assert response["allowed"] is False
    assert response["status"]["message"].startswith("[secret-replication-cross-tier]")


def test_namespace_never_indexed_is_denied(service: AdmissionService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tierguard.webhook.admission.NAMESPACE_WAIT_SECONDS", 0.1)
    response = asyncio.run(service(review(pod("ghost")), webhook="pods"))["response"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 503
    assert "namespace ghost" in response["status"]["message"]


def test_namespace_requests_do_not_wait_for_their_own_index_entry(service: AdmissionService,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # For a Namespace, the API server puts its own name in request.namespace: it is never indexed before CREATE.
    monkeypatch.setattr("tierguard.webhook.admission.NAMESPACE_WAIT_SECONDS", 30.0)
    body = review({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "brand-new", "labels": {"tierguard.io/tier": "dev"}}})
    body["request"]["namespace"] = "brand-new"
    import time  # noqa: PLC0415

    started = time.monotonic()
    response = asyncio.run(service(body, webhook="namespaces"))["response"]
    assert response["allowed"] is True
    assert time.monotonic() - started < 5


def test_secret_admitted_moments_ago_counts_before_the_watch_indexes_it(service: AdmissionService) -> None:
    # One `kubectl apply -f` with both Secrets: the second arrives before the watch has indexed the first.
    assert answer(service, review(secret("prod", "db", SHARED)), "secrets")["allowed"] is True
    response = answer(service, review(secret("dev", "db", SHARED)), "secrets")
    assert response["allowed"] is False
    # SPEC: the requester learns the other tier, not which of its Secrets holds the value (the value oracle).
    assert "a Secret of tier prod" in response["status"]["message"]
    assert "prod/db" not in response["status"]["message"]


def test_dry_run_and_expired_admissions_are_not_remembered(service: AdmissionService,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert answer(service, review(secret("prod", "db", SHARED), dry_run=True), "secrets")["allowed"] is True
    assert answer(service, review(secret("dev", "db", SHARED)), "secrets")["allowed"] is True  # dev first now
    monkeypatch.setattr("tierguard.webhook.live_context.RECENT_SECONDS", -1.0)
    assert answer(service, review(secret("dev", "x", "another-long-shared-value-42")), "secrets")["allowed"]
    assert answer(service, review(secret("prod", "other", "another-long-shared-value-42")), "secrets")["allowed"]


def test_renaming_the_tier_label_warns_about_the_webhook_selector(service: AdmissionService) -> None:
    obj = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "default"},
           "spec": {"tierLabel": "example.com/env"}}
    response = answer(service, review(obj), "tierpolicies")
    assert response["allowed"] is True
    assert len(response["warnings"]) == 1
    assert response["warnings"][0].startswith("tierguard: tierLabel example.com/env differs")
    same = {**obj, "spec": {"tierLabel": "tierguard.io/tier"}}
    assert "warnings" not in answer(service, review(same), "tierpolicies")


def test_a_tierpolicy_that_is_not_in_force_is_admitted_with_a_warning(service: AdmissionService) -> None:
    """`kubectl apply -f examples/policy.yaml` (named `example`) stored a policy nothing uses, silently."""
    obj = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "example"},
           "spec": {}}
    for operation in ("CREATE", "UPDATE"):
        response = answer(service, review(obj, operation=operation, old=obj if operation == "UPDATE" else None),
                          "tierpolicies")
        assert response["allowed"] is True
        assert response["warnings"] == ["tierguard: TierPolicy example is not in force: only the TierPolicy named "
                                        "default is (tierguard run --policy-name)"]
    named = {**obj, "metadata": {"name": "default"}}
    assert "warnings" not in answer(service, review(named), "tierpolicies")
    # Refused anyway (invalid): the refusal says why, no warning about a policy that is not stored.
    invalid = {**obj, "spec": {"tiers": ["dev", "dev"]}}
    refused = answer(service, review(invalid), "tierpolicies")
    assert refused["allowed"] is False and "warnings" not in refused


def test_tierpolicy_deletes_are_judged_by_namespace_tier_assignment(state: RuntimeState,
                                                                   service: AdmissionService) -> None:
    """Deleting the policy in force puts the defaults in force, where no person has a tier: only the platform may."""
    state.use_policy(load_policy({"spec": {"subjects": {"perTier": {"dev": {"groups": ["team-*-dev"]}},
                                                        "platform": {"groups": ["sre"]}}}}))
    obj = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "example"}, "spec": {}}

    def delete(*groups: str) -> dict[str, Any]:
        body = review(obj, operation="DELETE", old=obj, groups=groups)
        body["request"]["object"] = None  # as the API server sends a DELETE
        return answer(service, body, "tierpolicies")

    refused = delete("team-payments-dev", "system:authenticated")
    assert refused["allowed"] is False
    assert refused["status"]["message"] == (
        "[namespace-tier-assignment] TierPolicy example is deleted by user alice, who does not act in every tier; "
        "only the platform (spec.subjects.platform, system:masters, ServiceAccounts of exempt namespaces) may write "
        "a TierPolicy: it decides who belongs to which tier")
    admitted = delete("sre", "system:authenticated")
    # No "is not in force" notice for a policy on its way out.
    assert admitted["allowed"] is True and "warnings" not in admitted


def test_a_rule_bug_is_denied_as_tierguards_fault_and_counted_apart(service: AdmissionService, metrics: Metrics,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from tierguard.engine.evaluation import _FAMILIES_BY_KEY  # noqa: PLC0415
    from tierguard.engine.rules import RuleFamily  # noqa: PLC0415
    from tierguard.kinds import GroupKind  # noqa: PLC0415

    def explode(_: Any) -> Any:
        raise ZeroDivisionError

    broken = RuleFamily("sidecars", frozenset(), frozenset(), explode)
    monkeypatch.setitem(_FAMILIES_BY_KEY, GroupKind("", "Pod"), (broken,))
    response = answer(service, review(pod("dev")), "pods")
    assert response["allowed"] is False and response["status"]["code"] == 403
    assert "internal error in rule family sidecars (ZeroDivisionError)" in response["status"]["message"]
    assert "bug in tierguard" in response["status"]["message"]
    assert metrics.registry.get_sample_value("tierguard_internal_errors_total", {"family": "sidecars"}) == 1
    answer(service, review(secret("dev", "db", "x" * 20, **{"reflector.v1.k8s.emberstack.com/reflects": "a/b"})),
           "secrets")
    assert metrics.registry.get_sample_value("tierguard_internal_errors_total", {"family": "replication"}) is None


def test_an_admitted_secret_is_fingerprinted_once(service: AdmissionService, monkeypatch: pytest.MonkeyPatch) -> None:
    """The replication and shared-value rules and the webhook's memory of admitted Secrets share one view."""
    from tierguard.engine.fingerprints import Fingerprinter  # noqa: PLC0415

    calls = []
    original = Fingerprinter.secret_fingerprints

    def counting(self: Fingerprinter, obj: Any) -> Any:
        calls.append(obj.get("metadata", {}).get("name"))
        return original(self, obj)

    monkeypatch.setattr(Fingerprinter, "secret_fingerprints", counting)
    assert answer(service, review(secret("dev", "fresh", SHARED)), "secrets")["allowed"] is True
    assert calls == ["fresh"]


def test_storage_and_role_lookups_answer_from_the_indexes(service: AdmissionService, indexes: FakeIndexes) -> None:
    indexes.add({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv"},
                 "spec": {"claimRef": {"namespace": "dev", "name": "data"},
                          "csi": {"driver": "d", "volumeHandle": "h",
                                  "nodeStageSecretRef": {"name": "creds", "namespace": "prod"}}}})
    indexes.add({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                 "metadata": {"name": "reader", "namespace": "prod"},
                 "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]})
    mounting = pod("dev")
    mounting["spec"]["volumes"] = [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]
    response = answer(service, review(mounting), "pods")
    assert response["status"]["message"].startswith("[volume-secret-cross-tier] Pod dev/web (tier dev) mounts "
                                                    "PersistentVolume pv")
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "b", "namespace": "prod"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
               "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "dev"}]}
    response = answer(service, review(binding), "rolebindings")
    assert response["status"]["message"].startswith("[rbac-cross-tier-subject] RoleBinding prod/b")
    assert answer(service, review({**binding, "roleRef": {**binding["roleRef"], "name": "unknown"}}),
                  "rolebindings")["allowed"] is True


def test_a_namespace_indexed_without_its_tier_is_not_ready_not_untiered(
        service: AdmissionService, indexes: FakeIndexes, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API server only sends namespaces carrying the tier label: an index showing one without it (the label
    was just added) is behind, so the review is refused as not ready instead of admitted as untiered."""
    from tierguard.webhook import admission  # noqa: PLC0415

    monkeypatch.setattr(admission, "NAMESPACE_WAIT_SECONDS", 0.1)
    indexes.add_namespace("late")  # indexed, no tier label yet
    mirror = secret("late", "db", "a-value-long-enough-to-compare",
                    **{"reflector.v1.k8s.emberstack.com/reflects": "prod/db"})
    response = asyncio.run(service(review(mirror), webhook="secrets"))["response"]
    assert response["allowed"] is False and response["status"]["code"] == 503
    assert "without the tier label tierguard.io/tier" in response["status"]["message"]
    indexes.add_namespace("late", "dev")  # the watch catches up: judged in its tier
    response = asyncio.run(service(review(mirror), webhook="secrets"))["response"]
    assert response["allowed"] is False and response["status"]["message"].startswith(
        "[secret-replication-cross-tier]")
