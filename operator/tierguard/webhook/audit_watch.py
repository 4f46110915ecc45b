"""The watch side of the background audit: which watch events mark which scopes dirty (``audit/changes.py``).

- Every indexed kind: the informers tell the audit each change before the index applies it (``index_observer``),
  so the old view is still there to compare with (a Secret's old and new values, a namespace's old and new
  labels); a whole new listing marks everything.
- The judged kinds that are not indexed (workloads, Pods, bindings, ...): kopf ``on.event`` handlers, on every
  replica while the audit is on (the chart grants list/watch on them when ``audit.enabled``). These only mark;
  kopf keeps no state for them beyond its per-object memory, and ``ContentFilter`` 16 bytes per object.
Nothing here judges or calls the API server: a handler costs a few dict operations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

from tierguard.audit.background import BackgroundAudit
from tierguard.engine.context import NamespaceView, SecretView
from tierguard.engine.objects import name_of, namespace_of
from tierguard.kinds import INDEXED, JUDGED, KindInfo
from tierguard.webhook.indexes import POLICIES, namespace_key, secret_key
from tierguard.webhook.indexing import watched
from tierguard.webhook.informer import Change
from tierguard.webhook.state import RuntimeState

_EVERYTHING = {("rbac.authorization.k8s.io", "ClusterRole")}
"""Read by bindings in every namespace."""


def index_observer(state: RuntimeState, audit: BackgroundAudit) -> Callable[[Change], None]:
    def observe(change: Change) -> None:
        context = state.context
        if context is None or not state.indexes_synced:
            return  # the first full pass judges everything listed so far
        info = change.spec.watches
        if change.spec.id == POLICIES:
            return  # the policy reload marks everything (``policy_changed``)
        if change.body is None:
            audit.changes.mark_everything()
        elif info.group == "" and info.kind == "Secret":
            namespace = namespace_of(change.body) or "default"
            new = change.entries.get(secret_key(namespace, name_of(change.body))) if change.entries else None
            # The indexed view, not the one this replica remembers from admitting it (that is the new one).
            audit.changes.secret_changed(context.indexed_secret(namespace, name_of(change.body)),
                                         new if isinstance(new, SecretView) else None, context)
        elif info.group == "" and info.kind == "Namespace":
            new_ns = change.entries.get(namespace_key(name_of(change.body))) if change.entries else None
            audit.changes.namespace_changed(context.namespace(name_of(change.body)),
                                            new_ns if isinstance(new_ns, NamespaceView) else None, context)
        elif audit.content.changed(change.body, change.entries is None):
            _mark(audit, info, change.body)
        else:
            return
        audit.marked()

    return observe


def register_audit_handlers(registry: kopf.OperatorRegistry, audit: BackgroundAudit) -> None:
    indexed = {info.key for info in INDEXED}
    rows: dict[tuple[str, str], KindInfo] = {(i.group, i.kind): i for i in JUDGED if i.key not in indexed}
    for info in rows.values():
        kopf.on.event(*watched(info), id=f"tg-audit-{info.resource}", registry=registry)(_marker(audit, info))


def _mark(audit: BackgroundAudit, info: KindInfo, body: Any) -> None:
    if info.key in _EVERYTHING:
        audit.changes.mark_everything()
    else:
        audit.changes.mark_namespace((namespace_of(body) or "default") if info.namespaced else None)


def _marker(audit: BackgroundAudit, info: KindInfo) -> Callable[..., Any]:
    async def mark(body: Any, type: str | None, **_: Any) -> None:
        if not audit.content.changed(body, type == "DELETED"):
            return
        _mark(audit, info, body)
        audit.marked()

    return mark
