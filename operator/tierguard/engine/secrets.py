"""What tierguard keeps of a Secret: ``SecretView`` (metadata and keyed fingerprints, never data), and whether a
Secret is shareable across tiers. Built once per Secret: by the context for the Secrets it holds, by the request
for the Secret under admission."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tierguard.engine.fingerprints import Fingerprint, Fingerprinter
from tierguard.engine.model import ObjectRef
from tierguard.engine.objects import annotations_of, labels_of, name_of, namespace_of
from tierguard.policy import TierPolicy

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
"""``kubectl apply`` keeps the whole applied manifest here: a Secret's values included."""
VALUE_COPYING_ANNOTATIONS = frozenset({LAST_APPLIED})
"""Annotations that hold a copy of the whole object, its data included: `kubectl apply` (and Argo CD, which uses
it) writes the applied Secret there, values and all. A SecretView never keeps them; no rule reads them."""


def kept_annotations(annotations: Mapping[str, str]) -> dict[str, str]:
    """The annotations a SecretView may keep: all but those that copy the object's values."""
    return {key: value for key, value in annotations.items() if key not in VALUE_COPYING_ANNOTATIONS}


@dataclass(frozen=True, slots=True)
class SecretView:
    """What tierguard keeps of a Secret (or SealedSecret): metadata and keyed fingerprints, never data, and never
    an annotation that copies the data (``VALUE_COPYING_ANNOTATIONS``), however the view is made."""

    namespace: str
    name: str
    kind: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    fingerprints: tuple[Fingerprint, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if VALUE_COPYING_ANNOTATIONS & set(self.annotations):
            object.__setattr__(self, "annotations", kept_annotations(self.annotations))

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def object_ref(self) -> ObjectRef:
        """The Secret as a reference, for a finding's related objects."""
        return secret_ref(self.namespace, self.name, self.kind)

    @classmethod
    def from_object(
        cls, obj: Mapping[str, Any], fingerprinter: Fingerprinter, namespace: str | None = None
    ) -> SecretView:
        kind = str(obj.get("kind") or "Secret")
        annotations = dict(annotations_of(obj))
        fingerprints: tuple[Fingerprint, ...] = ()
        if kind == "SealedSecret":
            # The controller copies the template's metadata onto the Secret it unseals.
            spec = obj.get("spec")
            template = spec.get("template") if isinstance(spec, Mapping) else None
            if isinstance(template, Mapping):
                annotations.update(annotations_of(template))
        else:
            fingerprints = fingerprinter.secret_fingerprints(obj)
        return cls(
            namespace=namespace if namespace is not None else (namespace_of(obj) or "default"),
            name=name_of(obj),
            kind=kind,
            labels=labels_of(obj),
            annotations=annotations,
            fingerprints=fingerprints,
        )


def secret_ref(namespace: str, name: str, kind: str = "Secret") -> ObjectRef:
    """A Secret (or SealedSecret) named by namespace and name, as a finding's related object."""
    return ObjectRef("bitnami.com/v1alpha1" if kind == "SealedSecret" else "v1", kind, namespace, name)


def is_shareable(view: SecretView, policy: TierPolicy) -> bool:
    """A Secret carrying every shareable label (``spec.secrets.shareable.labels``): exempt from the secret rules."""
    wanted = policy.secrets.shareable.labels
    return bool(wanted) and all(view.labels.get(k) == v for k, v in wanted.items())


def value_path(obj: Mapping[str, Any], key: str) -> str:
    """Where a Secret's object writes the value of ``key``: ``stringData.<key>`` when a ``stringData`` entry
    gives it (the API server merges ``stringData`` over ``data``, as ``Fingerprinter.secret_fingerprints``
    does), else ``data.<key>`` (also for a Secret as stored, or projected without its values). Key names only:
    the value itself is never read."""
    string_data = obj.get("stringData")
    if isinstance(string_data, Mapping) and string_data.get(key) is not None:
        return f"stringData.{key}"
    return f"data.{key}"
