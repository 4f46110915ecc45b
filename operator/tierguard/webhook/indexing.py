"""The kopf handlers of ``tierguard run``: the indexes that feed the live context, and the handlers that track
readiness and the TierPolicy.

Each index is a descriptor of ``indexes.py`` (id, watched kind, projection); its kopf handler only calls the
projection, a pure, unit-tested function. kopf runs non-index handlers only after every index has its initial
listing, so the first namespace event marks the replica as synced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import kopf

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.errors import PolicyError
from tierguard.kinds import KindInfo
from tierguard.policy import load_stored_policy
from tierguard.webhook.indexes import INDEX_NAMES, INDEXES, POLICIES, IndexSpec, policy_key
from tierguard.webhook.live_context import LiveContext
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.state import RuntimeState, settle_heap

logger = logging.getLogger("tierguard.indexing")


def watched(info: KindInfo) -> tuple[str, ...]:
    """kopf's resource arguments for a kind: ``(plural,)`` for the core group, ``(group, plural)`` otherwise
    (kopf then watches the version the API server prefers)."""
    return (info.resource,) if info.group == "" else (info.group, info.resource)


Observer = Callable[[IndexSpec, Any, Mapping[Any, Any]], None]
"""Told each body an index handler projected and its new entries, before kopf replaces the old ones (the
background audit compares them: ``webhook/audit_watch.py``)."""


def index_handler(spec: IndexSpec, fingerprinter: Callable[[], Fingerprinter],
                  observe: Observer | None = None) -> Callable[..., Any]:
    """The kopf index handler of a descriptor: the projection of the body (and the observer, if any)."""
    async def handler(body: Any, **_: Any) -> Any:
        entries = spec.project(body, fingerprinter())
        if observe is not None:
            observe(spec, body, entries)
        return entries

    return handler


def apply_policy(state: RuntimeState, metrics: Metrics, body: Mapping[str, Any] | None) -> None:
    """Switch to the TierPolicy in ``body`` (None: it does not exist, so the defaults apply).

    An invalid policy is not applied: the last valid one stays in force (or, before any, the replica stays not
    ready), the reason is kept for /readyz and logs, and the reload is counted as invalid.
    """
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


def build_registry(state: RuntimeState, metrics: Metrics, fingerprinter: Callable[[], Fingerprinter],
                   observe: Observer | None = None, policy_changed: Callable[[], None] | None = None
                   ) -> kopf.OperatorRegistry:
    """All kopf handlers of ``tierguard run``. ``fingerprinter`` is read after startup loaded the key;
    ``observe`` and ``policy_changed`` are the background audit's (None: it is off)."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:
        return kopf.login_via_client(**kwargs)

    for spec in INDEXES:
        kopf.index(*watched(spec.watches), id=spec.id, registry=registry)(
            index_handler(spec, fingerprinter, observe))

    @kopf.on.event("namespaces", id="tg-readiness", registry=registry)
    async def mark_synced(**kwargs: Any) -> None:
        if state.indexes_synced:
            return
        indexes = {name: kwargs[name] for name in INDEX_NAMES if name in kwargs}
        state.context = LiveContext(fingerprinter(), indexes)
        if state.policy is None:
            stored = next(iter(indexes[POLICIES].get(policy_key(state.policy_name)) or ()), None)
            apply_policy(state, metrics, stored)
        settle_heap()  # before readiness: its one full collection pauses no admission request
        state.indexes_synced = True
        logger.info("indexes synced", extra={"indexes": state.context.sizes()})

    @kopf.on.event("tierguard.io", "tierpolicies", id="tg-policy-reload", registry=registry)
    async def reload_policy(body: Any, name: str, type: str | None, **_: Any) -> None:
        if name != state.policy_name:
            return
        apply_policy(state, metrics, None if type == "DELETED" else dict(body))
        if policy_changed is not None:
            policy_changed()

    return registry
