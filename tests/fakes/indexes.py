"""The test double of the live indexes (``tierguard.webhook.indexes``): objects go in through the same projections
and the same ``LiveIndex`` the informers fill, so a ``LiveContext`` over it cannot tell it from the real indexes.
Used by the tests and by bench/ (run from the repository root), never by ``tierguard run``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.webhook.indexes import INDEX_NAMES, INDEXES_BY_KIND
from tierguard.webhook.informer import owner_of
from tierguard.webhook.store import LiveIndex


class FakeIndexes:
    """Every index of ``INDEXES`` as the ``LiveIndex`` an informer fills, from objects (``add``): adding an
    object again replaces what it contributed, removing it drops that."""

    def __init__(self, fingerprinter: Fingerprinter, objects: Iterable[Mapping[str, Any]] = ()) -> None:
        self.fingerprinter = fingerprinter
        self.data: dict[str, LiveIndex] = {name: LiveIndex() for name in INDEX_NAMES}
        """Index id -> its index: what ``LiveContext`` reads."""
        for obj in objects:
            self.add(obj)

    def add(self, obj: Mapping[str, Any]) -> None:
        """Index an object of any indexed kind (other kinds are not watched, so ignored)."""
        spec = INDEXES_BY_KIND.get(str(obj.get("kind")))
        if spec is None:
            return
        self.data[spec.id].put(owner_of(obj), spec.project(obj, self.fingerprinter))

    def remove(self, obj: Mapping[str, Any]) -> None:
        """Drop what an object contributed, as its deletion does."""
        spec = INDEXES_BY_KIND.get(str(obj.get("kind")))
        if spec is not None:
            self.data[spec.id].remove(owner_of(obj))

    def add_namespace(self, name: str, tier: str | None = None, *, tier_label: str = "tierguard.io/tier",
                      **labels: str) -> None:
        """A Namespace with these labels (and the tier label, when a tier is given)."""
        all_labels = dict(labels) | ({tier_label: tier} if tier else {})
        self.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": all_labels}})

    def add_secret(self, obj: Mapping[str, Any]) -> None:
        self.add(obj)
