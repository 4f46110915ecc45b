"""Reading a live cluster for ``audit`` and ``parity``: the client, the TierPolicy, and every listed object,
projected for the engine as its page arrives (the only network I/O of the audit).

Lists every kind a rule judges and every kind the context needs (namespaces, secrets, storage, roles, secret
stores): the judged and indexed rows of ``tierguard/kinds.py``. Kinds whose CRDs are absent are skipped.

Each kind is listed in pages (``limit`` / ``continue``, as ``kubectl get --chunk-size`` does), each request
bounded by a timeout. A page is parsed, each object projected (``engine/projection.py``: a Secret's values are
fingerprinted and dropped right there) and the page is gone before the next is asked for, so memory grows with
the number of objects, not their size. When a continue token expires (``410 Gone``: the list outlived the API
server's compaction window) the kind is listed again from the start, said on stderr, and objects already
yielded are skipped: every object is yielded exactly once, as the first listing that reached it saw it.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.projection import Projected, project
from tierguard.errors import ClusterUnreadable
from tierguard.kinds import KindInfo, listed
from tierguard.policy import DEFAULT_POLICY, TierPolicy, load_stored_policy

DEFAULT_CHUNK_SIZE = 500
"""Objects per page: kubectl's ``--chunk-size`` default."""
DEFAULT_TIMEOUT_S = 60.0
"""Seconds one request (a page, a discovery call) may take."""
MAX_RESTARTS = 5
"""Times one kind's listing is restarted after an expired continue token before the audit gives up."""


@dataclass(frozen=True)
class ListOptions:
    chunk_size: int = DEFAULT_CHUNK_SIZE
    timeout: float | None = DEFAULT_TIMEOUT_S
    """Per request, in seconds; None: wait as long as the server takes."""
    max_restarts: int = MAX_RESTARTS


class Observer(Protocol):
    """Who watches a listing (the progress line on a terminal); told nothing about any object's content."""

    def kind_started(self, kind: str, number: int, total: int) -> None: ...

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


def listed_kinds() -> tuple[KindInfo, ...]:
    """Every judged kind and every kind the context needs, from the kinds table; Namespaces first."""
    return listed()


def connect(kubeconfig: str | None, timeout: float | None = DEFAULT_TIMEOUT_S) -> Any:
    """A dynamic client for the kubeconfig given, $KUBECONFIG, or the in-cluster config. Every request it makes
    (discovery included) is bounded by ``timeout`` seconds and not retried: a timeout is the user's to choose."""
    from kubernetes import client, config, dynamic  # noqa: PLC0415 - only audit and parity load the client

    class TimedApiClient(client.ApiClient):
        def call_api(self, method: Any, url: Any, header_params: Any = None, body: Any = None,
                     post_params: Any = None, _request_timeout: Any = None) -> Any:
            return super().call_api(method, url, header_params, body, post_params,
                                    _request_timeout=_request_timeout or timeout)

    configuration = client.Configuration()
    configuration.host = ""
    try:
        if kubeconfig or os.environ.get("KUBECONFIG") or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        configuration.retries = False
        # The client's default discovery cache is one file per server URL in the shared temp dir that outlives
        # the run: a stale one (or another user's) would decide which kinds get listed. Each run discovers anew.
        discovery_dir = tempfile.mkdtemp(prefix="tierguard-discovery-")
        atexit.register(shutil.rmtree, discovery_dir, ignore_errors=True)
        return dynamic.DynamicClient(TimedApiClient(configuration),  # type: ignore[no-untyped-call]
                                     cache_file=os.path.join(discovery_dir, "discovery.json"))
    except Exception as error:
        at = f" at {configuration.host}" if configuration.host else ""
        raise ClusterUnreadable(f"cannot read the cluster{at}: {_problem(error, timeout)}") from None


def server_of(dynamic_client: Any) -> str:
    return str(getattr(getattr(dynamic_client, "configuration", None), "host", None) or "the API server")


def list_cluster(dynamic_client: Any, fingerprinter: Fingerprinter, options: ListOptions | None = None,
                 observer: Observer | None = None) -> Iterator[Projected]:
    """Every listed object (see ``listed_kinds``), projected with ``fingerprinter``, page by page; raises
    ClusterUnreadable naming the kind and the API server."""
    options = options or ListOptions()
    observer = observer or Silent()
    from kubernetes.dynamic.exceptions import ResourceNotFoundError  # noqa: PLC0415

    kinds = listed_kinds()
    for number, wanted in enumerate(kinds, 1):
        observer.kind_started(wanted.kind, number, len(kinds))
        try:
            found = dynamic_client.resources.search(group=wanted.group, kind=wanted.kind)
        except ResourceNotFoundError:
            continue
        except Exception as error:
            raise ClusterUnreadable(_cannot_list(dynamic_client, wanted.kind, wanted.group, error, options)) from None
        resources = [r for r in found if getattr(r, "kind", None) == wanted.kind and "list" in (r.verbs or [])]
        if not resources:
            continue  # the CRD is not installed
        resource = resources[0]
        try:
            for item in list_resource(resource, options, observer):
                yield project(item, fingerprinter)
        except ClusterUnreadable:
            raise
        except Exception as error:
            raise ClusterUnreadable(
                _cannot_list(dynamic_client, resource.kind, resource.group_version, error, options)) from None


def list_resource(resource: Any, options: ListOptions, observer: Observer) -> Iterator[dict[str, Any]]:
    """Every object of one resource, each with ``apiVersion`` and ``kind`` set (list items lack them), in pages
    of ``options.chunk_size``; restarted (at most ``options.max_restarts`` times) when a continue token expires,
    without yielding any object twice.

    One page ahead: while the caller projects a page, a worker thread already asks for the next (one request in
    flight at a time, as a plain paged list makes them), so the API server's time and ours overlap."""
    from kubernetes.dynamic.exceptions import GoneError  # noqa: PLC0415

    def fetch(token: str | None) -> tuple[list[Any], str | None]:
        response = resource.get(limit=options.chunk_size, _continue=token, serialize=False,
                                _request_timeout=options.timeout)
        page = json.loads(response.data)
        if not isinstance(page, Mapping):
            raise ValueError("the API server answered a list request with something other than a list")
        items = page.get("items")
        metadata = page.get("metadata")
        following = metadata.get("continue") if isinstance(metadata, Mapping) else None
        return items if isinstance(items, list) else [], str(following) if following else None

    seen: set[str] = set()
    restarts = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tierguard-list") as pool:
        asked: str | None = None
        pending: Future[tuple[list[Any], str | None]] | None = pool.submit(fetch, None)
        while pending is not None:
            try:
                items, following = pending.result()
            except GoneError:
                if asked is None or restarts >= options.max_restarts:
                    raise
                restarts += 1
                observer.note(f"listing {resource.kind} ({resource.group_version}) again from the start: its "
                              f"continue token expired (410 Gone) after {len(seen)} objects; restart {restarts} "
                              f"of at most {options.max_restarts}, objects already listed are not repeated")
                asked, pending = None, pool.submit(fetch, None)
                continue
            asked, pending = following, (pool.submit(fetch, following) if following else None)
            fresh = 0
            for item in items:
                if not isinstance(item, dict):
                    continue
                key = _identity(item)
                if key in seen:
                    continue
                seen.add(key)
                item["apiVersion"] = resource.group_version
                item["kind"] = resource.kind
                fresh += 1
                yield item
            del items
            observer.objects_listed(fresh)


def _identity(item: Mapping[str, Any]) -> str:
    metadata = item.get("metadata")
    if not isinstance(metadata, Mapping):
        return ""
    uid = metadata.get("uid")
    return str(uid) if uid else f"{metadata.get('namespace') or ''}/{metadata.get('name') or ''}"


def cluster_policy(dynamic_client: Any, name: str, timeout: float | None = DEFAULT_TIMEOUT_S) -> TierPolicy:
    """The cluster's TierPolicy ``name``; SPEC's defaults when it (or its CRD) does not exist."""
    from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError  # noqa: PLC0415

    try:
        resource = dynamic_client.resources.get(api_version="tierguard.io/v1alpha1", kind="TierPolicy")
        body = resource.get(name=name, _request_timeout=timeout).to_dict()
    except (NotFoundError, ResourceNotFoundError):
        return DEFAULT_POLICY
    except Exception as error:
        raise ClusterUnreadable(f"cannot read the cluster at {server_of(dynamic_client)}: TierPolicy {name}: "
                                f"{_problem(error, timeout)}") from None
    return load_stored_policy(body)


def _cannot_list(dynamic_client: Any, kind: str, group_version: str, error: Exception,
                 options: ListOptions) -> str:
    where = f"{kind} ({group_version or 'v1'})"
    return f"cannot read the cluster at {server_of(dynamic_client)}: listing {where} failed: " \
           f"{_problem(error, options.timeout)}"


def _problem(error: Exception, timeout: float | None) -> str:
    """One line about ``error``: the HTTP status and the API server's message, or the transport's failure."""
    import urllib3  # noqa: PLC0415

    reason = error.reason if isinstance(error, urllib3.exceptions.MaxRetryError) else error
    if isinstance(reason, urllib3.exceptions.NewConnectionError):  # before timeouts: urllib3 derives it from one
        return f"cannot connect: {str(reason).partition(': ')[2] or type(reason).__name__}"
    if isinstance(reason, urllib3.exceptions.TimeoutError) or isinstance(error, TimeoutError):
        return f"no answer within {timeout:g}s (--timeout)" if timeout else "timed out"
    status = getattr(error, "status", None)
    if isinstance(status, int):
        message = ""
        try:
            body = json.loads(getattr(error, "body", None) or "{}")
            message = str(body.get("message") or "") if isinstance(body, Mapping) else ""
        except (TypeError, ValueError):
            pass
        text = f"HTTP {status} {getattr(error, 'reason', '') or ''}".rstrip()
        return f"{text}: {message[:300]}" if message else text
    detail = " ".join(str(reason).split())[:300]
    return f"{type(reason).__name__}: {detail}" if detail else type(reason).__name__


def cluster_namespace_tiers(kubeconfig: str | None, tier_label: str) -> dict[str, dict[str, str]]:
    """Each namespace's tier label, from the cluster (``check --namespace-tiers-from-cluster``).

    One request, ``GET /api/v1/namespaces`` (a list of Namespaces, nothing else: no Secret is ever read),
    with the kubeconfig given, $KUBECONFIG or the in-cluster config; namespaces without the label are left out
    (untiered, as offline). Raises ClusterUnreadable.
    """
    from kubernetes import client, config  # noqa: PLC0415 - only this flag (and audit, parity) loads the client

    try:
        if kubeconfig or os.environ.get("KUBECONFIG") or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            api_client: Any = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        else:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
            api_client = client.ApiClient()
        with api_client:
            # Raw JSON (no model objects): only names and labels are looked at.
            listing: Any = client.CoreV1Api(api_client).list_namespace(
                label_selector=tier_label, _preload_content=False, _request_timeout=30)
            body = json.loads(listing.data)
    except Exception as error:
        raise ClusterUnreadable(f"cannot read the cluster: listing Namespaces failed: {_problem(error, 30)}") from None
    tiers: dict[str, dict[str, str]] = {}
    for item in body.get("items") or []:
        metadata = item.get("metadata") if isinstance(item, dict) else None
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
            continue
        labels = metadata.get("labels") or {}
        if isinstance(labels, dict) and isinstance(labels.get(tier_label), str):
            tiers[metadata["name"]] = {tier_label: labels[tier_label]}
    return tiers
