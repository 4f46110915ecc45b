"""The informers' blocking calls over the kubernetes client's ApiClient (``audit/rest.py``): where a kind is
served, one page of a list, one watch stream. Bodies are parsed with orjson; nothing here keeps an object."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import orjson

from tierguard.audit.rest import HttpError, open_stream, request, resolve_served, stream_lines
from tierguard.webhook.indexes import IndexSpec
from tierguard.webhook.informer import Expired, NotServed, Page

DISCOVERY_TIMEOUT_S = 10.0
LIST_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 10.0


class KubeWatchStream:
    def __init__(self, response: Any) -> None:
        self._response = response

    def events(self) -> Iterator[dict[str, Any]]:
        for line in stream_lines(self._response):
            event = orjson.loads(line)
            if isinstance(event, dict):
                yield event

    def close(self) -> None:
        # shutdown() interrupts a read blocked in another thread; release_conn() alone would wait for it.
        with contextlib.suppress(AttributeError, OSError, RuntimeError, ValueError):
            self._response.shutdown()
        with contextlib.suppress(OSError, RuntimeError):
            self._response.release_conn()


class KubeTransport:
    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client

    def served_path(self, spec: IndexSpec) -> str | None:
        served = resolve_served(self.api_client, [spec.watches], DISCOVERY_TIMEOUT_S)
        return served[0].path(None) if served else None

    def list_page(self, path: str, limit: int, token: str | None) -> Page:
        query: list[tuple[str, Any]] = [("limit", limit)]
        if token:
            query.append(("continue", token))
        try:
            data = request(self.api_client, "GET", path, query=query, timeout=LIST_TIMEOUT_S)
        except HttpError as error:
            _raise_typed(error)
            raise
        listing = orjson.loads(data)
        metadata = listing.get("metadata") or {}
        return Page(list(listing.get("items") or []), str(metadata.get("resourceVersion") or ""),
                    metadata.get("continue") or None, str(listing.get("apiVersion") or ""))

    def watch(self, path: str, resource_version: str, timeout_s: float, read_timeout_s: float) -> KubeWatchStream:
        query = [("watch", "true"), ("resourceVersion", resource_version), ("allowWatchBookmarks", "true"),
                 ("timeoutSeconds", int(timeout_s))]
        try:
            response = open_stream(self.api_client, path, query=query, timeout=(CONNECT_TIMEOUT_S, read_timeout_s))
        except HttpError as error:
            _raise_typed(error)
            raise
        return KubeWatchStream(response)


def _raise_typed(error: HttpError) -> None:
    if error.status == 410:
        raise Expired(error.body[:200]) from None
    if error.status == 404:
        raise NotServed(error.body[:200]) from None
