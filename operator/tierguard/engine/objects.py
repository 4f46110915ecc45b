"""Safe accessors for Kubernetes objects as plain dicts: metadata that is missing or mistyped reads as empty,
and ``require_*`` helpers raise Malformed with the field path instead of crashing a rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tierguard.engine.model import Malformed, ObjectRef
from tierguard.kinds import AMBIGUOUS_KINDS, CLUSTER_SCOPED_KINDS, KINDS, Scope

_UNTABLED_NAMESPACED_KINDS = frozenset({
    "Service", "ConfigMap", "ServiceAccount", "Endpoints", "Event", "LimitRange", "ResourceQuota", "PodTemplate",
    "ControllerRevision", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Lease",
    "EndpointSlice", "CSIStorageCapacity", "LocalSubjectAccessReview",
})
"""Built-in namespaced kinds the kinds table lacks: nothing judges or looks them up, and its rows known only for
their scope are cluster-scoped ones. Without them, such an object naming no namespace would keep none."""
NAMESPACED_KINDS = (frozenset(info.kind for info in KINDS if info.scope is Scope.NAMESPACED)
                    | _UNTABLED_NAMESPACED_KINDS) - AMBIGUOUS_KINDS
"""Kinds that live in a namespace, by name: without ``metadata.namespace`` they land in ``default`` (kubectl's
default). The kinds table's namespaced rows, and the built-in ones above."""


def metadata_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if type(metadata) is dict or isinstance(metadata, Mapping) else {}


def _str_map(value: object) -> dict[str, str]:
    if type(value) is not dict and not isinstance(value, Mapping):
        return {}
    return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return _str_map(metadata_of(obj).get("labels"))


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return _str_map(metadata_of(obj).get("annotations"))


def name_of(obj: Mapping[str, Any]) -> str:
    metadata = metadata_of(obj)
    name = metadata.get("name") or metadata.get("generateName") or ""
    return name if isinstance(name, str) else str(name)


def namespace_of(obj: Mapping[str, Any]) -> str | None:
    namespace = metadata_of(obj).get("namespace")
    return namespace if isinstance(namespace, str) and namespace else None


def is_terminating(obj: Mapping[str, Any]) -> bool:
    """Being deleted (``metadata.deletionTimestamp`` set): a namespace then loses its objects to the namespace
    controller, which nothing may hold up."""
    return bool(metadata_of(obj).get("deletionTimestamp"))


def is_cluster_scoped(kind: str) -> bool:
    """Whether objects of this kind have no namespace (the kinds table's cluster-scoped rows)."""
    return kind in CLUSTER_SCOPED_KINDS


def object_ref(obj: Mapping[str, Any], namespace: str | None = None) -> ObjectRef:
    """The object's reference. An object without ``metadata.namespace`` is in ``default`` when its kind is known to
    be namespaced; a kind tierguard does not know (a CRD's) keeps no namespace rather than an invented one."""
    kind = obj.get("kind")
    kind_text = kind if isinstance(kind, str) else ""
    api_version = obj.get("apiVersion")
    metadata = metadata_of(obj)  # once: namespace_of and name_of would each look it up again
    if kind_text in CLUSTER_SCOPED_KINDS:
        scoped = None
    else:
        own = metadata.get("namespace")
        known = kind_text in NAMESPACED_KINDS
        scoped = namespace or (own if isinstance(own, str) and own else None) or ("default" if known else None)
    name = metadata.get("name") or metadata.get("generateName") or ""
    return ObjectRef(api_version if isinstance(api_version, str) else "", kind_text, scoped,
                     name if isinstance(name, str) else str(name))


def mapping_at(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """``parent[key]`` as a mapping; absent or null reads as empty, any other type is Malformed."""
    value = parent.get(key)
    if value is None:
        return {}
    if type(value) is not dict and not isinstance(value, Mapping):  # dict first: the ABC check costs 5x more
        raise Malformed(path, f"expected an object, got {type(value).__name__}")
    return value


def string_map_at(parent: Mapping[str, Any], key: str, path: str) -> dict[str, str]:
    """``parent[key]`` as a map of strings (labels, annotations a controller will write); a value that is not a
    string is Malformed, naming its key."""
    values = mapping_at(parent, key, path)
    for name, value in values.items():
        if not isinstance(value, str):
            raise Malformed(f"{path}[{name}]", f"expected a string, got {type(value).__name__}")
    return {str(name): value for name, value in values.items()}


def list_at(parent: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if type(value) is not list and not isinstance(value, list):
        raise Malformed(path, f"expected a list, got {type(value).__name__}")
    return value


def require_object(item: object, list_path: str, index: int) -> None:
    """For walks that check a list's items as they visit them (one loop, not ``objects_at``'s two): the same
    Malformed as ``objects_at`` for an item that is not an object."""
    if type(item) is not dict and not isinstance(item, Mapping):
        raise Malformed(f"{list_path}[{index}]", f"expected an object, got {type(item).__name__}")


def mappings_at(parent: Mapping[str, Any], key: str, path: str) -> list[tuple[Mapping[str, Any], str]]:
    """Items of a list of objects with their paths; a non-object item is Malformed."""
    items = []
    for index, item in enumerate(list_at(parent, key, path)):
        if type(item) is not dict and not isinstance(item, Mapping):
            raise Malformed(f"{path}[{index}]", f"expected an object, got {type(item).__name__}")
        items.append((item, f"{path}[{index}]"))
    return items


def objects_at(parent: Mapping[str, Any], key: str, path: str) -> list[Mapping[str, Any]]:
    """``mappings_at`` without the paths, for walks that format an item's path (``f"{path}[{index}]"``) only
    when they report it: the same checks, the same Malformed for the first non-object item."""
    items = list_at(parent, key, path)
    for index, item in enumerate(items):
        if type(item) is not dict and not isinstance(item, Mapping):
            raise Malformed(f"{path}[{index}]", f"expected an object, got {type(item).__name__}")
    return items


def str_at(parent: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str:
    value = parent.get(key)
    if value is None or value == "":
        if required:
            raise Malformed(path, "is required")
        return ""
    if not isinstance(value, str):
        raise Malformed(path, f"expected a string, got {type(value).__name__}")
    return value


def placed_in(obj: Mapping[str, Any], namespace: str) -> Mapping[str, Any]:
    """The object as ``kubectl apply -n <namespace>`` sends it: a known namespaced kind that names no namespace
    gets this one; cluster-scoped kinds, kinds tierguard does not know (their scope is unknown offline) and
    objects that name a namespace are unchanged."""
    kind = obj.get("kind")
    if not isinstance(kind, str) or namespace_of(obj) or is_cluster_scoped(kind):
        return obj
    if kind not in NAMESPACED_KINDS:
        return obj
    return {**obj, "metadata": {**metadata_of(obj), "namespace": namespace}}
