"""Reading a live cluster for ``audit``, ``parity`` and ``access``: the TierPolicy and every listed object,
projected for the engine as its page arrives (the only network I/O of these commands).

Lists every kind a rule judges and every kind the context needs (namespaces, secrets, storage, roles, secret
stores): the judged and indexed rows of ``tierguard/kinds.py``, or the few a command asks for (``access``: tiers,
roles and bindings), and the kinds judged by a field whatever their group (Crossplane's: ``kinds.BY_FIELD``), found
by their CRDs' categories in API discovery. Kinds the API server does not serve (a CRD that is absent) are skipped.

Each kind is listed in pages (``kube/pager.py``: ``limit`` / ``continue``, each request bounded by a timeout,
restarted from the start without repeating an object when a continue token expires, said on stderr). A page is
parsed, each object projected (``engine/projection.py``: a Secret's values are fingerprinted and dropped right
there) and the page is gone before the next is asked for, so memory grows with the number of objects, not their
size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.projection import Projected, project
from tierguard.errors import ClusterUnreadable
from tierguard.kinds import FieldJudged, KindInfo, categories_of, listed
from tierguard.kube.config import api_client, server_of
from tierguard.kube.discovery import Served, discover_categories, resolve_served
from tierguard.kube.pager import DEFAULT_TIMEOUT_S, ListOptions, Silent, every_object, rest_fetch
from tierguard.kube.rest import HttpError, describe, request, request_json
from tierguard.policy import DEFAULT_POLICY, TierPolicy, load_stored_policy


class Observer(Protocol):
    """Who watches a listing (the progress line on a terminal); told nothing about any object's content."""

    def kind_started(self, kind: str, number: int, total: int) -> None: ...

    def objects_listed(self, count: int) -> None: ...

    def note(self, message: str) -> None: ...


def listed_kinds(names: Sequence[str] | None = None) -> tuple[KindInfo, ...]:
    """Every judged kind and every kind the context needs, from the kinds table; Namespaces first. ``names``: only
    the rows of these kinds (in the table's order)."""
    return listed() if names is None else tuple(info for info in listed() if info.kind in names)


def connect(kubeconfig: str | None, timeout: float | None = DEFAULT_TIMEOUT_S, *, context: str | None = None) -> Any:
    """A client for the cluster (``kube/config.py``'s precedence; ``context``: that kubeconfig context), once the
    API server answered ``/version``: a wrong kubeconfig is one line naming the server before any kind. Requests
    are not retried: every one is bounded by ``timeout`` seconds, the user's to choose."""
    try:
        client = api_client(kubeconfig, retries=False, context=context)
    except Exception as error:
        raise ClusterUnreadable(f"cannot read the cluster: {describe(error, timeout)}") from None
    try:
        request(client, "GET", "/version", timeout=timeout)
    except Exception as error:
        raise ClusterUnreadable(f"cannot read the cluster at {server_of(client)}: {describe(error, timeout)}") from None
    return client


def list_cluster(client: Any, fingerprinter: Fingerprinter, options: ListOptions | None = None,
                 observer: Observer | None = None, kinds: Sequence[KindInfo] | None = None, *,
                 fields: Sequence[FieldJudged] = ()) -> Iterator[Projected]:
    """Every object of ``kinds`` (default ``listed_kinds()``), then of the kinds carrying ``fields`` (found by
    their categories), projected with ``fingerprinter``, page by page; raises ClusterUnreadable naming the kind and
    the API server."""
    options = options or ListOptions()
    watcher: Observer = observer or Silent()
    groups: dict[str, str | None] = {}
    kinds = listed_kinds() if kinds is None else tuple(kinds)
    categories = categories_of(fields)
    discovered: list[Served] = []
    if categories:
        try:
            discovered = discover_categories(client, categories, options.timeout)
        except Exception as error:
            raise ClusterUnreadable(f"cannot read the cluster at {server_of(client)}: discovering the kinds of "
                                    f"categories {', '.join(categories)} failed: "
                                    f"{describe(error, options.timeout)}") from None
    total = len(kinds) + len(discovered)
    for number, wanted in enumerate(kinds, 1):
        watcher.kind_started(wanted.kind, number, total)
        try:
            found = resolve_served(client, [wanted], options.timeout, groups)
        except Exception as error:
            raise ClusterUnreadable(_cannot_list(client, wanted.kind, wanted.group, error, options)) from None
        if found:  # else the CRD is not installed
            yield from _objects_of(client, found[0], fingerprinter, options, watcher)
    for number, served in enumerate(discovered, len(kinds) + 1):
        watcher.kind_started(served.info.kind, number, total)
        yield from _objects_of(client, served, fingerprinter, options, watcher)


def _objects_of(client: Any, served: Served, fingerprinter: Fingerprinter, options: ListOptions,
                watcher: Observer) -> Iterator[Projected]:
    kind = served.info.kind
    listed_any = False
    try:
        fetch = rest_fetch(client, served.path(None), options.chunk_size, options.timeout)
        for item in every_object(fetch, kind, served.group_version, options, watcher):
            listed_any = True
            yield project(item, fingerprinter)
    except ClusterUnreadable:
        raise
    except HttpError as error:
        if error.status == 404 and not listed_any:
            return  # not served by this API server
        raise ClusterUnreadable(_cannot_list(client, kind, served.group_version, error, options)) from None
    except Exception as error:
        raise ClusterUnreadable(_cannot_list(client, kind, served.group_version, error, options)) from None


def cluster_policy(client: Any, name: str, timeout: float | None = DEFAULT_TIMEOUT_S) -> TierPolicy:
    """The cluster's TierPolicy ``name``; SPEC's defaults when it (or its CRD) does not exist."""
    try:
        body = request_json(client, "GET", f"/apis/tierguard.io/v1alpha1/tierpolicies/{name}", timeout=timeout)
    except HttpError as error:
        if error.status == 404:
            return DEFAULT_POLICY
        raise ClusterUnreadable(_cannot_read_policy(client, name, error, timeout)) from None
    except Exception as error:
        raise ClusterUnreadable(_cannot_read_policy(client, name, error, timeout)) from None
    return load_stored_policy(body)


def _cannot_read_policy(client: Any, name: str, error: Exception, timeout: float | None) -> str:
    return f"cannot read the cluster at {server_of(client)}: TierPolicy {name}: {describe(error, timeout)}"


def _cannot_list(client: Any, kind: str, group_version: str, error: Exception, options: ListOptions) -> str:
    where = f"{kind} ({group_version or 'v1'})"
    return f"cannot read the cluster at {server_of(client)}: listing {where} failed: " \
           f"{describe(error, options.timeout)}"
