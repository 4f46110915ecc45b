"""Security-service parity: every tier runs the required sidecars.

``sidecar-missing``: a required sidecar (``spec.sidecars.required``) is absent from a Pod (in ``containers`` or
as a native sidecar: an init container with ``restartPolicy: Always``), or absent from a pod template and not
going to be injected (no matching namespace/pod label or annotation), and not provided without a container either
(``providedBy``: a namespace or pod label, Istio ambient's ``istio.io/dataplane-mode: ambient``). A Pod or template
that a ``providedBy`` label covers passes; Istio ambient never captures a ``hostNetwork: true`` pod, so its label
does not cover one. An audit (``Candidate.standing``) also reports a running Pod (``status.phase: Running``) that a
``providedBy`` label covers but that lacks every ``runningPodAnnotations`` entry: the service is claimed, not in
force. ``sidecar-injection-disabled``: a Pod or template carries a ``disabledBy`` label or annotation (Istio
ambient's opt-out ``istio.io/dataplane-mode: none``, too); this is refused even when the sidecar is otherwise there
or a ``providedBy`` label serves the pod (SPEC: always a violation), except on a pod whose one container is the
sidecar (Istio's waypoints, gateways and ztunnel: the proxy is the pod, and its labels keep a second one out).

Refused: a Deployment in a namespace without ``istio-injection=enabled`` and without ``istio-proxy``.
Allowed: the same Deployment in a namespace labelled ``istio-injection=enabled``, or ``istio.io/dataplane-mode=ambient``
when ``providedBy`` lists that label.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import NamedTuple

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule
from tierguard.engine.podspec import WORKLOAD_KINDS, ContainerSite, PodSite, containers
from tierguard.engine.rules import SECURITY_PARITY, RuleFacts, RuleFamily, owned
from tierguard.kinds import group_kinds
from tierguard.policy import Injection, ProvidedBy, RequiredSidecar

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
# then " (<the injection labels and annotations> would)"
NO_CONTAINER = "no container or native sidecar has that name"
NOT_ASKED = ", and nothing in the namespace or pod asks for its injection"  # a Pod's; then " (<...> would)"
NOT_PROVIDED = ", nor does a label provide it without a container"  # then " (<the providedBy labels> would)"
HOST_NETWORK_NOT_CAPTURED = "does not provide it: Istio ambient never captures a pod with hostNetwork: true"
OPTS_OUT = "opts out of required sidecar"  # a disabledBy label whose key is a providedBy label's (Istio's "none")
NOT_IN_FORCE = "but the service is claimed, not in force: the running pod lacks"
CHECK_PROVIDER = "check the provider on the pod's node (Istio ambient: istio-cni and ztunnel)"


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
        (sidecar, SidecarState.DISABLED if _disabled_by(sidecar, site, subject, present)
         else _coverage(sidecar, site, subject, present))
        for sidecar in subject.policy.required_sidecars
    ]


def _coverage(sidecar: RequiredSidecar, site: PodSite, subject: Candidate, present: list[ContainerSite]
              ) -> SidecarState:
    """Present, going to be injected, provided, or missing; whether injection is switched off is asked separately."""
    if _is_present(sidecar, present):
        return SidecarState.PRESENT
    if site.is_template and _will_be_injected(sidecar, site, subject):
        return SidecarState.INJECTED
    if _provider(sidecar, site, subject) is not None and not _lacks_running_marks(sidecar, site, subject):
        return SidecarState.PROVIDED
    return SidecarState.MISSING


def check(subject: Candidate) -> Iterator[Finding]:
    if not subject.policy.required_sidecars:
        return
    site = subject.pod_site()
    if site is None:
        return
    present = [c for c in containers(site) if c.group != "ephemeralContainers"]
    for sidecar in subject.policy.required_sidecars:
        disabled = _disabled_by(sidecar, site, subject, present)
        if disabled is not None:
            yield Finding(Rule.SIDECAR_INJECTION_DISABLED, f"{subject.ref} {disabled[1]}; {MUST_RUN} {disabled[2]}",
                          disabled[0])
        elif _coverage(sidecar, site, subject, present) is not SidecarState.MISSING:
            continue
        elif sidecar.provided_by is not None and (provider := _provider(sidecar, site, subject)) is not None:
            yield Finding(Rule.SIDECAR_MISSING, _not_in_force_message(subject, sidecar, sidecar.provided_by, provider),
                          f"{site.metadata_path}.annotations")
        else:
            yield Finding(Rule.SIDECAR_MISSING, _missing_message(subject, sidecar, site, present),
                          f"{site.path}.containers")


def _disabled_by(sidecar: RequiredSidecar, site: PodSite, subject: Candidate, present: list[ContainerSite]
                 ) -> tuple[str, str, str] | None:
    """(field path, what the object does, "label" or "annotation") for the ``disabledBy`` match named, or None.
    SPEC makes every match a violation, however the service would otherwise be there, except on a pod that is the
    sidecar (``is_the_sidecar``). Named: an opt-out of the provider first where a ``providedBy`` label covers the
    pod (that is what keeps the service out there), else the first match in the policy's order."""
    if sidecar.injection is None or is_the_sidecar(sidecar, present):
        return None
    off = sidecar.injection.disabled_by
    matches = [("label", key, f"{site.metadata_path}.labels[{key}]", site.labels[key])
               for key, value in off.pod_labels.items() if site.labels.get(key) == value]
    matches += [("annotation", key, f"{site.metadata_path}.annotations[{key}]", site.annotations[key])
                for key, value in off.pod_annotations.items() if site.annotations.get(key) == value]
    if not matches:
        return None
    opt_outs = [m for m in matches if opts_out(sidecar, m[1], m[0])]
    covered = opt_outs and _provider(sidecar, site, subject) is not None
    what, key, path, value = opt_outs[0] if covered else matches[0]
    return path, switches_off(sidecar, key, value, what), what


def is_the_sidecar(sidecar: RequiredSidecar, present: list[ContainerSite]) -> bool:
    """The pod's one container is the required sidecar: the pod is the service (Istio's waypoints and gateways,
    whose only container is ``istio-proxy``), and its ``disabledBy`` labels keep a second copy out (Istio's
    ``files/waypoint.yaml`` sets both ``sidecar.istio.io/inject: "false"`` and ``istio.io/dataplane-mode: none``)."""
    main = [c for c in present if c.group == "containers"]
    return len(main) == 1 and main[0].name == sidecar.name and _image_matches(sidecar, main[0])


def opts_out(sidecar: RequiredSidecar, key: str, what: str) -> bool:
    """A ``disabledBy`` label whose key a ``providedBy`` label also has (Istio ambient's
    ``istio.io/dataplane-mode: none``): it opts the pod out of the service, not just out of injection."""
    provided = sidecar.provided_by
    return what == "label" and provided is not None and (key in provided.pod_labels
                                                         or key in provided.namespace_labels)


def switches_off(sidecar: RequiredSidecar, key: str, value: str, what: str) -> str:
    """What a ``disabledBy`` match does, after the object's name: a label whose key a ``providedBy`` label also
    has (Istio ambient's ``istio.io/dataplane-mode: none``) opts the pod out of the service, the others switch
    its injection off. vap/generate.py writes the same text."""
    if opts_out(sidecar, key, what):
        return f"{OPTS_OUT} {sidecar.name!r}, which a label provides without a container ({what} {key}={value})"
    return f"switches off injection of required sidecar {sidecar.name!r} ({what} {key}={value})"


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
    return not _never_injected(sidecar, site) and _asks_for_injection(sidecar, site, subject)


def _never_injected(sidecar: RequiredSidecar, site: PodSite) -> bool:
    return sidecar.name in NEVER_INJECTED_WITH_HOST_NETWORK and site.spec.get("hostNetwork") is True


def _asks_for_injection(sidecar: RequiredSidecar, site: PodSite, subject: Candidate) -> bool:
    """A namespace or pod label or annotation of ``injection`` is there (whether the injector will act or not)."""
    injection = sidecar.injection
    if injection is None:
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


NEVER_CAPTURED_WITH_HOST_NETWORK = frozenset({"istio.io/dataplane-mode"})
"""``providedBy`` label keys whose provider skips ``hostNetwork: true`` pods whatever the labels say: Istio
ambient's istio-cni cannot put its redirection rules into a network namespace the pod does not own (istio's
``cni/pkg/util/enablement_selector.go``). Other providers' labels are taken at their word."""


class Provider(NamedTuple):
    """A ``providedBy`` label that a pod (template) or its namespace carries."""

    where: str
    """"pod" or "namespace"."""
    key: str
    value: str

    def phrase(self) -> str:
        return f"{self.where} label {self.key}={self.value}"

    def captures(self, site: PodSite) -> bool:
        return not (self.key in NEVER_CAPTURED_WITH_HOST_NETWORK and site.spec.get("hostNetwork") is True)


def _carried(sidecar: RequiredSidecar, site: PodSite, subject: Candidate) -> list[Provider]:
    """Every ``providedBy`` label the pod (template) carries, then every one its namespace carries, in policy
    order."""
    provided = sidecar.provided_by
    if provided is None:
        return []
    found = [Provider("pod", k, v) for k, v in provided.pod_labels.items() if site.labels.get(k) == v]
    if provided.namespace_labels:
        namespace = subject.context.namespace(subject.namespace or "default")
        if namespace is not None:
            found += [Provider("namespace", k, v) for k, v in provided.namespace_labels.items()
                      if namespace.labels.get(k) == v]
    return found


def _provider(sidecar: RequiredSidecar, site: PodSite, subject: Candidate) -> Provider | None:
    """The first ``providedBy`` label that provides the service to this pod (template)."""
    return next((p for p in _carried(sidecar, site, subject) if p.captures(site)), None)


def is_running(obj: Mapping[str, object]) -> bool:
    """A running pod, for ``runningPodAnnotations``: ``status.phase: Running``. A Pending pod may not be captured
    yet (Istio's CNI marks it while setting up its network), a Succeeded or Failed one has been let go."""
    status = obj.get("status")
    return isinstance(status, Mapping) and status.get("phase") == "Running"


def _lacks_running_marks(sidecar: RequiredSidecar, site: PodSite, subject: Candidate) -> bool:
    """An audit's running Pod that carries none of ``runningPodAnnotations``: provided on paper only. Admission
    never asks: nothing carries the marks before the pod runs."""
    provided = sidecar.provided_by
    return (subject.standing and not site.is_template and provided is not None
            and bool(provided.running_pod_annotations) and is_running(subject.obj)
            and _any_match(provided.running_pod_annotations, site.annotations) is None)


def _not_in_force_message(subject: Candidate, sidecar: RequiredSidecar, provided: ProvidedBy, provider: Provider
                          ) -> str:
    marks = " or ".join(f"annotation {k}={v}" for k, v in provided.running_pod_annotations.items())
    return (f"{subject.ref} lacks required sidecar {sidecar.name!r}: {provider.phrase()} provides it without a "
            f"container, {NOT_IN_FORCE} {marks}; {CHECK_PROVIDER}")


def injection_alternatives(injection: Injection) -> str:
    """The labels and annotations that would have the sidecar injected, as a missing sidecar's message lists
    them ('' when the policy names none: the message then says only that nothing asks for it)."""
    return _either(("namespace label", injection.namespace_labels),
                   ("namespace annotation", injection.namespace_annotations),
                   ("pod label", injection.pod_labels), ("pod annotation", injection.pod_annotations))


def would(alternatives: str) -> str:
    """' (<alternatives> would)', or '' without any."""
    return f" ({alternatives} would)" if alternatives else ""


def provided_alternatives(provided: ProvidedBy) -> str:
    """The labels that would provide the service, as a missing sidecar's message lists them."""
    return _either(("namespace label", provided.namespace_labels), ("pod label", provided.pod_labels))


def _either(*marks: tuple[str, Mapping[str, str]]) -> str:
    """``namespace label k=v or pod label k2=v2``: each (where, key=value) of ``marks``, in order."""
    return " or ".join(f"{where} {key}={value}" for where, values in marks for key, value in values.items())


def _not_provided(sidecar: RequiredSidecar, site: PodSite, subject: Candidate) -> str:
    """Why no ``providedBy`` label provides the service ('' without any): one skipped for hostNetwork, or none
    carried."""
    provided = sidecar.provided_by
    if provided is None or not (provided.namespace_labels or provided.pod_labels):
        return ""
    skipped = next(iter(_carried(sidecar, site, subject)), None)
    if skipped is not None:  # carried, yet not a provider: hostNetwork
        return f"; {skipped.phrase()} {HOST_NETWORK_NOT_CAPTURED}"
    return f"{NOT_PROVIDED} ({provided_alternatives(provided)} would)"


def _missing_message(subject: Candidate, sidecar: RequiredSidecar, site: PodSite, found: list[ContainerSite]) -> str:
    same_name = [c for c in found if c.name == sidecar.name]
    if same_name and not (same_name[0].group == "containers" or same_name[0].native_sidecar):
        detail = f"container {sidecar.name!r} {PLAIN_INIT}"
    elif same_name:
        detail = (f"container {sidecar.name!r} runs image {same_name[0].container.get('image')!r}, which does not "
                  f"match {sidecar.image!r}")
    elif site.is_template and sidecar.injection is not None and _never_injected(sidecar, site):
        detail = HOST_NETWORK
    elif site.is_template and sidecar.injection is not None:
        detail = NOT_INJECTED + would(injection_alternatives(sidecar.injection))
    elif sidecar.injection is not None and (alternatives := injection_alternatives(sidecar.injection)) and not (
            _never_injected(sidecar, site) or _asks_for_injection(sidecar, site, subject)):
        # A Pod: the injector acts when it is created, so the same Pod created with one of these gets it.
        detail = f"{NO_CONTAINER}{NOT_ASKED}{would(alternatives)}"
    else:
        detail = NO_CONTAINER
    if not same_name:
        detail += _not_provided(sidecar, site, subject)
    return f"{subject.ref} lacks required sidecar {sidecar.name!r}: {detail}"


FAMILY = RuleFamily("sidecars", KINDS, RULES, check, FACTS)
