"""Security-service parity: every tier runs the required sidecars.

``sidecar-missing``: a required sidecar (``spec.sidecars.required``) is absent from a Pod (in ``containers`` or
as a native sidecar: an init container with ``restartPolicy: Always``), or absent from a pod template and not
going to be injected (no matching namespace/pod label or annotation). ``sidecar-injection-disabled``: a Pod or
template carries a ``disabledBy`` label or annotation; this is refused even when the sidecar is otherwise there.

Refused: a Deployment in a namespace without ``istio-injection=enabled`` and without ``istio-proxy``.
Allowed: the same Deployment in a namespace labelled ``istio-injection=enabled``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from fnmatch import fnmatchcase

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule
from tierguard.engine.podspec import WORKLOAD_KINDS, ContainerSite, PodSite, containers
from tierguard.engine.rules import SECURITY_PARITY, RuleFacts, RuleFamily, owned
from tierguard.kinds import group_kinds
from tierguard.policy import RequiredSidecar

FACTS = (
    RuleFacts(Rule.SIDECAR_MISSING, "A required sidecar is absent and will not be injected.", SECURITY_PARITY),
    RuleFacts(Rule.SIDECAR_INJECTION_DISABLED, "A workload switches injection of a required sidecar off.",
              SECURITY_PARITY),
)
RULES = owned(FACTS)
KINDS = group_kinds(*WORKLOAD_KINDS)

# The fixed parts of the messages; vap/generate.py's CEL writes the same messages from these.
MUST_RUN = "every tier must run it: remove that"  # then "label" or "annotation"
PLAIN_INIT = "is a plain init container; run it in containers or as a native sidecar (restartPolicy: Always)"
HOST_NETWORK = "the template uses hostNetwork: true, and the mesh never injects its proxy into such pods"
NOT_INJECTED = "it is not in the template and nothing in the namespace or template asks for its injection"
NO_CONTAINER = "no container or native sidecar has that name"


def _any_match(wanted: Mapping[str, str], actual: Mapping[str, str]) -> str | None:
    """The first key whose wanted value the actual map carries."""
    return next((key for key, value in wanted.items() if actual.get(key) == value), None)


class SidecarState(StrEnum):
    """Where a workload stands with one required sidecar; the parity report counts these per tier."""

    PRESENT = "present"
    INJECTED = "injected"
    """Absent from a template, but the namespace or template asks the injector for it."""
    PROVIDED = "provided"
    """No container, but a namespace or pod label provides the service (``providedBy``: Istio ambient)."""
    MISSING = "missing"
    DISABLED = "disabled"


def sidecar_states(subject: Candidate) -> list[tuple[RequiredSidecar, SidecarState]]:
    """Each required sidecar's state in the subject's pod (template); empty for kinds without one."""
    site = subject.pod_site()
    if site is None:
        return []
    present = [c for c in containers(site) if c.group != "ephemeralContainers"]
    return [
        (sidecar, SidecarState.DISABLED if _disabled_by(sidecar, site) else _coverage(sidecar, site, subject, present))
        for sidecar in subject.policy.required_sidecars
    ]


def _coverage(sidecar: RequiredSidecar, site: PodSite, subject: Candidate, present: list[ContainerSite]
              ) -> SidecarState:
    """Present, going to be injected, or missing; whether injection is switched off is asked separately."""
    if _is_present(sidecar, present):
        return SidecarState.PRESENT
    if site.is_template and _will_be_injected(sidecar, site, subject):
        return SidecarState.INJECTED
    return SidecarState.MISSING


def check(subject: Candidate) -> Iterator[Finding]:
    if not subject.policy.required_sidecars:
        return
    site = subject.pod_site()
    if site is None:
        return
    present = [c for c in containers(site) if c.group != "ephemeralContainers"]
    for sidecar in subject.policy.required_sidecars:
        disabled = _disabled_by(sidecar, site)
        if disabled is not None:
            yield Finding(
                Rule.SIDECAR_INJECTION_DISABLED,
                f"{subject.ref} switches off injection of required sidecar {sidecar.name!r} ({disabled[1]}); "
                f"{MUST_RUN} {disabled[2]}",
                disabled[0],
            )
        elif _coverage(sidecar, site, subject, present) is SidecarState.MISSING:
            yield Finding(Rule.SIDECAR_MISSING, _missing_message(subject, sidecar, site, present),
                          f"{site.path}.containers")


def _disabled_by(sidecar: RequiredSidecar, site: PodSite) -> tuple[str, str, str] | None:
    if sidecar.injection is None:
        return None
    off = sidecar.injection.disabled_by
    label = _any_match(off.pod_labels, site.labels)
    if label is not None:
        return f"{site.metadata_path}.labels[{label}]", f"label {label}={site.labels[label]}", "label"
    annotation = _any_match(off.pod_annotations, site.annotations)
    if annotation is not None:
        return (f"{site.metadata_path}.annotations[{annotation}]",
                f"annotation {annotation}={site.annotations[annotation]}", "annotation")
    return None


def _image_matches(sidecar: RequiredSidecar, container: ContainerSite) -> bool:
    image = container.container.get("image")
    return not sidecar.image or (isinstance(image, str) and fnmatchcase(image, sidecar.image))


def _is_present(sidecar: RequiredSidecar, found: list[ContainerSite]) -> bool:
    return any(
        c.name == sidecar.name and (c.group == "containers" or c.native_sidecar) and _image_matches(sidecar, c)
        for c in found
    )


NEVER_INJECTED_WITH_HOST_NETWORK = frozenset({"istio-proxy", "linkerd-proxy"})
"""Mesh proxies whose injectors skip ``hostNetwork: true`` pods (Istio's and Linkerd's), whatever the labels say."""


def _will_be_injected(sidecar: RequiredSidecar, site: PodSite, subject: Candidate) -> bool:
    injection = sidecar.injection
    if injection is None:
        return False
    if sidecar.name in NEVER_INJECTED_WITH_HOST_NETWORK and site.spec.get("hostNetwork") is True:
        return False
    if _any_match(injection.pod_labels, site.labels) or _any_match(injection.pod_annotations, site.annotations):
        return True
    namespace = subject.context.namespace(subject.namespace or "default")
    if namespace is None:
        return False
    return bool(
        _any_match(injection.namespace_labels, namespace.labels)
        or _any_match(injection.namespace_annotations, namespace.annotations)
    )


def _missing_message(subject: Candidate, sidecar: RequiredSidecar, site: PodSite, found: list[ContainerSite]) -> str:
    same_name = [c for c in found if c.name == sidecar.name]
    if same_name and not (same_name[0].group == "containers" or same_name[0].native_sidecar):
        detail = f"container {sidecar.name!r} {PLAIN_INIT}"
    elif same_name:
        detail = (f"container {sidecar.name!r} runs image {same_name[0].container.get('image')!r}, which does not "
                  f"match {sidecar.image!r}")
    elif site.is_template and sidecar.injection is not None and site.spec.get("hostNetwork") is True \
            and sidecar.name in NEVER_INJECTED_WITH_HOST_NETWORK:
        detail = HOST_NETWORK
    elif site.is_template and sidecar.injection is not None:
        detail = NOT_INJECTED
    else:
        detail = NO_CONTAINER
    return f"{subject.ref} lacks required sidecar {sidecar.name!r}: {detail}"


FAMILY = RuleFamily("sidecars", KINDS, RULES, check, FACTS)
