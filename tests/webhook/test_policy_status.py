"""Every TierPolicy's status (issue 27, item 3): the pure status (in force or not, valid or not, the first error,
the generation), the writer that patches only what differs (kube/fake.py's FakeStatusApi), and the Event of a
replica that stays not ready because the policy in force is invalid."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.kube.fake import FakeStatusApi
from tierguard.kube.status import StatusGone
from tierguard.policy import DEFAULT_POLICY
from tierguard.webhook.events import event
from tierguard.webhook.indexes import INDEXES_BY_ID, POLICIES, project_policy
from tierguard.webhook.indexing import apply_policy, policy_observer
from tierguard.webhook.informer import Change
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.policy_status import (
    RETRY_S,
    PolicyStatusSync,
    desired_status,
    judge,
    status_patch,
)
from tierguard.webhook.state import RuntimeState
from tierguard.webhook.value_oracle import Record

FP = Fingerprinter(b"k" * 32)
T0, T1 = "2026-12-06T10:00:00Z", "2026-12-06T11:00:00Z"
INVALID_SPEC = {"tiers": ["dev", "dev"]}


def stored(name: str, generation: int, spec: dict[str, Any] | None = None,
           status: dict[str, Any] | None = None) -> dict[str, Any]:
    """A TierPolicy as the index keeps it (through the real projection)."""
    body: dict[str, Any] = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy",
                            "metadata": {"name": name, "generation": generation, "uid": "u"}, "spec": spec or {}}
    if status is not None:
        body["status"] = status
    (document,) = project_policy(body, FP).values()
    return document


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def message(status: dict[str, Any], kind: str = "InForce") -> str:
    return str(next(c["message"] for c in status["conditions"] if c["type"] == kind))


# --- the pure status -------------------------------------------------------------------------------------------

def test_the_named_valid_policy_is_in_force_at_its_generation() -> None:
    policy = judge(stored("default", 4))
    status = desired_status(policy, "default", policy, T0)
    assert conditions(status) == {"InForce": ("True", "Enforced"), "Valid": ("True", "Valid")}
    assert status["observedGeneration"] == 4 and status["appliedGeneration"] == 4
    assert all(c["observedGeneration"] == 4 and c["lastTransitionTime"] == T0 for c in status["conditions"])


def test_another_name_is_not_selected_and_names_the_one_in_force() -> None:
    default, example = judge(stored("default", 1)), judge(stored("example", 2))
    status = desired_status(example, "default", default, T0)
    assert conditions(status) == {"InForce": ("False", "NotSelected"), "Valid": ("True", "Valid")}
    assert "only the TierPolicy named default" in message(status) and "--policy-name" in message(status)
    assert "appliedGeneration" not in status and status["observedGeneration"] == 2
    # What is in force instead: the defaults when no object has the name, or a broken one.
    assert "built-in defaults are in force" in message(desired_status(example, "default", None, T0))
    broken = judge(stored("default", 1, INVALID_SPEC))
    assert "it is invalid" in message(desired_status(example, "default", broken, T0))
    # An invalid one of another name is both.
    status = desired_status(judge(stored("other", 1, INVALID_SPEC)), "default", default, T0)
    assert conditions(status) == {"InForce": ("False", "NotSelected"), "Valid": ("False", "Invalid")}


def test_an_invalid_named_policy_names_its_first_error_and_the_generation_kept() -> None:
    valid = desired_status(judge(stored("default", 2)), "default", None, T0)
    refused = judge(stored("default", 3, INVALID_SPEC, status=valid))
    status = desired_status(refused, "default", refused, T1)
    assert conditions(status) == {"InForce": ("False", "Invalid"), "Valid": ("False", "Invalid")}
    assert "spec.tiers[1]" in message(status, "Valid")
    assert message(status).startswith("generation 3 is refused: spec.tiers[1]")
    assert "(generation 2, the last valid one)" in message(status) and "stay not ready" in message(status)
    assert status["observedGeneration"] == 3 and status["appliedGeneration"] == 2
    # Invalid from the start: no generation was ever applied.
    first = desired_status(judge(stored("default", 1, INVALID_SPEC)), "default", None, T0)
    assert "appliedGeneration" not in first and "last valid" not in message(first)


def test_transition_times_move_only_when_a_condition_changes() -> None:
    policy = judge(stored("default", 1))
    first = desired_status(policy, "default", policy, T0)
    again = judge(stored("default", 1, status=first))
    assert desired_status(again, "default", again, T1) == first  # nothing changed: nothing to write
    assert status_patch(first, desired_status(again, "default", again, T1)) is None
    broken = judge(stored("default", 2, INVALID_SPEC, status=first))
    changed = desired_status(broken, "default", broken, T1)
    assert {c["lastTransitionTime"] for c in changed["conditions"]} == {T1}
    # Another generation, same verdict: the time stays.
    renamed = judge(stored("other", 5, status=desired_status(judge(stored("other", 4)), "default", None, T0)))
    assert {c["lastTransitionTime"] for c in desired_status(renamed, "default", None, T1)["conditions"]} == {T0}


def test_the_patch_drops_owned_fields_no_longer_wanted_and_keeps_others() -> None:
    current = {"observedGeneration": 1, "appliedGeneration": 1, "conditions": [], "someoneElses": True}
    desired = {"observedGeneration": 2, "conditions": []}
    assert status_patch(current, desired) == {"observedGeneration": 2, "conditions": [], "appliedGeneration": None}
    assert status_patch({**desired, "someoneElses": 1}, desired) is None


# --- the writer ------------------------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def syncer(documents: list[dict[str, Any]], state: RuntimeState | None = None,
           records: list[Record] | None = None) -> tuple[PolicyStatusSync, FakeStatusApi, Clock]:
    api, clock = FakeStatusApi(), Clock()
    runtime = state or ready_state()
    sync = PolicyStatusSync(runtime, lambda: documents, api, records.append if records is not None else None,
                            "tierguard-0", monotonic=clock, wall=lambda: dt.datetime(2026, 12, 6, 10, tzinfo=dt.UTC))
    return sync, api, clock


def ready_state() -> RuntimeState:
    state = RuntimeState(own_namespace="tierguard-system", indexes_synced=True)
    state.use_policy(DEFAULT_POLICY)
    return state


def test_the_writer_patches_each_policy_once_and_then_only_changes() -> None:
    documents = [stored("default", 1), stored("example", 1)]
    sync, api, clock = syncer(documents)
    sync.write(sync.plan())
    assert [name for name, _ in api.patches] == ["default", "example"]
    assert conditions(api.patches[0][1])["InForce"] == ("True", "Enforced")
    assert conditions(api.patches[1][1])["InForce"] == ("False", "NotSelected")
    # The watch shows the statuses written: nothing more to write, however often it looks.
    documents[:] = [stored(name, 1, status=status) for name, status in api.patches]
    clock.now += 3600
    assert sync.plan() == []
    # The in-force one becomes invalid: it, and the one that names it, change.
    documents[0] = stored("default", 2, INVALID_SPEC, status=api.patches[0][1])
    sync.write(sync.plan())
    assert [name for name, _ in api.patches[2:]] == ["default", "example"]
    assert conditions(api.patches[2][1])["InForce"] == ("False", "Invalid")
    assert "it is invalid" in message(api.patches[3][1])


def test_a_status_another_replica_overwrites_is_written_again_only_after_a_while() -> None:
    documents = [stored("default", 1)]
    sync, _, clock = syncer(documents)
    sync.write(sync.plan())
    # Another replica (another version) keeps writing its own view: no write loop between the two.
    documents[0] = stored("default", 1, status={"observedGeneration": 1, "conditions": []})
    assert sync.plan() == []
    clock.now += RETRY_S + 1
    assert [name for name, _, _ in sync.plan()] == ["default"]


def test_a_failed_write_is_logged_and_retried_later(caplog: Any) -> None:
    sync, api, clock = syncer([stored("default", 1)])
    api.fail = StatusGone("default")
    sync.write(sync.plan())
    assert "Helm never upgrades CRDs" in caplog.text
    api.fail = None
    clock.now += RETRY_S + 1
    sync.write(sync.plan())
    assert [name for name, _ in api.patches] == ["default"]


def test_a_replica_kept_unready_by_an_invalid_policy_records_one_event_per_generation() -> None:
    state = RuntimeState(own_namespace="tierguard-system", indexes_synced=True)
    metrics, records = Metrics(), []
    documents = [stored("default", 3, INVALID_SPEC)]
    apply_policy(state, metrics, documents[0])
    assert state.policy is None and not state.ready  # refused, and none loaded before
    sync, _, _ = syncer(documents, state, records)
    sync.plan()
    sync.plan()
    (record,) = records
    assert record.reason == "InvalidPolicy" and record.related == ("tierguard.io/v1alpha1", "TierPolicy", "default")
    assert "replica tierguard-0 stays not ready: TierPolicy default generation 3 is invalid: spec.tiers[1]" \
        in record.message
    body = event(record, "tierguard-system", "tierguard-0", dt.datetime(2026, 12, 6, tzinfo=dt.UTC))
    assert body["metadata"]["namespace"] == "tierguard-system"  # where the chart's Role lets it create Events
    assert body["involvedObject"]["kind"] == "Pod" and body["related"]["kind"] == "TierPolicy"
    assert "tierguard.io/user" not in body["metadata"]["annotations"]
    documents[0] = stored("default", 4, {"tiers": ["a", "a"]})
    sync.plan()
    assert len(records) == 2  # a new generation, still invalid
    # A replica that keeps an older valid policy is ready: it records nothing.
    ready_records: list[Record] = []
    ready, _, _ = syncer(documents, ready_state(), ready_records)
    ready.plan()
    assert ready_records == []


def test_the_writer_waits_for_the_first_listing_and_wakes_on_policy_events() -> None:
    state = RuntimeState(own_namespace="tierguard-system")
    sync, api, _ = syncer([stored("default", 1)], state)
    policies = INDEXES_BY_ID[POLICIES]

    async def scenario() -> None:
        task = asyncio.create_task(sync.run())
        await asyncio.sleep(0.05)
        sync.observe(Change(policies, {"metadata": {"name": "default"}}, {}))
        await asyncio.sleep(0.05)
        assert api.patches == []  # not synced: a status now could call the policy in force missing
        state.indexes_synced = True
        state.use_policy(DEFAULT_POLICY)
        for _ in range(100):
            if api.patches:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert [name for name, _ in api.patches] == ["default"]


def test_a_status_write_does_not_reload_the_policy() -> None:
    """tierguard's own status writes come back as watch events: they must not reload (and re-audit) each time."""
    state, metrics, reloads = RuntimeState(own_namespace="tierguard-system", indexes_synced=True), Metrics(), []
    observe = policy_observer(state, metrics, lambda: None, lambda: reloads.append(True))  # type: ignore[arg-type]
    policies = INDEXES_BY_ID[POLICIES]
    body = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy",
            "metadata": {"name": "default", "generation": 1}, "spec": {"enforcement": {"default": "warn"}}}
    observe(Change(policies, body, project_policy(body, FP)))
    with_status = {**body, "status": {"observedGeneration": 1}}
    observe(Change(policies, with_status, project_policy(with_status, FP)))
    assert reloads == [True]
    changed = {**with_status, "metadata": {"name": "default", "generation": 2}, "spec": {}}
    observe(Change(policies, changed, project_policy(changed, FP)))
    assert reloads == [True, True] and state.policy == DEFAULT_POLICY
