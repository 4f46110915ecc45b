"""A stopping replica closes no connection itself: it answers on them (each answer closing its connection) until
their clients have closed them, at most its linger. HTTP/1.1 cannot tell a client that an idle keep-alive
connection is going away, so a server closing one races the client's next request on it (the API server then
reports ``EOF`` and does not retry). The real TLS server on loopback, driven by raw keep-alive connections."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from tierguard.webhook.certs import write_certificates
from tierguard.webhook.server import AdmissionServer

from .helpers import free_port

REVIEW = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                     "request": {"uid": "u-1"}}).encode()


class Connection:
    """One client keep-alive connection, written and read by hand so the test decides when it closes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def review(self) -> tuple[int, dict[str, str], Any]:
        self.writer.write(b"POST /secrets HTTP/1.1\r\nHost: tierguard\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (len(REVIEW), REVIEW))
        await self.writer.drain()
        status_line = await asyncio.wait_for(self.reader.readline(), 5)
        assert status_line, "the server closed the connection instead of answering"
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers["content-length"]))
        return int(status_line.split()[1]), headers, json.loads(body)

    async def closed_by_server(self) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(1), 2) == b""
        except (ConnectionError, ssl.SSLError):
            return True

    async def close(self) -> None:
        self.writer.close()
        with suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


@asynccontextmanager
async def serving(tmp_path: Path, draining: Callable[[], bool]) -> AsyncIterator[
        tuple[AdmissionServer, Callable[[], Awaitable[Connection]]]]:
    paths = write_certificates(tmp_path / "certs", ["127.0.0.1"])

    async def callback(body: Any, *, webhook: str) -> dict[str, Any]:
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "response": {"uid": body["request"]["uid"], "allowed": True}}

    port = free_port()
    server = AdmissionServer(callback, addr="127.0.0.1", port=port, certfile=str(paths.cert),
                             keyfile=str(paths.key), draining=draining)
    client_tls = ssl.create_default_context(cafile=str(paths.ca))

    async def connect() -> Connection:
        return Connection(*await asyncio.open_connection("127.0.0.1", port, ssl=client_tls))

    await server.start()
    try:
        yield server, connect
    finally:
        await server.stop()


def test_an_idle_connection_is_answered_and_not_closed_until_its_client_closes_it(tmp_path: Path) -> None:
    draining = [False]

    async def scenario() -> None:
        async with serving(tmp_path, lambda: draining[0]) as (server, connect):
            idle = await connect()
            status, headers, _ = await idle.review()
            assert status == 200 and headers.get("connection", "").lower() != "close"
            draining[0] = True
            stopping = asyncio.create_task(server.stop(linger_s=30))
            await asyncio.sleep(0.5)
            assert not stopping.done(), "the server stopped while a client still held a connection"
            assert server.open_connections() == 1
            # The client reuses its idle connection: answered, and told to close it.
            status, headers, answer = await idle.review()
            assert status == 200 and answer["response"]["allowed"] is True
            assert headers.get("connection", "").lower() == "close"
            assert await idle.closed_by_server()
            await asyncio.wait_for(stopping, 5)  # nothing open any more: the linger ends at once

    asyncio.run(scenario())


def test_a_new_connection_is_answered_while_lingering(tmp_path: Path) -> None:
    """kube-proxy may still route a new connection here just after SIGTERM: answered, not refused."""

    async def scenario() -> None:
        async with serving(tmp_path, lambda: True) as (server, connect):
            held = await connect()
            await held.review()  # answered with close while draining; the client has not read the close yet
            other = await connect()
            stopping = asyncio.create_task(server.stop(linger_s=30))
            await asyncio.sleep(0.3)
            late = await connect()  # after stop() began
            status, headers, _ = await late.review()
            assert status == 200 and headers.get("connection", "").lower() == "close"
            assert not stopping.done()
            await other.close()  # the client drops its idle connection, as Go's pool does after 90 s
            await held.close()
            await late.close()
            await asyncio.wait_for(stopping, 5)
            assert server.open_connections() == 0

    asyncio.run(scenario())


def test_the_linger_ends_at_its_bound(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path, lambda: True) as (server, connect):
            idle = await connect()
            left = await asyncio.wait_for(server.linger(0.3), 5)
            assert left == 1  # a client that never closes: the bound, not the client, ends the wait
            await server.stop()
            assert await idle.closed_by_server()

    asyncio.run(scenario())


def test_without_a_linger_stop_closes_idle_connections_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path, lambda: False) as (server, connect):
            idle = await connect()
            await idle.review()
            await asyncio.wait_for(server.stop(), 5)
            assert await idle.closed_by_server()

    asyncio.run(scenario())


def test_the_linger_is_cut_short_on_request(tmp_path: Path) -> None:
    """A second SIGTERM or Ctrl-C (command.until_signalled) ends the wait for the clients."""

    async def scenario() -> None:
        async with serving(tmp_path, lambda: True) as (server, connect):
            idle = await connect()
            cut_short = asyncio.Event()
            lingering = asyncio.create_task(server.linger(30, cut_short))
            await asyncio.sleep(0.3)
            assert not lingering.done()
            cut_short.set()
            assert await asyncio.wait_for(lingering, 5) == 1
            await idle.close()

    asyncio.run(scenario())
