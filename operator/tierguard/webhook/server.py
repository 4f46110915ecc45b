"""The HTTPS admission endpoint: a small aiohttp application of tierguard's own (no private API of kopf or
aiohttp), ``POST /<id>`` answered by the AdmissionService with the route id.

TLS comes from the certificate and key files and is reloaded when they change (cert-manager and the chart's
Secret rotate them in place): the new pair is first loaded into a scratch context, and only a pair that loads is
put into the serving context, so a half-written rotation keeps the old certificate instead of breaking TLS. New
connections get the new certificate; the listener never restarts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from collections.abc import Callable
from typing import Protocol

import orjson
from aiohttp import web

from tierguard.engine.review import AdmissionReviewAnswer

logger = logging.getLogger("tierguard.server")

MAX_REVIEW_BYTES = 16 * 1024 * 1024
"""An UPDATE of a 1.5 MiB object carries it twice, base64 inflates Secret data by a third: aiohttp's default
1 MiB body limit would answer 413 and, with failurePolicy Fail, refuse legitimate large objects."""

BODY_READ_TIMEOUT_S = 10.0
"""A body must arrive within this many seconds of its headers: the API server sends a review at once, and a
client that trickles one in must not hold a connection (and its memory) open. Answered 408."""

LINGER_POLL_S = 0.1
"""How often a lingering server looks whether its clients have closed their connections."""


class AdmissionCallback(Protocol):
    """What answers a posted body (the AdmissionService): ``review`` is any JSON value (a broken review is
    answered too, with a denial), ``webhook`` the route id the path names."""

    async def __call__(self, review: object, *, webhook: str) -> AdmissionReviewAnswer: ...


def parse_review(body: bytes) -> object:
    """The request body as JSON, as ``json.loads`` reads it; raises ValueError when it is not JSON (any JSON
    value: the callback tells a review from the rest).

    orjson and json read every review the API server sends alike: it holds no integer beyond 64 bits (Go's
    unstructured objects keep such numbers as float64 and write them as floats, which both read as floats).
    What orjson refuses and json accepts (NaN, Infinity: no API server sends them) goes to json, which decides.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except RecursionError:  # deeper than orjson's 1024 levels and Python's stack: no review nests that deep
        raise ValueError("nested too deeply") from None


def tls_context(certfile: str, keyfile: str, client_ca: str | None = None) -> ssl.SSLContext:
    """A server context serving this certificate chain and key (raises ssl.SSLError / OSError when they do not
    load or do not match). With ``client_ca``, only clients presenting a certificate signed by one of its CAs
    complete the handshake: the API server, given a client certificate for webhooks (docs/security.md), and no
    pod that merely reaches the Service and posts reviews of its own making."""
    context = ssl.create_default_context(purpose=ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def build_app(callback: AdmissionCallback, draining: Callable[[], bool] = lambda: False) -> web.Application:
    """The application: every POST path is a route id for the callback; a body that is not JSON is a 400. While
    ``draining()``, each answer closes its connection, so the API server does not reuse it for the next review."""

    async def review(request: web.Request) -> web.Response:
        if request.content.is_eof():  # the whole body came with the headers (a review's usual case): no wait
            raw = await request.read()
        else:
            # asyncio.timeout, not wait_for: wait_for wraps the read in a Task of its own, some 25 us a review.
            try:
                async with asyncio.timeout(BODY_READ_TIMEOUT_S):
                    raw = await request.read()
            except TimeoutError:
                raise web.HTTPRequestTimeout(reason="the body did not arrive in time") from None
        try:
            body = parse_review(raw)
        except ValueError:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise web.HTTPBadRequest(reason="the body is not a JSON AdmissionReview") from None
        answer = await callback(body, webhook=request.match_info["id"])
        response = web.Response(body=orjson.dumps(answer), content_type="application/json")
        if draining():
            response.force_close()
        return response

    app = web.Application(client_max_size=MAX_REVIEW_BYTES)
    app.add_routes([web.post("/{id:.*}", review)])
    return app


_Stamp = tuple[tuple[int, int], ...]
"""Each served file's (mtime, size)."""


def _stamp(*files: str) -> _Stamp | None:
    try:
        stats = [os.stat(file) for file in files]  # follows the ..data symlinks of Secret volumes
    except OSError:
        return None
    return tuple((stat.st_mtime_ns, stat.st_size) for stat in stats)


class AdmissionServer:
    """``start`` listens, ``serve_reloads`` reloads TLS until cancelled, ``stop`` (optionally lingering) ends."""

    def __init__(self, callback: AdmissionCallback, *, addr: str, port: int, certfile: str, keyfile: str,
                 client_ca: str | None = None, file_check_interval: float = 10.0,
                 draining: Callable[[], bool] = lambda: False) -> None:
        self.callback = callback
        self.draining = draining
        self.addr = addr
        self.port = port
        self.certfile = certfile
        self.keyfile = keyfile
        self.client_ca = client_ca
        self.file_check_interval = file_check_interval
        self.context = tls_context(certfile, keyfile, client_ca)
        self._stamp = _stamp(*self._files())
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(build_app(self.callback, self.draining), handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.addr, self.port, ssl_context=self.context, reuse_address=True).start()
        logger.info("admission webhook listening", extra={"addr": self.addr, "port": self.port,
                                                          "client_certificates": self.client_ca is not None})

    def open_connections(self) -> int:
        """Connections the listener accepted that are not closed yet (idle keep-alive ones included)."""
        return len(self._runner.server.connections) if self._runner is not None and self._runner.server else 0

    async def linger(self, timeout_s: float, cut_short: asyncio.Event | None = None) -> int:
        """Keep serving until every open connection is closed by its client, at most ``timeout_s`` or until
        ``cut_short`` is set; returns how many are still open. The caller makes answers close their connection
        (``draining``) first.

        HTTP/1.1 has no way to tell a client that an idle keep-alive connection is going away: a server that
        closes one races the client writing its next request on it, and the API server does not retry a
        failed POST to a webhook (``EOF``). So a stopping replica closes none itself: each connection is
        closed by its client, either after the answer that said ``Connection: close`` or when the client's
        pool drops it as idle (90 s in Go's and client-go's transports). The listener stays open meanwhile: a
        connection kube-proxy still sends here is answered, not refused."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + timeout_s
        waiting = self.open_connections()
        if waiting:
            logger.info("waiting for clients to close their connections",
                        extra={"connections": waiting, "at_most_s": timeout_s})
        while self.open_connections() and loop.time() < deadline and not (cut_short and cut_short.is_set()):
            await asyncio.sleep(LINGER_POLL_S)
        left = self.open_connections()
        if waiting:
            logger.info("connections closed by their clients" if not left else "closing connections still open",
                        extra={"connections": left, "after_s": round(loop.time() - started, 1)})
        return left

    async def stop(self, linger_s: float = 0.0, cut_short: asyncio.Event | None = None) -> None:
        """Stop serving; with ``linger_s``, first wait (at most that long, or until ``cut_short`` is set) for
        clients to close their connections (``linger``)."""
        if self._runner is None:
            return
        if linger_s > 0:
            await self.linger(linger_s, cut_short)
        await self._runner.cleanup()
        self._runner = None

    def _files(self) -> tuple[str, ...]:
        return (self.certfile, self.keyfile, *((self.client_ca,) if self.client_ca is not None else ()))

    def reload_if_changed(self) -> bool:
        """Serve the certificate files anew if they changed and load; True when they changed. A new client CA is
        trusted besides the ones loaded before (a context cannot forget a CA): one removed needs a restart."""
        stamp = _stamp(*self._files())
        if stamp is None or stamp == self._stamp:
            return False
        try:
            tls_context(self.certfile, self.keyfile, self.client_ca)  # a half-written rotation fails here
            self.context.load_cert_chain(self.certfile, self.keyfile)
            if self.client_ca is not None:
                self.context.load_verify_locations(cafile=self.client_ca)
        except (OSError, ssl.SSLError) as error:
            logger.warning("new certificate files do not load; still serving the previous ones",
                           extra={"error": type(error).__name__})
            return False  # the stamp is kept: the next check retries
        self._stamp = stamp
        logger.info("serving the renewed certificate")
        return True

    async def serve_reloads(self) -> None:
        """Check the certificate files every ``file_check_interval`` seconds, until cancelled."""
        while True:
            await asyncio.sleep(self.file_check_interval)
            self.reload_if_changed()
