"""Every TierPolicy's ``status`` (issue 27): is it in force, is it valid, its first error, the generation judged.

Only the TierPolicy named by ``--policy-name`` (the chart's ``default``) is in force; any other one is stored and
ignored, which nothing said before. Now each gets two conditions in the metav1.Condition shape, shown by
``kubectl get tierpolicy``:

- ``Valid``: True (reason ``Valid``) when the policy loads, else False (reason ``Invalid``, the first error).
- ``InForce``: True (reason ``Enforced``) for the named one when valid; False with reason ``Invalid`` for the named
  one when refused (replicas that loaded an older generation keep it; ``appliedGeneration`` names the last valid
  one), or ``NotSelected`` for every other name (the message names the one in force).

The status is a function of the object (its spec, generation and last status) and the name in force, not of
a replica's memory, so every replica computes the same one and writes it only when it differs: like the
ValidatingAdmissionPolicies (``vap_sync.py``), no leader is needed, and two replicas that briefly disagree (a
rolling upgrade) write at most once a ``RETRY_S`` each. A condition's ``lastTransitionTime`` moves only when its
status does, so an unchanged policy is never rewritten.

A replica that stays not ready because the named TierPolicy is invalid (no valid one was loaded since it
started) also records a Warning Event ``InvalidPolicy`` once per generation (``events.py``): the reason was
only in its log before.

``desired_status`` and ``status_patch`` are pure; ``PolicyStatusSync`` reads the index and writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tierguard.errors import PolicyError
from tierguard.kube.rest import describe
from tierguard.kube.status import StatusApi, StatusGone
from tierguard.policy import load_stored_policy
from tierguard.webhook.indexes import POLICIES
from tierguard.webhook.informer import Change
from tierguard.webhook.state import RuntimeState
from tierguard.webhook.value_oracle import Record

logger = logging.getLogger("tierguard.policy_status")

API_VERSION = "tierguard.io/v1alpha1"
COLLECTION = f"/apis/{API_VERSION}/tierpolicies"
IN_FORCE, VALID = "InForce", "Valid"
OWNED = ("observedGeneration", "appliedGeneration", "conditions")
"""The status fields tierguard writes; anything else someone put there is left alone."""
MESSAGE_LIMIT = 1024
RESYNC_S = 60.0
"""Every TierPolicy is compared again this often: a write that failed (or was overwritten) is repaired."""
RETRY_S = 60.0
"""The same status is written to the same object at most once this often by one replica."""
SELECTED_BY = "tierguard run --policy-name"


# --- the pure part -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Judged:
    """One stored TierPolicy (an index value of ``indexes.project_policy``) and what loading it gave."""

    name: str
    generation: int | None
    error: str | None
    """The first error (``PolicyError``'s field and problem); None when it loads."""
    status: Mapping[str, Any]
    """Its status as last read."""


def judge(document: Mapping[str, Any]) -> Judged:
    metadata = document.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    generation = metadata.get("generation")
    try:
        load_stored_policy(document)
        error = None
    except PolicyError as problem:
        error = str(problem)
    status = document.get("status")
    return Judged(str(metadata.get("name") or ""), generation if isinstance(generation, int) else None, error,
                  status if isinstance(status, Mapping) else {})


def _in_force_condition(policy: Judged, in_force_name: str, in_force: Judged | None,
                        applied: int | None) -> tuple[bool, str, str]:
    generation = f"generation {policy.generation}" if policy.generation is not None else "this generation"
    if policy.name != in_force_name:
        if in_force is None:
            state = "it does not exist, so the built-in defaults are in force"
        elif in_force.error is not None:
            state = "it is invalid (see its status)"
        else:
            state = "it is valid and in force"
        return False, "NotSelected", (f"not used: tierguard enforces only the TierPolicy named {in_force_name} "
                                      f"({SELECTED_BY}); {state}")
    if policy.error is None:
        return True, "Enforced", f"{generation} is enforced"
    kept = f" (generation {applied}, the last valid one)" if applied is not None else ""
    return False, "Invalid", (f"{generation} is refused: {policy.error}. Replicas keep the policy they loaded "
                              f"before{kept}; replicas started since stay not ready until it is fixed")


def _condition(kind: str, verdict: tuple[bool, str, str], policy: Judged, now: str) -> dict[str, Any]:
    """A metav1.Condition of ``policy``: ``verdict`` is (status, reason, message); its transition time is the
    last status's while the status stays the same."""
    true, reason, message = verdict
    status = "True" if true else "False"
    old = next((c for c in policy.status.get("conditions") or ()
                if isinstance(c, Mapping) and c.get("type") == kind), None)
    since = old.get("lastTransitionTime") if old is not None and old.get("status") == status else None
    condition: dict[str, Any] = {"type": kind, "status": status,
                                 "lastTransitionTime": since if isinstance(since, str) and since else now,
                                 "reason": reason, "message": message[:MESSAGE_LIMIT]}
    if policy.generation is not None:
        condition["observedGeneration"] = policy.generation
    return condition


def desired_status(policy: Judged, in_force_name: str, in_force: Judged | None, now: str) -> dict[str, Any]:
    """The status ``policy`` should have while ``in_force_name`` is the name enforced and ``in_force`` the object
    of that name (None: none exists). ``now``: RFC 3339, used for a condition whose status changes."""
    applied: int | None = None
    if policy.name == in_force_name:
        previous = policy.status.get("appliedGeneration")
        applied = policy.generation if policy.error is None else previous if isinstance(previous, int) else None
    valid = policy.error is None
    status: dict[str, Any] = {"conditions": [
        _condition(IN_FORCE, _in_force_condition(policy, in_force_name, in_force, applied), policy, now),
        _condition(VALID, (valid, "Valid" if valid else "Invalid", "the policy loads" if valid else str(policy.error)),
                   policy, now)]}
    if policy.generation is not None:
        status["observedGeneration"] = policy.generation
    if applied is not None:
        status["appliedGeneration"] = applied
    return status


def owned(status: Mapping[str, Any]) -> dict[str, Any]:
    return {key: status[key] for key in OWNED if key in status}


def status_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch that turns ``current`` into ``desired`` (an owned field to drop is sent as null), or None
    when there is nothing to write."""
    if owned(current) == owned(desired):
        return None
    patch: dict[str, Any] = owned(desired)
    for key in OWNED:
        if key in current and key not in desired:
            patch[key] = None
    return patch


def _without_times(status: Mapping[str, Any]) -> str:
    """What makes two computed statuses the same write (only a transition time differs)."""
    conditions = [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or ()]
    return repr(sorted({**status, "conditions": conditions}.items()))


def rfc3339(now: dt.datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the I/O ---------------------------------------------------------------------------------------------------

class PolicyStatusSync:
    """Keeps every TierPolicy's status in step with the index (``observe`` wakes it on each TierPolicy event) and
    records the ``InvalidPolicy`` Event. ``documents`` gives the indexed TierPolicies (``project_policy``)."""

    def __init__(self, state: RuntimeState, documents: Callable[[], Iterable[Mapping[str, Any]]], api: StatusApi,
                 record: Callable[[Record], None] | None, replica: str, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.state, self.documents, self.api, self.record, self.replica = state, documents, api, record, replica
        self._monotonic, self._wall = monotonic, wall
        self._wake = asyncio.Event()
        self._written: dict[str, tuple[str, float]] = {}
        """name -> the status last written (without transition times) and when."""
        self._recorded: tuple[str, int | None] | None = None
        """The (name, generation) last recorded as an InvalidPolicy Event by this replica."""
        self._missing_subresource_logged = False

    def observe(self, change: Change) -> None:
        """An informer observer: any TierPolicy event (or relisting) may change some status."""
        if change.spec.id == POLICIES:
            self._wake.set()

    def plan(self) -> list[tuple[str, dict[str, Any], str]]:
        """On the event loop (the index changes only there): ``(name, patch, key)`` of each status to write."""
        judged = [judge(document) for document in self.documents()]
        name = self.state.policy_name
        in_force = next((policy for policy in judged if policy.name == name), None)
        now = rfc3339(self._wall())
        writes = []
        for policy in judged:
            desired = desired_status(policy, name, in_force, now)
            patch = status_patch(policy.status, desired)
            if patch is None:
                self._written.pop(policy.name, None)
                continue
            key = _without_times(desired)
            last = self._written.get(policy.name)
            if last is not None and last[0] == key and self._monotonic() - last[1] < RETRY_S:
                continue  # written just now; another replica disagrees, or the watch has not shown it yet
            writes.append((policy.name, patch, key))
        self._record_refusal(in_force)
        return writes

    def write(self, writes: list[tuple[str, dict[str, Any], str]]) -> None:
        """In a thread: one merge patch each; a failure is logged and retried at the next resync."""
        for name, patch, key in writes:
            self._written[name] = (key, self._monotonic())
            try:
                self.api.patch_status(name, patch)
            except StatusGone:
                # Deleted meanwhile (its deletion event follows), or a CRD from before status existed.
                if not self._missing_subresource_logged:
                    self._missing_subresource_logged = True
                    logger.warning("cannot write a TierPolicy status (404): deleted meanwhile, or the CRD predates "
                                   "status; apply charts/tierguard/crds/ (Helm never upgrades CRDs)",
                                   extra={"policy": name})
            except Exception as error:
                logger.warning("cannot write a TierPolicy status", extra={"policy": name,
                                                                          "error": describe(error, 10.0)})
            else:
                logger.info("TierPolicy status written", extra={"policy": name, "status": {
                    c["type"]: f"{c['status']} ({c['reason']})" for c in patch.get("conditions") or ()}})

    def _record_refusal(self, in_force: Judged | None) -> None:
        """One Event per generation while this replica is not ready because the named TierPolicy is invalid."""
        if self.state.policy is not None or in_force is None or in_force.error is None:
            return
        seen = (in_force.name, in_force.generation)
        if self._recorded == seen or self.record is None:
            return
        self._recorded = seen
        generation = f" generation {in_force.generation}" if in_force.generation is not None else ""
        try:
            self.record(Record("InvalidPolicy", "", f"TierPolicy/{in_force.name}",
                               f"replica {self.replica} stays not ready: TierPolicy {in_force.name}{generation} "
                               f"is invalid: {in_force.error}", related=(API_VERSION, "TierPolicy", in_force.name)))
        except Exception as error:  # a record lost changes nothing else
            logger.warning("cannot record the invalid TierPolicy", extra={"error": type(error).__name__})

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                # Polled until the first listing is complete: no event may come once it is.
                await asyncio.wait_for(self._wake.wait(), RESYNC_S if self.state.indexes_synced else 1.0)
            self._wake.clear()
            if not self.state.indexes_synced:
                continue  # the first listing is not complete: a status now could name a policy as missing
            writes = self.plan()
            if writes:
                await asyncio.to_thread(self.write, writes)
