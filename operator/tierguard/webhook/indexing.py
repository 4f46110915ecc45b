"""The watches that feed the live context, and what reacts to them: readiness and the TierPolicy.

Each index is a descriptor of ``indexes.py`` (id, watched kind, projection) with one ``Informer`` (tierguard's
own list and watch, ``informer.py``) filling its ``LiveIndex``. When every informer has its first listing the
replica builds its ``LiveContext``, loads the TierPolicy from the index, settles the heap and becomes ready.

kopf runs the operator around them (``login``, start-up settings, signals); it watches nothing itself: its
indexing machinery makes the initial listing quadratic in the number of objects (``informer.py``), and one of
its watchers took the process down when a watched CRD was deleted (the audit's marks use watch-only informers,
``background_audit/marks.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import kopf

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.errors import PolicyError
from tierguard.kube.transport import Transport
from tierguard.policy import load_stored_policy, stored_document
from tierguard.webhook.indexes import INDEXES, POLICIES, policy_key
from tierguard.webhook.informer import Change, Informer, Informers, Observer
from tierguard.webhook.live_context import LiveContext
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.settings import WatchSettings
from tierguard.webhook.state import RuntimeState, settle_heap

logger = logging.getLogger("tierguard.indexing")


def apply_policy(state: RuntimeState, metrics: Metrics, body: Mapping[str, Any] | None) -> None:
    """Switch to the TierPolicy in ``body`` (None: it does not exist, so the defaults apply).

    An invalid policy is not applied: the last valid one stays in force (or, before any, the replica stays not
    ready), the reason is kept for /readyz and logs, and the reload is counted as invalid.
    """
    state.policy_judged = stored_document(body) if body is not None else None
    if body is None:
        state.use_policy(None)
        metrics.policy_reloads.labels("success").inc()
        logger.info("no TierPolicy %r: enforcing the defaults", state.policy_name)
        return
    try:
        policy = load_stored_policy(body)
    except PolicyError as error:
        state.policy_error = f"TierPolicy {state.policy_name} is invalid: {error}"
        metrics.policy_reloads.labels("invalid").inc()
        logger.error("policy rejected, keeping the last valid one", extra={"detail": state.policy_error})
        return
    state.use_policy(policy)
    metrics.policy_reloads.labels("success").inc()
    logger.info("policy loaded", extra={"policy": state.policy_name})


def stored_policy(informers: Informers, name: str) -> Mapping[str, Any] | None:
    values = informers.indexes[POLICIES].get(policy_key(name))
    stored: Mapping[str, Any] | None = next(iter(values), None) if values else None
    return stored


def policy_observer(state: RuntimeState, metrics: Metrics, informers: Callable[[], Informers],
                    policy_changed: Callable[[], None] | None = None) -> Observer:
    """Reload the TierPolicy when its object changes (or the policy index was listed again)."""
    def observe(change: Change) -> None:
        if change.spec.id != POLICIES:
            return
        if change.relisted:
            if not state.indexes_synced:
                return  # the first sync loads it
            apply_policy(state, metrics, stored_policy(informers(), state.policy_name))
        elif str((change.body.get("metadata") or {}).get("name")) == state.policy_name:  # type: ignore[union-attr]
            body = None if change.entries is None else change.entries.get(policy_key(state.policy_name))
            if body is not None and state.policy_judged is not None and stored_document(body) == state.policy_judged:
                return  # its status or metadata changed (tierguard's own status writes): nothing to reload
            apply_policy(state, metrics, body)
        else:
            return
        if policy_changed is not None:
            policy_changed()

    return observe


def fan_out(observers: Sequence[Observer]) -> Observer:
    def observe(change: Change) -> None:
        for observer in observers:
            observer(change)

    return observe


def build_informers(transport: Transport, fingerprinter: Callable[[], Fingerprinter], observe: Observer,
                    settings: WatchSettings) -> Informers:
    return Informers([Informer(spec, transport, fingerprinter, observe, settings) for spec in INDEXES], settings)


async def sync_when_listed(state: RuntimeState, metrics: Metrics, informers: Informers,
                           fingerprinter: Callable[[], Fingerprinter]) -> None:
    """Once every index has its first listing: the live context, the TierPolicy, then readiness."""
    await informers.wait_listed()
    state.context = LiveContext(fingerprinter(), informers.indexes)
    if state.policy is None:
        apply_policy(state, metrics, stored_policy(informers, state.policy_name))
    settle_heap()  # before readiness: its one full collection pauses no admission request
    state.watch_problem = informers.not_ready_reason
    state.indexes_synced = True
    logger.info("indexes synced", extra={"indexes": state.context.sizes(), "rss_mb": resident_mb()})


def resident_mb() -> float | None:
    """This process's resident memory (Linux), logged when the indexes are synced: what to size a limit on."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def build_registry() -> kopf.OperatorRegistry:
    """kopf's handlers of ``tierguard run``: credentials only (every watch is an informer's)."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:
        return kopf.login_via_client(**kwargs)

    return registry
