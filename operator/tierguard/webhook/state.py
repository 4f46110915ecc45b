"""Runtime state of one webhook replica: the policy in force, the live context, and readiness.

Readiness fails closed: admission is answered only when every index has its initial listing and its watch was
confirmed within the staleness bound, a valid policy is loaded and the API server has answered recently. Until
then every request is denied as "not ready".
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tierguard.policy import DEFAULT_POLICY, TierPolicy
from tierguard.webhook.live_context import LiveContext
from tierguard.webhook.settings import RunSettings


@dataclass
class RuntimeState:
    own_namespace: str
    policy_name: str = RunSettings.policy_name
    policy: TierPolicy | None = None
    policy_error: str | None = None
    """Why the named TierPolicy was refused, while an older valid one (or none) stays in force."""
    policy_judged: dict[str, Any] | None = None
    """The stored document of the named TierPolicy last judged (loaded or refused), None before any or once it
    is deleted: a watch event that changes nothing of it (tierguard's own status writes) reloads nothing."""
    context: LiveContext | None = None
    indexes_synced: bool = False
    watch_problem: Callable[[], str | None] | None = None
    """Why the indexes cannot be vouched for now (a watch unconfirmed for longer than the bound), or None."""
    api_failures: int = 0
    api_failure_threshold: int = 3
    started_at: float = field(default_factory=time.monotonic)
    draining: bool = False
    """The pod is terminating (its preStop hook called /drain): readiness fails so the Service stops routing
    here, reviews are still answered, each with ``Connection: close`` so clients open new connections to another
    replica instead of reusing this one's until it stops. Not a reason to deny: admission is unaffected."""

    fleet_problem: Callable[[], str | None] | None = None
    """Why the other clusters' sets cannot be vouched for (older than the fleet's max age), or None."""

    def not_ready_reason(self) -> str | None:
        local = self.local_not_ready_reason()
        if local is not None or self.fleet_problem is None:
            return local
        return self.fleet_problem()

    def local_not_ready_reason(self) -> str | None:
        """What this cluster's own side lacks (the fleet's sets aside: reading them needs none of it but the
        indexes)."""
        if not self.indexes_synced or self.context is None:
            return "the initial listing of the cluster's namespaces, secrets and roles is not complete"
        stale = self.watch_problem() if self.watch_problem is not None else None
        if stale is not None:
            return stale
        if self.policy is None:
            return f"no valid TierPolicy is loaded ({self.policy_error or 'not loaded yet'})"
        if self.api_failures >= self.api_failure_threshold:
            return f"the API server has not answered the last {self.api_failures} health checks (watches stale)"
        return None

    @property
    def ready(self) -> bool:
        return self.not_ready_reason() is None

    def use_policy(self, policy: TierPolicy | None) -> None:
        """Switch to ``policy``; None means no TierPolicy object exists, so SPEC's defaults apply."""
        self.policy = policy if policy is not None else DEFAULT_POLICY
        self.policy_error = None


COLLECTOR_PAUSE_LIMIT_S = 300.0
"""The cyclic collector is back on after this long even if the first listing has not finished (an API server
that keeps failing the list): the pause must not outlive the start-up it is for."""


def pause_collector(loop: asyncio.AbstractEventLoop) -> None:
    """Turn the cyclic garbage collector off for the first listing, until ``settle_heap``.

    The listing builds the indexes and keeps every object it makes, so each collection only walks a growing
    heap and finds nothing: at 100k Secrets the collections were 4.4 of the 7.6 CPU seconds of projecting and
    indexing them (bench/README.md). The listing itself makes no cycles; what the rest of the process makes
    in those seconds waits for ``settle_heap``'s collection. Reference counting frees everything else as before.
    """
    gc.disable()
    loop.call_later(COLLECTOR_PAUSE_LIMIT_S, gc.enable)


def settle_heap() -> None:
    """Collect once, then move every object alive now (the initial listing: at 10k Secrets some 300k index
    objects) out of the cyclic garbage collector's reach, and turn the collector back on (``pause_collector``).

    A full collection walks every tracked object: at 10k Secrets a pause of ~70 ms (bench/README.md) that
    lands on every admission request in flight; index churn is what triggers one. Frozen objects are still
    freed by reference counting when the watch replaces or deletes them; only cycles among them would stay
    (the index holds plain views, which form none). Called once, when the indexes are first synced.
    """
    gc.collect()
    gc.freeze()
    gc.enable()
