"""Fixtures for the webhook shell without a cluster: a ready RuntimeState over in-memory indexes, and the real
HTTPS server (tierguard's own aiohttp application, webhook/server.py) on a loopback port. Builders are in helpers.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.policy import DEFAULT_POLICY
from tierguard.webhook.admission import AdmissionService
from tierguard.webhook.certs import write_certificates
from tierguard.webhook.live_context import LiveContext
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.state import RuntimeState

from .helpers import KEY, FakeIndexes, RunningServer, fake_indexes, free_port


@pytest.fixture
def indexes() -> FakeIndexes:
    fake = fake_indexes()
    fake.add_namespace("dev", "dev")
    fake.add_namespace("prod", "prod")
    fake.add_namespace("default")
    return fake


@pytest.fixture
def state(indexes: FakeIndexes) -> RuntimeState:
    runtime = RuntimeState(own_namespace="tierguard-system")
    runtime.context = LiveContext(Fingerprinter(KEY), indexes.data)
    runtime.indexes_synced = True
    runtime.use_policy(DEFAULT_POLICY)
    return runtime


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def service(state: RuntimeState, metrics: Metrics) -> AdmissionService:
    return AdmissionService(state, metrics)


@pytest.fixture
def https_server(service: AdmissionService, tmp_path: Path) -> Iterator[RunningServer]:
    """The real TLS server, in a thread with its own event loop, as `tierguard run` starts it."""
    from tierguard.webhook.server import AdmissionServer  # noqa: PLC0415

    paths = write_certificates(tmp_path / "certs", ["127.0.0.1", "localhost"])
    port = free_port()
    server = AdmissionServer(service, addr="127.0.0.1", port=port, certfile=str(paths.cert),
                             keyfile=str(paths.key), file_check_interval=0.2)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    reloading = asyncio.run_coroutine_threadsafe(server.serve_reloads(), loop)
    yield RunningServer(f"https://127.0.0.1:{port}", paths.ca, paths.cert, paths.key)
    reloading.cancel()
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)  # closes its connections
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()
