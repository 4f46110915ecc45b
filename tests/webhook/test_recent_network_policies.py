"""A default-deny-ingress NetworkPolicy this replica just let go (deleted, or changed to admit some) no longer
counts, until the watch removes it: ``kubectl delete networkpolicy --all`` sends one DELETE review per policy,
faster than the watch, and without this each of two default-denies sees the other still indexed and both go."""

from __future__ import annotations

from typing import Any

import pytest

from tierguard.policy import load_policy
from tierguard.webhook import live_context
from tierguard.webhook.admission import AdmissionService
from tierguard.webhook.state import RuntimeState

from .helpers import FakeIndexes, review

DENY = load_policy({"spec": {"namespaces": {"defaultDenyIngress": True}}})


def network_policy(name: str, *, deny: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": {}, "policyTypes": ["Ingress"]}
    if not deny:
        spec["ingress"] = [{}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": "prod"}, "spec": spec}


def answer(service: AdmissionService, operation: str, obj: dict[str, Any], old: dict[str, Any] | None = None,
           *, dry_run: bool = False) -> bool:
    body = review(obj, operation=operation, old=old if old is not None else (obj if operation == "DELETE" else None),
                  dry_run=dry_run)
    body["request"]["kind"] = {"group": "networking.k8s.io", "version": "v1", "kind": "NetworkPolicy"}
    body["request"]["resource"] = {"group": "networking.k8s.io", "version": "v1", "resource": "networkpolicies"}
    if operation == "DELETE":
        body["request"]["object"] = None
    return bool(service.answer(body, "networkpolicies")["response"]["allowed"])


@pytest.fixture
def two(indexes: FakeIndexes, state: RuntimeState) -> FakeIndexes:
    state.use_policy(DENY)
    indexes.add(network_policy("a"))
    indexes.add(network_policy("b"))
    return indexes


def test_deleting_both_default_denies_before_the_watch_catches_up_refuses_the_second(
        two: FakeIndexes, service: AdmissionService) -> None:
    assert answer(service, "DELETE", network_policy("a"))
    assert not answer(service, "DELETE", network_policy("b"))  # "a" is still indexed, but gone
    two.remove(network_policy("a"))  # the watch delivers the deletion: the same answer
    assert not answer(service, "DELETE", network_policy("b"))


def test_weakening_one_counts_as_letting_it_go(two: FakeIndexes, service: AdmissionService) -> None:
    assert answer(service, "UPDATE", network_policy("a", deny=False), network_policy("a"))
    assert not answer(service, "DELETE", network_policy("b"))


def test_a_dry_run_or_a_refusal_lets_nothing_go(two: FakeIndexes, service: AdmissionService) -> None:
    assert answer(service, "DELETE", network_policy("a"), dry_run=True)
    assert answer(service, "DELETE", network_policy("b"), dry_run=True)
    two.remove(network_policy("a"))
    assert not answer(service, "DELETE", network_policy("b"))  # refused: remembered as nothing
    two.add(network_policy("a"))
    assert answer(service, "DELETE", network_policy("b"))


def test_it_is_forgotten_after_the_recent_window(two: FakeIndexes, service: AdmissionService,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert answer(service, "DELETE", network_policy("a"))
    now = live_context.time.monotonic()
    monkeypatch.setattr(live_context.time, "monotonic", lambda: now + live_context.RECENT_SECONDS + 1)
    assert answer(service, "DELETE", network_policy("b"))  # "a" still indexed: the watch is what says it went
