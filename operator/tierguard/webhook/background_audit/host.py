"""What the background audit needs of the replica hosting it, and nothing more: readiness, the live context and
the policy in force (``webhook/state.py``'s ``RuntimeState`` has them), and its five metrics
(``webhook/metrics.py``'s ``Metrics``). Protocols, so the audit imports neither."""

from __future__ import annotations

from typing import Any, Protocol

from tierguard.policy import TierPolicy
from tierguard.webhook.live_context import LiveContext


class AuditHost(Protocol):
    @property
    def ready(self) -> bool:
        """Admission is answered: the indexes are synced and fresh, a policy is loaded."""

    @property
    def context(self) -> LiveContext | None: ...

    @property
    def policy(self) -> TierPolicy | None: ...

    @property
    def own_namespace(self) -> str: ...


class AuditMetrics(Protocol):
    """Prometheus collectors (untyped): the gauges and the counter the audit sets."""

    @property
    def audit_leader(self) -> Any: ...

    @property
    def audit_violations(self) -> Any: ...

    @property
    def audit_report_writes(self) -> Any: ...

    @property
    def audit_duration(self) -> Any: ...

    @property
    def audit_last_run(self) -> Any: ...
