"""Finding pod specs in Pods and every template kind, and the one walker of what a pod spec consumes.

Every place a pod consumes Secret material (volumes, projected sources, env, envFrom, imagePullSecrets, inline
CSI and legacy volume plugins' secret refs) is listed here and nowhere else, each with a field path for
messages. Containers are walked in ``containers``, ``initContainers`` and ``ephemeralContainers``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from tierguard.engine.model import Malformed
from tierguard.engine.objects import (
    annotations_of,
    labels_of,
    list_at,
    mapping_at,
    objects_at,
    require_object,
    str_at,
)
from tierguard.engine.selectors import GO_TRUE

POD_SPEC_PATHS: Mapping[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
"""Where each workload kind keeps its pod (template); ``()`` means the object is the pod itself."""

WORKLOAD_KINDS = frozenset(POD_SPEC_PATHS)
CONTAINER_GROUPS = ("containers", "initContainers", "ephemeralContainers")

SECRET_REF_PLUGINS = ("cephfs", "rbd", "iscsi", "flexVolume", "scaleIO", "storageos")
"""Legacy in-tree volume plugins whose Secret is ``secretRef``: in a pod's volume a name in the pod's namespace,
in a PersistentVolume's source a name and namespace (``engine/rules/volumes.py``)."""

# Volume plugins that name a Secret in the pod's namespace: plugin -> (field, is_object_ref).
_LEGACY_SECRET_REFS: Mapping[str, tuple[str, bool]] = {
    **dict.fromkeys(SECRET_REF_PLUGINS, ("secretRef", True)),
    "azureFile": ("secretName", False),
    "csi": ("nodePublishSecretRef", True),
}


_LEGACY_PLUGINS = frozenset(_LEGACY_SECRET_REFS)

# What the walkers below read for Secret material and storage, as data (``engine/pod_reads.py`` gathers them for
# the webhook's matchConditions; tests/vap/test_skip_conditions.py holds each to the walkers).
SECRET_VOLUME_SOURCES: tuple[str, ...] = ("secret", *_LEGACY_SECRET_REFS)
"""Volume sources that name a Secret of the pod's namespace (``csi``: ``nodePublishSecretRef``)."""
PROJECTED_SECRET = "secret"
"""A projected volume's source that names a Secret (``projected.sources[].secret``)."""
CLAIM_VOLUME_SOURCES = ("persistentVolumeClaim", "ephemeral")
"""Volume sources backed by a claim, whose storage may carry secret refs of its own (``claim_uses``)."""
SECRET_LISTS = ("imagePullSecrets",)
"""Lists of the pod spec whose items name Secrets."""
ENV_SECRET_REF = "secretKeyRef"
"""``env[].valueFrom.<this>`` names a Secret."""
ENV_FROM_SECRET_REF = "secretRef"
"""``envFrom[].<this>`` names a Secret."""

_ANNOTATION_SECRETS: tuple[tuple[str, str | None], ...] = (
    ("vault.hashicorp.com/agent-extra-secret", "vault.hashicorp.com/agent-inject"),
    ("vault.hashicorp.com/tls-secret", "vault.hashicorp.com/agent-inject"),
    ("vault.security.banzaicloud.io/vault-tls-secret", None),
)
"""Injector annotations naming a Secret of the pod's namespace that the injected containers mount, with the
annotation that must switch injection on (Go ``strconv.ParseBool``) for the Secret to be mounted."""
ANNOTATION_SECRET_KEYS = tuple(key for key, _ in _ANNOTATION_SECRETS)


# Slotted, not frozen: made once or more per review, and a frozen dataclass's __init__ sets each field through
# object.__setattr__ (about 0.5 us apiece). Nothing assigns to it after construction all the same.
@dataclass(slots=True)
class PodSite:
    """A pod spec found in an object, with the pod's (or template's) labels and annotations."""

    spec: Mapping[str, Any]
    path: str
    """Field path of the pod spec, e.g. ``spec.template.spec``."""
    metadata_path: str
    """Field path of the pod's (or template's) metadata, e.g. ``spec.template.metadata``."""
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    is_template: bool
    walked: dict[str, object] = field(default_factory=dict, init=False, compare=False, repr=False)
    """What the walkers found in this spec (``containers``): each rule family asks again."""


class ContainerSite(NamedTuple):
    # Named tuples, not frozen dataclasses, for what every Pod review makes several of: a frozen dataclass's
    # __init__ sets each field through object.__setattr__ (about 1 us apiece here).
    container: Mapping[str, Any]
    name: str
    path: str
    group: str
    native_sidecar: bool


class SecretUse(NamedTuple):
    """The pod consumes Secret ``name`` of its own namespace at ``path``."""

    name: str
    path: str


@dataclass(frozen=True)
class ClaimUse:
    """A volume backed by a PersistentVolumeClaim (``claim``) or an inline claim template (``storage_class``)."""

    path: str
    claim: str = ""
    storage_class: str = ""
    default_class: bool = False
    """An inline claim template without ``storageClassName``: it gets the cluster's default StorageClass."""


def pod_site(obj: Mapping[str, Any]) -> PodSite | None:
    """The pod spec of a Pod or a workload template, or None for kinds that have none."""
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in POD_SPEC_PATHS:
        return None
    holder: Mapping[str, Any] = obj
    path = ""
    for key in POD_SPEC_PATHS[kind]:
        path = f"{path}.{key}" if path else key
        holder = mapping_at(holder, key, path)
    spec_path = f"{path}.spec" if path else "spec"
    spec = mapping_at(holder, "spec", spec_path)
    return PodSite(
        spec=spec,
        path=spec_path,
        metadata_path=f"{path}.metadata" if path else "metadata",
        labels=labels_of(holder),
        annotations=annotations_of(holder),
        is_template=kind != "Pod",
    )


def containers(site: PodSite) -> tuple[ContainerSite, ...]:
    """The pod's containers of every group, in spec order; walked once per site however many rules ask."""
    found = site.walked.get("containers")
    if found is None:
        try:
            found = _containers(site)
        except Malformed as error:
            found = error
        site.walked["containers"] = found
    if isinstance(found, Malformed):
        raise found
    return cast("tuple[ContainerSite, ...]", found)


def _containers(site: PodSite) -> tuple[ContainerSite, ...]:
    found = []
    spec = site.spec
    for group in CONTAINER_GROUPS:
        listed = spec.get(group)
        if listed is None:
            continue
        group_path = f"{site.path}.{group}"
        for index, container in enumerate(listed if type(listed) is list else list_at(spec, group, group_path)):
            if type(container) is not dict:
                require_object(container, group_path, index)
            path = f"{group_path}[{index}]"
            name = container.get("name")
            if type(name) is not str or not name:  # the path of the error only when there is one
                name = str_at(container, "name", f"{path}.name", required=True)
            native = group == "initContainers" and container.get("restartPolicy") == "Always"
            found.append(ContainerSite(container, name, path, group, native))
    return tuple(found)


def secret_uses(site: PodSite) -> list[SecretUse]:
    """Every Secret the pod consumes, in spec order, then the Secrets injectors mount on its annotations' say."""
    found: list[SecretUse] = []
    _spec_secret_uses(site, found.append)
    for annotation, switch in _ANNOTATION_SECRETS:
        name = site.annotations.get(annotation, "").strip()
        if name and (switch is None or site.annotations.get(switch) in GO_TRUE):
            found.append(SecretUse(name, f"{site.metadata_path}.annotations[{annotation}]"))
    return found


def _spec_secret_uses(site: PodSite, use: Callable[[SecretUse], None]) -> None:
    # Every field is read with .get() before its path is formatted, and list items' paths are formatted only
    # for the items that yield: most volumes and env entries hold none of the fields asked for, and building
    # their paths was most of the walk (mapping_at of None is {} anyway).
    spec = site.spec
    if spec.get("volumes") is not None:
        volumes_path = f"{site.path}.volumes"
        for index, volume in enumerate(list_at(spec, "volumes", volumes_path)):
            if type(volume) is not dict:
                require_object(volume, volumes_path, index)
            secret = volume.get("secret")
            if secret is not None:
                secret_path = f"{volumes_path}[{index}].secret"
                if type(secret) is not dict:
                    secret = mapping_at(volume, "secret", secret_path)
                if secret:
                    use(SecretUse(_name(secret, "secretName", secret_path), secret_path))
            projected = volume.get("projected")
            if projected is not None:  # every Pod has one (the service-account token): paths only for a use
                if type(projected) is not dict:
                    projected = mapping_at(volume, "projected", f"{volumes_path}[{index}].projected")
                sources = projected.get("sources")
                if sources is not None and type(sources) is not list:
                    sources = list_at(projected, "sources", f"{volumes_path}[{index}].projected.sources")
                for number, source in enumerate(sources or ()):
                    if type(source) is not dict:
                        require_object(source, f"{volumes_path}[{index}].projected.sources", number)
                    if source.get("secret") is None:
                        continue
                    source_path = f"{volumes_path}[{index}].projected.sources[{number}]"
                    ref = mapping_at(source, "secret", f"{source_path}.secret")
                    if ref:
                        use(SecretUse(str_at(ref, "name", f"{source_path}.secret.name", required=True),
                                      f"{source_path}.secret"))
            if _LEGACY_PLUGINS.isdisjoint(volume):  # the usual case: one C-level test, not eight .get()s
                continue
            for plugin, (field, is_object_ref) in _LEGACY_SECRET_REFS.items():
                if volume.get(plugin) is None:
                    continue
                path = f"{volumes_path}[{index}]"
                plugin_spec = mapping_at(volume, plugin, f"{path}.{plugin}")
                if not plugin_spec:
                    continue
                field_path = f"{path}.{plugin}.{field}"
                if is_object_ref:
                    ref = mapping_at(plugin_spec, field, field_path)
                    name = str_at(ref, "name", f"{field_path}.name") if ref else ""
                else:
                    name = str_at(plugin_spec, field, field_path)
                if name:
                    use(SecretUse(name, field_path))
    if spec.get("imagePullSecrets") is not None:
        for index, ref in enumerate(list_at(spec, "imagePullSecrets", f"{site.path}.imagePullSecrets")):
            ref_path = f"{site.path}.imagePullSecrets[{index}]"
            if not isinstance(ref, Mapping):
                raise Malformed(ref_path, "expected an object with a name")
            # The API server admits entries without a name (charts render `- name: ""`); the kubelet skips them.
            name = str_at(ref, "name", f"{ref_path}.name")
            if name:
                use(SecretUse(name, ref_path))
    for container in containers(site):
        holder = container.container
        # Items are type-checked as they are visited (require_object): one loop per list, and a container's
        # list paths are formatted only for a use or an error.
        envs = holder.get("env")
        if envs is not None:
            for index, env in enumerate(envs if type(envs) is list
                                        else list_at(holder, "env", f"{container.path}.env")):
                if type(env) is not dict:
                    require_object(env, f"{container.path}.env", index)
                value_from = env.get("valueFrom")
                if value_from is None:
                    continue
                if type(value_from) is not dict:
                    value_from = mapping_at(env, "valueFrom", f"{container.path}.env[{index}].valueFrom")
                key_ref = value_from.get("secretKeyRef")
                if key_ref is None:
                    continue
                ref_path = f"{container.path}.env[{index}].valueFrom.secretKeyRef"
                if type(key_ref) is not dict:
                    key_ref = mapping_at(value_from, "secretKeyRef", ref_path)
                if key_ref:
                    use(SecretUse(_name(key_ref, "name", ref_path), ref_path))
        sources = holder.get("envFrom")
        if sources is not None:
            for index, source in enumerate(sources if type(sources) is list
                                           else list_at(holder, "envFrom", f"{container.path}.envFrom")):
                if type(source) is not dict:
                    require_object(source, f"{container.path}.envFrom", index)
                secret_ref = source.get("secretRef")
                if secret_ref is None:
                    continue
                ref_path = f"{container.path}.envFrom[{index}].secretRef"
                if type(secret_ref) is not dict:
                    secret_ref = mapping_at(source, "secretRef", ref_path)
                if secret_ref:
                    use(SecretUse(_name(secret_ref, "name", ref_path), ref_path))


def _name(ref: Mapping[str, Any], key: str, ref_path: str) -> str:
    """``ref[key]``, a required name: ``str_at(..., required=True)``, whose path is only formatted when it is
    wanted."""
    name = ref.get(key)
    return name if type(name) is str and name else str_at(ref, key, f"{ref_path}.{key}", required=True)


def claim_uses(site: PodSite) -> Iterator[ClaimUse]:
    """Volumes whose storage may carry secret refs of its own: PVCs and inline ephemeral claim templates."""
    if site.spec.get("volumes") is None:
        return
    volumes_path = f"{site.path}.volumes"
    for index, volume in enumerate(objects_at(site.spec, "volumes", volumes_path)):
        if volume.get("persistentVolumeClaim") is not None:
            path = f"{volumes_path}[{index}]"
            claim = mapping_at(volume, "persistentVolumeClaim", f"{path}.persistentVolumeClaim")
            if claim:
                yield ClaimUse(path=f"{path}.persistentVolumeClaim",
                               claim=str_at(claim, "claimName", f"{path}.persistentVolumeClaim.claimName",
                                            required=True))
        if volume.get("ephemeral") is None:
            continue
        path = f"{volumes_path}[{index}]"
        ephemeral = mapping_at(volume, "ephemeral", f"{path}.ephemeral")
        template = mapping_at(ephemeral, "volumeClaimTemplate", f"{path}.ephemeral.volumeClaimTemplate")
        template_spec = mapping_at(template, "spec", f"{path}.ephemeral.volumeClaimTemplate.spec")
        storage_class = str_at(template_spec, "storageClassName",
                               f"{path}.ephemeral.volumeClaimTemplate.spec.storageClassName")
        if storage_class:
            yield ClaimUse(path=f"{path}.ephemeral", storage_class=storage_class)
        elif ephemeral and template_spec.get("storageClassName") is None:
            yield ClaimUse(path=f"{path}.ephemeral", default_class=True)


def env_values(site: PodSite) -> Iterator[tuple[str, str]]:
    """Literal env values of every container, with their paths (Bank-Vaults puts ``vault:`` paths here)."""
    for container in containers(site):
        if container.container.get("env") is None:
            continue
        env_list = f"{container.path}.env"
        for index, env in enumerate(objects_at(container.container, "env", env_list)):
            value = env.get("value")
            if isinstance(value, str) and value:
                yield value, f"{env_list}[{index}].value"
