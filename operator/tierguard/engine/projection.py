"""Listed objects reduced to what the engine reads, as they arrive, so a cluster's audit holds per object a few
hundred bytes of metadata and spec rather than the object the API server sent.

A Secret becomes its ``SecretView`` (metadata and keyed fingerprints) plus the object without ``data``,
``stringData`` and the ``kubectl.kubernetes.io/last-applied-configuration`` annotation (which holds a copy of the
data), its metadata cut to what the rules and reports read (name, namespace, labels, annotations, owners): its
values are hashed here, once, and dropped. Every object also loses what no rule reads: ``status`` (but a Pod's
``status.phase``: an audit asks whether a pod runs, ``rules/sidecars.py``), that annotation, and the API server's
bookkeeping in ``metadata`` (``managedFields``, ``uid``, ``resourceVersion``, timestamps). Namespace names are
interned: a thousand namespaces, not twenty thousand copies. Pure: no I/O.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.model import Malformed
from tierguard.engine.secrets import LAST_APPLIED, SecretView
from tierguard.kinds import row_of

DROPPED_METADATA = frozenset({"managedFields", "uid", "resourceVersion", "creationTimestamp", "generation",
                              "selfLink"})
"""Bookkeeping of the API server, read by no rule and no report."""
SECRET_METADATA = ("name", "generateName", "namespace", "ownerReferences")
"""What a projected Secret keeps in ``metadata`` besides the labels and annotations its view holds."""
DROPPED_FIELDS = ("status",)
SECRET_VALUE_FIELDS = ("data", "stringData")


@dataclass(frozen=True, slots=True)
class Projected:
    """A listed object as the engine needs it. For a Secret, ``secret`` is its view (or why it is malformed),
    made with ``fingerprinter``: the object itself holds no value any more."""

    obj: Mapping[str, Any]
    secret: SecretView | Malformed | None = field(default=None, repr=False)
    fingerprinter: Fingerprinter | None = field(default=None, repr=False)


def is_secret(obj: Mapping[str, Any]) -> bool:
    """A core ``v1`` Secret (a CRD's "Secret" of another group is not)."""
    row = row_of(obj.get("apiVersion"), obj.get("kind"))
    return row is not None and row.group == "" and row.kind == "Secret"


def project(obj: Mapping[str, Any], fingerprinter: Fingerprinter) -> Projected:
    """``obj`` without values or bulk; a Secret is fingerprinted with ``fingerprinter`` first."""
    metadata = obj.get("metadata")
    if is_secret(obj) and isinstance(metadata, Mapping):
        return _project_secret(obj, metadata, fingerprinter)
    slim = {k: v for k, v in obj.items() if k not in DROPPED_FIELDS}
    phase = _pod_phase(obj)
    if phase is not None:
        slim["status"] = {"phase": phase}
    if isinstance(metadata, Mapping):
        kept = {k: v for k, v in metadata.items() if k not in DROPPED_METADATA}
        namespace = kept.get("namespace")
        if isinstance(namespace, str):
            kept["namespace"] = sys.intern(namespace)
        for name in ("labels", "annotations"):  # the same few keys on thousands of objects: one string each
            found = kept.get(name)
            if isinstance(found, Mapping):
                kept[name] = {sys.intern(k) if isinstance(k, str) else k: v
                              for k, v in found.items() if k != LAST_APPLIED}
        slim["metadata"] = kept
    if not is_secret(obj):
        return Projected(slim)
    return Projected(slim, _view(slim, fingerprinter), fingerprinter)  # a Secret without metadata: malformed


def _pod_phase(obj: Mapping[str, Any]) -> str | None:
    """A core Pod's ``status.phase`` (interned: a handful of values on thousands of pods)."""
    if obj.get("kind") != "Pod" or obj.get("apiVersion") != "v1":
        return None
    status = obj.get("status")
    phase = status.get("phase") if isinstance(status, Mapping) else None
    return sys.intern(phase) if isinstance(phase, str) else None


def _project_secret(obj: Mapping[str, Any], metadata: Mapping[str, Any], fingerprinter: Fingerprinter) -> Projected:
    """A Secret: its view, and an object of its name, namespace, owners, labels and annotations (the view's)."""
    kept: dict[str, Any] = {k: metadata[k] for k in SECRET_METADATA if k in metadata}
    namespace = kept.get("namespace")
    if isinstance(namespace, str):
        kept["namespace"] = sys.intern(namespace)
    kept["labels"] = _interned(metadata.get("labels"))
    kept["annotations"] = _interned(metadata.get("annotations"))
    slim = {k: v for k, v in obj.items() if k not in DROPPED_FIELDS and k != "metadata"}
    slim["metadata"] = kept
    view = _view(slim, fingerprinter)  # its annotations: without the last-applied copy
    for name in SECRET_VALUE_FIELDS:
        slim.pop(name, None)
    if isinstance(view, SecretView):
        kept["labels"], kept["annotations"] = view.labels, view.annotations  # shared, not copied
    return Projected(slim, view, fingerprinter)


def _interned(found: object) -> object:
    if not isinstance(found, Mapping):
        return found
    return {sys.intern(k) if isinstance(k, str) else k: v for k, v in found.items() if k != LAST_APPLIED}


def _view(obj: Mapping[str, Any], fingerprinter: Fingerprinter) -> SecretView | Malformed:
    try:
        return SecretView.from_object(obj, fingerprinter)
    except Malformed as error:
        return error


def check_fingerprinter(item: Projected, fingerprinter: Fingerprinter) -> None:
    """A projected Secret can only be judged with the key it was fingerprinted with: its values are gone."""
    if item.secret is not None and item.fingerprinter is not fingerprinter:
        raise ValueError("a projected Secret was fingerprinted with another key than this run's")
