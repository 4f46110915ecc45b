"""The one pager: a collection listed in pages (``limit`` / ``continue``, as ``kubectl get --chunk-size`` does),
for the CLI's cluster listing, the webhook's informers and its background audit.

``pages`` asks for the next page while the caller handles this one (one request in flight at a time, as a plain
paged list makes them, in a daemon thread: a request blocked on a dead connection never holds the process at
exit), so the API server's time and ours overlap. When a continue token expires (``410 Gone``: the list outlived
the API server's compaction window) the listing starts again from the start, at most ``max_restarts`` times;
the caller hears of each restart first. ``every_object`` adds what the audits need on top: each object exactly
once across restarts (as the first listing that reached it saw it), with ``apiVersion`` and ``kind`` set.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

import orjson

from tierguard.kube.rest import Expired, request

DEFAULT_CHUNK_SIZE = 500
"""Objects per page: kubectl's ``--chunk-size`` default."""
DEFAULT_TIMEOUT_S = 60.0
"""Seconds one request (a page, a discovery call) may take."""
MAX_RESTARTS = 5
"""Times one kind's listing is restarted after an expired continue token before the listing gives up."""

T = TypeVar("T")


@dataclass(frozen=True)
class ListOptions:
    chunk_size: int = DEFAULT_CHUNK_SIZE
    timeout: float | None = DEFAULT_TIMEOUT_S
    """Per request, in seconds; None: wait as long as the server takes."""
    max_restarts: int = MAX_RESTARTS


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    resource_version: str
    continue_token: str | None
    api_version: str = ""


Fetch = Callable[[str | None], Page]
"""One page from a continue token (None: the first page); raises Expired when the token is too old."""


def parse(data: bytes) -> Any:
    """orjson (fast, and it keeps no copy of the text); json decides what orjson refuses (NaN, deep nesting)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def rest_fetch(api_client: Any, path: str, limit: int, timeout: float | None) -> Fetch:
    """Pages of the collection at ``path`` through the REST client."""

    def fetch(token: str | None) -> Page:
        query: list[tuple[str, Any]] = [("limit", limit)]
        if token:
            query.append(("continue", token))
        listing = parse(request(api_client, "GET", path, query=query, timeout=timeout))
        if not isinstance(listing, Mapping):
            raise ValueError("the API server answered a list request with something other than a list")
        items, metadata = listing.get("items"), listing.get("metadata")
        metadata = metadata if isinstance(metadata, Mapping) else {}
        following = metadata.get("continue")
        return Page(items if isinstance(items, list) else [], str(metadata.get("resourceVersion") or ""),
                    str(following) if following else None, str(listing.get("apiVersion") or ""))

    return fetch


class _Ahead(Generic[T]):
    """One call running in a daemon thread; ``result()`` waits for it and returns or raises what it did."""

    def __init__(self, call: Callable[[], T]) -> None:
        self._result: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), name="tierguard-list", daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], T]) -> None:
        try:
            self._result = call()
        except BaseException as error:  # handed to the caller of result()
            self._error = error

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]


def pages(fetch: Fetch, *, max_restarts: int, on_restart: Callable[[int, Expired], None] | None = None
          ) -> Iterator[Page]:
    """Every page of one collection, the next one asked for while the caller handles this one. An expired
    continue token starts the listing again (``on_restart(restart, error)`` first), at most ``max_restarts``
    times; an expired first page, or one restart too many, raises Expired."""
    restarts = 0
    asked: str | None = None
    pending: _Ahead[Page] | None = _Ahead(partial(fetch, None))
    while pending is not None:
        try:
            page = pending.result()
        except Expired as error:
            if asked is None or restarts >= max_restarts:
                raise
            restarts += 1
            if on_restart is not None:
                on_restart(restarts, error)
            asked, pending = None, _Ahead(partial(fetch, None))
            continue
        following = page.continue_token
        asked, pending = following, (_Ahead(partial(fetch, following)) if following else None)
        yield page


class Observer(Protocol):
    """Who watches a listing (the CLI's progress line); told nothing about any object's content."""

    def objects_listed(self, count: int) -> None: ...

    def note(self, message: str) -> None: ...


class Silent:
    """An Observer that shows nothing."""

    def kind_started(self, kind: str, number: int, total: int) -> None:
        pass

    def objects_listed(self, count: int) -> None:
        pass

    def note(self, message: str) -> None:
        pass


def every_object(fetch: Fetch, kind: str, api_version: str, options: ListOptions, observer: Observer
                 ) -> Iterator[dict[str, Any]]:
    """Every object of one collection, each with ``apiVersion`` and ``kind`` set (list items lack them), in pages;
    restarted (at most ``options.max_restarts`` times) when a continue token expires, without yielding any
    object twice."""
    seen: set[str] = set()

    def restarted(restart: int, _: Expired) -> None:
        observer.note(f"listing {kind} ({api_version}) again from the start: its continue token expired (410 Gone) "
                      f"after {len(seen)} objects; restart {restart} of at most {options.max_restarts}, objects "
                      f"already listed are not repeated")

    for page in pages(fetch, max_restarts=options.max_restarts, on_restart=restarted):
        fresh = 0
        for item in page.items:
            if not isinstance(item, dict):
                continue
            key = _identity(item)
            if key in seen:
                continue
            seen.add(key)
            item["apiVersion"] = api_version
            item["kind"] = kind
            fresh += 1
            yield item
        page.items.clear()  # the raw objects go now, not when the page is collected
        observer.objects_listed(fresh)


def _identity(item: Mapping[str, Any]) -> str:
    metadata = item.get("metadata")
    if not isinstance(metadata, Mapping):
        return ""
    uid = metadata.get("uid")
    return str(uid) if uid else f"{metadata.get('namespace') or ''}/{metadata.get('name') or ''}"
