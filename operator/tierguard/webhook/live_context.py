"""The engine's Context answered from the live indexes, so admission never calls the API server.

The informers fill the indexes from their list and watch (``informer.py``, with the projections of
``indexes.py``); this class only reads them, with the same key functions. Each lookup is a dict access on an
index (O(1)) or a walk over one key's values (O(matches)).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from tierguard.engine.context import NamespaceView, SecretView, claimed_volume
from tierguard.engine.fingerprints import Fingerprint, Fingerprinter
from tierguard.engine.fleet_sets import FleetSets, ForeignHolder
from tierguard.webhook.indexes import (
    CLAIMS,
    NAMESPACES,
    SEALED_SECRETS,
    SECRETS,
    STORAGE_CLASSES,
    VOLUMES,
    aggregation_key,
    claim_key,
    cluster_role_labels_key,
    default_deny_key,
    default_storage_class_key,
    fingerprint_key,
    index_of,
    namespace_key,
    role_key,
    sealed_secret_key,
    secret_key,
    storage_class_key,
    store_key,
    volume_claim_key,
    volume_key,
)
from tierguard.webhook.store import LiveIndex

RECENT_SECONDS = 30.0
"""How long a Secret this replica admitted counts as held before the watch has indexed it."""


class LiveContext:
    def __init__(self, fingerprinter: Fingerprinter, indexes: Mapping[str, LiveIndex]) -> None:
        self._fingerprinter = fingerprinter
        self._indexes = indexes
        self._token = object()
        """Identifies this context in its generations (the verdict cache is shared by every context)."""
        self._recent_secrets: dict[tuple[str, str], tuple[float, SecretView]] = {}
        """(namespace, name) -> (deadline, view), oldest first: every entry lives RECENT_SECONDS, so the first
        one is the next to expire."""
        self._recent_version = 0
        self.fleet = FleetSets.empty()
        """What the other clusters of a fleet published, as last read from the hub (``set_fleet``)."""
        self._fleet_version = 0
        """Bumped whenever what the recent Secrets answer changes (one added, changed or expired)."""
        self._let_go: dict[tuple[str, str], float] = {}
        """(namespace, name) -> deadline: default-deny-ingress NetworkPolicies this replica just let go
        (``remember_lost_default_deny``), oldest first."""
        self._recent_digests: dict[bytes, dict[tuple[str, str], None]] = {}
        """digest -> the recent Secrets holding it (an ordered set), so that a fingerprint lookup costs one dict
        access instead of a walk over every recent Secret (that walk was 6% of a review's CPU in bench/)."""

    def remember_admitted_secret(self, view: SecretView) -> None:
        """Count a Secret this replica just admitted as held, until the watch delivers it.

        The watch delivers an object some 100 ms after it is stored; without this, the second Secret of one
        ``kubectl apply -f`` could share the first one's value unseen. Expiring entries bound a phantom (an
        object another admission step refused) to a short fail-closed window.
        """
        now = time.monotonic()
        self._expire(now)
        key = (view.namespace, view.name)
        previous = self._recent_secrets.pop(key, None)  # re-inserted last: the entries stay in deadline order
        if previous is not None and previous[1] == view:
            # The same Secret admitted again: its answers are the same; keep the view that earlier answers gave
            # (the verdict cache compares identities) and the generation.
            self._recent_secrets[key] = (now + RECENT_SECONDS, previous[1])
            return
        if previous is not None:
            for fingerprint in previous[1].fingerprints:
                holders = self._recent_digests.get(fingerprint.digest)
                if holders is not None and fingerprint.digest not in {fp.digest for fp in view.fingerprints}:
                    holders.pop(key, None)
        self._recent_secrets[key] = (now + RECENT_SECONDS, view)
        for fingerprint in view.fingerprints:
            self._recent_digests.setdefault(fingerprint.digest, {})[key] = None
        self._recent_version += 1

    def remember_lost_default_deny(self, namespace: str, name: str) -> None:
        """Stop counting a default-deny-ingress NetworkPolicy this replica just admitted the deletion (or the
        weakening) of, for RECENT_SECONDS: the watch removes it some 100 ms later, and ``kubectl delete
        networkpolicy --all`` sends the next DELETE sooner; without this each of two default-denies sees the other
        still there and both go. A phantom (a deletion another admission step refused) fails closed for that
        window: deleting the namespace's other default-deny is refused."""
        key = (namespace, name)
        self._let_go.pop(key, None)  # re-inserted last: the entries stay in deadline order
        self._let_go[key] = time.monotonic() + RECENT_SECONDS
        self._recent_version += 1

    def _expire_let_go(self, now: float) -> None:
        while self._let_go:
            key, deadline = next(iter(self._let_go.items()))
            if deadline >= now:
                return
            del self._let_go[key]
            self._recent_version += 1

    def _expire(self, now: float) -> None:
        """Forget the recent Secrets whose time is up: the oldest first, stopping at the first one still held."""
        while self._recent_secrets:
            key, (deadline, _) = next(iter(self._recent_secrets.items()))
            if deadline >= now:
                return
            self._forget(key)

    def _forget(self, key: tuple[str, str]) -> None:
        entry = self._recent_secrets.pop(key, None)
        if entry is None:
            return
        self._recent_version += 1
        for fingerprint in entry[1].fingerprints:
            holders = self._recent_digests.get(fingerprint.digest)
            if holders is not None:
                holders.pop(key, None)
                if not holders:
                    del self._recent_digests[fingerprint.digest]

    def _recent(self, key: tuple[str, str]) -> SecretView | None:
        """The Secret this replica admitted under ``key`` in the last RECENT_SECONDS, if any."""
        entry = self._recent_secrets.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._forget(key)
            return None
        return entry[1]

    def generation(self) -> tuple[object, int, int, int]:
        """Same value only while no answer can have changed (the verdict cache then reuses a verdict without
        asking again): no index changed, and no recent Secret was added, changed or expired (expired ones are
        forgotten here first, so an answer that expired with time is a new generation too)."""
        if self._recent_secrets:
            self._expire(time.monotonic())
        if self._let_go:
            self._expire_let_go(time.monotonic())
        return (self._token, sum(index.version for index in self._indexes.values()), self._recent_version,
                self._fleet_version)

    @property
    def fingerprinter(self) -> Fingerprinter:
        return self._fingerprinter

    def _values(self, index: str, key: Any) -> Iterable[Any]:
        found = self._indexes.get(index)
        store = found.get(key) if found is not None else None
        return store if store is not None else ()

    def _first(self, index: str, key: Any) -> Any:
        return next(iter(self._values(index, key)), None)

    def sizes(self) -> dict[str, int]:
        return {name: len(index) for name, index in self._indexes.items()}

    def namespace(self, name: str) -> NamespaceView | None:
        view: NamespaceView | None = self._first(NAMESPACES, namespace_key(name))
        return view

    def namespaces(self) -> Iterable[NamespaceView]:
        index = self._indexes.get(NAMESPACES)
        if index is None:
            return ()
        return [view for key in index for view in self._values(NAMESPACES, key)]

    def secret(self, namespace: str, name: str) -> SecretView | None:
        # A Secret wins over the SealedSecret it was unsealed from: it carries the fingerprints.
        secrets = self._indexes.get(SECRETS)  # _first() spelled out: asked ten times per Pod review
        store = secrets.get(secret_key(namespace, name)) if secrets is not None else None
        view: SecretView | None = next(iter(store), None) if store else None
        if view is None:
            view = self._first(SEALED_SECRETS, sealed_secret_key(namespace, name))
        if view is None and self._recent_secrets:
            view = self._recent((namespace, name))
        return view

    def indexed_secret(self, namespace: str, name: str) -> SecretView | None:
        """The Secret as the watch last delivered it (not what this replica just admitted)."""
        view: SecretView | None = self._first(SECRETS, secret_key(namespace, name))
        return view

    def secret_views(self, namespaces: frozenset[str] | None = None) -> list[SecretView]:
        """Every indexed Secret (of ``namespaces``, when given): one walk over the index's keys, for the
        background audit, which judges Secrets from their views instead of listing their values again."""
        index = self._indexes.get(SECRETS)
        if index is None:
            return []
        if namespaces is not None:  # by namespace, not a walk over every key
            return [view for namespace in sorted(namespaces) for name in sorted(index.names_in(namespace))
                    for view in self._values(SECRETS, secret_key(namespace, name))]
        return [view for key in list(index)
                if isinstance(key, tuple) and key[0] == "name" and (namespaces is None or key[1] in namespaces)
                for view in self._values(SECRETS, key)]

    def fingerprint_holders(self, digest: bytes) -> Iterable[SecretView]:
        secrets = self._indexes.get(SECRETS)  # _values() spelled out: asked for every value a Pod consumes
        store = secrets.get(fingerprint_key(digest)) if secrets is not None else None
        indexed: list[SecretView] = list(store) if store else []
        recent_keys = self._recent_digests.get(digest)
        if not recent_keys:
            return indexed
        known = {(view.namespace, view.name) for view in indexed}
        recent = (self._recent(key) for key in list(recent_keys) if key not in known)
        return indexed + [view for view in recent if view is not None]

    def persistent_volume(self, name: str) -> Mapping[str, Any] | None:
        volume: Mapping[str, Any] | None = self._first(VOLUMES, volume_key(name))
        return volume

    def volume_for_claim(self, namespace: str, claim: str) -> Mapping[str, Any] | None:
        return claimed_volume(self, namespace, claim)

    def volume_claimed_by(self, namespace: str, claim: str) -> Mapping[str, Any] | None:
        bound: Mapping[str, Any] | None = self._first(VOLUMES, volume_claim_key(namespace, claim))
        return bound

    def claim(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        claim: Mapping[str, Any] | None = self._first(CLAIMS, claim_key(namespace, name))
        return claim

    def storage_class(self, name: str) -> Mapping[str, Any] | None:
        storage_class: Mapping[str, Any] | None = self._first(STORAGE_CLASSES, storage_class_key(name))
        return storage_class

    def default_storage_classes(self) -> Iterable[Mapping[str, Any]]:
        return list(self._values(STORAGE_CLASSES, default_storage_class_key()))

    def role_rules(self, kind: str, namespace: str | None, name: str) -> Sequence[Mapping[str, Any]] | None:
        if kind not in ("Role", "ClusterRole"):
            return None
        rules: Sequence[Mapping[str, Any]] | None = self._first(index_of(kind), role_key(kind, namespace, name))
        return rules

    def cluster_role_aggregation(self, name: str) -> Sequence[Mapping[str, Any]] | None:
        selectors: Sequence[Mapping[str, Any]] | None = self._first(index_of("ClusterRole"), aggregation_key(name))
        return selectors

    def cluster_role_labels(self) -> Iterable[tuple[str, Mapping[str, str]]]:
        return list(self._values(index_of("ClusterRole"), cluster_role_labels_key()))

    def secret_store(self, kind: str, namespace: str | None, name: str) -> Mapping[str, Any] | None:
        if kind not in ("SecretStore", "ClusterSecretStore"):
            return None
        store: Mapping[str, Any] | None = self._first(index_of(kind), store_key(kind, namespace, name))
        return store

    def default_deny_ingress_policies(self, namespace: str) -> Collection[str]:
        indexed = frozenset(self._values(index_of("NetworkPolicy"), default_deny_key(namespace)))
        if not self._let_go:
            return indexed
        self._expire_let_go(time.monotonic())
        return frozenset(name for name in indexed if (namespace, name) not in self._let_go)

    def foreign_holders(self, fingerprint: Fingerprint) -> Sequence[ForeignHolder]:
        return self.fleet.holders(fingerprint.digest, fingerprint.secondary)

    def set_fleet(self, fleet: FleetSets) -> None:
        """The other clusters' sets as last read from the hub: a new generation (verdicts are judged again)."""
        self.fleet = fleet
        self._fleet_version += 1
