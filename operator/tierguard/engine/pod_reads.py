"""What the rules read of a Pod or pod template beyond the sidecar rules' part, as data: the fields whose presence
may make tierguard refuse it. An object with none of them is admitted by the engine whatever the policy, but for
``sidecar-missing`` and ``sidecar-injection-disabled``, which the ValidatingAdmissionPolicies judge
(``vap/generate.py``'s ``workloads`` family): the webhook's matchConditions (``vap/skip.py``) spare the API server
the call for it.

Each entry is taken from the module that reads the field: ``podspec.py`` (every Secret a pod consumes, its claims),
``workloads.py`` (external secret paths: Vault and Bank-Vaults annotations, ``vault:`` env values; the injectors'
Secret annotations share these prefixes), ``volumes.py`` (a StatefulSet's claim templates). Deliberately wider
than the walkers where that costs nothing: a volume source is read whenever it is there (an empty ``secret: {}``
too), a Vault or Bank-Vaults annotation whatever its name, a list however empty its items.
tests/vap/test_skip_conditions.py shows that each entry is read, and that nothing else is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tierguard.engine.podspec import (
    ANNOTATION_SECRET_KEYS,
    CLAIM_VOLUME_SOURCES,
    CONTAINER_GROUPS,
    ENV_FROM_SECRET_REF,
    ENV_SECRET_REF,
    POD_SPEC_PATHS,
    PROJECTED_SECRET,
    SECRET_LISTS,
    SECRET_VOLUME_SOURCES,
)
from tierguard.engine.rules.volumes import CLAIM_TEMPLATES
from tierguard.engine.rules.workloads import BANK_VAULTS, BANK_VAULTS_VALUE_PREFIXES, VAULT


@dataclass(frozen=True)
class PodReads:
    """The fields of a pod (template) some rule other than the sidecar rules reads."""

    volume_sources: tuple[str, ...]
    """A volume carrying one of these keys is read (``volumes[].<key>``)."""
    projected_sources: tuple[str, ...]
    """A projected volume's source carrying one of these (``volumes[].projected.sources[].<key>``)."""
    spec_lists: tuple[str, ...]
    """Lists of the pod spec read when they have an item (``imagePullSecrets``)."""
    container_groups: tuple[str, ...]
    env_value_from: tuple[str, ...]
    """``<group>[].env[].valueFrom.<key>``."""
    env_from: tuple[str, ...]
    """``<group>[].envFrom[].<key>``."""
    env_value_prefixes: tuple[str, ...]
    """A literal ``<group>[].env[].value`` starting with one of these."""
    annotation_prefixes: tuple[str, ...]
    """A pod (template) annotation whose key starts with one of these."""
    object_lists: Mapping[str, tuple[str, ...]]
    """Per kind, lists of the object's own ``spec`` read when they have an item (a StatefulSet's claim templates)."""


POD_READS = PodReads(
    volume_sources=(*SECRET_VOLUME_SOURCES, *CLAIM_VOLUME_SOURCES),
    projected_sources=(PROJECTED_SECRET,),
    spec_lists=SECRET_LISTS,
    container_groups=CONTAINER_GROUPS,
    env_value_from=(ENV_SECRET_REF,),
    env_from=(ENV_FROM_SECRET_REF,),
    env_value_prefixes=BANK_VAULTS_VALUE_PREFIXES,
    annotation_prefixes=(VAULT, BANK_VAULTS),
    object_lists={"StatefulSet": (CLAIM_TEMPLATES,)},
)

INJECTOR_SECRET_ANNOTATIONS = ANNOTATION_SECRET_KEYS
"""The injectors' Secret annotations (podspec): read through ``annotation_prefixes`` (tested)."""


def reads_nothing(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` (a Pod or pod-template kind as the API server stores it) has none of ``POD_READS``: the
    Python reading of ``vap/skip.py``'s CEL (the bench's skipped share; a test holds the two equal). False for
    any other kind and for an object not shaped as the API server would send it."""
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in POD_SPEC_PATHS:
        return False
    reads = POD_READS
    spec = obj.get("spec")
    for name in reads.object_lists.get(kind, ()):
        if not isinstance(spec, Mapping) or spec.get(name):
            return False
    holder: Any = obj
    for key in POD_SPEC_PATHS[kind]:
        holder = holder.get(key) if isinstance(holder, Mapping) else None
    if not isinstance(holder, Mapping) or not isinstance(holder.get("spec"), Mapping):
        return False
    metadata = holder.get("metadata") or {}
    pod = holder["spec"]
    try:
        annotations = metadata.get("annotations") or {}
        if any(str(key).startswith(reads.annotation_prefixes) for key in annotations):
            return False
        if any(pod.get(name) for name in reads.spec_lists):
            return False
        for volume in pod.get("volumes") or ():
            if any(source in volume for source in reads.volume_sources):
                return False
            projected = volume.get("projected") or {}
            if any(key in source for source in projected.get("sources") or () for key in reads.projected_sources):
                return False
        for group in reads.container_groups:
            for container in pod.get(group) or ():
                for env in container.get("env") or ():
                    value_from = env.get("valueFrom") or {}
                    if any(key in value_from for key in reads.env_value_from):
                        return False
                    value = env.get("value")
                    if isinstance(value, str) and value.startswith(reads.env_value_prefixes):
                        return False
                if any(key in source for source in container.get("envFrom") or () for key in reads.env_from):
                    return False
    except (AttributeError, TypeError):  # not the API server's shape: never skipped
        return False
    return True
