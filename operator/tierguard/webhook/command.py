"""What ``tierguard run`` does once its options are parsed: load credentials and the fingerprint key, start the
probes, the kopf watches that fill the live context and the HTTPS admission endpoint, until stopped.

The click command is ``commands/run.py``; this module keeps its name because scripts (hack/) import it to check
that ``run``'s dependencies are installed."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from collections.abc import Callable
from typing import Any

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.errors import StartupError
from tierguard.webhook.admission import AdmissionService
from tierguard.webhook.identity import replica_identity
from tierguard.webhook.indexes import POLICIES
from tierguard.webhook.indexing import build_informers, build_registry, fan_out, policy_observer, sync_when_listed
from tierguard.webhook.informer import Informers, Observer
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.policy_status import COLLECTION, PolicyStatusSync
from tierguard.webhook.probes import build_probe_app, serve_probes, watch_api_health
from tierguard.webhook.settings import RunSettings
from tierguard.webhook.state import RuntimeState, pause_collector
from tierguard.webhook.value_oracle import AnswerBudget, Record

logger = logging.getLogger("tierguard.run")


def _api_client() -> Any:
    from tierguard.kube.config import NoCredentials, api_client  # noqa: PLC0415 - loaded only by `run`

    try:
        # One pooled connection per open watch (every informer's, the audit's markers) plus the other requests:
        # urllib3's default of 10 discarded connections and warned about each.
        return api_client(pool_size=CONNECTION_POOL_SIZE)
    except NoCredentials as error:
        raise StartupError(f"no cluster credentials: not in a pod, and no usable kubeconfig ({error.cause})") from None


CONNECTION_POOL_SIZE = 64


def _background_audit(settings: RunSettings, state: RuntimeState, metrics: Metrics, api_client: Any) -> Any:
    """The audit and its Lease elector, or None when ``--no-audit``."""
    if not settings.audit.enabled:
        return None
    from tierguard.kube.lease import KubernetesLeaseApi, LeaseElector  # noqa: PLC0415
    from tierguard.webhook.background_audit.audit import BackgroundAudit  # noqa: PLC0415
    from tierguard.webhook.background_audit.report_writer import KubernetesReportsApi, ReportWriter  # noqa: PLC0415

    audit_settings, namespace = settings.audit, settings.namespace
    writer = ReportWriter(KubernetesReportsApi(api_client), audit_settings.apis)
    audit = BackgroundAudit(state, metrics, api_client, writer, audit_settings)
    elector = LeaseElector(KubernetesLeaseApi(api_client, audit_settings.lease_name, namespace),
                           audit_settings.lease_name, namespace, replica_identity(),
                           duration_s=audit_settings.lease_duration_s)
    return audit, elector


def _observers(state: RuntimeState, metrics: Metrics, informers: Any, background: Any,
               statuses: Observer) -> Observer:
    """The policy reload, the TierPolicy statuses, and the background audit's marks when it is on."""
    if background is None:
        return fan_out([policy_observer(state, metrics, informers), statuses])
    from tierguard.webhook.background_audit.marks import index_observer  # noqa: PLC0415

    return fan_out([policy_observer(state, metrics, informers, background[0].policy_changed), statuses,
                    index_observer(state, background[0])])


def _policy_statuses(state: RuntimeState, api_client: Any, informers: Callable[[], Informers],
                     record: Callable[[Record], None]) -> PolicyStatusSync:
    """Every TierPolicy's status, from the policy index (``policy_status.py``)."""
    from tierguard.kube.status import KubeStatusApi  # noqa: PLC0415

    def documents() -> list[Any]:
        index = informers().indexes[POLICIES]
        return [document for key in index for document in index.get(key) or ()]

    return PolicyStatusSync(state, documents, KubeStatusApi(api_client, COLLECTION), record, replica_identity())


def kopf_identity(name: str) -> Any:
    from kopf._core.engines.peering import Identity  # noqa: PLC0415 - kopf's NewType for the identity string

    return Identity(name)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def until_signalled(operator: asyncio.Task[None], kopf_ready: asyncio.Event,
                          again: asyncio.Event | None = None) -> None:
    """Until SIGTERM or SIGINT, or until kopf's operator task ends by itself (its failure is the task's). A
    second signal sets ``again`` (a person at a terminal who will not wait for the linger).

    kopf installs its own handlers for both as it starts, and on a signal stops at once, cancelling every task
    created since it started: the admission server's connection handlers too, which would close the API
    server's connections under it. Once kopf is ready its handlers are replaced by ours, so the caller decides
    when kopf stops (its stop flag, after the linger). A signal before that is kopf's: nothing is served yet."""
    loop = asyncio.get_running_loop()
    ready = asyncio.create_task(kopf_ready.wait())
    await asyncio.wait({operator, ready}, return_when=asyncio.FIRST_COMPLETED)
    if operator.done():
        ready.cancel()
        return
    signalled = asyncio.Event()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, signalled.set)
    waiting = asyncio.create_task(signalled.wait())
    await asyncio.wait({operator, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if signalled.is_set():
        if again is not None:
            for signum in STOP_SIGNALS:
                loop.add_signal_handler(signum, again.set)
        logger.info("stopping on a signal: draining, then lingering for open connections (a second signal "
                    "ends the linger)")


async def serve(settings: RunSettings) -> None:
    """Serve until cancelled; raises StartupError when it cannot start."""
    import kopf  # noqa: PLC0415

    from tierguard.kube.transport import KubeTransport  # noqa: PLC0415
    from tierguard.webhook.events import EventRecorder  # noqa: PLC0415
    from tierguard.webhook.keys import load_or_create_fingerprinter  # noqa: PLC0415
    from tierguard.webhook.reachability import build_check  # noqa: PLC0415
    from tierguard.webhook.server import AdmissionServer  # noqa: PLC0415
    from tierguard.webhook.vap_sync import AdmissionPolicySync  # noqa: PLC0415

    state = RuntimeState(own_namespace=settings.namespace, policy_name=settings.policy_name)
    metrics = Metrics()
    probes = await serve_probes(build_probe_app(state, metrics), settings.probes.addr, settings.probes.port)
    api_client = await asyncio.to_thread(_api_client)
    try:
        fingerprinter: Fingerprinter = await asyncio.to_thread(
            load_or_create_fingerprinter, api_client, settings.namespace, settings.hmac_secret)
    except Exception as error:
        # Never the key itself: only where it failed and the error's kind.
        raise StartupError(f"cannot load or create the fingerprint key Secret {settings.namespace}/"
                           f"{settings.hmac_secret}: {type(error).__name__}: {str(error)[:200]}") from None
    background = _background_audit(settings, state, metrics, api_client)
    if settings.fleet.enabled and background is None:
        raise StartupError("--fleet-member needs the background audit (--audit): the replica holding its Lease "
                           "publishes this member's tiers to the hub")
    built: list[Informers] = []  # the policy observers read the indexes of the informers they observe
    events = EventRecorder(api_client, settings.namespace, replica_identity())
    statuses = _policy_statuses(state, api_client, lambda: built[0], events.submit)
    transport = KubeTransport(api_client)
    informers = build_informers(transport, lambda: fingerprinter,
                                _observers(state, metrics, lambda: built[0], background, statuses.observe),
                                settings.watch)
    built.append(informers)
    registry = build_registry()
    markers = None
    if background is not None:
        from tierguard.webhook.background_audit.marks import index_observer, marker_informers  # noqa: PLC0415

        # The markers' kinds hold no TierPolicy: only the audit observes them.
        markers = marker_informers(transport, lambda: fingerprinter, index_observer(state, background[0]),
                                   settings.watch)
    try:
        # Until the indexes are synced every review is answered "not ready" (denied): fail closed from the start.
        serving = settings.serving
        shared = settings.shared_values
        service = AdmissionService(
            state, metrics, AnswerBudget(shared.answers_per_user, shared.window_s, shared.exempt_groups),
            events.submit)
        admission = AdmissionServer(service, addr=serving.addr, port=serving.port,
                                    certfile=serving.tls_cert, keyfile=serving.tls_key, client_ca=serving.client_ca,
                                    draining=lambda: state.draining)
        await admission.start()
    except (OSError, ssl.SSLError) as error:
        raise StartupError(f"cannot serve HTTPS on {settings.serving.addr}:{settings.serving.port} with "
                           f"{settings.serving.tls_cert}: {type(error).__name__}: {error}") from None
    reloading = asyncio.create_task(admission.serve_reloads())

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # No kopf admission server: tierguard serves reviews itself (server.py); the chart owns the
        # ValidatingWebhookConfiguration.
        settings.admission.server = None
        settings.admission.managed = None
        settings.posting.enabled = False  # the audit's markers have nothing to report as events (none granted)
        # kopf waits this long for more events of an object before handling one; the audit's marks lag as much.
        settings.batching.batch_window = 0.01
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 60

    pause_collector(asyncio.get_running_loop())  # until the first listing is settled (sync_when_listed)
    watching = asyncio.create_task(informers.run())
    marking = asyncio.create_task(markers.run()) if markers is not None else None
    syncing = asyncio.create_task(sync_when_listed(state, metrics, informers, lambda: fingerprinter))
    health = asyncio.create_task(
        watch_api_health(state, build_check(api_client), settings.probes.api_check_interval_s))
    # Only a ready replica competes for the audit's Lease (a starting one would hold the writing until ready), and
    # a draining one gives it up (the preStop drain comes seconds before SIGTERM).
    auditing = [asyncio.create_task(background[0].run()),
                asyncio.create_task(background[1].run(background[0].set_leader, lambda: state.ready,
                                                      lambda: state.draining)),
                ] if background is not None else []
    # Not among the auditing tasks: the other members' sets are read on until the last answer is given (a
    # lingering replica judging from sets frozen at SIGTERM would refuse for a member gone since).
    fleet = None
    if settings.fleet.enabled and background is not None:
        from tierguard.webhook.fleet_sync import fleet_task  # noqa: PLC0415

        audit = background[0]
        fleet = fleet_task(settings.fleet, state, lambda: audit.leading, metrics)
    admission_policies = asyncio.create_task(
        AdmissionPolicySync(state, api_client, settings.admission_policies).run())
    policy_statuses = asyncio.create_task(statuses.run())
    kopf_stop, kopf_ready = asyncio.Event(), asyncio.Event()
    operator = asyncio.create_task(kopf.operator(
        registry=registry, standalone=True, clusterwide=True, identity=kopf_identity(replica_identity()),
        stop_flag=kopf_stop, ready_flag=kopf_ready))
    again = asyncio.Event()
    try:
        await until_signalled(operator, kopf_ready, again)
    finally:
        # Writers of cluster-wide objects stop first: through the linger this replica's view may fall behind its
        # successors' (after a `helm uninstall`, its TierPolicy is gone while a new install enforces one), and the
        # elector releases the Lease as it stops, so the next writer need not wait.
        writers = [*auditing, admission_policies, policy_statuses]
        for task in writers:
            task.cancel()
        await asyncio.gather(*writers, return_exceptions=True)
        # Stopping (SIGTERM, after the preStop drain if there was one): the indexes stay live while the API
        # server's open connections are answered, each answer closing its connection, until their clients
        # have closed them all (server.linger says why the replica closes none itself). kopf runs on meanwhile,
        # and stops last: as it stops it cancels every task created after it started (the server's
        # connections', the informers' watches), and waits 5 s for those still running first.
        state.draining = True
        await admission.stop(linger_s=settings.serving.shutdown_linger_s, cut_short=again)
        ours = [health, syncing, watching, reloading,
                *([marking] if marking else []), *([fleet] if fleet else [])]
        for task in ours:
            task.cancel()
        await asyncio.gather(*ours, return_exceptions=True)
        await probes.cleanup()
        kopf_stop.set()
        await asyncio.gather(operator, return_exceptions=True)
    await operator  # done by now: a failure of kopf's is raised here, after the cleanup
