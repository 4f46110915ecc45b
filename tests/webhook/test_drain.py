"""A terminating replica drains before SIGTERM: readiness off, reviews still answered, connections closed."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from tierguard.webhook.metrics import Metrics
from tierguard.webhook.probes import build_probe_app, is_loopback
from tierguard.webhook.server import build_app
from tierguard.webhook.state import RuntimeState


def ready_state() -> RuntimeState:
    state = RuntimeState(own_namespace="tierguard-system")
    state.indexes_synced = True
    state.context = object()  # type: ignore[assignment]  # only its presence counts for readiness
    state.use_policy(None)
    return state


def test_drain_drops_readiness_but_not_admission() -> None:
    state = ready_state()

    async def scenario() -> tuple[int, int, int, str]:
        async with TestClient(TestServer(build_probe_app(state, Metrics(), drain_seconds=0.05))) as client:
            before = (await client.get("/readyz")).status
            drained = await client.get("/drain")
            after = (await client.get("/readyz")).status
            return before, drained.status, after, await drained.text()

    before, drained, after, text = asyncio.run(scenario())
    assert (before, drained, after) == (200, 200, 503)
    assert text == "drained\n"
    assert state.draining and state.not_ready_reason() is None  # admission answers on: only the probe fails


def test_reviews_close_their_connection_only_while_draining() -> None:
    draining = False

    async def callback(body: Any, *, webhook: str) -> dict[str, Any]:
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "response": {"uid": body["request"]["uid"], "allowed": True}}

    async def scenario() -> list[str | None]:
        headers = []
        async with TestClient(TestServer(build_app(callback, lambda: draining))) as client:
            for _ in range(2):
                response = await client.post("/secrets", json={"request": {"uid": "u"}})
                assert response.status == 200 and (await response.json())["response"]["allowed"] is True
                headers.append(response.headers.get("Connection"))
                nonlocal_flip()
        return headers

    def nonlocal_flip() -> None:
        nonlocal draining
        draining = True

    first, second = asyncio.run(scenario())
    assert (first or "").lower() != "close"
    assert (second or "").lower() == "close"


def test_only_the_pod_itself_may_start_a_drain() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1")
    assert not is_loopback("10.244.0.1") and not is_loopback(None)
