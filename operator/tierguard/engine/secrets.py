"""What tierguard keeps of a Secret: ``SecretView`` (metadata and keyed fingerprints, never data), and whether a
Secret is shareable across tiers. Built once per Secret: by the context for the Secrets it holds, by the request
for the Secret under admission."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tierguard.engine.fingerprints import Fingerprint, Fingerprinter
from tierguard.engine.objects import annotations_of, labels_of, name_of, namespace_of
from tierguard.policy import TierPolicy


@dataclass(frozen=True, slots=True)
class SecretView:
    """What tierguard keeps of a Secret (or SealedSecret): metadata and keyed fingerprints, never data."""

    namespace: str
    name: str
    kind: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    fingerprints: tuple[Fingerprint, ...] = field(default=(), repr=False)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

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


def is_shareable(view: SecretView, policy: TierPolicy) -> bool:
    """A Secret carrying every shareable label (``spec.secrets.shareable.labels``): exempt from the secret rules."""
    wanted = policy.secrets.shareable.labels
    return bool(wanted) and all(view.labels.get(k) == v for k, v in wanted.items())
