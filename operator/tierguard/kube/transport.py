"""The watch transport: the blocking calls a webhook informer makes (where a kind is served, one page of a list,
one watch stream), over the REST client. Bodies are parsed with orjson; nothing here keeps an object.

``Transport`` is what an informer needs; ``KubeTransport`` is the API server's, ``fake.py`` the tests'.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

import orjson

from tierguard.kinds import KindInfo
from tierguard.kube.discovery import resolve_served
from tierguard.kube.pager import Page, rest_fetch
from tierguard.kube.rest import HttpError, open_stream, stream_lines

DISCOVERY_TIMEOUT_S = 10.0
LIST_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 10.0


class NotServed(Exception):
    """The API server no longer serves the kind (404: its CRD was deleted): look for it again."""


class WatchStream(Protocol):
    def events(self) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


class Transport(Protocol):
    """The blocking calls an informer makes."""

    def served_path(self, info: KindInfo) -> str | None:
        """The collection's path (``/api/v1/secrets``), or None when the API server does not serve the kind."""

    def list_page(self, path: str, limit: int, token: str | None) -> Page:
        """One page; raises Expired when ``token`` is too old, NotServed on 404."""

    def watch(self, path: str, resource_version: str, timeout_s: float, read_timeout_s: float) -> WatchStream:
        """A watch from ``resource_version``, open once the API server answered; raises Expired on 410."""


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

    def served_path(self, info: KindInfo) -> str | None:
        served = resolve_served(self.api_client, [info], DISCOVERY_TIMEOUT_S)
        return served[0].path(None) if served else None

    def list_page(self, path: str, limit: int, token: str | None) -> Page:
        try:
            return rest_fetch(self.api_client, path, limit, LIST_TIMEOUT_S)(token)
        except HttpError as error:
            _raise_not_served(error)
            raise

    def watch(self, path: str, resource_version: str, timeout_s: float, read_timeout_s: float) -> KubeWatchStream:
        query = [("watch", "true"), ("resourceVersion", resource_version), ("allowWatchBookmarks", "true"),
                 ("timeoutSeconds", int(timeout_s))]
        try:
            response = open_stream(self.api_client, path, query=query, timeout=(CONNECT_TIMEOUT_S, read_timeout_s))
        except HttpError as error:
            _raise_not_served(error)
            raise
        return KubeWatchStream(response)


def _raise_not_served(error: HttpError) -> None:
    if error.status == 404:
        raise NotServed(error.body[:200]) from None
