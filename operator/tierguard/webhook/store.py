"""One live index in memory: key -> the values every object contributed under that key.

An object (identified by its namespace and name) contributes the entries its projection returned
(``indexes.py``); putting it again replaces everything it contributed, removing it drops that. This is kopf's
index semantics, kept here without kopf's per-object machinery: at 100k Secrets a value per key and a dict of
contributions per object is all there is.

Most keys have one contributor (a Secret's name key; a value held by one Secret), so such a key holds the value
itself instead of a dict of one: at 100k Secrets that saves some 300k small dicts.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

ObjectKey = tuple[str, str]
"""``(namespace or "", name)``: what identifies a contributor within one kind."""


class _Shared(dict[ObjectKey, Any]):
    """The values of a key with more than one contributor, by contributor (a subclass, to tell it from a value
    that happens to be a dict)."""


class LiveIndex:
    """What ``LiveContext`` reads: ``get(key)`` -> the values under ``key``, ``iter()`` -> the keys."""

    def __init__(self) -> None:
        self._values: dict[Any, Any] = {}
        self._owners: dict[Any, ObjectKey] = {}
        """key -> its single contributor (absent when the key is shared)."""
        self._contributions: dict[ObjectKey, tuple[Any, ...]] = {}
        """owner -> the keys it contributed (the values are under the keys: a tuple costs a quarter of a dict)."""
        self.version = 0
        """Counts changes: equal versions mean equal content (the verdict cache's generation, live_context.py)."""
        self._names: dict[str, set[str]] = {}
        """namespace -> the names of its contributors: one namespace's objects without a walk over every key
        (the audit asks for a namespace's Secrets on each namespace event; at 100k Secrets a walk is 100k keys)."""

    def get(self, key: Any, default: Any = None) -> Collection[Any] | Any:
        if key not in self._values:
            return default
        held = self._values[key]
        return held.values() if isinstance(held, _Shared) else (held,)

    def __getitem__(self, key: Any) -> Collection[Any]:
        values = self.get(key)
        if values is None:
            raise KeyError(key)
        result: Collection[Any] = values
        return result

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        """Equal to a mapping of key -> list of values (what tests write down)."""
        if isinstance(other, LiveIndex):
            return self.as_dict() == other.as_dict()
        if isinstance(other, Mapping):
            return self.as_dict() == {key: list(values) for key, values in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def as_dict(self) -> dict[Any, list[Any]]:
        return {key: list(self.get(key) or ()) for key in self._values}

    @property
    def objects(self) -> int:
        """How many objects contribute (the index's size in objects, not in keys)."""
        return len(self._contributions)

    def names_in(self, namespace: str) -> Collection[str]:
        """The names of the objects of ``namespace`` that contribute ("" for cluster-scoped kinds)."""
        return tuple(self._names.get(namespace, ()))

    def put(self, owner: ObjectKey, entries: Mapping[Any, Any]) -> None:
        """``owner`` now contributes exactly ``entries`` (an object added or changed)."""
        self.remove(owner)
        self.version += 1
        if not entries:
            return
        self._contributions[owner] = tuple(entries)
        self._names.setdefault(owner[0], set()).add(owner[1])
        for key, value in entries.items():
            if key not in self._values:
                self._values[key] = value
                self._owners[key] = owner
                continue
            held = self._values[key]
            if not isinstance(held, _Shared):
                held = _Shared({self._owners.pop(key): held})
                self._values[key] = held
            held[owner] = value

    def remove(self, owner: ObjectKey) -> bool:
        """Drop what ``owner`` contributed (an object deleted); False when it contributed nothing."""
        keys = self._contributions.pop(owner, None)
        if keys is None:
            return False
        self.version += 1
        names = self._names.get(owner[0])
        if names is not None:
            names.discard(owner[1])
            if not names:
                del self._names[owner[0]]
        for key in keys:
            held = self._values.get(key)
            if isinstance(held, _Shared):
                held.pop(owner, None)
                if len(held) == 1:
                    (last_owner, last_value), = held.items()
                    self._values[key] = last_value
                    self._owners[key] = last_owner
                elif not held:
                    del self._values[key]
            elif self._owners.get(key) == owner:
                del self._values[key]
                del self._owners[key]
        return True

    def replace(self, other: LiveIndex) -> None:
        """Take ``other``'s content at once (a new list): readers holding this index see the new one whole."""
        self._values, self._owners, self._contributions = other._values, other._owners, other._contributions
        self._names = other._names
        self.version += 1
        other._values, other._owners, other._contributions, other._names = {}, {}, {}, {}
