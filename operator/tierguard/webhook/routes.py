"""The webhook's routing table: one stable, lowercase-dash id per judged resource, served at ``/<id>``.

Derived from the kinds table (``tierguard/kinds.py``): one route per judged kind (id: its resource, or its
``route`` when two groups share a plural; CREATE and UPDATE, and DELETE for a row that ``deletes``:
``tierpolicies``), one per judged subresource
(``pods-ephemeralcontainers``, UPDATE only, the parent's kind) and one per CONNECT subresource (``pods-exec``,
``pods-attach``, ``pods-portforward``: CONNECT only, the options' kind, such as ``PodExecOptions``, which is what
the API server sends as ``request.kind``). The chart renders one ValidatingWebhookConfiguration entry per route
(same id, same rule), and a test keeps the two in step. A request whose path names no route is denied: a
misrouted webhook must never fail open.
"""

from __future__ import annotations

from dataclasses import dataclass

from tierguard.engine.review import Operation
from tierguard.kinds import JUDGED, KindInfo


@dataclass(frozen=True)
class Route:
    id: str
    group: str
    version: str
    resource: str
    """Plural resource name; ``pods/ephemeralcontainers`` for the subresource."""
    kind: str
    """``request.kind.kind`` of the reviews sent here: the row's kind, or a CONNECT's options kind."""
    namespaced: bool
    operations: tuple[Operation, ...] = ("CREATE", "UPDATE")
    """The ``request.operation`` values judged; any other is admitted unjudged."""


def routes_of(info: KindInfo) -> tuple[Route, ...]:
    operations: tuple[Operation, ...] = ("CREATE", "UPDATE", "DELETE") if info.deletes else ("CREATE", "UPDATE")
    own = Route(info.route_id, info.group, info.version, info.resource, info.kind, info.namespaced, operations)
    updates = (Route(f"{info.route_id}-{sub}", info.group, info.version, f"{info.resource}/{sub}", info.kind,
                     info.namespaced, operations=("UPDATE",)) for sub in info.subresources)
    connects = (Route(f"{info.route_id}-{c.subresource}", info.group, info.version,
                      f"{info.resource}/{c.subresource}", c.kind, info.namespaced, operations=("CONNECT",))
                for c in info.connects)
    return (own, *updates, *connects)


ROUTES: tuple[Route, ...] = tuple(route for info in JUDGED for route in routes_of(info))

ROUTES_BY_ID = {route.id: route for route in ROUTES}
