"""Writing the background audit's reports: only what changed, only reports tierguard owns, none for clean scopes.

The writer remembers, per report API and namespace (None: the cluster report), the normalized content it last
wrote (or found, when it became the writer). A judged scope whose report would be identical costs no request; a
scope that is now clean (nothing failed, warned or erred) has its report deleted; a report named ``tierguard``
without the ``app.kubernetes.io/managed-by: tierguard`` label is someone else's and is never changed (SPEC). So
the API server sees at most one object per namespace with findings plus one cluster report per API, and a write
only when a finding appears, changes or goes.

A report API whose CRD is absent (at start, or deleted later) is skipped, with one warning, until ``recheck``
finds it served: CRDs installed after tierguard (a ``helm upgrade`` that adds them, Kyverno, policy-reporter) are
written without a restart.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tierguard.kube.rest import HttpError, not_found_object, request_json
from tierguard.render.policyreport import NAME, OWNER_LABEL, ReportApi, is_clean

logger = logging.getLogger("tierguard.reports")

Scope = str | None
"""A namespace, or None for the cluster report."""


class NotFound(Exception):
    pass


class Conflict(Exception):
    """409: the object exists (create) or changed since it was read (replace)."""


class ApiMissing(Exception):
    """The report API's CRD is not installed (or is being deleted: it refuses creates)."""


class ReportsApi(Protocol):
    def list_owned(self, api: ReportApi) -> list[Mapping[str, Any]]:
        """Every report of ``api`` (namespaced and cluster) carrying the owner label; raises ApiMissing."""

    def read(self, api: ReportApi, namespace: Scope) -> Mapping[str, Any] | None: ...

    def create(self, api: ReportApi, namespace: Scope, body: Mapping[str, Any]) -> Mapping[str, Any]: ...

    def replace(self, api: ReportApi, namespace: Scope, body: Mapping[str, Any]) -> Mapping[str, Any]: ...

    def delete(self, api: ReportApi, namespace: Scope) -> None: ...


def owned(report: Mapping[str, Any]) -> bool:
    labels = (report.get("metadata") or {}).get("labels") or {}
    return isinstance(labels, Mapping) and labels.get(OWNER_LABEL[0]) == OWNER_LABEL[1]


def normalized(report: Mapping[str, Any]) -> str:
    """What tierguard decides of a report, as one comparable string (not the API server's bookkeeping)."""
    labels = (report.get("metadata") or {}).get("labels") or {}
    return json.dumps({"labels": labels, "summary": report.get("summary"), "results": report.get("results") or [],
                       "configuration": report.get("configuration")}, sort_keys=True, separators=(",", ":"))


@dataclass
class WriteStats:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    bytes_written: int = 0
    """JSON bytes of the bodies sent by creates and updates."""
    foreign: set[tuple[str, Scope]] = field(default_factory=set)


class ReportWriter:
    def __init__(self, reports: ReportsApi, apis: Iterable[ReportApi]) -> None:
        self.reports = reports
        self.apis = tuple(apis)
        self.stats = WriteStats()
        self._written: dict[tuple[str, Scope], str] = {}
        self._missing: set[str] = set()
        """APIs found not served: skipped until ``recheck`` (or ``resync``) finds them; warned of once each time
        one goes missing, not at every pass."""

    @property
    def missing(self) -> tuple[ReportApi, ...]:
        return tuple(api for api in self.apis if api.name in self._missing)

    def resync(self) -> None:
        """Forget what was written and learn what exists (on becoming the writer: another replica wrote before)."""
        self._written.clear()
        for api in self.apis:
            self._learn(api)

    def recheck(self) -> tuple[ReportApi, ...]:
        """Ask again for each API found missing; those served now are learned (the reports of ours they hold) and
        returned: the caller then makes every scope's report true (a full pass). Other failures leave an API
        missing until the next recheck (an API server that does not answer fails the passes too, which say so)."""
        appeared = []
        for api in self.missing:
            try:
                if self._learn(api):
                    appeared.append(api)
            except Exception as error:
                logger.debug("recheck of %s: %s: %s", api.api_version, type(error).__name__, str(error)[:200])
        return tuple(appeared)

    def _learn(self, api: ReportApi) -> bool:
        """Record the reports of ours that ``api`` holds; False when it is not served."""
        try:
            found = self.reports.list_owned(api)
        except ApiMissing:
            self._note_missing(api)
            return False
        if api.name in self._missing:
            self._missing.discard(api.name)
            logger.info("%s is served now: writing %s reports", api.api_version, api.kind)
        for report in found:
            metadata = report.get("metadata") or {}
            if metadata.get("name") == NAME and owned(report):
                self._written[(api.name, metadata.get("namespace"))] = normalized(report)
        return True

    def known_scopes(self) -> set[Scope]:
        """Every scope with a report of ours (as far as this writer knows)."""
        return {scope for _, scope in self._written}

    def sync(self, desired: Mapping[Scope, Mapping[str, Any] | None], scopes: Iterable[Scope]) -> None:
        """Make the reports of ``scopes`` what ``desired`` says (a missing or clean report: none). ``desired``
        holds reports of the first API; the others get the same content under their apiVersion and kinds."""
        for api in self.apis:
            if api.name in self._missing:
                continue
            for scope in scopes:
                template = desired.get(scope)
                try:
                    self._sync_one(api, scope, None if template is None or is_clean(dict(template))
                                   else _as_api(template, api))
                except ApiMissing:
                    self._note_missing(api)
                    break
                except Exception as error:  # retried at the next pass: forget what we thought was there
                    self._written.pop((api.name, scope), None)
                    logger.warning("report %s %s: %s: %s", api.kind_for(scope), scope or "(cluster)",
                                   type(error).__name__, str(error)[:200])

    def _sync_one(self, api: ReportApi, scope: Scope, body: dict[str, Any] | None) -> None:
        key = (api.name, scope)
        if body is None:
            if key not in self._written:
                return
            current = self.reports.read(api, scope)
            if current is not None and owned(current):
                self.reports.delete(api, scope)
                self.stats.deleted += 1
            del self._written[key]
            return
        wanted = normalized(body)
        if self._written.get(key) == wanted:
            self.stats.unchanged += 1
            return
        if key not in self._written:
            try:
                self._send(self.reports.create, api, scope, body, wanted)
                self.stats.created += 1
                return
            except Conflict:
                pass  # it exists: ours from an earlier writer (replaced below), or someone else's
        for _ in range(3):
            current = self.reports.read(api, scope)
            if current is None:
                self._send(self.reports.create, api, scope, body, wanted)
                self.stats.created += 1
                return
            if not owned(current):
                if key not in self.stats.foreign:
                    self.stats.foreign.add(key)
                    logger.warning("%s %s/%s exists without the label %s=%s: not tierguard's, left alone",
                                   api.kind_for(scope), scope or "", NAME, *OWNER_LABEL)
                return
            if normalized(current) == wanted:
                self._written[key] = wanted
                self.stats.unchanged += 1
                return
            version = (current.get("metadata") or {}).get("resourceVersion")
            versioned = {**body, "metadata": {**body["metadata"], "resourceVersion": version}}
            try:
                self._send(self.reports.replace, api, scope, versioned, wanted)
                self.stats.updated += 1
                return
            except Conflict:
                continue
        raise Conflict("the report kept changing under us")

    def _send(self, call: Any, api: ReportApi, scope: Scope, body: Mapping[str, Any], wanted: str) -> None:
        call(api, scope, body)
        self.stats.bytes_written += len(json.dumps(body, separators=(",", ":")))
        self._written[(api.name, scope)] = wanted

    def _note_missing(self, api: ReportApi) -> None:
        if api.name not in self._missing:
            logger.warning("%s is not served (CRD absent): no %s reports until its CRDs are installed (chart "
                           "value audit.reports.installCRDs); looked for again while missing", api.api_version,
                           api.kind)
        self._missing.add(api.name)
        # Its reports went with its CRD: forgotten, or an identical report would not be written again on its return.
        for key in [key for key in self._written if key[0] == api.name]:
            del self._written[key]


def _as_api(report: Mapping[str, Any], api: ReportApi) -> dict[str, Any]:
    metadata = report.get("metadata") or {}
    body = {**report, "apiVersion": api.api_version, "kind": api.kind_for(metadata.get("namespace"))}
    if api.name != "openreports":
        body.pop("configuration", None)
    return body


class KubernetesReportsApi:
    """ReportsApi over the API server (plain JSON)."""

    def __init__(self, api_client: Any, timeout: float = 30.0) -> None:
        self.api_client, self.timeout = api_client, timeout

    @staticmethod
    def _path(api: ReportApi, namespace: Scope, name: str | None = NAME) -> str:
        where = f"/namespaces/{namespace}" if namespace is not None else ""
        return f"/apis/{api.api_version}{where}/{api.plural_for(namespace)}" + (f"/{name}" if name else "")

    def _call(self, method: str, path: str, **options: Any) -> Any:
        try:
            return request_json(self.api_client, method, path, timeout=self.timeout, **options)
        except HttpError as error:
            if error.status == 404:
                raise (NotFound if not_found_object(error) else ApiMissing)(error.reason) from None
            if error.status == 409:
                raise Conflict(error.reason) from None
            if error.status == 405 and "terminating" in error.body:  # the CRD is being deleted, its reports too
                raise ApiMissing(error.reason) from None
            raise

    def list_owned(self, api: ReportApi) -> list[Mapping[str, Any]]:
        selector = [("labelSelector", f"{OWNER_LABEL[0]}={OWNER_LABEL[1]}")]
        found: list[Mapping[str, Any]] = []
        for plural in (api.plural, api.cluster_plural):
            listing = self._call("GET", f"/apis/{api.api_version}/{plural}", query=selector)
            found.extend((listing or {}).get("items") or [])
        return found

    def read(self, api: ReportApi, namespace: Scope) -> Mapping[str, Any] | None:
        try:
            found: Mapping[str, Any] = self._call("GET", self._path(api, namespace))
        except NotFound:
            return None
        return found

    def create(self, api: ReportApi, namespace: Scope, body: Mapping[str, Any]) -> Mapping[str, Any]:
        created: Mapping[str, Any] = self._call("POST", self._path(api, namespace, None), body=body)
        return created

    def replace(self, api: ReportApi, namespace: Scope, body: Mapping[str, Any]) -> Mapping[str, Any]:
        replaced: Mapping[str, Any] = self._call("PUT", self._path(api, namespace), body=body)
        return replaced

    def delete(self, api: ReportApi, namespace: Scope) -> None:
        with contextlib.suppress(NotFound):
            self._call("DELETE", self._path(api, namespace))
