"""Every setting of ``tierguard run``, as one frozen tree; each default is written here once.

``commands/run.py`` takes its options' defaults from these classes and builds the tree from what was given; each
part of the replica receives its own subtree: the informers ``WatchSettings``, the background audit
``AuditSettings``, the admission policy sync ``AdmissionPolicySettings``. (The Helm chart passes its own values
as flags; its defaults are the chart's, documented with it.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tierguard.kube.lease import DEFAULT_DURATION_S
from tierguard.kube.pager import DEFAULT_CHUNK_SIZE, DEFAULT_TIMEOUT_S
from tierguard.render.policyreport import API_CHOICES, ReportApi


@dataclass(frozen=True)
class ServingSettings:
    """The HTTPS admission endpoint."""

    tls_cert: str
    tls_key: str
    client_ca: str | None = None
    """CA certificates the API server's client certificate must chain to; None: any TLS client is answered."""
    addr: str = "0.0.0.0"
    port: int = 8443
    shutdown_linger_s: float = 20.0
    """After SIGTERM, how long open connections are still answered at most (``server.py``'s linger)."""


@dataclass(frozen=True)
class ProbeSettings:
    """The plain HTTP port: /healthz, /readyz, /metrics; and the API health check behind readiness."""

    addr: str = "0.0.0.0"
    port: int = 8080
    api_check_interval_s: float = 10.0


@dataclass(frozen=True)
class WatchSettings:
    """The informers' lists and watches (``informer.py``)."""

    page_size: int = DEFAULT_CHUNK_SIZE
    watch_timeout_s: float = 30.0
    """Asked of the API server (``timeoutSeconds``): it ends each watch then, and the watch is opened again."""
    read_grace_s: float = 10.0
    """How much longer than ``watch_timeout_s`` a read may wait: past it the connection is taken as dead."""
    max_staleness_s: float = 60.0
    """The oldest confirmation the webhook decides from."""
    rediscover_s: float = 10.0
    """How often a custom resource whose CRD is absent is looked for again."""
    backoff_s: tuple[float, float] = (0.2, 5.0)


@dataclass(frozen=True)
class AuditSettings:
    """The background audit (``background_audit/``) and its Lease."""

    enabled: bool = True
    interval_s: float = 600.0
    debounce_s: float = 2.0
    max_results: int = 100
    reports_api: str = "wgpolicyk8s"
    """A key of ``API_CHOICES``: which report APIs are written."""
    chunk_size: int = DEFAULT_CHUNK_SIZE
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_share: float = 0.25
    """While changes keep coming, passes take at most this share of the time: after a pass of d seconds the
    next one waits d * (1 / max_share - 1). The audit shares one core with admission; during a bulk creation
    at 10k Secrets back-to-back full passes of 7-12 s starved reviews into the API server's 5 s timeout."""
    lease_name: str = "tierguard-audit"
    lease_duration_s: float = DEFAULT_DURATION_S

    @property
    def apis(self) -> tuple[ReportApi, ...]:
        return API_CHOICES[self.reports_api]


@dataclass(frozen=True)
class AdmissionPolicySettings:
    """The ValidatingAdmissionPolicies kept in step with the TierPolicy (``vap_sync.py``)."""

    enabled: bool = True
    prefix: str = "tierguard"
    owner_cluster_role: str = ""
    """The ClusterRole (the release's) every object is owned by, so uninstalling removes them; empty: none."""
    failure_policy: str = "Ignore"
    resync_seconds: float = 60.0
    poll_seconds: float = 1.0
    """How often the replica's policy is compared with the one last applied (a reference comparison)."""


@dataclass(frozen=True)
class SharedValueSettings:
    """How many ``secret-value-shared`` answers one user gets per window on a replica (``value_oracle.py``)."""

    answers_per_user: int = 10
    window_s: float = 3600.0
    exempt_groups: tuple[str, ...] = ("system:masters",)
    """Never cut off (still recorded): who may read every Secret gains nothing from an answer."""


@dataclass(frozen=True)
class FleetSettings:
    """Tiers in separate clusters (docs/fleet.md): this member's name and the hub's kubeconfig; off when unset."""

    member: str = ""
    hub_kubeconfig: str = ""
    hub_namespace: str = "tierguard-system"
    """The hub's namespace holding the members' heartbeat Leases (its tierguard release's)."""
    read_interval_s: float = 15.0
    """How often the other members' sets are read from the hub (a metadata-only list; changed objects only)."""
    publish_interval_s: float = 30.0
    """How often the audit Lease holder publishes this member's tiers (only those that changed are written) and
    renews its heartbeat."""
    max_age_s: float = 0.0
    """Readiness fails once the other members' sets were last read longer ago than this (every answer is then
    "not ready"); 0: never, a hub that does not answer leaves the sets last read in force."""

    @property
    def heartbeat_s(self) -> int:
        """How long a heartbeat lasts: three publications, so one missed beat does not drop a member."""
        return max(int(3 * self.publish_interval_s), 10)

    @property
    def enabled(self) -> bool:
        return bool(self.member)


@dataclass(frozen=True)
class RunSettings:
    serving: ServingSettings
    namespace: str = "tierguard-system"
    """tierguard's own namespace: always exempt, holds the fingerprint key Secret and the audit Lease."""
    policy_name: str = "default"
    hmac_secret: str = "tierguard-fingerprint-key"
    probes: ProbeSettings = field(default_factory=ProbeSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    admission_policies: AdmissionPolicySettings = field(default_factory=AdmissionPolicySettings)
    shared_values: SharedValueSettings = field(default_factory=SharedValueSettings)
    fleet: FleetSettings = field(default_factory=FleetSettings)
