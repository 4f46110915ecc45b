"""``tierguard run``: the admission webhook (``webhook/command.py`` does the serving)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import click

from tierguard.commands.options import ExitStatus, Failure
from tierguard.errors import StartupError
from tierguard.render.policyreport import API_CHOICES
from tierguard.webhook.command import serve
from tierguard.webhook.logs import configure_logging
from tierguard.webhook.settings import (
    AdmissionPolicySettings,
    AuditSettings,
    FleetSettings,
    ProbeSettings,
    RunSettings,
    ServingSettings,
    SharedValueSettings,
    WatchSettings,
)

logger = logging.getLogger("tierguard.run")


def _fleet_member(_context: click.Context, _parameter: click.Parameter, value: str) -> str:
    from tierguard.fleet.publication import PublicationError, check_name  # noqa: PLC0415

    if value:
        try:
            check_name("member", value)
        except PublicationError as error:
            raise click.BadParameter(str(error)) from None
    return value


@click.command()
@click.option("--namespace", envvar="POD_NAMESPACE", default=RunSettings.namespace, show_default=True,
              help="tierguard's own namespace: always exempt, holds the fingerprint key Secret.")
@click.option("--policy-name", default=RunSettings.policy_name, show_default=True,
              help="The TierPolicy object to enforce.")
@click.option("--webhook-addr", default=ServingSettings.addr, show_default=True)
@click.option("--webhook-port", default=ServingSettings.port, show_default=True, type=click.IntRange(1, 65535))
@click.option("--tls-cert", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Serving certificate (PEM); re-read when the file changes.")
@click.option("--tls-key", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--client-ca", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CA certificates (PEM) of the API server's client certificate for webhooks: only clients it "
                   "signed may post reviews (docs/security.md). Unset: any TLS client is answered.")
@click.option("--metrics-addr", default=ProbeSettings.addr, show_default=True)
@click.option("--metrics-port", default=ProbeSettings.port, show_default=True, type=click.IntRange(1, 65535),
              help="Plain HTTP: /metrics, /healthz, /readyz.")
@click.option("--hmac-secret", default=RunSettings.hmac_secret, show_default=True,
              help="Secret in --namespace holding the fingerprint HMAC key; created if absent.")
@click.option("--api-check-interval", default=ProbeSettings.api_check_interval_s, show_default=True,
              type=click.FloatRange(0.5, 300))
@click.option("--max-index-staleness", default=WatchSettings.max_staleness_s, show_default=True,
              type=click.FloatRange(5, 3600),
              metavar="SECONDS", help="Deny as not ready while a watch has not been confirmed for longer than this "
                                      "(docs/reliability.md).")
@click.option("--audit/--no-audit", default=AuditSettings.enabled, show_default=True,
              help="Background audit: the replica holding the Lease writes reports of what exists (docs/audit.md).")
@click.option("--audit-interval", default=AuditSettings.interval_s, show_default=True, type=click.FloatRange(1, 86400),
              help="Seconds between full audit passes; changes are re-judged sooner, from watch events.")
@click.option("--audit-reports-api", type=click.Choice(list(API_CHOICES)),
              default=AuditSettings.reports_api, show_default=True, help="Which report API the audit writes.")
@click.option("--audit-max-results", default=AuditSettings.max_results, show_default=True,
              type=click.IntRange(1, 10000),
              help="Results listed per report at most; the rest are counted in its summary.")
@click.option("--audit-lease-duration", default=AuditSettings.lease_duration_s, show_default=True,
              type=click.FloatRange(1, 600),
              help="Seconds a writer that stopped renewing the audit Lease keeps it.")
@click.option("--fleet-member", default=FleetSettings.member, metavar="NAME", callback=_fleet_member,
              help="This cluster's name in a fleet (docs/fleet.md): its tiers' fingerprints are published to the "
                   "hub and the other members' are compared. Unset: no fleet.")
@click.option("--fleet-hub-kubeconfig", default=FleetSettings.hub_kubeconfig, metavar="PATH",
              help="A kubeconfig of the fleet's hub (unset: this cluster is the hub).")
@click.option("--fleet-hub-namespace", default=FleetSettings.hub_namespace, show_default=True, metavar="NAMESPACE",
              help="The hub's namespace of the members' heartbeat Leases (its tierguard release's).")
@click.option("--fleet-read-interval", default=FleetSettings.read_interval_s, show_default=True,
              type=click.FloatRange(1, 3600), metavar="SECONDS")
@click.option("--fleet-publish-interval", default=FleetSettings.publish_interval_s, show_default=True,
              type=click.FloatRange(1, 3600), metavar="SECONDS")
@click.option("--fleet-max-age", default=FleetSettings.max_age_s, show_default=True,
              type=click.FloatRange(0, 86400), metavar="SECONDS",
              help="Not ready (every answer refused) once the other members' sets were last read longer ago than "
                   "this; 0: never.")
@click.option("--admission-policies/--no-admission-policies", default=AdmissionPolicySettings.enabled,
              show_default=True,
              help="Keep ValidatingAdmissionPolicies for the rules the API server can judge alone (a second line "
                   "of defence); with --no-admission-policies, delete them.")
@click.option("--admission-policy-prefix", default=AdmissionPolicySettings.prefix, show_default=True,
              help="Their names: PREFIX-namespaces-deny, PREFIX-workloads-warn, ...")
@click.option("--admission-policy-owner", default=AdmissionPolicySettings.owner_cluster_role, metavar="CLUSTERROLE",
              help="A ClusterRole that owns them, so they are garbage-collected with it (the chart's own).")
@click.option("--admission-policy-failure-policy", type=click.Choice(["Fail", "Ignore"]),
              default=AdmissionPolicySettings.failure_policy,
              show_default=True,
              help="What the API server does when one of their expressions cannot be evaluated (an object over "
                   "its CEL cost limit): Ignore leaves it to the webhook; Fail refuses it even while tierguard runs.")
@click.option("--shared-value-answers", default=SharedValueSettings.answers_per_user, show_default=True,
              type=click.IntRange(1, 100000), metavar="N",
              help="Answers that another tier holds a value one user gets per window on a replica; beyond them "
                   "that user's Secret writes with values are refused alike, match or not (the value oracle).")
@click.option("--shared-value-window", default=SharedValueSettings.window_s, show_default=True,
              type=click.FloatRange(1, 604800), metavar="SECONDS")
@click.option("--shared-value-exempt-group", "shared_value_exempt_groups", multiple=True,
              default=SharedValueSettings.exempt_groups, show_default=True, metavar="GROUP",
              help="Members are never cut off (still recorded); repeat for several.")
@click.option("--shutdown-linger", default=ServingSettings.shutdown_linger_s, show_default=True,
              type=click.FloatRange(0, 3600), metavar="SECONDS",
              help="After SIGTERM, keep answering reviews on open connections (each answer closing its connection) "
                   "until their clients close them, at most this long. The API server drops an idle connection "
                   "after 90 s: a value of 95 closes none under it. Keep it below the pod's grace period. A "
                   "second SIGTERM or Ctrl-C ends the linger.")
@click.option("--log-format", type=click.Choice(["json", "text"]), default="json", show_default=True)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def run(log_format: str, log_level: str, **options: Any) -> int:
    """Serve admission reviews for the cluster in the current kubeconfig (or in-cluster config).

    Fails closed: until every index is synced and a valid TierPolicy is loaded, /readyz answers 503 and every
    admission request is denied.
    """
    configure_logging(log_format, log_level)
    try:
        asyncio.run(serve(run_settings(**options)))
    except StartupError as error:
        logger.error("cannot start", extra={"detail": str(error)})
        raise Failure(str(error)) from None
    except KeyboardInterrupt:
        logger.info("stopped")
    return ExitStatus.OK


def run_settings(*, namespace: str, policy_name: str, webhook_addr: str, webhook_port: int, tls_cert: str,
                 tls_key: str, client_ca: str | None, metrics_addr: str, metrics_port: int, hmac_secret: str,
                 api_check_interval: float,
                 max_index_staleness: float, audit: bool, audit_interval: float, audit_reports_api: str,
                 audit_max_results: int, audit_lease_duration: float, admission_policies: bool,
                 admission_policy_prefix: str, admission_policy_owner: str, admission_policy_failure_policy: str,
                 shared_value_answers: int, shared_value_window: float, shared_value_exempt_groups: tuple[str, ...],
                 shutdown_linger: float, fleet_member: str = "", fleet_hub_kubeconfig: str = "",
                 fleet_hub_namespace: str = FleetSettings.hub_namespace,
                 fleet_read_interval: float = FleetSettings.read_interval_s,
                 fleet_publish_interval: float = FleetSettings.publish_interval_s,
                 fleet_max_age: float = FleetSettings.max_age_s) -> RunSettings:
    """The settings tree from ``run``'s options (flat, as the chart and people pass them)."""
    return RunSettings(
        serving=ServingSettings(tls_cert=tls_cert, tls_key=tls_key, client_ca=client_ca, addr=webhook_addr,
                                port=webhook_port, shutdown_linger_s=shutdown_linger),
        namespace=namespace, policy_name=policy_name, hmac_secret=hmac_secret,
        probes=ProbeSettings(addr=metrics_addr, port=metrics_port, api_check_interval_s=api_check_interval),
        watch=WatchSettings(max_staleness_s=max_index_staleness),
        audit=AuditSettings(enabled=audit, interval_s=audit_interval, reports_api=audit_reports_api,
                            max_results=audit_max_results, lease_duration_s=audit_lease_duration),
        admission_policies=AdmissionPolicySettings(
            enabled=admission_policies, prefix=admission_policy_prefix, owner_cluster_role=admission_policy_owner,
            failure_policy=admission_policy_failure_policy),
        shared_values=SharedValueSettings(answers_per_user=shared_value_answers, window_s=shared_value_window,
                                          exempt_groups=tuple(shared_value_exempt_groups)),
        fleet=FleetSettings(member=fleet_member, hub_kubeconfig=fleet_hub_kubeconfig, hub_namespace=fleet_hub_namespace,
                            read_interval_s=fleet_read_interval, publish_interval_s=fleet_publish_interval,
                            max_age_s=fleet_max_age))
