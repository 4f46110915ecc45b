"""Can this replica still list what its watches read? The API health check behind readiness.

A watch that breaks and stays broken (the API server gone, or a revoked permission) leaves an index silently
stale. Listing each built-in indexed resource of the kinds table with ``limit=1`` is a cheap proof that the
watches can still be served (custom resources are left out: their CRDs may come and go); the Secret listing's
body is never parsed, so no Secret value passes through here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tierguard.kinds import INDEXED, KindInfo

TIMEOUT_SECONDS = 5

CHECKED: tuple[KindInfo, ...] = tuple(info for info in INDEXED if info.builtin)
"""The rows the check lists."""


def listing_path(info: KindInfo) -> str:
    """The collection every namespace's objects of a built-in kind are listed at (``/api/v1/secrets``)."""
    from tierguard.kube.discovery import builtin_served  # noqa: PLC0415

    return builtin_served(info).path(None)


def build_check(api_client: Any) -> Callable[[], None]:
    """A check that raises when any checked resource cannot be listed. Plain REST: the body is read and dropped
    unparsed (a connection returned with its response unread breaks the next request on it)."""
    from tierguard.kube.rest import request  # noqa: PLC0415

    paths = [listing_path(info) for info in CHECKED]

    def check() -> None:
        for path in paths:
            request(api_client, "GET", path, query=[("limit", 1)], timeout=TIMEOUT_SECONDS)

    return check
