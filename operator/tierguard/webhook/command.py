"""``tierguard run`` (the admission webhook) and ``tierguard certs`` (self-signed certificates)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.webhook.admission import AdmissionService
from tierguard.webhook.certs import write_certificates
from tierguard.webhook.identity import replica_identity
from tierguard.webhook.indexing import build_registry
from tierguard.webhook.logs import configure_logging
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.probes import build_probe_app, serve_probes, watch_api_health
from tierguard.webhook.state import RuntimeState

logger = logging.getLogger("tierguard.run")


@click.command()
@click.option("--namespace", envvar="POD_NAMESPACE", default="tierguard-system", show_default=True,
              help="tierguard's own namespace: always exempt, holds the fingerprint key Secret.")
@click.option("--policy-name", default="default", show_default=True, help="The TierPolicy object to enforce.")
@click.option("--webhook-addr", default="0.0.0.0", show_default=True)
@click.option("--webhook-port", default=8443, show_default=True, type=click.IntRange(1, 65535))
@click.option("--tls-cert", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Serving certificate (PEM); re-read when the file changes.")
@click.option("--tls-key", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--metrics-addr", default="0.0.0.0", show_default=True)
@click.option("--metrics-port", default=8080, show_default=True, type=click.IntRange(1, 65535),
              help="Plain HTTP: /metrics, /healthz, /readyz.")
@click.option("--hmac-secret", default="tierguard-fingerprint-key", show_default=True,
              help="Secret in --namespace holding the fingerprint HMAC key; created if absent.")
@click.option("--api-check-interval", default=10.0, show_default=True, type=click.FloatRange(0.5, 300))
@click.option("--log-format", type=click.Choice(["json", "text"]), default="json", show_default=True)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def run(log_format: str, log_level: str, **options: Any) -> None:
    """Serve admission reviews for the cluster in the current kubeconfig (or in-cluster config).

    Fails closed: until every index is synced and a valid TierPolicy is loaded, /readyz answers 503 and every
    admission request is denied.
    """
    configure_logging(log_format, log_level)
    try:
        asyncio.run(_serve(RunOptions(**options)))
    except StartupError as error:
        logger.error("cannot start", extra={"detail": str(error)})
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        logger.info("stopped")


class StartupError(RuntimeError):
    """tierguard cannot start serving; the message says what to fix."""


def _api_client() -> Any:
    from kubernetes import client, config  # noqa: PLC0415 - loaded only by `run`

    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        try:
            config.load_kube_config()  # type: ignore[no-untyped-call]
        except (config.ConfigException, OSError) as error:
            raise StartupError(f"no cluster credentials: not in a pod, and no usable kubeconfig ({error})") from None
    return client.ApiClient()


@dataclass(frozen=True)
class RunOptions:
    namespace: str
    policy_name: str
    webhook_addr: str
    webhook_port: int
    tls_cert: str
    tls_key: str
    metrics_addr: str
    metrics_port: int
    hmac_secret: str
    api_check_interval: float


def kopf_identity(name: str) -> Any:
    from kopf._core.engines.peering import Identity  # noqa: PLC0415 - kopf's NewType for the identity string

    return Identity(name)


async def _serve(options: RunOptions) -> None:
    import kopf  # noqa: PLC0415
    from kubernetes.client import CoreV1Api  # noqa: PLC0415

    from tierguard.webhook.keys import load_or_create_fingerprinter  # noqa: PLC0415
    from tierguard.webhook.reachability import build_check  # noqa: PLC0415
    from tierguard.webhook.server import TierguardWebhookServer  # noqa: PLC0415

    state = RuntimeState(own_namespace=options.namespace, policy_name=options.policy_name)
    metrics = Metrics()
    probes = await serve_probes(build_probe_app(state, metrics), options.metrics_addr, options.metrics_port)
    api_client = await asyncio.to_thread(_api_client)
    try:
        fingerprinter: Fingerprinter = await asyncio.to_thread(
            load_or_create_fingerprinter, CoreV1Api(api_client), options.namespace, options.hmac_secret)
    except Exception as error:
        # Never the key itself: only where it failed and the error's kind.
        raise StartupError(f"cannot load or create the fingerprint key Secret {options.namespace}/"
                           f"{options.hmac_secret}: {type(error).__name__}: {str(error)[:200]}") from None
    registry = build_registry(state, metrics, lambda: fingerprinter)
    service = AdmissionService(state, metrics)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.admission.server = TierguardWebhookServer(
            service, addr=options.webhook_addr, port=options.webhook_port, certfile=options.tls_cert,
            pkeyfile=options.tls_key,
            file_check_interval=10.0,
        )
        settings.admission.managed = None  # the chart owns the ValidatingWebhookConfiguration
        settings.posting.enabled = False  # index handlers have nothing to report as events
        # kopf waits this long for more events of an object before handling one; the index lags by as much.
        settings.batching.batch_window = 0.01
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 60

    health = asyncio.create_task(
        watch_api_health(state, build_check(api_client), options.api_check_interval))
    try:
        await kopf.operator(registry=registry, standalone=True, clusterwide=True,
                            identity=kopf_identity(replica_identity()))
    finally:
        health.cancel()
        await probes.cleanup()


@click.command()
@click.option("--dir", "directory", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where to write ca.crt, tls.crt and tls.key.")
@click.option("--host", "hosts", multiple=True, default=["127.0.0.1", "localhost"], show_default=True,
              help="Subject alternative names (DNS names or IPs). Repeatable.")
@click.option("--days", default=365, show_default=True, type=click.IntRange(1, 3650))
def certs(directory: Path, hosts: tuple[str, ...], days: int) -> None:
    """Write a self-signed CA and a serving certificate for running the webhook outside a cluster."""
    paths = write_certificates(directory, list(hosts), days=days)
    click.echo(f"wrote {paths.ca}, {paths.cert}, {paths.key}")
