"""Kubernetes Events in tierguard's own namespace: the platform team's record of what a requester was told (and
refused) about other tiers' values (``value_oracle.Record``), and of a replica that stays not ready because the
TierPolicy in force is invalid (``policy_status.py``). Events there name the other tier's Secret; only people
who may read tierguard's namespace see them.

Each is about the replica's Pod (the recorder). A TierPolicy is cluster-scoped, and the API server accepts an
Event whose ``involvedObject`` is cluster-scoped only in namespace ``default`` (where the chart grants nothing):
the policy is named in ``related`` and the message instead.

Posted from one daemon thread through a bounded queue, so an admission answer never waits for the API server;
when the queue is full (the API server slow, a flood of writes) records are dropped, counted in the log.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from typing import Any

from tierguard.webhook.value_oracle import Record

logger = logging.getLogger("tierguard.events")

QUEUE_SIZE = 1000
MESSAGE_LIMIT = 1024
"""The API server refuses an Event message longer than this."""


def event(record: Record, namespace: str, replica: str, now: dt.datetime) -> dict[str, Any]:
    """The core/v1 Event of ``record``, about this replica's Pod (the recorder), in ``namespace``."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    annotations = {"tierguard.io/object": record.obj}
    if record.user:
        annotations["tierguard.io/user"] = record.user
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": "tierguard-", "namespace": namespace, "annotations": annotations},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": replica},
        "reason": record.reason, "message": record.message[:MESSAGE_LIMIT], "type": "Warning",
        "source": {"component": "tierguard"}, "reportingComponent": "tierguard", "reportingInstance": replica,
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
    }
    if record.related is not None:
        api_version, kind, name = record.related
        body["related"] = {"apiVersion": api_version, "kind": kind, "name": name}
    return body


class EventRecorder:
    """``submit(record)`` from the event loop; a daemon thread posts them."""

    def __init__(self, api_client: Any, namespace: str, replica: str) -> None:
        self.api_client, self.namespace, self.replica = api_client, namespace, replica
        self._queue: queue.Queue[Record] = queue.Queue(maxsize=QUEUE_SIZE)
        self.dropped = 0
        threading.Thread(target=self._post_all, name="tierguard-events", daemon=True).start()

    def submit(self, record: Record) -> None:
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            logger.warning("event queue full: record dropped", extra={"reason": record.reason,
                                                                     "dropped": self.dropped})

    def _post_all(self) -> None:
        from tierguard.kube.rest import describe, request  # noqa: PLC0415

        while True:
            record = self._queue.get()
            body = event(record, self.namespace, self.replica, dt.datetime.now(dt.UTC))
            try:
                request(self.api_client, "POST", f"/api/v1/namespaces/{self.namespace}/events", body=body,
                        timeout=10.0)
            except Exception as error:  # logged, not retried: the log line and the metric still hold it
                logger.warning("cannot post an Event", extra={"reason": record.reason,
                                                             "error": describe(error, 10.0)})
