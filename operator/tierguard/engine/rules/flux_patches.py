"""The labels and annotations a Flux object's kustomize patches put on the Secrets it deploys.

Flux runs kustomize over what it deploys: a Kustomization's ``spec.patches`` (v1beta2 also
``patchesStrategicMerge``, ``patchesJson6902``), a HelmRelease's ``spec.postRenderers[].kustomize`` (the same
three) on the chart's rendered manifests. A patch selects Secrets by its ``target`` (kustomize's
``SelectorRegex``: each of group, version, kind, name is an anchored regex; no kind selects every kind) or, a
strategic merge patch without one, by its own ``kind``. What it writes into ``metadata.labels`` and
``metadata.annotations`` (a strategic merge patch's metadata, a JSON patch's ``add``/``replace`` of
``/metadata``, ``/metadata/annotations`` or ``/metadata/annotations/<key>`` and the same for labels) lands on each
Secret selected. A patch that does not parse is left out: kustomize fails then and nothing is deployed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from tierguard.engine.objects import list_at, mapping_at, mappings_at

_SECRET_GROUP, _SECRET_VERSION, _SECRET_KIND = "", "v1", "Secret"
_PLAIN_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


@dataclass(frozen=True)
class SecretPatch:
    """Labels and annotations one patch puts on the Secrets it selects."""

    path: str
    """The field holding the patch."""
    name: str
    """The Secret's name when the patch names one plainly, else ``*``."""
    labels: dict[str, str]
    annotations: dict[str, str]


def secret_patches(spec: Mapping[str, Any], base: str) -> Iterator[SecretPatch]:
    """Each patch of ``spec`` (a Kustomization's spec, a post-renderer's ``kustomize``) that puts labels or
    annotations on Secrets."""
    for item, path in mappings_at(spec, "patches", f"{base}.patches"):
        target = mapping_at(item, "target", f"{path}.target")
        text = item.get("patch")
        if isinstance(text, str):
            yield from _patch_documents(_documents(text), target, f"{path}.patch")
    # Untyped JSON in the CRDs (apiextensionsv1.JSON): an item that is no object is the controller's to refuse.
    for index, item in enumerate(list_at(spec, "patchesStrategicMerge", f"{base}.patchesStrategicMerge")):
        yield from _patch_documents([item], {}, f"{base}.patchesStrategicMerge[{index}]")
    for item, path in mappings_at(spec, "patchesJson6902", f"{base}.patchesJson6902"):
        target = mapping_at(item, "target", f"{path}.target")
        operations = item.get("patch")
        if isinstance(operations, str):
            yield from _patch_documents(_documents(operations), target, f"{path}.patch")
        elif isinstance(operations, list):
            yield from _patch_documents([operations], target, f"{path}.patch")


def _documents(text: str) -> list[Any]:
    try:
        return [document for document in yaml.safe_load_all(text) if document is not None]
    except yaml.YAMLError:
        return []  # kustomize refuses it: nothing is deployed


def _patch_documents(documents: list[Any], target: Mapping[str, Any], path: str) -> Iterator[SecretPatch]:
    for document in documents:
        if isinstance(document, list):  # a JSON patch: only a target selects what it patches
            if target and _selects_secrets(target):
                labels, annotations = _json_patch_metadata(document)
                yield from _found(path, _name(target), labels, annotations)
        elif isinstance(document, Mapping):
            if target:
                selected = _selects_secrets(target)
                name = _name(target)
            else:
                selected = document.get("kind") == _SECRET_KIND and document.get("apiVersion") in (None, "v1")
                metadata = document.get("metadata")
                given = metadata.get("name") if isinstance(metadata, Mapping) else None
                name = given if isinstance(given, str) and _PLAIN_NAME.fullmatch(given) else "*"
            if selected:
                metadata = document.get("metadata")
                if isinstance(metadata, Mapping):
                    yield from _found(path, name, _strings(metadata.get("labels")),
                                      _strings(metadata.get("annotations")))


def _found(path: str, name: str, labels: dict[str, str], annotations: dict[str, str]) -> Iterator[SecretPatch]:
    if labels or annotations:
        yield SecretPatch(path, name, labels, annotations)


def _selects_secrets(target: Mapping[str, Any]) -> bool:
    return all(_regex_matches(target.get(key), value) for key, value in
               (("group", _SECRET_GROUP), ("version", _SECRET_VERSION), ("kind", _SECRET_KIND)))


def _regex_matches(pattern: object, value: str) -> bool:
    if not isinstance(pattern, str) or not pattern:
        return True  # an empty selector field selects everything
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        return True  # Go's regexp syntax differs at the edges: selecting is the safe reading


def _name(target: Mapping[str, Any]) -> str:
    name = target.get("name")
    return name if isinstance(name, str) and _PLAIN_NAME.fullmatch(name) else "*"


def _strings(values: object) -> dict[str, str]:
    if not isinstance(values, Mapping):
        return {}
    return {str(key): value for key, value in values.items() if isinstance(value, str)}


def _json_patch_metadata(operations: list[Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The labels and annotations a JSON patch (RFC 6902) adds or replaces."""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for operation in operations:
        if not isinstance(operation, Mapping) or operation.get("op") not in ("add", "replace"):
            continue
        pointer, value = operation.get("path"), operation.get("value")
        if not isinstance(pointer, str):
            continue
        parts = [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]
        if parts == ["metadata"] and isinstance(value, Mapping):
            labels.update(_strings(value.get("labels")))
            annotations.update(_strings(value.get("annotations")))
        elif len(parts) == 2 and parts[0] == "metadata":
            (labels if parts[1] == "labels" else annotations if parts[1] == "annotations" else {}).update(
                _strings(value))
        elif len(parts) == 3 and parts[0] == "metadata" and isinstance(value, str):
            if parts[1] == "labels":
                labels[parts[2]] = value
            elif parts[1] == "annotations":
                annotations[parts[2]] = value
    return labels, annotations
