"""Plain-HTTP endpoints for the kubelet and Prometheus: /healthz (alive), /readyz (answers admission),
/metrics. Separate from the TLS webhook port so probes never depend on webhook certificates."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tierguard.kube.rest import describe
from tierguard.webhook.informer import in_thread
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.state import RuntimeState

logger = logging.getLogger("tierguard.probes")


DRAIN_SECONDS = 5.0
"""How long /drain holds the preStop hook: Endpoints, kube-proxy and the API server's pooled connections move to
another replica meanwhile (reviews answered here close their connection)."""


def is_loopback(remote: str | None) -> bool:
    """Only a process inside the pod (the preStop hook) may start a drain: it makes the replica unready."""
    return remote in ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def build_probe_app(state: RuntimeState, metrics: Metrics, drain_seconds: float = DRAIN_SECONDS
                    ) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        if state.draining:
            return web.Response(status=503, text="not ready: draining, the pod is terminating\n")
        reason = state.not_ready_reason()
        if reason is None:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"not ready: {reason}\n")

    async def metrics_page(_: web.Request) -> web.Response:
        metrics.ready.set(1 if state.ready else 0)
        if state.context is not None:
            for name, size in state.context.sizes().items():
                metrics.index_objects.labels(name).set(size)
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def drain(request: web.Request) -> web.Response:
        if not is_loopback(request.remote):
            return web.Response(status=403, text="drain is only for the pod's own preStop hook\n")
        if not state.draining:
            state.draining = True
            logger.info("draining: readiness off, connections closed after each review",
                        extra={"seconds": drain_seconds})
        await asyncio.sleep(drain_seconds)
        return web.Response(text="drained\n")

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics_page),
                    web.get("/drain", drain)])
    return app


async def serve_probes(app: web.Application, addr: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, addr, port).start()
    logger.info("probes and metrics listening", extra={"addr": addr, "port": port})
    return runner


CHECK_DEADLINE_S = 30.0
"""A check still running after this long counts as failed: a request stuck past its own timeouts must not hold the
failure count (and readiness) where it was. Its thread is left to finish on its own."""


async def watch_api_health(state: RuntimeState, check: Callable[[], None], interval: float,
                           deadline_s: float = CHECK_DEADLINE_S) -> None:
    """Count consecutive failed API checks; readiness drops past the threshold (watches are then stale). Each check
    runs in a thread of its own, never queued behind other work in the default executor."""
    while True:
        started = time.monotonic()
        try:
            await asyncio.wait_for(in_thread(check), deadline_s)
            if state.api_failures:
                logger.info("API server reachable again", extra={"after_failures": state.api_failures})
            state.api_failures = 0
        except Exception as error:
            state.api_failures += 1
            # A status and the API server's message, or the transport's failure: the Secret listing's body is
            # never read into an error.
            logger.warning("API health check failed", extra={
                "failures": state.api_failures, "error": error.__class__.__name__,
                "detail": describe(error, None),
                "seconds": round(time.monotonic() - started, 1)})
        await asyncio.sleep(interval)
