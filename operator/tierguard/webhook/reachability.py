"""Can this replica still list what its watches read? The API health check behind readiness.

A watch that breaks and stays broken (the API server gone, or a revoked permission) leaves an index silently
stale. Listing each built-in indexed resource of the kinds table with ``limit=1`` is a cheap proof that the
watches can still be served (custom resources are left out: their CRDs may come and go); the Secret listing's
body is never parsed, so no Secret value passes through here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tierguard.kinds import INDEXED, KindInfo

TIMEOUT_SECONDS = 5

CHECKED: tuple[KindInfo, ...] = tuple(info for info in INDEXED if info.builtin)
"""The rows the check lists."""


def lister(info: KindInfo) -> tuple[str, str]:
    """The kubernetes client's API class and method listing a kind in every namespace, by the client's naming
    (``rbac.authorization.k8s.io`` v1 -> ``RbacAuthorizationV1Api``, Role -> ``list_role_for_all_namespaces``)."""
    group = "".join(part.capitalize() for part in info.group.removesuffix(".k8s.io").split(".")) or "Core"
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", info.kind).lower()
    return f"{group}{info.version.capitalize()}Api", f"list_{snake}" + ("_for_all_namespaces" if info.namespaced
                                                                       else "")


def build_check(api_client: Any) -> Callable[[], None]:
    """A check that raises when any checked resource cannot be listed."""
    from kubernetes import client  # noqa: PLC0415 - loaded only by `run`

    listings: list[Callable[..., Any]] = []
    for info in CHECKED:
        api_class, method = lister(info)
        listings.append(getattr(getattr(client, api_class)(api_client), method))

    def check() -> None:
        for listing in listings:
            # Unparsed: a failed status still raises, and a listed Secret is never decoded into objects. The
            # body is drained (read and dropped) before the connection goes back to the pool: a connection
            # returned with its response unread breaks the next request on it (ResponseNotReady).
            response = listing(limit=1, _request_timeout=TIMEOUT_SECONDS, _preload_content=False)
            try:
                response.drain_conn()
            finally:
                response.release_conn()

    return check
