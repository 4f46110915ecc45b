"""tierguard's own list and watch of one indexed kind into its ``LiveIndex``, and how fresh that index is.

Why not kopf's indexes: kopf gives every listed object its own worker and, while the operator is still indexing,
a toggle that wakes every other waiting worker, so the initial listing is quadratic in the number of objects (at
10k Secrets a restarted replica was not ready after 10 minutes: bench/README.md). Here each kind is listed page
by page (``kube/pager.py``), each object projected as its page arrives (a Secret's values hashed and dropped
there), the page dropped, and the kind then watched from the list's resourceVersion.

Blocking HTTP runs in one daemon thread per call (the kubernetes client's auth, TLS and timeouts); the index
changes only on the event loop, in the order events arrived, so a review never sees a half-applied event.

Freshness (``WatchHealth``): an index is *confirmed* when its list completes, when a watch is opened from its
resourceVersion, on every event or bookmark, and when the API server ends a watch at its timeout. A watch the API
server ends every ``watch_timeout_s`` (30 s) and a read timeout ``read_grace_s`` (10 s) later than that bound a
silently dead connection; the webhook answers only while every index was confirmed within ``max_staleness_s``
(``RuntimeState.not_ready_reason``), so it decides from an index at most that stale, never older.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.objects import name_of, namespace_of
from tierguard.kube.pager import Page, pages
from tierguard.kube.rest import Expired
from tierguard.kube.transport import NotServed, Transport, WatchStream
from tierguard.webhook.indexes import Entries, IndexSpec
from tierguard.webhook.settings import WatchSettings
from tierguard.webhook.store import LiveIndex, ObjectKey

logger = logging.getLogger("tierguard.watch")

T = TypeVar("T")


class WatchFailed(Exception):
    """An ERROR event other than 410 (a Status the API server sent on the stream)."""


@dataclass(frozen=True)
class Change:
    """What an observer is told. Per object, before the index applies it: ``body`` (a Secret's without its
    values) and its new ``entries`` (None: deleted). After a whole list replaced the index: ``body`` and
    ``entries`` both None (anything may have changed)."""

    spec: IndexSpec
    body: Mapping[str, Any] | None
    entries: Mapping[Any, Any] | None

    @property
    def relisted(self) -> bool:
        return self.body is None


Observer = Callable[[Change], None]


@dataclass
class WatchHealth:
    listed: bool = False
    """The first list completed (or the kind is not served, so there is nothing to list)."""
    streaming: bool = False
    """A watch is open: events arrive as they happen (a dead one is noticed within the read timeout)."""
    confirmed_at: float | None = None
    problem: str | None = None
    relists: int = 0

    def staleness(self, now: float) -> float | None:
        """Seconds since the index was last known to match the API server (0 while a watch is open)."""
        if self.confirmed_at is None:
            return None
        return 0.0 if self.streaming else max(0.0, now - self.confirmed_at)


def _without_values(spec: IndexSpec, body: dict[str, Any]) -> dict[str, Any]:
    """What an observer may see of an object: a core Secret without ``data``/``stringData``."""
    if spec.watches.group == "" and spec.watches.kind == "Secret":
        body.pop("data", None)
        body.pop("stringData", None)
    return body


def owner_of(body: Mapping[str, Any]) -> ObjectKey:
    return (namespace_of(body) or "", name_of(body))


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """Run a blocking call in a daemon thread: a watch blocked on a dead connection must not hold the process
    at exit (the default executor's threads are joined)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def target() -> None:
        try:
            result = function(*args)
        except BaseException as error:  # handed to the awaiting task, which decides
            _call_soon(loop, settle, None, error)
        else:
            _call_soon(loop, settle, result, None)

    threading.Thread(target=target, name="tierguard-watch", daemon=True).start()
    return await future


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: the process is stopping
        loop.call_soon_threadsafe(callback, *args)


@dataclass
class Informer:
    spec: IndexSpec
    transport: Transport
    fingerprinter: Callable[[], Fingerprinter]
    observe: Observer | None = None
    settings: WatchSettings = field(default_factory=WatchSettings)
    monotonic: Callable[[], float] = time.monotonic
    index: LiveIndex = field(default_factory=LiveIndex)
    health: WatchHealth = field(default_factory=WatchHealth)
    watch_only: bool = False
    """Keep nothing and skip the listing (one object is asked for, for its resourceVersion): the background
    audit's marks on kinds no rule looks up, whose existing objects its full pass lists anyway."""
    _listed: asyncio.Event = field(default_factory=asyncio.Event)
    _stream: WatchStream | None = None
    _stopping: bool = False
    _version: str | None = None
    """The resourceVersion of the last listing, event or bookmark applied: where a watch resumes."""

    @property
    def name(self) -> str:
        return self.spec.watches.resource

    async def wait_listed(self) -> None:
        await self._listed.wait()

    async def run(self) -> None:
        """List, then watch from the list's resourceVersion, for ever. A broken watch resumes from the last
        resourceVersion applied (after a backoff); only 410 Gone, or the kind ceasing to be served, lists again."""
        low, high = self.settings.backoff_s
        delay = low
        path: str | None = None
        try:
            while True:
                try:
                    if self._version is None or path is None:
                        path = await in_thread(self.transport.served_path, self.spec.watches)
                        if path is None:
                            self._not_served()
                            await asyncio.sleep(self.settings.rediscover_s)
                            continue
                        self._version = await (self._start_point(path) if self.watch_only else self._list(path))
                    await self._watch(path, self._version)
                    delay = low
                except Expired:
                    self._version = None
                    self.health.relists += 1
                    logger.info("watch expired: listing again", extra={"resource": self.name})
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    if isinstance(error, NotServed):
                        self._version = None
                    self.health.problem = f"{type(error).__name__}: {str(error)[:200]}"
                    logger.warning("watch failed, retrying", extra={"resource": self.name,
                                                                    "error": self.health.problem,
                                                                    "retry_in_s": delay})
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, high)
        finally:
            self._stopping = True
            stream = self._stream
            if stream is not None:
                stream.close()

    def _confirm(self) -> None:
        self.health.confirmed_at = self.monotonic()

    def _not_served(self) -> None:
        if self.index.objects:
            self.index.replace(LiveIndex())
            self._observe(Change(self.spec, None, None))
        self.health.listed, self.health.streaming, self.health.problem = True, True, None
        self._confirm()
        self._listed.set()

    def _observe(self, change: Change) -> None:
        if self.observe is None:
            return
        try:
            self.observe(change)
        except Exception:  # an observer's bug must not stop the index (the audit's full pass covers it)
            logger.exception("index observer failed", extra={"resource": self.name})

    def _project(self, body: dict[str, Any]) -> tuple[ObjectKey, Entries | None, dict[str, Any]]:
        try:
            entries: Entries | None = self.spec.project(body, self.fingerprinter())
        except Exception as error:
            # Not indexed: logged with where it is; its own admission and the audit report it.
            logger.error("cannot index object", extra={"resource": self.name, "namespace": namespace_of(body),
                                                       "name": name_of(body), "error": type(error).__name__})
            entries = None
        return owner_of(body), entries, _without_values(self.spec, body)

    def _project_page(self, page: Page) -> list[tuple[ObjectKey, Entries | None]]:
        projected = []
        for item in page.items:
            item.setdefault("kind", self.spec.watches.kind)  # list items come without them; events with them
            item.setdefault("apiVersion", page.api_version)
            owner, entries, _ = self._project(item)
            projected.append((owner, entries))
        page.items.clear()  # the raw objects (a Secret's values) go now, not when the page is collected
        return projected

    async def _list(self, path: str) -> str:
        """Every page into a new index, then that index in place of the old one at once. The pager fetches the
        next page while this one is projected: the API server serves it on another core meanwhile."""
        listing, version = await in_thread(self._list_pages, path)
        again = self.health.listed
        self.index.replace(listing)
        self.health.listed, self.health.problem = True, None
        self._confirm()
        if again:
            self._observe(Change(self.spec, None, None))
        self._listed.set()
        logger.info("listed", extra={"resource": self.name, "objects": self.index.objects})
        return version

    def _list_pages(self, path: str) -> tuple[LiveIndex, str]:
        """In the listing's thread: the new index is nobody else's until ``_list`` swaps it in. No restart here
        (``max_restarts=0``): an expired token goes up to ``run`` as Expired, which lists again from discovery,
        as after a watch's 410."""
        listing = LiveIndex()
        version = ""
        fetch = partial(self.transport.list_page, path, self.settings.page_size)
        for page in pages(fetch, max_restarts=0):
            if self._stopping:
                break  # cancelled: ``_list`` is no longer awaiting this index
            for owner, entries in self._project_page(page):
                if entries is not None:
                    listing.put(owner, entries)
            version = page.resource_version
        return listing, version

    async def _start_point(self, path: str) -> str:
        page = await in_thread(self.transport.list_page, path, 1, None)
        page.items.clear()
        again = self.health.listed
        self.health.listed, self.health.problem = True, None
        self._confirm()
        if again:
            self._observe(Change(self.spec, None, None))  # events may have been missed meanwhile
        self._listed.set()
        return page.resource_version

    async def _watch(self, path: str, version: str) -> None:
        settings = self.settings
        stream = await in_thread(self.transport.watch, path, version, settings.watch_timeout_s,
                                 settings.watch_timeout_s + settings.read_grace_s)
        self._stream = stream
        self.health.streaming, self.health.problem = True, None
        self._confirm()
        try:
            await in_thread(self._pump, stream, asyncio.get_running_loop())
        finally:
            self._stream = None
            self.health.streaming = False
            stream.close()
        self._confirm()  # the API server ended it at its timeout: everything up to now was delivered

    def _pump(self, stream: WatchStream, loop: asyncio.AbstractEventLoop) -> None:
        """In the watch's thread: parse and project each event and hand it to the loop, in order."""
        for event in stream.events():
            if self._stopping:
                break
            kind, body = event.get("type"), event.get("object")
            if not isinstance(body, dict):
                raise WatchFailed(f"an event without an object: {str(kind)[:40]}")
            if kind == "ERROR":
                if body.get("code") == 410:
                    raise Expired(str(body.get("message", ""))[:200])
                raise WatchFailed(f"{body.get('code')} {body.get('reason')}: {str(body.get('message'))[:200]}")
            version = (body.get("metadata") or {}).get("resourceVersion")
            version = str(version) if version else None
            if kind == "BOOKMARK":
                _call_soon(loop, self._bookmark, version)
                continue
            if kind not in ("ADDED", "MODIFIED", "DELETED"):
                continue
            owner, entries, kept = self._project(body)
            _call_soon(loop, self._apply, kind, owner, entries, kept, version)

    def _bookmark(self, version: str | None) -> None:
        self._version = version or self._version
        self._confirm()

    def _apply(self, kind: str, owner: ObjectKey, entries: Entries | None, body: dict[str, Any],
               version: str | None) -> None:
        self._version = version or self._version
        if self.watch_only:
            self._observe(Change(self.spec, body, None if kind == "DELETED" else (entries or {})))
        elif kind == "DELETED":
            self._observe(Change(self.spec, body, None))
            self.index.remove(owner)
        elif entries is not None:
            self._observe(Change(self.spec, body, entries))
            self.index.put(owner, entries)
        self._confirm()


class Informers:
    """Every indexed kind's informer: the indexes ``LiveContext`` reads, and whether they can be trusted."""

    def __init__(self, informers: list[Informer], settings: WatchSettings) -> None:
        self.informers = informers
        self.settings = settings

    @property
    def indexes(self) -> dict[str, LiveIndex]:
        return {informer.spec.id: informer.index for informer in self.informers}

    async def run(self) -> None:
        await asyncio.gather(*(informer.run() for informer in self.informers))

    async def wait_listed(self) -> None:
        await asyncio.gather(*(informer.wait_listed() for informer in self.informers))

    def not_ready_reason(self, now: float | None = None) -> str | None:
        """Why no decision may be made from these indexes now, or None."""
        unlisted = [i for i in self.informers if not i.health.listed]
        if unlisted:
            names = ", ".join(i.name for i in unlisted)
            problems = "; ".join(f"{i.name}: {i.health.problem}" for i in unlisted if i.health.problem)
            return f"the initial listing of {names} is not complete" + (f" ({problems})" if problems else "")
        if now is None:
            now = self.informers[0].monotonic() if self.informers else 0.0
        for informer in self.informers:
            staleness = informer.health.staleness(now)
            if staleness is not None and staleness > self.settings.max_staleness_s:
                problem = f" ({informer.health.problem})" if informer.health.problem else ""
                return (f"the watch of {informer.name} has not been confirmed for {staleness:.0f} s (bound "
                        f"{self.settings.max_staleness_s:.0f} s){problem}")
        return None
