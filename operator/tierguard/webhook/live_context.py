"""The engine's Context answered from kopf indexes, so admission never calls the API server.

kopf fills the indexes from its watches (``indexing.py`` declares them); this class only reads them. Each
lookup is a dict access on an index (O(1)) or a walk over one key's values (O(matches)).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from tierguard.engine.context import NamespaceView, SecretView
from tierguard.engine.fingerprints import Fingerprinter


class IndexLike(Protocol):
    """What tierguard needs of a ``kopf.Index``: key -> collection of values."""

    def get(self, key: Any, default: Any = None) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


INDEX_NAMES = (
    "tg_namespaces", "tg_secrets", "tg_sealed_secrets", "tg_volumes", "tg_claims", "tg_storage_classes",
    "tg_roles", "tg_cluster_roles", "tg_cluster_role_labels", "tg_secret_stores", "tg_cluster_secret_stores",
    "tg_policies",
)
"""Index ids, as declared in ``indexing.py``. Secrets and volumes use tagged keys: ``("name", ns, name)`` and
``("fp", digest)``; ``("name", name)`` and ``("claim", ns, claim)``. ``tg_cluster_role_labels`` holds
``("labels",)`` -> ``(name, labels)`` for every ClusterRole and ``("aggregation", name)`` -> its aggregation
selectors."""


def cluster_role_label_keys(name: str, labels: Mapping[str, str], selectors: Sequence[Mapping[str, Any]] | None
                            ) -> dict[Any, Any]:
    """The ``tg_cluster_role_labels`` entries of one ClusterRole."""
    keys: dict[Any, Any] = {("labels",): (name, dict(labels))}
    if selectors is not None:
        keys[("aggregation", name)] = list(selectors)
    return keys


def secret_key(namespace: str, name: str) -> tuple[str, str, str]:
    return ("name", namespace, name)


def fingerprint_key(digest: bytes) -> tuple[str, bytes]:
    return ("fp", digest)


def secret_index_keys(view: SecretView) -> dict[Any, SecretView]:
    """The ``tg_secrets`` entries of one Secret: by name, and by each keyed fingerprint it holds."""
    keys: dict[Any, SecretView] = {secret_key(view.namespace, view.name): view}
    keys.update({fingerprint_key(fp.digest): view for fp in view.fingerprints})
    return keys


RECENT_SECONDS = 30.0
"""How long a Secret this replica admitted counts as held before the watch has indexed it."""


class LiveContext:
    def __init__(self, fingerprinter: Fingerprinter, indexes: Mapping[str, IndexLike]) -> None:
        self._fingerprinter = fingerprinter
        self._indexes = indexes
        self._recent_secrets: dict[tuple[str, str], tuple[float, SecretView]] = {}
        self._recent_digests: dict[bytes, dict[tuple[str, str], None]] = {}
        """digest -> the recent Secrets holding it (an ordered set), so that a fingerprint lookup costs one dict
        access instead of a walk over every recent Secret (that walk was 6% of a review's CPU in bench/)."""

    def remember_admitted_secret(self, view: SecretView) -> None:
        """Count a Secret this replica just admitted as held, until the watch delivers it.

        kopf indexes an object some 100 ms after it is stored; without this, the second Secret of one
        ``kubectl apply -f`` could share the first one's value unseen. Expiring entries bound a phantom (an
        object another admission step refused) to a short fail-closed window.
        """
        now = time.monotonic()
        for key in [key for key, (deadline, _) in self._recent_secrets.items() if deadline < now]:
            self._forget(key)
        key = (view.namespace, view.name)
        previous = self._recent_secrets.get(key)
        if previous is not None:
            for fingerprint in previous[1].fingerprints:
                holders = self._recent_digests.get(fingerprint.digest)
                if holders is not None and fingerprint.digest not in {fp.digest for fp in view.fingerprints}:
                    holders.pop(key, None)
        self._recent_secrets[key] = (now + RECENT_SECONDS, view)
        for fingerprint in view.fingerprints:
            self._recent_digests.setdefault(fingerprint.digest, {})[key] = None

    def _forget(self, key: tuple[str, str]) -> None:
        entry = self._recent_secrets.pop(key, None)
        if entry is None:
            return
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

    @property
    def fingerprinter(self) -> Fingerprinter:
        return self._fingerprinter

    def _values(self, index: str, key: Any) -> Iterable[Any]:
        store = self._indexes[index].get(key) if index in self._indexes else None
        return store if store is not None else ()

    def _first(self, index: str, key: Any) -> Any:
        return next(iter(self._values(index, key)), None)

    def sizes(self) -> dict[str, int]:
        return {name: len(index) for name, index in self._indexes.items()}

    def namespace(self, name: str) -> NamespaceView | None:
        view: NamespaceView | None = self._first("tg_namespaces", name)
        return view

    def namespaces(self) -> Iterable[NamespaceView]:
        index = self._indexes.get("tg_namespaces")
        if index is None:
            return ()
        return [view for key in index for view in self._values("tg_namespaces", key)]

    def secret(self, namespace: str, name: str) -> SecretView | None:
        # A Secret wins over the SealedSecret it was unsealed from: it carries the fingerprints.
        view: SecretView | None = self._first("tg_secrets", secret_key(namespace, name)) or self._first(
            "tg_sealed_secrets", (namespace, name)
        )
        if view is None and self._recent_secrets:
            view = self._recent((namespace, name))
        return view

    def fingerprint_holders(self, digest: bytes) -> Iterable[SecretView]:
        indexed = list(self._values("tg_secrets", fingerprint_key(digest)))
        recent_keys = self._recent_digests.get(digest)
        if not recent_keys:
            return indexed
        known = {(view.namespace, view.name) for view in indexed}
        recent = (self._recent(key) for key in list(recent_keys) if key not in known)
        return indexed + [view for view in recent if view is not None]

    def persistent_volume(self, name: str) -> Mapping[str, Any] | None:
        volume: Mapping[str, Any] | None = self._first("tg_volumes", ("name", name))
        return volume

    def volume_for_claim(self, namespace: str, claim: str) -> Mapping[str, Any] | None:
        bound: Mapping[str, Any] | None = self._first("tg_volumes", ("claim", namespace, claim))
        if bound is not None:
            return bound
        claim_obj = self.claim(namespace, claim)
        spec = claim_obj.get("spec") if claim_obj else None
        volume_name = spec.get("volumeName") if isinstance(spec, Mapping) else None
        return self.persistent_volume(volume_name) if isinstance(volume_name, str) and volume_name else None

    def claim(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        claim: Mapping[str, Any] | None = self._first("tg_claims", (namespace, name))
        return claim

    def storage_class(self, name: str) -> Mapping[str, Any] | None:
        storage_class: Mapping[str, Any] | None = self._first("tg_storage_classes", name)
        return storage_class

    def default_storage_classes(self) -> Iterable[Mapping[str, Any]]:
        return list(self._values("tg_storage_classes", ("default",)))

    def role_rules(self, kind: str, namespace: str | None, name: str) -> Sequence[Mapping[str, Any]] | None:
        index = "tg_roles" if kind == "Role" else "tg_cluster_roles"
        rules: Sequence[Mapping[str, Any]] | None = self._first(
            index, (kind, namespace if kind == "Role" else None, name)
        )
        return rules

    def cluster_role_aggregation(self, name: str) -> Sequence[Mapping[str, Any]] | None:
        selectors: Sequence[Mapping[str, Any]] | None = self._first("tg_cluster_role_labels", ("aggregation", name))
        return selectors

    def cluster_role_labels(self) -> Iterable[tuple[str, Mapping[str, str]]]:
        return list(self._values("tg_cluster_role_labels", ("labels",)))

    def secret_store(self, kind: str, namespace: str | None, name: str) -> Mapping[str, Any] | None:
        index = "tg_secret_stores" if kind == "SecretStore" else "tg_cluster_secret_stores"
        store: Mapping[str, Any] | None = self._first(
            index, (kind, namespace if kind == "SecretStore" else None, name)
        )
        return store
