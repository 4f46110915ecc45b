"""The watch side of the background audit: which watch events mark which scopes dirty (``changes.py``).

- Every indexed kind: the informers tell the audit each change before the index applies it (``index_observer``),
  so the old view is still there to compare with (a Secret's old and new values, a namespace's old and new
  labels, whether a NetworkPolicy denied all ingress); a whole new listing marks everything.
- The judged kinds that are not indexed (workloads, Pods, bindings, ...): watch-only informers
  (``marker_informers``), on every replica while the audit is on (the chart grants list/watch on them when
  ``audit.enabled``). They keep nothing but ``ContentFilter``'s 16 bytes per object, and, unlike kopf's watchers
  (one of which took the whole process down with a 404 when a watched CRD was deleted), they look again for a
  kind whose CRD went away.
Nothing here judges or calls the API server: a handler costs a few dict operations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tierguard.engine.context import NamespaceView, SecretView
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.objects import name_of, namespace_of
from tierguard.kinds import INDEXED, JUDGED, KindInfo
from tierguard.kube.transport import Transport
from tierguard.webhook.background_audit.audit import BackgroundAudit
from tierguard.webhook.indexes import POLICIES, Entries, IndexSpec, namespace_key, secret_key
from tierguard.webhook.informer import Change, Informer, Informers, Observer
from tierguard.webhook.settings import WatchSettings
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
        elif info.group == "networking.k8s.io" and info.kind == "NetworkPolicy":
            if not audit.content.changed(change.body, change.entries is None):
                return
            namespace, name = namespace_of(change.body) or "default", name_of(change.body)
            # Only a NetworkPolicy that denies all ingress has entries (``indexes.project_network_policy``).
            audit.changes.network_policy_changed(namespace, name in context.default_deny_ingress_policies(namespace),
                                                 bool(change.entries))
        elif audit.content.changed(change.body, change.entries is None):
            _mark(audit, info, change.body)
        else:
            return
        audit.marked()

    return observe


def marked_kinds() -> tuple[KindInfo, ...]:
    """The judged kinds no informer indexes: what the audit watches for marks only."""
    indexed = {info.key for info in INDEXED}
    return tuple(info for info in JUDGED if info.key not in indexed)


def _nothing(_: Mapping[str, Any], __: Fingerprinter) -> Entries:
    return {}


def marker_informers(transport: Transport, fingerprinter: Callable[[], Fingerprinter], observe: Observer,
                     settings: WatchSettings) -> Informers:
    """Watch-only informers of ``marked_kinds()``; not part of readiness (admission reads nothing of them)."""
    return Informers([Informer(IndexSpec(f"tg_audit_{info.resource}", info, _nothing), transport, fingerprinter,
                               observe, settings, watch_only=True) for info in marked_kinds()], settings)


def _mark(audit: BackgroundAudit, info: KindInfo, body: Any) -> None:
    if info.key in _EVERYTHING:
        audit.changes.mark_everything()
    else:
        audit.changes.mark_namespace((namespace_of(body) or "default") if info.namespaced else None)
