"""Leader election over a ``coordination.k8s.io/v1`` Lease in tierguard's namespace, so that of several replicas
exactly one does what only one may (the background audit's report writing); every replica still answers admission
requests.

The rules are client-go's: the holder renews ``spec.renewTime`` every ``renew_every`` seconds; another replica
takes the Lease over only when it has seen the same record unchanged for ``leaseDurationSeconds`` of its *own*
clock (no comparison of clocks between machines); a replica that could not renew for that long stops writing
before anyone may take over. Writes carry the ``resourceVersion`` read, so two replicas racing for an expired
Lease cannot both win (the loser gets 409 Conflict). On a graceful stop the holder releases the Lease (empty
holder), so the next replica takes over at its next try instead of after a whole duration.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tierguard.kube.rest import HttpError, get_json_or_none, request_json

logger = logging.getLogger("tierguard.lease")

DEFAULT_DURATION_S = 15.0
"""client-go's default: how long a holder that stopped renewing keeps the Lease."""


class Conflict(Exception):
    """The Lease changed (or was created) since it was read: someone else wrote first."""


class LeaseApi(Protocol):
    """The three calls the elector makes on its one Lease."""

    def read(self) -> Mapping[str, Any] | None: ...

    def create(self, body: Mapping[str, Any]) -> Mapping[str, Any]: ...

    def replace(self, body: Mapping[str, Any]) -> Mapping[str, Any]: ...


def micro_time(seconds: float) -> str:
    """A Kubernetes MicroTime: RFC 3339 with microseconds, UTC."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Observed:
    record: tuple[Any, ...]
    at: float
    """Our monotonic clock when this record was first seen."""


class LeaseElector:
    """One replica's view of the Lease. ``step()`` is one try (blocking API calls: run it in a thread)."""

    def __init__(self, api: LeaseApi, name: str, namespace: str, identity: str, *,
                 duration_s: float = DEFAULT_DURATION_S, monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.api, self.name, self.namespace, self.identity = api, name, namespace, identity
        self.duration_s = duration_s
        self._monotonic, self._wall = monotonic, wall
        self._observed: _Observed | None = None
        self._renewed_at: float | None = None
        """Our monotonic clock at the last successful acquire or renew."""

    @property
    def renew_every(self) -> float:
        return max(self.duration_s / 3, 0.2)

    @property
    def is_leader(self) -> bool:
        """We hold the Lease and renewed it less than a duration ago (by our clock): nobody else can have it."""
        return self._renewed_at is not None and self._monotonic() - self._renewed_at < self.duration_s

    def step(self) -> bool:
        """Acquire, renew or observe the Lease once; True when this replica leads afterwards."""
        try:
            lease = self.api.read()
            if lease is None:
                self.api.create(self._body(None, transitions=0))
                return self._won("created")
            spec = lease.get("spec") or {}
            holder = spec.get("holderIdentity") or ""
            if holder == self.identity:
                self.api.replace(self._body(lease, transitions=int(spec.get("leaseTransitions") or 0),
                                            acquired=spec.get("acquireTime")))
                return self._won(None)
            if holder and not self._expired(lease):
                self._renewed_at = None
                return False
            self.api.replace(self._body(lease, transitions=int(spec.get("leaseTransitions") or 0) + 1))
            return self._won(f"taken over from {holder!r}" if holder else "acquired (released)")
        except Conflict:
            self._observed = None
            self._renewed_at = None
            return False
        except Exception as error:  # the API server is unreachable: keep leading only while the Lease is ours
            logger.warning("lease %s/%s: %s: %s", self.namespace, self.name, type(error).__name__,
                           str(error)[:200])
            return self.is_leader

    def release(self) -> None:
        """Give the Lease up (graceful stop), if we hold it."""
        if self._renewed_at is None:
            return
        self._renewed_at = None
        try:
            lease = self.api.read()
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            body = self._body(lease, transitions=int((lease.get("spec") or {}).get("leaseTransitions") or 0))
            body["spec"]["holderIdentity"] = None
            body["spec"]["leaseDurationSeconds"] = 1
            self.api.replace(body)
            logger.info("lease %s/%s released", self.namespace, self.name)
        except Exception as error:
            logger.warning("lease %s/%s not released: %s", self.namespace, self.name, type(error).__name__)

    def _won(self, how: str | None) -> bool:
        if how is not None or self._renewed_at is None:
            logger.info("lease %s/%s held by %s: %s", self.namespace, self.name, self.identity, how or "renewed")
        self._renewed_at = self._monotonic()
        self._observed = None
        return True

    def _expired(self, lease: Mapping[str, Any]) -> bool:
        spec = lease.get("spec") or {}
        record = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("acquireTime"),
                  spec.get("leaseTransitions"))
        now = self._monotonic()
        if self._observed is None or self._observed.record != record:
            self._observed = _Observed(record, now)
            return False
        duration = spec.get("leaseDurationSeconds")
        return now - self._observed.at >= (float(duration) if isinstance(duration, int | float) else self.duration_s)

    def _body(self, lease: Mapping[str, Any] | None, *, transitions: int, acquired: Any = None) -> dict[str, Any]:
        now = micro_time(self._wall())
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace,
                                    "labels": {"app.kubernetes.io/managed-by": "tierguard"}}
        if lease is not None:
            version = (lease.get("metadata") or {}).get("resourceVersion")
            if version:
                metadata["resourceVersion"] = version
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
                "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": max(int(self.duration_s), 1),
                         "acquireTime": acquired or now, "renewTime": now, "leaseTransitions": transitions}}

    async def run(self, on_change: Callable[[bool], None] | None = None,
                  eligible: Callable[[], bool] = lambda: True, leaving: Callable[[], bool] = lambda: False) -> None:
        """Try every ``renew_every`` seconds until cancelled or ``leaving()`` (then release); ``on_change(leading)``
        on each flip. While not ``eligible()`` (a replica still starting) it does not try to take the Lease: a
        starting replica that won it would hold the writing until ready, and a ready one could not take over
        meanwhile. A holder keeps renewing whatever ``eligible`` says, so a brief unreadiness does not move the
        writing. Once ``leaving()`` (a terminating replica's drain) it stops for good: a replica on its way out
        that took the Lease would drop it again within seconds, its reports half written."""
        leading = False
        try:
            while True:
                if leaving():
                    return
                if not leading and not eligible():
                    await asyncio.sleep(self.renew_every)
                    continue
                now_leading = await asyncio.to_thread(self.step)
                if now_leading != leading:
                    leading = now_leading
                    if not leading:
                        logger.info("lease %s/%s: not the holder, not writing reports", self.namespace, self.name)
                    if on_change is not None:
                        on_change(leading)
                await asyncio.sleep(self.renew_every)
        finally:
            if leading and on_change is not None:  # cancelled: whoever reads the flag must not go on as the holder
                on_change(False)
            await asyncio.shield(asyncio.to_thread(self.release))


class KubernetesLeaseApi:
    """LeaseApi over the API server (plain JSON, no generated models)."""

    def __init__(self, api_client: Any, name: str, namespace: str, timeout: float = 10.0) -> None:
        self.api_client, self.name, self.namespace, self.timeout = api_client, name, namespace, timeout
        self._path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"

    def read(self) -> Mapping[str, Any] | None:
        return get_json_or_none(self.api_client, f"{self._path}/{self.name}", timeout=self.timeout)

    def create(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        return self._write("POST", self._path, body)

    def replace(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        return self._write("PUT", f"{self._path}/{self.name}", body)

    def _write(self, method: str, path: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        try:
            written: Mapping[str, Any] = request_json(self.api_client, method, path, body=body,
                                                      timeout=self.timeout)
        except HttpError as error:
            if error.status == 409:
                raise Conflict(error.reason) from None
            raise
        return written
