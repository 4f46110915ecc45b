"""A scripted watch transport for tests, beside the real one (``transport.py``): no API server, no thread of its
own. Listings are pages of items; each watch request takes the next scripted stream (or exception) and blocks, as
one to an API server that does not answer, while none is queued. And a recording status writer
(``FakeStatusApi``, beside ``status.py``'s)."""

from __future__ import annotations

import copy
import queue
from collections.abc import Iterator
from typing import Any

from tierguard.kube.pager import Page
from tierguard.kube.rest import Expired


class FakeWatchStream:
    """A watch stream: its events, then its end (as at the API server's timeout), unless ``quiet``: then it
    stays open until ``put(None)`` ends it or an exception put there breaks it."""

    def __init__(self, *events: dict[str, Any], quiet: bool = False) -> None:
        self.queue: queue.Queue[dict[str, Any] | Exception | None] = queue.Queue()
        for item in events:
            self.queue.put(item)
        if not quiet:
            self.queue.put(None)
        self.closed = False

    def put(self, item: dict[str, Any] | Exception | None) -> None:
        self.queue.put(item)

    def events(self) -> Iterator[dict[str, Any]]:
        while not self.closed:
            try:
                item = self.queue.get(timeout=0.02)
            except queue.Empty:
                continue
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    def close(self) -> None:
        self.closed = True


class FakeTransport:
    """Pages per listing (a list of pages of items; each new list takes the next listing while more than one
    is left), then one scripted watch per ``watches.put``: a FakeWatchStream, or an exception the watch request
    raises. ``expire_next_continue``: the next continued page answers 410."""

    def __init__(self, *listings: list[list[dict[str, Any]]], served: bool = True,
                 path: str = "/api/v1/secrets") -> None:
        self.listings = list(listings)
        self.current = self.listings[0]
        self.served = served
        self.path = path
        self.watches: queue.Queue[FakeWatchStream | Exception] = queue.Queue()
        self.expire_next_continue = False
        self.list_requests: list[str | None] = []
        self.watched_from: list[str] = []

    def served_path(self, info: Any) -> str | None:
        return self.path if self.served else None

    def list_page(self, path: str, limit: int, token: str | None) -> Page:
        self.list_requests.append(token)
        if token is None:
            self.current = self.listings.pop(0) if len(self.listings) > 1 else self.listings[0]
        elif self.expire_next_continue:
            self.expire_next_continue = False
            raise Expired("continue token too old")
        number = int(token or 0)
        more = number + 1 < len(self.current)
        return Page(copy.deepcopy(self.current[number]), f"rv-{len(self.list_requests)}",
                    str(number + 1) if more else None, "v1")

    def watch(self, path: str, resource_version: str, timeout_s: float, read_timeout_s: float) -> FakeWatchStream:
        self.watched_from.append(resource_version)
        script = self.watches.get()
        if isinstance(script, Exception):
            raise script
        return script


class FakeStatusApi:
    """``kube/status.py``'s StatusApi for tests: records each patch; ``fail`` (an exception) is raised instead
    while set."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.fail: Exception | None = None

    def patch_status(self, name: str, status: Any) -> None:
        if self.fail is not None:
            raise self.fail
        self.patches.append((name, copy.deepcopy(dict(status))))
