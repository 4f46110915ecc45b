"""The background audit of ``tierguard run``: what already exists, judged by the engine against the webhook's live
indexes, written as reports (``report_writer.py``) by the one replica holding the audit Lease (``kube/lease.py``).

Two kinds of pass, both on the event loop but yielding every few dozen objects, so admission requests (served by
the same loop) wait at most a few milliseconds for it:

- **incremental**: the scopes that watch events marked dirty (``changes.py``), debounced by ``debounce_s``: each
  dirty namespace's judged objects are listed from the API server (one small request per served kind), its
  Secrets are taken from the Secret index (views with keyed fingerprints: no value is read again);
- **full**, every ``interval_s`` (and when this replica becomes the writer, and after the TierPolicy changes):
  every judged kind listed cluster-wide in pages (``kube/pager.py``, the audit command's paging), every
  indexed Secret, every scope's report made true, reports of scopes that are clean or gone deleted. The kinds
  judged by a field whatever their group (Crossplane's: ``kinds.BY_FIELD``) are found by their CRDs' categories
  at each full pass and listed where the chart grants it (``crossplane.auditGroups``); one not granted (403) is
  skipped with a warning, not a failed pass. No watch marks them: only full passes see their changes.

Nothing but the reports, per scope, is kept between passes: results of passing objects are counted, not stored,
and a page of listed objects is judged and dropped before the next one is asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tierguard.engine.context import SecretView
from tierguard.engine.offline import OfflineRun, Result
from tierguard.engine.projection import Projected, project
from tierguard.kinds import BY_FIELD, BY_KEY, JUDGED, KindInfo, categories_of
from tierguard.kube.discovery import Served, discover_categories, resolve_served
from tierguard.kube.pager import ListOptions, Silent, every_object, rest_fetch
from tierguard.kube.rest import HttpError
from tierguard.render.policyreport import entries_of, platform_entries_of, report
from tierguard.webhook.background_audit.changes import Changes, ContentFilter, Dirty
from tierguard.webhook.background_audit.host import AuditHost, AuditMetrics
from tierguard.webhook.background_audit.report_writer import ReportWriter, Scope
from tierguard.webhook.settings import AuditSettings

logger = logging.getLogger("tierguard.audit")

YIELD_EVERY = 25
"""Objects judged between two yields to the event loop (about 2 ms of engine time)."""
FULL_PASS_ABOVE = 20
"""More dirty namespaces than this (a bulk apply, a policy rollout): one full pass, a paged list per kind, costs
fewer requests than a list per kind per namespace (measured: 92 dirty namespaces listed one by one took 228 s
during a bulk creation on the host-mode control plane, docs/audit.md)."""
RETRY_S = 30.0
"""After a failed pass (the API server refused a listing), the next try is this much later at most."""
RECHECK_S = 30.0
"""While a report API is not served, how often the writer asks for it again (one list request per missing API):
CRDs installed after tierguard are written within a minute (the full pass they trigger), without a restart.
A watch of CRDs would be quicker but needs cluster-wide read of CustomResourceDefinitions in RBAC for a rare event."""


@dataclass
class Tally:
    """One pass's outcome per scope: the entries a report lists (findings) and counts of the others."""

    entries: dict[Scope, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    counted: dict[Scope, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    violations: dict[Scope, Counter[tuple[str, str]]] = field(default_factory=lambda: defaultdict(Counter))
    platform: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    """Per namespace, the full form of its findings that its report redacts: the cluster report lists them."""
    objects: int = 0

    def add(self, result: Result) -> None:
        scope = result.ref.namespace
        self.objects += 1
        if scope is not None and (platform := platform_entries_of(result)):
            self.platform[scope].extend(platform)
        for violation in result.decision.violations:
            self.violations[scope][(violation.rule.value, violation.action.value)] += 1
        for entry in entries_of(result):
            if entry["result"] in ("pass", "skip"):
                self.counted[scope][entry["result"]] += 1
            else:
                self.entries[scope].append(entry)

    def scopes(self) -> set[Scope]:
        return set(self.entries) | set(self.counted)


class ListingFailed(Exception):
    pass


def audited_kinds() -> tuple[KindInfo, ...]:
    """Judged kinds the audit lists from the API server: every judged row but Secrets (from the index)."""
    return tuple(info for info in JUDGED if not (info.group == "" and info.kind == "Secret"))


FIELD_CATEGORIES = categories_of(BY_FIELD)
"""The CRD categories of the kinds judged by a field (``managed``, ``composite``, ``claim``)."""


def served_kinds(api_client: Any, timeout: float) -> list[Served]:
    """The audited kinds the API server serves, then the kinds of ``FIELD_CATEGORIES`` it serves."""
    return [*resolve_served(api_client, audited_kinds(), timeout),
            *discover_categories(api_client, FIELD_CATEGORIES, timeout)]


class BackgroundAudit:
    def __init__(self, state: AuditHost, metrics: AuditMetrics, api_client: Any, writer: ReportWriter,
                 settings: AuditSettings, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.state, self.metrics, self.api_client, self.writer = state, metrics, api_client, writer
        self.settings = settings
        self.changes = Changes()
        self.content = ContentFilter()
        self.leading = False
        self.passes: Counter[str] = Counter()
        self._monotonic = monotonic
        self._wake = asyncio.Event()
        self._need_full = True
        self._resync = True
        self._served: list[Served] | None = None
        self._gauged: dict[Scope, set[tuple[str, str]]] = {}
        self._platform: dict[str, list[dict[str, Any]]] = {}
        """What each namespace adds to the cluster report (``Tally.platform``), as of its last pass: an incremental
        pass rewrites the cluster report from it without listing the other namespaces."""
        self._cluster: tuple[list[dict[str, Any]], Counter[str]] = ([], Counter())
        """The cluster-scoped objects' entries and counts, as of the last pass that listed them."""
        self.rest_until = 0.0
        """No pass caused by marks starts before this (``AuditSettings.max_share``)."""
        self.next_recheck = 0.0
        """When the writer asks again for report APIs found missing (``RECHECK_S``)."""

    # --- from the kopf handlers (event loop) ------------------------------------------------------------------

    def marked(self) -> None:
        if not self.leading:
            self.changes.take()  # the next writer starts with a full pass: nothing to remember here
        elif self.changes:
            self._wake.set()

    def set_leader(self, leading: bool) -> None:
        self.leading = leading
        self.metrics.audit_leader.set(1 if leading else 0)
        if leading:
            self._need_full = self._resync = True
        else:
            self._clear_gauges()
        self._wake.set()

    def policy_changed(self) -> None:
        self.changes.mark_everything()
        self._wake.set()

    # --- the loop -------------------------------------------------------------------------------------------

    async def run(self) -> None:
        next_full = self._monotonic()
        while True:
            if not (self.leading and self.state.ready and self.state.context is not None):
                await self._sleep(1.0)
                continue
            now = self._monotonic()
            if now < self.rest_until and not self._need_full:
                await asyncio.sleep(self.rest_until - now)  # marks keep accumulating meanwhile
                continue
            try:
                if self._resync:
                    await asyncio.to_thread(self.writer.resync)
                    self._resync = False
                    self.next_recheck = now + RECHECK_S
                await self._recheck(now)
                if self._need_full or self.changes.everything or now >= next_full:
                    self._need_full = False
                    self.changes.take()  # a full pass covers every mark made so far
                    await self.full_pass()
                    next_full = self._monotonic() + self.settings.interval_s
                elif self.changes:
                    await asyncio.sleep(self.settings.debounce_s)  # let a burst of events mark what it marks
                    await self.incremental_pass(self.changes.take())
                else:
                    wake = min(next_full, self.next_recheck) if self.writer.missing else next_full
                    await self._sleep(max(wake - now, 0.0))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("audit pass failed, retried later: %s: %s", type(error).__name__, str(error)[:300])
                self._need_full = True
                next_full = self._monotonic() + min(RETRY_S, self.settings.interval_s)
                await self._sleep(min(RETRY_S, self.settings.interval_s))

    async def _recheck(self, now: float) -> None:
        """Report APIs that were missing and are served now get every scope's report: a full pass."""
        if not self.writer.missing:
            self.next_recheck = now + RECHECK_S  # the first recheck comes RECHECK_S after an API goes missing
            return
        if now < self.next_recheck:
            return
        self.next_recheck = now + RECHECK_S
        if await asyncio.to_thread(self.writer.recheck):
            self._need_full = True

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    # --- passes ---------------------------------------------------------------------------------------------

    async def full_pass(self) -> None:
        started = time.perf_counter()
        self._served = await asyncio.to_thread(served_kinds, self.api_client, self.settings.timeout_s)
        tally = Tally()
        run = self._run()
        for served in self._served:
            async for chunk in self._listed(served, None):
                await self._judge(run, chunk, tally)
        await self._judge(run, self._secrets(None), tally)
        context = self.state.context
        known = {view.name for view in context.namespaces()} if context is not None else set()
        scopes: set[Scope] = {None, *known, *tally.scopes(), *self.writer.known_scopes()}
        self._platform = dict(tally.platform)
        self._cluster = (tally.entries.get(None, []), tally.counted.get(None, Counter()))
        await self._write(tally, scopes)
        self._finished("full", started, tally, len(scopes))

    async def incremental_pass(self, dirty: Dirty) -> None:
        if dirty.everything or len(dirty.namespaces) > FULL_PASS_ABOVE:
            await self.full_pass()
            return
        started = time.perf_counter()
        if self._served is None:
            self._served = await asyncio.to_thread(served_kinds, self.api_client, self.settings.timeout_s)
        tally = Tally()
        run = self._run()
        for namespace in sorted(dirty.namespaces):
            for served in self._served:
                if served.info.namespaced:
                    async for chunk in self._listed(served, namespace):
                        await self._judge(run, chunk, tally)
        await self._judge(run, self._secrets(dirty.namespaces), tally)
        scopes: set[Scope] = set(dirty.namespaces)
        if dirty.cluster:
            for served in self._served:
                if not served.info.namespaced:
                    async for chunk in self._listed(served, None):
                        await self._judge(run, chunk, tally)
            scopes.add(None)
            self._cluster = (tally.entries.get(None, []), tally.counted.get(None, Counter()))
        for namespace in dirty.namespaces:
            before = self._platform.pop(namespace, [])
            if after := tally.platform.get(namespace, []):
                self._platform[namespace] = after
            if after != before:
                scopes.add(None)
        await self._write(tally, scopes)
        self._finished("incremental", started, tally, len(scopes))

    def _run(self) -> OfflineRun:
        context, policy = self.state.context, self.state.policy
        assert context is not None and policy is not None  # run() waits for readiness
        return OfflineRun.in_context(context, policy, own_namespace=self.state.own_namespace, standing=True)

    def _secrets(self, namespaces: frozenset[str] | None) -> list[Projected]:
        context = self.state.context
        if context is None:
            return []
        return [Projected(secret_object(view), view, context.fingerprinter)
                for view in context.secret_views(namespaces)]

    async def _judge(self, run: OfflineRun, items: Iterable[Projected], tally: Tally) -> None:
        for number, item in enumerate(items, 1):
            tally.add(run.result(item, "cluster"))
            if number % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        await asyncio.sleep(0)

    async def _listed(self, served: Served, namespace: str | None) -> AsyncIterator[list[Projected]]:
        """Pages of one kind's objects (of ``namespace``; None: all), projected in a worker thread and handed over
        through a queue of two pages: memory holds about three pages, whatever the cluster's size."""
        context = self.state.context
        assert context is not None
        fingerprinter = context.fingerprinter
        if namespace is None and served.info.namespaced:
            path = served.path(None)
        elif not served.info.namespaced and namespace is not None:
            return
        else:
            path = served.path(namespace)
        options = ListOptions(chunk_size=self.settings.chunk_size, timeout=self.settings.timeout_s)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[list[Projected] | BaseException | None] = asyncio.Queue(maxsize=2)

        def put(item: list[Projected] | BaseException | None) -> None:
            asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

        def produce() -> None:
            try:
                page: list[Projected] = []
                for obj in _listing(self.api_client, path, served, options):
                    page.append(project(obj, fingerprinter))
                    if len(page) >= options.chunk_size:
                        put(page)
                        page = []
                put(page)
                put(None)
            except BaseException as error:  # handed to the consumer, which raises it there
                if isinstance(error, HttpError) and error.status == 403 and served.info.key not in BY_KEY:
                    # A kind found by its category (Crossplane's) that the chart does not grant: skipped.
                    logger.warning("cannot list %s (%s): not granted to tierguard (chart value "
                                   "crossplane.auditGroups)", served.info.kind, served.group_version)
                    put(None)
                    return
                put(ListingFailed(f"listing {served.info.kind} ({served.group_version}) "
                                  f"{'in ' + namespace if namespace else 'cluster-wide'}: "
                                  f"{type(error).__name__}: {str(error)[:200]}"))

        producer = asyncio.create_task(asyncio.to_thread(produce))
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            while not producer.done():  # never leave the thread blocked on a full queue
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    await asyncio.sleep(0.01)
            await producer

    async def _write(self, tally: Tally, scopes: set[Scope]) -> None:
        first = self.settings.apis[0]
        entries, counted = dict(tally.entries), dict(tally.counted)
        if None in scopes:
            entries[None] = self._cluster[0] + [e for ns in sorted(self._platform) for e in self._platform[ns]]
            counted[None] = self._cluster[1]
        desired = {scope: report(scope, entries[scope], api=first, max_results=self.settings.max_results,
                                 list_passing=False, counted=counted.get(scope))
                   for scope in scopes if entries.get(scope)}
        stats = self.writer.stats
        before = {"create": stats.created, "update": stats.updated, "delete": stats.deleted}
        await asyncio.to_thread(self.writer.sync, desired, sorted(scopes, key=lambda s: s or ""))
        after = {"create": stats.created, "update": stats.updated, "delete": stats.deleted}
        for operation, count in after.items():
            if count > before[operation]:
                self.metrics.audit_report_writes.labels(operation).inc(count - before[operation])
        for scope in scopes:
            self._gauge(scope, tally.violations.get(scope, Counter()))

    def _gauge(self, scope: Scope, violations: Counter[tuple[str, str]]) -> None:
        namespace = scope or ""
        for rule, action in self._gauged.get(scope, set()) - set(violations):
            self.metrics.audit_violations.remove(rule, namespace, action)
        for (rule, action), count in violations.items():
            self.metrics.audit_violations.labels(rule, namespace, action).set(count)
        if violations:
            self._gauged[scope] = set(violations)
        else:
            self._gauged.pop(scope, None)

    def _clear_gauges(self) -> None:
        for scope in list(self._gauged):
            self._gauge(scope, Counter())

    def _finished(self, kind: str, started: float, tally: Tally, scopes: int) -> None:
        elapsed = time.perf_counter() - started
        share = min(max(self.settings.max_share, 0.01), 1.0)
        self.rest_until = self._monotonic() + elapsed * (1.0 / share - 1.0)
        self.passes[kind] += 1
        self.metrics.audit_duration.set(elapsed)
        self.metrics.audit_last_run.set(time.time())
        logger.info("audit pass done", extra={"pass": kind, "objects": tally.objects, "scopes": scopes,
                                              "findings": sum(len(e) for e in tally.entries.values()),
                                              "seconds": round(elapsed, 3)})


def _listing(api_client: Any, path: str, served: Served, options: ListOptions) -> Iterator[dict[str, Any]]:
    """Every object at ``path`` once (restarted on an expired token), in a worker thread; a seam for tests."""
    fetch = rest_fetch(api_client, path, options.chunk_size, options.timeout)
    return every_object(fetch, served.info.kind, served.group_version, options, Silent())


def secret_object(view: SecretView) -> dict[str, Any]:
    """The Secret an indexed view stands for, without data: its view carries the keyed fingerprints."""
    return {"apiVersion": "v1", "kind": view.kind, "metadata": {
        "name": view.name, "namespace": view.namespace, "labels": dict(view.labels),
        "annotations": dict(view.annotations)}}
