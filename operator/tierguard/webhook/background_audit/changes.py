"""What the background audit must judge again, from the watch events ``tierguard run`` already receives.

Pure bookkeeping: events mark scopes (a namespace, or the cluster report's cluster-scoped objects) dirty; the
audit takes the marks, debounced, and re-judges only those scopes. What marks what:

- a Secret added or changed: its namespace, plus the namespaces of every other Secret holding one of its old or
  new values (their ``secret-value-shared`` findings appear or go); deleted: the same, from its last state;
- a Namespace relabelled: that namespace, the cluster scope (Namespaces are judged there) and the namespaces
  sharing a value with its Secrets (their tier comparison changed);
- a NetworkPolicy: its namespace, and the cluster scope (where its Namespace is judged) when it starts or stops
  denying all ingress (``namespace-security-missing``: a Namespace left without one is reported);
- the TierPolicy, or a ClusterRole (roles of every namespace's bindings): everything;
- any other judged or indexed object: its namespace (cluster-scoped: the cluster scope), unless only its
  ``status`` or the API server's bookkeeping changed (``ContentFilter``); ``status.phase`` counts (a running
  Pod's ``runningPodAnnotations`` are judged, ``rules/sidecars.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tierguard.engine.context import NamespaceView, SecretView
from tierguard.engine.projection import DROPPED_METADATA
from tierguard.engine.secrets import LAST_APPLIED


class HolderLookup(Protocol):
    def fingerprint_holders(self, digest: bytes) -> Iterable[SecretView]: ...

    def secret_views(self, namespaces: frozenset[str] | None = None) -> list[SecretView]: ...


@dataclass
class Dirty:
    """The marks taken at once by one incremental pass."""

    namespaces: frozenset[str]
    cluster: bool
    everything: bool


@dataclass
class Changes:
    namespaces: set[str] = field(default_factory=set)
    cluster: bool = False
    everything: bool = False
    marks: int = 0
    """Events that marked something (for logs and tests)."""

    def __bool__(self) -> bool:
        return bool(self.namespaces) or self.cluster or self.everything

    def take(self) -> Dirty:
        taken = Dirty(frozenset(self.namespaces), self.cluster, self.everything)
        self.namespaces, self.cluster, self.everything = set(), False, False
        return taken

    def mark_namespace(self, namespace: str | None) -> None:
        self.marks += 1
        if namespace is None:
            self.cluster = True
        else:
            self.namespaces.add(namespace)

    def mark_everything(self) -> None:
        self.marks += 1
        self.everything = True

    def secret_changed(self, old: SecretView | None, new: SecretView | None, holders: HolderLookup) -> None:
        """A Secret's view went from ``old`` to ``new`` (None: absent); nothing is marked when it is the same."""
        if old == new:
            return
        for view in (old, new):
            if view is not None:
                self.mark_namespace(view.namespace)
        self._mark_holders(self._digests(old) | self._digests(new), holders)

    def namespace_changed(self, old: NamespaceView | None, new: NamespaceView | None, holders: HolderLookup) -> None:
        if old == new:
            return
        name = (new or old).name if (new or old) is not None else None  # type: ignore[union-attr]
        if name is None:
            return
        self.mark_namespace(name)
        self.mark_namespace(None)
        digests: set[bytes] = set()
        for view in holders.secret_views(frozenset({name})):
            digests |= self._digests(view)
        self._mark_holders(digests, holders)

    def network_policy_changed(self, namespace: str, denied_before: bool, denies_now: bool) -> None:
        """A NetworkPolicy added, changed or deleted in ``namespace``; whether it denied all ingress before and
        does now (``posture.denies_all_ingress``)."""
        self.mark_namespace(namespace)
        if denied_before != denies_now:
            self.mark_namespace(None)  # the Namespace, judged with the cluster-scoped objects, gains or loses one

    @staticmethod
    def _digests(view: SecretView | None) -> set[bytes]:
        return {fp.digest for fp in view.fingerprints} if view is not None else set()

    def _mark_holders(self, digests: set[bytes], holders: HolderLookup) -> None:
        for digest in digests:
            for holder in holders.fingerprint_holders(digest):
                self.namespaces.add(holder.namespace)


class ContentFilter:
    """Remembers a short digest of what rules read of each object (not ``status``, not bookkeeping), by uid, so
    that status churn (a Pod's readiness, a Deployment's replica counts) marks nothing. 16 bytes and a uid per
    watched object. Never used for Secrets: an unkeyed digest of a value is not something to keep."""

    def __init__(self) -> None:
        self._seen: dict[str, bytes] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def changed(self, body: Mapping[str, Any], deleted: bool) -> bool:
        metadata = body.get("metadata") or {}
        uid = str(metadata.get("uid") or f"{metadata.get('namespace')}/{metadata.get('name')}/{body.get('kind')}")
        if deleted:
            self._seen.pop(uid, None)
            return True
        digest = content_digest(body)
        if self._seen.get(uid) == digest:
            return False
        self._seen[uid] = digest
        return True


def content_digest(body: Mapping[str, Any]) -> bytes:
    metadata = body.get("metadata") or {}
    kept_metadata = {k: v for k, v in metadata.items() if k not in DROPPED_METADATA}
    annotations = kept_metadata.get("annotations")
    if isinstance(annotations, Mapping) and LAST_APPLIED in annotations:
        kept_metadata["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    kept = {k: v for k, v in body.items() if k not in ("status", "metadata")}
    kept["metadata"] = kept_metadata
    status = body.get("status")
    # A phase changes a few times in an object's life; a Pod starting to run is judged again (its
    # runningPodAnnotations). Whatever the kind: a listed item carries no kind to tell.
    if isinstance(status, Mapping) and "phase" in status:
        kept["phase"] = status["phase"]
    encoded = json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.blake2b(encoded, digest_size=16).digest()
