"""The value oracle is bounded (issue 27, item 1): a user gets a limited number of "another tier holds this value"
answers per window; beyond it every Secret write of theirs with values is refused alike (a refusal no longer
tells a match from a miss), other users are unaffected, and each answer and cut-off is recorded for the platform
with the full reference, never a value."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from tests.webhook.helpers import FakeIndexes, review
from tests.webhook.test_admission import SHARED, answer, secret
from tierguard.policy import load_policy
from tierguard.webhook.admission import AdmissionService
from tierguard.webhook.events import event
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.state import RuntimeState
from tierguard.webhook.value_oracle import LIMITED_MESSAGE, AnswerBudget, Record


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def as_user(body: dict[str, Any], user: str) -> dict[str, Any]:
    body["request"]["userInfo"]["username"] = user
    return body


def test_a_budget_is_spent_per_user_and_refills_after_the_window() -> None:
    clock = Clock()
    budget = AnswerBudget(2, 60.0, clock=clock)
    assert budget.spend("mallory") == 1 and not budget.exhausted("mallory")
    clock.now += 30
    assert budget.spend("mallory") == 2 and budget.exhausted("mallory")
    assert not budget.exhausted("alice")
    clock.now += 31  # the first answer is out of the window
    assert not budget.exhausted("mallory")
    clock.now += 30
    assert not budget.exhausted("mallory") and budget.spend("mallory") == 1


def test_guesses_beyond_the_limit_are_refused_alike_and_recorded(state: RuntimeState, metrics: Metrics,
                                                                  indexes: FakeIndexes) -> None:
    records: list[Record] = []
    service = AdmissionService(state, metrics, AnswerBudget(2, 3600.0), records.append)
    indexes.add_secret(secret("prod", "db", SHARED))
    for guess in ("guess-1", "guess-2"):
        refused = answer(service, as_user(review(secret("dev", guess, SHARED)), "mallory"), "secrets")
        assert refused["status"]["message"].startswith("[secret-value-shared] ")
    # Beyond the limit: a write that matches nothing is refused exactly like one that would match.
    miss = answer(service, as_user(review(secret("dev", "guess-3", "no-match-value-0123456789")), "mallory"),
                  "secrets")
    hit = answer(service, as_user(review(secret("dev", "guess-4", SHARED)), "mallory"), "secrets")
    assert miss["allowed"] is False and hit["allowed"] is False
    assert miss["status"]["message"] == hit["status"]["message"] == LIMITED_MESSAGE
    assert "prod" not in LIMITED_MESSAGE and "tier" not in LIMITED_MESSAGE.removeprefix("tierguard: ")
    # Another user is not affected.
    other = answer(service, as_user(review(secret("dev", "app", "no-match-value-0123456789")), "alice"), "secrets")
    assert other["allowed"] is True

    found = [r for r in records if r.reason == "SharedValueFound"]
    limited = [r for r in records if r.reason == "SharedValueLimited"]
    assert len(found) == 2 and len(limited) == 2
    assert all(r.user == "mallory" and "Secret prod/db" in r.message for r in found)  # the platform's full view
    assert [r.obj.split()[-1] for r in limited] == ["dev/guess-3", "dev/guess-4"], [r.obj for r in limited]
    assert not any(SHARED in json.dumps(event(r, "tierguard-system", "tierguard-0", _epoch())) for r in records)
    assert metrics.shared_value_answers._value.get() == 2  # type: ignore[attr-defined]
    assert metrics.shared_value_limited._value.get() == 2  # type: ignore[attr-defined]


def test_the_event_names_user_and_object_in_tierguards_namespace() -> None:
    record = Record("SharedValueFound", "mallory", "dev/guess-1", "mallory (1 within the window): ...")
    body = event(record, "tierguard-system", "tierguard-abc", _epoch())
    assert body["metadata"]["namespace"] == body["involvedObject"]["namespace"] == "tierguard-system"
    assert body["involvedObject"] == {"apiVersion": "v1", "kind": "Pod", "namespace": "tierguard-system",
                                      "name": "tierguard-abc"}
    assert body["reason"] == "SharedValueFound" and body["type"] == "Warning"
    assert body["metadata"]["annotations"] == {"tierguard.io/user": "mallory", "tierguard.io/object": "dev/guess-1"}
    long = event(Record("SharedValueFound", "u", "o", "x" * 5000), "ns", "pod", _epoch())
    assert len(long["message"]) == 1024


def _epoch() -> dt.datetime:
    return dt.datetime(2026, 12, 7, tzinfo=dt.UTC)


def test_exempt_groups_are_recorded_but_never_cut_off(state: RuntimeState, metrics: Metrics,
                                                     indexes: FakeIndexes) -> None:
    records: list[Record] = []
    service = AdmissionService(state, metrics, AnswerBudget(1, 3600.0, ("system:masters",)), records.append)
    indexes.add_secret(secret("prod", "db", SHARED))
    for guess in range(3):
        body = as_user(review(secret("dev", f"guess-{guess}", SHARED), groups=("system:masters",)), "admin")
        assert answer(service, body, "secrets")["status"]["message"].startswith("[secret-value-shared] ")
    assert answer(service, as_user(review(secret("dev", "app", "no-match-value-0123456789"),
                                          groups=("system:masters",)), "admin"), "secrets")["allowed"] is True
    assert [r.reason for r in records] == ["SharedValueFound"] * 3


def test_dry_run_guesses_spend_the_budget_like_writes(state: RuntimeState, metrics: Metrics,
                                                      indexes: FakeIndexes) -> None:
    """`kubectl apply --dry-run=server` gets the same decision as a write (README), so it is the same oracle: each
    answer is counted and recorded, and beyond the limit a dry run is refused alike, match or miss."""
    records: list[Record] = []
    service = AdmissionService(state, metrics, AnswerBudget(2, 3600.0), records.append)
    indexes.add_secret(secret("prod", "db", SHARED))
    for guess in ("guess-1", "guess-2"):
        answered = answer(service, as_user(review(secret("dev", guess, SHARED), dry_run=True), "mallory"), "secrets")
        assert answered["status"]["message"].startswith("[secret-value-shared] ")
    miss = answer(service, as_user(review(secret("dev", "guess-3", "no-match-value-0123456789"), dry_run=True),
                                   "mallory"), "secrets")
    assert miss["allowed"] is False and miss["status"]["message"] == LIMITED_MESSAGE
    assert [r.reason for r in records] == ["SharedValueFound", "SharedValueFound", "SharedValueLimited"]


def test_a_warned_shared_value_names_the_other_tier_only(state: RuntimeState, metrics: Metrics,
                                                         indexes: FakeIndexes) -> None:
    """In warn mode the answer is a kubectl warning: it names the other tier, never its Secret, and it is counted
    against the budget like a refusal."""
    state.use_policy(load_policy({"spec": {"enforcement": {"perTier": {"dev": "warn"}}}}))
    records: list[Record] = []
    budget = AnswerBudget(1, 3600.0)
    service = AdmissionService(state, metrics, budget, records.append)
    indexes.add_secret(secret("prod", "db", SHARED))
    warned = answer(service, as_user(review(secret("dev", "guess-1", SHARED)), "mallory"), "secrets")
    assert warned["allowed"] is True
    (warning,) = warned["warnings"]
    assert warning.startswith("[secret-value-shared] ") and "prod/db" not in warning and SHARED not in warning
    assert budget.exhausted("mallory") and [r.reason for r in records] == ["SharedValueFound"]
    assert answer(service, as_user(review(secret("dev", "guess-2", SHARED)), "mallory"),
                  "secrets")["status"]["message"] == LIMITED_MESSAGE
