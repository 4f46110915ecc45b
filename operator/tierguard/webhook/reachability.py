"""Can this replica still list what its watches read? The API health check behind readiness.

A watch that breaks and stays broken (the API server gone, or a revoked permission) leaves an index silently
stale. Listing each core resource with ``limit=1`` is a cheap proof that the watches can still be served; the
Secret listing's body is never parsed, so no Secret value passes through here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TIMEOUT_SECONDS = 5


def build_check(api_client: Any) -> Callable[[], None]:
    """A check that raises when any core watched resource cannot be listed."""
    from kubernetes import client  # noqa: PLC0415 - loaded only by `run`

    core = client.CoreV1Api(api_client)
    storage = client.StorageV1Api(api_client)
    rbac = client.RbacAuthorizationV1Api(api_client)
    listings: tuple[Callable[..., Any], ...] = (
        core.list_namespace,
        core.list_secret_for_all_namespaces,
        core.list_persistent_volume,
        core.list_persistent_volume_claim_for_all_namespaces,
        storage.list_storage_class,
        rbac.list_role_for_all_namespaces,
        rbac.list_cluster_role,
    )

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
