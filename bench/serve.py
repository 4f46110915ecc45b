"""One server under test, in its own process (the harness pins it to a core with ``taskset``).

    python -m bench.serve {floor,kopf,tierguard} --port P --certs DIR [--addr A] [--namespaces N --secrets M]

  floor      plain aiohttp over the same TLS: parse the JSON body, answer "allowed" (HTTP + TLS + JSON alone);
  kopf       kopf's WebhookServer and its full admission path (resource lookup, cause, handler execution)
             with no-op ``@kopf.on.validate`` handlers for the three paths;
  tierguard  ``tierguard run``'s server: AdmissionServer and AdmissionService over a live context
             double, logging configured as ``tierguard run`` configures it.

Listens on ``--addr`` (default 127.0.0.1; part 4's floor listens where the API server reaches this host).
Prints ``ready <port>`` once listening, then serves until SIGTERM or SIGINT. With ``--profile FILE``, cProfile
runs from ready to stop and its stats are written to FILE (bench/breakdown.py reads them).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import json
import signal
import ssl
import sys
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, cast

from aiohttp import web

from bench import bodies


def _ssl_context(certs: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certs / "tls.crt"), str(certs / "tls.key"))
    return context


async def _floor(addr: str, port: int, certs: Path) -> AsyncGenerator[None, None]:
    async def handle(request: web.Request) -> web.Response:
        review = json.loads(await request.read())
        uid = review["request"]["uid"]
        answer = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                  "response": {"uid": uid, "allowed": True}}
        return web.json_response(answer)

    app = web.Application()
    app.add_routes([web.post("/{id:.*}", handle)])
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, addr, port, ssl_context=_ssl_context(certs)).start()
    try:
        yield
    finally:
        await runner.cleanup()


def _quiet_logging() -> None:
    from tierguard.webhook.logs import configure_logging  # noqa: PLC0415

    configure_logging("json", "info")


async def _kopf(addr: str, port: int, certs: Path) -> AsyncGenerator[None, None]:
    import kopf  # noqa: PLC0415
    from kopf._cogs.structs import ephemera, references  # noqa: PLC0415
    from kopf._core.engines import indexing  # noqa: PLC0415
    from kopf._core.engines.admission import serve_admission_request  # noqa: PLC0415
    from kopf._core.intents import registries  # noqa: PLC0415
    from kopf._core.reactor import inventory  # noqa: PLC0415

    _quiet_logging()
    registry = registries.OperatorRegistry()
    insights = references.Insights()
    for path, group, kind in (("pods", "", "Pod"), ("secrets", "", "Secret"), ("deployments", "apps", "Deployment")):
        def noop(**_: Any) -> None:
            return None

        kopf.on.validate(group, "v1", path, id=path, registry=registry)(noop)
        insights.webhook_resources.add(references.Resource(group, "v1", path, kind=kind, namespaced=True))
    # What kopf.operator() binds for its webhook server (kopf/_core/reactor/running.py), minus the cluster.
    fn = functools.partial(serve_admission_request, settings=kopf.OperatorSettings(), registry=registry,
                           insights=insights, memories=inventory.ResourceMemories(),
                           memobase=ephemera.AnyMemo(ephemera.Memo()), indices=indexing.OperatorIndexers().indices)
    server = kopf.WebhookServer(addr=addr, port=port, certfile=str(certs / "tls.crt"),
                                pkeyfile=str(certs / "tls.key"))
    serving = cast(AsyncGenerator[object, None], server(fn))
    await anext(serving)
    try:
        yield
    finally:
        await serving.aclose()


async def _tierguard(addr: str, port: int, certs: Path, namespaces: int,
                     secrets: int) -> AsyncGenerator[None, None]:
    from tierguard.webhook import state as state_module  # noqa: PLC0415
    from tierguard.webhook.admission import AdmissionService  # noqa: PLC0415
    from tierguard.webhook.metrics import Metrics  # noqa: PLC0415
    from tierguard.webhook.server import AdmissionServer  # noqa: PLC0415

    _quiet_logging()
    state = state_module.RuntimeState(own_namespace="tierguard-system")
    state.context = bodies.live_context(namespaces, secrets)
    state.indexes_synced = True
    state.use_policy(bodies.policy())
    settle = getattr(state_module, "settle_heap", None)  # absent before issue 11: keeps A/B runs possible
    if settle is not None:
        settle()  # as tierguard run's readiness handler does once the indexes are synced
    service = AdmissionService(state, Metrics())
    server = AdmissionServer(service, addr=addr, port=port, certfile=str(certs / "tls.crt"),
                             keyfile=str(certs / "tls.key"))
    await server.start()
    try:
        yield
    finally:
        await server.stop()


async def main(kind: str, port: int, certs: Path, namespaces: int, secrets: int, *, addr: str = "127.0.0.1",
               profile: Path | None = None) -> None:
    if kind == "floor":
        serving = _floor(addr, port, certs)
    elif kind == "kopf":
        serving = _kopf(addr, port, certs)
    else:
        serving = _tierguard(addr, port, certs, namespaces, secrets)
    await anext(serving)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # CPU time, not wall time: the loop's waits in epoll are no cost of a review.
    profiler = cProfile.Profile(time.process_time) if profile is not None else None
    if profiler is not None:
        profiler.enable()
    print(f"ready {port}", flush=True)
    await stop.wait()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    await serving.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("floor", "kopf", "tierguard"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--certs", type=Path, required=True)
    parser.add_argument("--addr", default="127.0.0.1")
    parser.add_argument("--namespaces", type=int, default=1000)
    parser.add_argument("--secrets", type=int, default=10000)
    parser.add_argument("--profile", type=Path)
    options = parser.parse_args()
    asyncio.run(main(options.kind, options.port, options.certs, options.namespaces, options.secrets,
                     addr=options.addr, profile=options.profile))
    sys.exit(0)
