"""The kopf side of the background audit: which watch events mark which scopes dirty (``audit/changes.py``).

- The Secret and Namespace index handlers tell the audit the new view before kopf stores it, so the old one is
  still in the index to compare with (a Secret's old and new values, a namespace's old and new labels).
- ``on.event`` handlers, on every replica while the audit is on: deleted Secrets and Namespaces, and every other
  judged or indexed kind (the workloads included: the chart grants list/watch on them when ``audit.enabled``).
  These only mark; kopf keeps no state for them beyond its per-object memory, and ``ContentFilter`` 16 bytes
  per object.
Nothing here judges or calls the API server: a handler costs a few dict operations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import kopf

from tierguard.audit.background import BackgroundAudit
from tierguard.engine.context import NamespaceView, SecretView
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.objects import name_of, namespace_of
from tierguard.kinds import INDEXED, JUDGED, KindInfo
from tierguard.webhook.indexes import IndexSpec, namespace_key, project_secret, secret_key
from tierguard.webhook.indexing import watched
from tierguard.webhook.state import RuntimeState

_SPECIAL = {("", "Secret"), ("", "Namespace"), ("tierguard.io", "TierPolicy")}
"""Marked by the index observer (and the policy reload), not by the generic handler."""
_EVERYTHING = {("rbac.authorization.k8s.io", "ClusterRole")}
"""Read by bindings in every namespace."""


def index_observer(state: RuntimeState, audit: BackgroundAudit) -> Callable[[IndexSpec, Any, Mapping[Any, Any]], None]:
    def observe(spec: IndexSpec, body: Any, entries: Mapping[Any, Any]) -> None:
        context = state.context
        if context is None or not state.indexes_synced:
            return  # the first full pass judges everything listed so far
        kind = spec.watches.kind
        if spec.watches.group != "" or kind not in ("Secret", "Namespace"):
            return
        if kind == "Secret":
            namespace = namespace_of(body) or "default"
            new = entries.get(secret_key(namespace, name_of(body)))
            # The indexed view, not the one this replica remembers from admitting it (that is the new one).
            audit.changes.secret_changed(context.indexed_secret(namespace, name_of(body)),
                                         new if isinstance(new, SecretView) else None, context)
        else:
            new_ns = entries.get(namespace_key(name_of(body)))
            audit.changes.namespace_changed(context.namespace(name_of(body)),
                                            new_ns if isinstance(new_ns, NamespaceView) else None, context)
        audit.marked()

    return observe


def register_audit_handlers(registry: kopf.OperatorRegistry, state: RuntimeState, audit: BackgroundAudit,
                            fingerprinter: Callable[[], Fingerprinter]) -> None:
    @kopf.on.event("secrets", id="tg-audit-secrets", registry=registry)
    async def secret_event(body: Any, type: str | None, **_: Any) -> None:
        context = state.context
        if type != "DELETED" or context is None:
            return
        gone = next(iter(project_secret(body, fingerprinter()).values()))
        audit.changes.secret_changed(gone, None, context)
        audit.marked()

    @kopf.on.event("namespaces", id="tg-audit-namespaces", registry=registry)
    async def namespace_event(body: Any, type: str | None, **_: Any) -> None:
        if type == "DELETED":
            audit.changes.mark_namespace(name_of(body))
            audit.changes.mark_namespace(None)
            audit.marked()

    rows: dict[tuple[str, str], KindInfo] = {(i.group, i.kind): i for i in (*JUDGED, *INDEXED)}
    for key, info in rows.items():
        if key in _SPECIAL:
            continue
        kopf.on.event(*watched(info), id=f"tg-audit-{info.resource}", registry=registry)(
            _marker(audit, info, everything=key in _EVERYTHING))


def _marker(audit: BackgroundAudit, info: KindInfo, *, everything: bool) -> Callable[..., Any]:
    async def mark(body: Any, type: str | None, **_: Any) -> None:
        if not audit.content.changed(body, type == "DELETED"):
            return
        if everything:
            audit.changes.mark_everything()
        else:
            audit.changes.mark_namespace((namespace_of(body) or "default") if info.namespaced else None)
        audit.marked()

    return mark
