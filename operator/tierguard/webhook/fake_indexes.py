"""The test double of kopf's indexes, beside the descriptors it fakes (as Gatekeeper ships ``clienttest`` beside
its client): objects go in through the same projections kopf's handlers run, so a ``LiveContext`` over it cannot
tell it from the real indexes. Used by the webhook tests and bench/, never by ``tierguard run``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.objects import name_of, namespace_of
from tierguard.webhook.indexes import INDEX_NAMES, INDEXES_BY_KIND


class FakeIndexes:
    """Every index of ``INDEXES``, filled from objects (``add``), with kopf's semantics: an index maps each key
    to the values of every object that returned it, and adding an object again replaces what it contributed."""

    def __init__(self, fingerprinter: Fingerprinter, objects: Iterable[Mapping[str, Any]] = ()) -> None:
        self.fingerprinter = fingerprinter
        self.data: dict[str, dict[Any, list[Any]]] = {name: {} for name in INDEX_NAMES}
        """Index id -> key -> values: what ``LiveContext`` reads (kopf hands it ``kopf.Index`` objects)."""
        self._contributions: dict[tuple[str, str, str | None, str], dict[Any, Any]] = {}
        for obj in objects:
            self.add(obj)

    def add(self, obj: Mapping[str, Any]) -> None:
        """Index an object of any indexed kind (other kinds are not watched, so ignored)."""
        spec = INDEXES_BY_KIND.get(str(obj.get("kind")))
        if spec is None:
            return
        identity = (spec.id, str(obj.get("kind")), namespace_of(obj), name_of(obj))
        self.remove(obj)
        entries = spec.project(obj, self.fingerprinter)
        self._contributions[identity] = entries
        index = self.data[spec.id]
        for key, value in entries.items():
            index.setdefault(key, []).append(value)

    def remove(self, obj: Mapping[str, Any]) -> None:
        """Drop what an object contributed, as kopf does on its deletion."""
        spec = INDEXES_BY_KIND.get(str(obj.get("kind")))
        if spec is None:
            return
        previous = self._contributions.pop((spec.id, str(obj.get("kind")), namespace_of(obj), name_of(obj)), {})
        index = self.data[spec.id]
        for key, value in previous.items():
            values = index.get(key, [])
            if value in values:
                values.remove(value)
            if not values:
                index.pop(key, None)

    def add_namespace(self, name: str, tier: str | None = None, *, tier_label: str = "tierguard.io/tier",
                      **labels: str) -> None:
        """A Namespace with these labels (and the tier label, when a tier is given)."""
        all_labels = dict(labels) | ({tier_label: tier} if tier else {})
        self.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": all_labels}})

    def add_secret(self, obj: Mapping[str, Any]) -> None:
        self.add(obj)
