"""The webhook's routing table: one stable, lowercase-dash id per judged resource, served at ``/<id>``.

Derived from the kinds table (``tierguard/kinds.py``): one route per judged kind (id: its resource, or its
``route`` when two groups share a plural; CREATE and UPDATE, and DELETE for a row that ``deletes``:
``tierpolicies``), one per judged subresource
(``pods-ephemeralcontainers``, UPDATE only, the parent's kind) and one per CONNECT subresource (``pods-exec``,
``pods-attach``, ``pods-portforward``: CONNECT only, the options' kind, such as ``PodExecOptions``, which is what
the API server sends as ``request.kind``), then one per field judged whatever the kind (``kinds.BY_FIELD``:
Crossplane's ``spec.writeConnectionSecretToRef``; every group, version and resource of either scope, narrowed by
the chart's matchCondition to objects carrying the field). The chart renders one ValidatingWebhookConfiguration
entry per route (same id, same rule), and a test keeps the two in step. A request whose path names no route is denied: a
misrouted webhook must never fail open.
"""

from __future__ import annotations

from dataclasses import dataclass

from tierguard.engine.review import Operation
from tierguard.kinds import BY_FIELD, JUDGED, FieldJudged, KindInfo


@dataclass(frozen=True)
class Route:
    id: str
    group: str
    version: str
    resource: str
    """Plural resource name; ``pods/ephemeralcontainers`` for the subresource."""
    kind: str
    """``request.kind.kind`` of the reviews sent here: the row's kind, or a CONNECT's options kind; ``*`` (any)
    for a field's route."""
    namespaced: bool | None
    """None: objects of either scope (a field's route)."""
    operations: tuple[Operation, ...] = ("CREATE", "UPDATE")
    """The ``request.operation`` values judged; any other is admitted unjudged."""
    field: FieldJudged | None = None
    """A field's route: any group and kind carrying it is sent here."""

    @property
    def scope(self) -> str:
        """As the webhook rule's ``scope`` says it: ``Namespaced``, ``Cluster`` or ``*``."""
        return "*" if self.namespaced is None else "Namespaced" if self.namespaced else "Cluster"

    def sends(self, kind: str) -> bool:
        """Whether a review of this kind belongs here (any kind on a field's route)."""
        return self.field is not None or kind == self.kind


def routes_of(info: KindInfo) -> tuple[Route, ...]:
    operations: tuple[Operation, ...] = ("CREATE", "UPDATE", "DELETE") if info.deletes else ("CREATE", "UPDATE")
    own = Route(info.route_id, info.group, info.version, info.resource, info.kind, info.namespaced, operations)
    updates = (Route(f"{info.route_id}-{sub}", info.group, info.version, f"{info.resource}/{sub}", info.kind,
                     info.namespaced, operations=("UPDATE",)) for sub in info.subresources)
    connects = (Route(f"{info.route_id}-{c.subresource}", info.group, info.version,
                      f"{info.resource}/{c.subresource}", c.kind, info.namespaced, operations=("CONNECT",))
                for c in info.connects)
    return (own, *updates, *connects)


def field_route(field: FieldJudged) -> Route:
    return Route(field.id, "*", "*", "*", "*", None, field=field)


ROUTES: tuple[Route, ...] = (*(route for info in JUDGED for route in routes_of(info)),
                             *(field_route(field) for field in BY_FIELD))

ROUTES_BY_ID = {route.id: route for route in ROUTES}
