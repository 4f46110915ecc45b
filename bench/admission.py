"""Admission throughput of tierguard, as a ratio against baselines measured in the same run.

    python bench/admission.py [--requests 2000] [--concurrency 8] [--secrets 1000]

Three HTTPS servers on loopback answer the same Pod AdmissionReviews:
  floor      plain aiohttp returning a fixed "allowed" response (the cost of HTTP, TLS and JSON alone);
  tierguard  tierguard's HTTPS server (webhook/server.py) with its AdmissionService over a live context of
             --secrets Secrets.
plus the engine alone (evaluate() per review, no HTTP). Prints requests/s for each and tierguard/floor: the
number to watch, since absolute timings vary from machine to machine. No assertion: this is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.webhook.helpers import fake_indexes, free_port, review  # noqa: E402

from tierguard.engine import EvaluationRequest, evaluate  # noqa: E402
from tierguard.engine.fingerprints import Fingerprinter  # noqa: E402
from tierguard.policy import DEFAULT_POLICY  # noqa: E402
from tierguard.webhook.admission import AdmissionService  # noqa: E402
from tierguard.webhook.certs import write_certificates  # noqa: E402
from tierguard.webhook.live_context import LiveContext  # noqa: E402
from tierguard.webhook.metrics import Metrics  # noqa: E402
from tierguard.webhook.server import AdmissionServer  # noqa: E402
from tierguard.webhook.state import RuntimeState  # noqa: E402

KEY = b"k" * 32


def populated_state(secrets: int) -> RuntimeState:
    indexes = fake_indexes()
    for tier in ("dev", "qa", "stage", "prod"):
        indexes.add_namespace(tier, tier)
    for index in range(secrets):
        namespace = ("dev", "qa", "stage", "prod")[index % 4]
        indexes.add_secret({"apiVersion": "v1", "kind": "Secret",
                            "metadata": {"name": f"s{index}", "namespace": namespace},
                            "data": {"password": base64.b64encode(f"value-{index:08d}-padding".encode()).decode()}})
    state = RuntimeState(own_namespace="tierguard-system")
    state.context = LiveContext(Fingerprinter(KEY), indexes.data)
    state.indexes_synced = True
    state.use_policy(DEFAULT_POLICY)
    return state


def pod_review() -> dict[str, Any]:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "dev"},
           "spec": {"containers": [{"name": "app", "image": "nginx",
                                    "envFrom": [{"secretRef": {"name": "s0"}}],
                                    "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s4", "key": "p"}}}]}],
                    "volumes": [{"name": "creds", "secret": {"secretName": "s8"}}]}}
    return review(pod)


async def load(url: str, body: bytes, requests: int, concurrency: int, ca: Path) -> float:
    context = ssl.create_default_context(cafile=str(ca))
    connector = aiohttp.TCPConnector(ssl=context, limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one() -> None:
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
                await response.read()

        for _ in range(min(200, requests)):  # warm-up
            await one()
        remaining = requests
        started = time.perf_counter()

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await one()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.perf_counter() - started)


async def floor_server(port: int, certs: Any, answer: bytes) -> web.AppRunner:
    async def handle(request: web.Request) -> web.Response:
        json.loads(await request.read())
        return web.Response(body=answer, content_type="application/json")

    app = web.Application()
    app.add_routes([web.post("/{id:.*}", handle)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certs.cert), str(certs.key))
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    return runner


async def main(requests: int, concurrency: int, secrets: int) -> dict[str, float]:
    state = populated_state(secrets)
    body_dict = pod_review()
    body = json.dumps(body_dict).encode()
    results: dict[str, float] = {}

    started = time.perf_counter()
    request = EvaluationRequest.from_admission_request(body_dict["request"])
    assert state.context is not None
    for _ in range(requests):
        evaluate(request, state.context, DEFAULT_POLICY)
    results["engine_per_second"] = requests / (time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as tmp:
        certs = write_certificates(Path(tmp), ["127.0.0.1"])
        service = AdmissionService(state, Metrics())
        answer = json.dumps(service.answer(body_dict, "pods")).encode()

        port = free_port()
        runner = await floor_server(port, certs, answer)
        results["floor_per_second"] = await load(f"https://127.0.0.1:{port}/pods", body, requests, concurrency,
                                                 certs.ca)
        await runner.cleanup()

        port = free_port()
        server = AdmissionServer(service, addr="127.0.0.1", port=port, certfile=str(certs.cert),
                                 keyfile=str(certs.key))
        await server.start()
        results["tierguard_per_second"] = await load(f"https://127.0.0.1:{port}/pods", body, requests,
                                                     concurrency, certs.ca)
        await server.stop()
    results["tierguard_to_floor"] = results["tierguard_per_second"] / results["floor_per_second"]
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--secrets", type=int, default=1000)
    options = parser.parse_args()
    outcome = asyncio.run(main(options.requests, options.concurrency, options.secrets))
    print(json.dumps({k: round(v, 3) for k, v in outcome.items()}, indent=2))
