"""Prometheus metrics of the webhook. Kept in their own registry so tests can read them in isolation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _request_children: dict[tuple[str, str, str], Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "tierguard_admission_requests", "Admission requests answered, by decision (allowed|denied|warned).",
            ["kind", "operation", "decision"], registry=self.registry,
        )
        self.violations = Counter(
            "tierguard_violations", "Violations found, by rule id and action (deny|warn|audit).",
            ["rule", "action"], registry=self.registry,
        )
        self.duration = Histogram(
            "tierguard_admission_duration_seconds", "Time to answer one admission request.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0), registry=self.registry,
        )
        self.index_objects = Gauge(
            "tierguard_index_objects", "Keys held per index.", ["index"], registry=self.registry,
        )
        self.policy_reloads = Counter(
            "tierguard_policy_reloads", "TierPolicy loads, by result (success|invalid).", ["result"],
            registry=self.registry,
        )
        self.ready = Gauge("tierguard_ready", "1 when this replica answers admission requests.",
                           registry=self.registry)
        self.internal_errors = Counter(
            "tierguard_internal_errors", "Bugs of tierguard met while judging (each denied the object), by rule "
            "family (engine: outside any family).", ["family"], registry=self.registry,
        )
        self.break_glass = Counter(
            "tierguard_break_glass", "Requests admitted by break-glass, by rule id.", ["rule"],
            registry=self.registry,
        )
        # The value oracle (value_oracle.py): no user label, the Events and logs name the users.
        self.shared_value_answers = Counter(
            "tierguard_shared_value_answers", "Secret writes answered that another tier holds one of their values.",
            registry=self.registry,
        )
        self.shared_value_limited = Counter(
            "tierguard_shared_value_limited", "Secret writes refused because their user had too many such answers "
            "within the window.", registry=self.registry,
        )

        # The background audit (background_audit/audit.py): exported by the replica holding the audit Lease only.
        self.audit_violations = Gauge(
            "tierguard_audit_violations", "Violations the background audit finds in what exists now, by rule id, "
            "namespace (empty: cluster-scoped objects) and action (deny|warn|audit).", ["rule", "namespace", "action"],
            registry=self.registry,
        )
        self.audit_last_run = Gauge(
            "tierguard_audit_last_run_timestamp_seconds", "When the background audit last finished a pass "
            "(full or incremental), Unix time.", registry=self.registry,
        )
        self.audit_duration = Gauge(
            "tierguard_audit_duration_seconds", "Wall time of the background audit's last pass.",
            registry=self.registry,
        )
        self.audit_report_writes = Counter(
            "tierguard_audit_report_writes", "Report objects written by the background audit, by operation "
            "(create|update|delete).", ["operation"], registry=self.registry,
        )
        self.audit_leader = Gauge(
            "tierguard_audit_leader", "1 when this replica holds the audit Lease (and writes the reports).",
            registry=self.registry,
        )

        # The fleet (fleet_sync.py, docs/fleet.md): every replica reads the hub.
        self.fleet_last_read = Gauge(
            "tierguard_fleet_last_read_timestamp_seconds", "When this replica last read the other members' sets "
            "from the fleet's hub, Unix time: their age is now minus this.", registry=self.registry,
        )
        self.fleet_tiers = Gauge(
            "tierguard_fleet_tiers", "Other members' tiers whose sets this replica holds.", registry=self.registry,
        )
        self.fleet_publications = Counter(
            "tierguard_fleet_published_objects", "FleetFingerprintSet objects this replica wrote or deleted on "
            "the hub.", registry=self.registry,
        )

    def count_request(self, kind: str, operation: str, decision: str) -> None:
        """``requests.labels(kind, operation, decision).inc()``, with the labelled child looked up once per label
        set: ``labels()`` validates, stringifies and takes a lock on every call, on every admission request."""
        key = (kind, operation, decision)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.requests.labels(kind, operation, decision)
        child.inc()
