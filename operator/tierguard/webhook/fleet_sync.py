"""``tierguard run``'s side of the fleet (docs/fleet.md): every replica reads the other members' sets from the
hub into its live context; the replica holding the audit Lease publishes this member's tiers. A hub that does not
answer leaves the last sets read in force and the local rules untouched; each failure is logged and retried."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from tierguard.engine.fingerprint_set import key_ids
from tierguard.engine.fleet_sets import published_digests
from tierguard.engine.rules.shared_values import publishable
from tierguard.engine.tiers import tier_from_labels
from tierguard.fleet.publication import API_PATH, MEMBER_LABEL
from tierguard.fleet.publisher import Publisher
from tierguard.fleet.reader import Reader
from tierguard.kube.hub import HubApi, KubernetesHub
from tierguard.kube.rest import describe
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.settings import FleetSettings
from tierguard.webhook.state import RuntimeState

logger = logging.getLogger("tierguard.fleet")


def hub_of(settings: FleetSettings) -> HubApi:
    from tierguard.kube.config import api_client  # noqa: PLC0415

    return KubernetesHub(api_client(settings.hub_kubeconfig or None), API_PATH, settings.hub_namespace, MEMBER_LABEL)


class FleetSync:
    def __init__(self, state: RuntimeState, settings: FleetSettings, hub: HubApi, leading: Callable[[], bool],
                 metrics: Metrics, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.state, self.settings, self.hub, self.leading, self.metrics = state, settings, hub, leading, metrics
        self._monotonic = monotonic
        self._started = monotonic()
        self._reader: Reader | None = None
        self._publisher: Publisher | None = None
        self.last_read: float | None = None
        """Our monotonic clock at the last successful read of the hub."""
        self._next_publish = 0.0

    def problem(self) -> str | None:
        """Why readiness fails: the sets last read (or, before any read, this loop's start) are older than the
        max age (FleetSettings.max_age_s); None when they are not, or without a max age."""
        if self.settings.max_age_s <= 0:
            return None
        age = self._monotonic() - (self.last_read if self.last_read is not None else self._started)
        if age <= self.settings.max_age_s:
            return None
        when = (f"were last read from the hub {age:.0f} s ago" if self.last_read is not None
                else f"have not been read from the hub in the {age:.0f} s since the start")
        return f"the fleet's sets {when}, more than the {self.settings.max_age_s:g} s allowed (fleet.maxSetAgeSeconds)"

    async def step(self) -> None:
        """One read, and a publication when this replica leads and one is due."""
        context, policy = self.state.context, self.state.policy
        # Its own readiness may wait on this very read (problem): only a replica whose own side is not ready yet
        # (its index half loaded, publishing it would withdraw values) skips the round.
        if self.state.local_not_ready_reason() is not None or context is None or policy is None:
            return
        if self._reader is None or self._publisher is None:
            self._reader = Reader(self.hub, key_ids(context.fingerprinter), self.settings.member)
            self._publisher = Publisher(self.hub, self.settings.member, namespace=self.settings.hub_namespace,
                                        heartbeat_s=self.settings.heartbeat_s)
        fleet = await asyncio.to_thread(self._reader.refresh)
        context.set_fleet(fleet)
        self.last_read = self._monotonic()
        self.metrics.fleet_last_read.set(time.time())
        self.metrics.fleet_tiers.set(len(fleet))
        if self.leading() and self._monotonic() >= self._next_publish:
            def tier_of(namespace: str) -> str | None:
                view = context.namespace(namespace)
                return tier_from_labels(view.labels, policy) if view is not None else None

            views = context.secret_views()  # on the loop, as the audit lists them: the index changes only here
            ours = self._reader.key_ids

            def sets() -> dict[str, dict[str, set[bytes]]]:
                return published_digests(publishable(views, tier_of, policy), ours)

            published = await asyncio.to_thread(sets)  # 100k values: not on the loop
            self.metrics.fleet_publications.inc(await asyncio.to_thread(self._publisher.publish, published))
            self._next_publish = self._monotonic() + self.settings.publish_interval_s

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the hub is another cluster: its failures never stop the webhook
                logger.warning("fleet: the hub did not answer: %s", describe(error, None))
            await asyncio.sleep(self.settings.read_interval_s)


def fleet_task(settings: FleetSettings, state: RuntimeState, leading: Callable[[], bool], metrics: Metrics) -> Any:
    sync = FleetSync(state, settings, hub_of(settings), leading, metrics)
    state.fleet_problem = sync.problem
    return asyncio.create_task(sync.run())
