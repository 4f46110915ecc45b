"""SIGTERM is tierguard's, not kopf's: kopf, stopping on a signal, cancels every task created after it started,
the admission server's connection handlers among them, which closes the API server's keep-alive connections
under it (the ``EOF`` the linger exists to prevent). With the real kopf operator (no cluster: its login points
at a closed port, which it only logs), a real SIGTERM to this process and the real TLS server."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

import kopf
import pytest

from tierguard.webhook.command import until_signalled

from .test_linger import serving


def quiet_operator() -> tuple[Any, asyncio.Event, asyncio.Event]:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> Any:
        return kopf.ConnectionInfo(server="https://127.0.0.1:9", insecure=True)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False

    stop, ready = asyncio.Event(), asyncio.Event()
    operator = kopf.operator(registry=registry, standalone=True, clusterwide=True, stop_flag=stop,
                             ready_flag=ready)
    return operator, stop, ready


def test_sigterm_leaves_kopf_running_and_the_connections_open(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="kopf")  # its retries against the closed port

    async def scenario() -> None:
        async with serving(tmp_path, lambda: True) as (_server, connect):
            coroutine, stop, ready = quiet_operator()
            operator = asyncio.create_task(coroutine)
            await asyncio.wait_for(ready.wait(), 30)
            idle = await connect()  # its handler task is created after kopf started: kopf would cancel it
            again = asyncio.Event()
            signalled = asyncio.create_task(until_signalled(operator, ready, again))
            await asyncio.sleep(0.2)  # our handlers replace kopf's once it is ready
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(signalled, 10)
            assert not operator.done(), "kopf stopped on the signal: it would cancel the server's connections"
            assert not again.is_set()
            os.kill(os.getpid(), signal.SIGINT)  # a second signal: a person who will not wait for the linger
            await asyncio.wait_for(again.wait(), 5)
            assert not operator.done()
            await asyncio.sleep(0.5)
            status, headers, _ = await idle.review()  # the connection still answers after SIGTERM
            assert status == 200 and headers.get("connection", "").lower() == "close"
            stop.set()
            await asyncio.wait_for(operator, 30)

    asyncio.run(scenario())


def test_kopf_ending_by_itself_ends_the_wait() -> None:
    async def scenario() -> None:
        async def failing() -> None:
            raise RuntimeError("kopf failed")

        operator = asyncio.create_task(failing())
        await asyncio.wait_for(until_signalled(operator, asyncio.Event()), 5)
        assert isinstance(operator.exception(), RuntimeError)

    asyncio.run(scenario())
