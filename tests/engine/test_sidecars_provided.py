"""A required sidecar met without a container (``providedBy``: Istio ambient): a namespace or pod label covers
Pods and templates, ``disabledBy`` still refuses, hostNetwork pods are never captured, and an audit reports a
running pod whose service is claimed but not in force (no ``runningPodAnnotations``)."""

from __future__ import annotations

from typing import Any

import pytest

from tierguard.engine import OfflineRun
from tierguard.engine.model import Rule
from tierguard.engine.projection import project
from tierguard.engine.rules import sidecars
from tierguard.engine.rules.sidecars import SidecarState

from .helpers import (
    AMBIENT,
    AMBIENT_OPT_OUT,
    AMBIENT_POLICY,
    FINGERPRINTER,
    ISTIO_POLICY,
    REDIRECTED,
    TEMPLATE_KINDS,
    WORKLOAD_KINDS,
    Doc,
    container,
    decisions,
    namespace,
    pod_spec,
    policy,
    workload,
)

M = Rule.SIDECAR_MISSING.value
D = Rule.SIDECAR_INJECTION_DISABLED.value
NAMESPACES = [namespace("plain", "dev"), namespace("ambient", "dev", labels=AMBIENT),
              namespace("ambient-prod", "prod", labels=AMBIENT),
              namespace("sidecar-mode", "dev", labels={"istio-injection": "enabled"})]
PROXY = container("istio-proxy", "docker.io/istio/proxyv2:1.28.0")


def app(kind: str = "Pod", ns: str = "ambient", *, labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None, phase: str | None = None, **spec: Any) -> Doc:
    doc = workload(kind, ns, "app", pod_spec(container(), **spec), labels=labels, annotations=annotations)
    if phase is not None:
        doc["status"] = {"phase": phase}
    return doc


def judged(doc: Doc, pol: Any = AMBIENT_POLICY, *, standing: bool = False) -> list[tuple[str, str, str]]:
    """(rule, message, path) of each violation of ``doc``, judged as admission does or, ``standing``, as an audit."""
    run = OfflineRun([*NAMESPACES, doc], pol, fingerprinter=FINGERPRINTER, standing=standing)
    return [(v.rule.value, v.message, v.path) for v in run.decide(doc).violations]


def rules(doc: Doc, pol: Any = AMBIENT_POLICY, *, standing: bool = False) -> set[str]:
    return {rule for rule, _, _ in judged(doc, pol, standing=standing)}


def state(doc: Doc, pol: Any = AMBIENT_POLICY, *, standing: bool = False) -> SidecarState:
    run = OfflineRun([*NAMESPACES, doc], pol, fingerprinter=FINGERPRINTER, standing=standing)
    (found,) = run.sidecar_states(doc)[1]
    return found[1]


# --- admission: what provides it, what does not ------------------------------------------------------------------

@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_an_ambient_namespace_provides_it_to_pods_and_templates(kind: str) -> None:
    assert rules(app(kind)) == set()
    assert state(app(kind)) is SidecarState.PROVIDED
    # Without providedBy the same object lacks it: the namespace label is what covers it.
    assert rules(app(kind), ISTIO_POLICY) == {M}


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_an_ambient_pod_label_provides_it_in_any_namespace(kind: str) -> None:
    assert rules(app(kind, "plain", labels=AMBIENT)) == set()
    assert state(app(kind, "plain", labels=AMBIENT)) is SidecarState.PROVIDED


def test_the_namespace_label_covers_its_own_namespace_only() -> None:
    assert rules(app(ns="plain")) == {M}
    assert rules(app(ns="ambient-prod")) == set()  # any tier: parity is about the label, not the tier


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_opting_out_is_refused_even_in_an_ambient_namespace(kind: str) -> None:
    ((rule, message, path),) = judged(app(kind, labels=AMBIENT_OPT_OUT))
    assert rule == D
    assert state(app(kind, labels=AMBIENT_OPT_OUT)) is SidecarState.DISABLED
    where = "metadata" if kind == "Pod" else (
        "spec.jobTemplate.spec.template.metadata" if kind == "CronJob" else "spec.template.metadata")
    assert path == f"{where}.labels[istio.io/dataplane-mode]"
    assert message == (f"{kind} ambient/app {sidecars.OPTS_OUT} 'istio-proxy', which a label provides without a "
                       "container (label istio.io/dataplane-mode=none); every tier must run it: remove that label")


def test_switching_sidecar_injection_off_keeps_its_message() -> None:
    ((rule, message, _),) = judged(app("Deployment", "sidecar-mode", labels={"sidecar.istio.io/inject": "false"}))
    assert rule == D
    assert "switches off injection of required sidecar 'istio-proxy' (label sidecar.istio.io/inject=false)" in message


def test_a_pod_nothing_covers_is_told_which_labels_would() -> None:
    ((rule, message, path),) = judged(app(ns="plain"))
    assert (rule, path) == (M, "spec.containers")
    assert message == ("Pod plain/app lacks required sidecar 'istio-proxy': no container or native sidecar has that "
                       "name, and nothing in the namespace or pod asks for its injection (namespace label "
                       "istio-injection=enabled or pod label sidecar.istio.io/inject=true would), nor does a label "
                       "provide it without a container (namespace label istio.io/dataplane-mode=ambient or pod label "
                       "istio.io/dataplane-mode=ambient would)")
    ((_, template, _),) = judged(app("Deployment", "plain"))
    assert template.endswith(f"{sidecars.NOT_INJECTED} (namespace label istio-injection=enabled or pod label "
                             f"sidecar.istio.io/inject=true would){sidecars.NOT_PROVIDED} (namespace label "
                             "istio.io/dataplane-mode=ambient or pod label istio.io/dataplane-mode=ambient would)")


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_ambient_never_captures_a_host_network_pod(kind: str) -> None:
    doc = app(kind, hostNetwork=True)
    ((rule, message, _),) = judged(doc)
    assert rule == M
    assert state(doc) is SidecarState.MISSING
    base = sidecars.HOST_NETWORK if kind != "Pod" else sidecars.NO_CONTAINER
    assert message == (f"{kind} ambient/app lacks required sidecar 'istio-proxy': {base}; namespace label "
                       f"istio.io/dataplane-mode=ambient {sidecars.HOST_NETWORK_NOT_CAPTURED}")
    # The pod label is skipped the same way, and named first (the pod's own label).
    ((_, labelled, _),) = judged(app(kind, "plain", labels=AMBIENT, hostNetwork=True))
    assert f"; pod label istio.io/dataplane-mode=ambient {sidecars.HOST_NETWORK_NOT_CAPTURED}" in labelled
    # With the proxy in the pod itself a hostNetwork pod still passes.
    assert rules(workload(kind, "ambient", "app", pod_spec(container(), PROXY, hostNetwork=True))) == set()


def test_other_providers_labels_are_taken_at_their_word_for_host_network_pods() -> None:
    node_agent = policy({"sidecars": {"required": [{"name": "log-shipper", "providedBy": {
        "namespaceLabels": {"example.com/node-logging": "on"}}}]}})
    ns = namespace("logged", "dev", labels={"example.com/node-logging": "on"})
    doc = workload("Pod", "logged", "app", pod_spec(container(), hostNetwork=True))
    run = OfflineRun([ns, doc], node_agent, fingerprinter=FINGERPRINTER)
    assert run.decide(doc).violations == ()


def test_a_sidecar_present_or_injected_is_not_called_provided() -> None:
    assert state(workload("Pod", "ambient", "app", pod_spec(container(), PROXY))) is SidecarState.PRESENT
    assert state(app("Deployment", "ambient", labels={"sidecar.istio.io/inject": "true"})) is SidecarState.INJECTED


def test_running_pod_annotations_are_not_asked_at_admission() -> None:
    """Admission and ``tierguard check`` judge what is being created: nothing carries the CNI's mark yet."""
    assert rules(app(phase="Running")) == set()
    assert rules(app(phase="Running"), standing=False) == set()
    assert {rule for _, d in decisions([*NAMESPACES, app(phase="Running")], AMBIENT_POLICY)
            for rule in (v.rule.value for v in d.violations)} == set()


# --- the audit: claimed, not in force ----------------------------------------------------------------------------

def test_an_audit_reports_a_running_pod_without_the_cnis_mark() -> None:
    ((rule, message, path),) = judged(app(phase="Running"), standing=True)
    assert (rule, path) == (M, "metadata.annotations")
    assert message == ("Pod ambient/app lacks required sidecar 'istio-proxy': namespace label "
                       "istio.io/dataplane-mode=ambient provides it without a container, but the service is claimed, "
                       "not in force: the running pod lacks annotation ambient.istio.io/redirection=enabled; "
                       f"{sidecars.CHECK_PROVIDER}")
    assert state(app(phase="Running"), standing=True) is SidecarState.MISSING


@pytest.mark.parametrize(("labels", "annotations", "phase", "expected"), [
    ({}, REDIRECTED, "Running", set()),
    ({}, {"ambient.istio.io/redirection": "pending"}, "Running", {M}),  # partly set up is not in force
    (AMBIENT, {}, "Running", {M}),  # covered by its own label: the same
    ({}, {}, "Pending", set()),  # the CNI marks it while its network is set up
    ({}, {}, "Succeeded", set()),  # let go by the mesh once done
    ({}, {}, "Failed", set()),
    ({}, {}, None, set()),  # no status at all: not known to run
    (AMBIENT_OPT_OUT, {}, "Running", {D}),  # opted out: that, not the mark
])
def test_which_standing_pods_the_audit_reports(labels: dict[str, str], annotations: dict[str, str],
                                                phase: str | None, expected: set[str]) -> None:
    assert rules(app(labels=labels, annotations=annotations, phase=phase), standing=True) == expected


def test_templates_and_unmarked_policies_pass_the_audit() -> None:
    for kind in TEMPLATE_KINDS:
        assert rules(app(kind, phase="Running"), standing=True) == set()
    unmarked = policy({"sidecars": {"required": [{"name": "istio-proxy", "providedBy": {"namespaceLabels": AMBIENT}}]}})
    assert rules(app(phase="Running"), unmarked, standing=True) == set()


def test_the_audits_projection_keeps_a_pods_phase() -> None:
    """The audit judges listed objects projected (``engine/projection.py``): the phase must survive it."""
    doc = app(phase="Running")
    doc["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    projected = project(doc, FINGERPRINTER)
    assert projected.obj["status"] == {"phase": "Running"}
    run = OfflineRun([*NAMESPACES, projected], AMBIENT_POLICY, fingerprinter=FINGERPRINTER, standing=True)
    assert [v.rule.value for v in run.decide(projected).violations] == [M]
    deployment = project({**app("Deployment"), "status": {"replicas": 1}}, FINGERPRINTER)
    assert "status" not in deployment.obj


# --- Istio's own proxies, and sidecar injection switched off in an ambient namespace ---------------------------

WAYPOINT_LABELS = {"sidecar.istio.io/inject": "false", "istio.io/dataplane-mode": "none",
                   "gateway.networking.k8s.io/gateway-class-name": "istio-waypoint"}
"""What Istio's gateway controller puts on a waypoint's pods (``files/waypoint.yaml``): both opt-outs, so that
neither the injector nor ztunnel adds a proxy to the proxy."""


def proxy_pod(kind: str = "Deployment", ns: str = "ambient", *extra: Doc, labels: dict[str, str] | None = None,
              image: str = "docker.io/istio/proxyv2:1.28.0") -> Doc:
    """A pod whose container is ``istio-proxy`` itself (a waypoint's or a gateway's), plus ``extra`` containers."""
    proxy = {"name": "istio-proxy", "image": image, "args": ["proxy", "waypoint"]}
    return workload(kind, ns, "waypoint", pod_spec(proxy, *extra), labels=labels or WAYPOINT_LABELS)


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
@pytest.mark.parametrize("ns", ["ambient", "plain", "sidecar-mode"])
def test_istios_waypoint_is_the_proxy_and_its_opt_outs_keep_a_second_one_out(kind: str, ns: str) -> None:
    """The waypoint Istio generates for a Gateway of class istio-waypoint, in an application namespace: its only
    container is istio-proxy, and its labels opt it out of injection and of ambient capture."""
    assert rules(proxy_pod(kind, ns)) == set()
    assert state(proxy_pod(kind, ns)) is SidecarState.PRESENT
    # Istio's class istio gateway (kube-gateway.yaml) carries only the injection opt-out: the same.
    gateway = proxy_pod(kind, ns, labels={"sidecar.istio.io/inject": "false"})
    assert rules(gateway) == set()


def test_an_application_beside_a_proxy_still_may_not_opt_out() -> None:
    """The pod is the proxy only when the proxy is its one container: an application with a hand-written
    istio-proxy beside it leaves the mesh by the same labels, as before."""
    ((rule, message, _),) = judged(proxy_pod("Deployment", "ambient", container()))
    assert (rule, f"{sidecars.OPTS_OUT} 'istio-proxy'" in message) == (D, True)
    ((rule, message, _),) = judged(proxy_pod("Deployment", "plain", container()))
    assert rule == D
    assert "switches off injection of required sidecar 'istio-proxy' (label sidecar.istio.io/inject=false)" in message
    assert rules(proxy_pod("Pod", "ambient", container(), labels=AMBIENT_OPT_OUT)) == {D}
    assert rules(proxy_pod("Pod", "plain", container(), labels={"sidecar.istio.io/inject": "false"})) == {D}


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_opting_out_of_ambient_is_refused_where_the_injector_adds_the_sidecar_too(kind: str) -> None:
    """Istio's injector does not read ``istio.io/dataplane-mode``, so a pod opting out of ambient where the
    injector adds the proxy still runs it; SPEC makes every ``disabledBy`` match a violation all the same (the
    policy lists the opt-out), injected, present or in a namespace both injecting and ambient."""
    assert rules(app(kind, "sidecar-mode", labels=AMBIENT_OPT_OUT)) == {D}
    with_proxy = workload(kind, "sidecar-mode", "app", pod_spec(container(), PROXY), labels=AMBIENT_OPT_OUT)
    assert rules(with_proxy) == {D}
    dual = namespace("dual", "dev", labels={**AMBIENT, "istio-injection": "enabled"})
    run = OfflineRun([*NAMESPACES, dual, (d := app(kind, "dual", labels=AMBIENT_OPT_OUT))], AMBIENT_POLICY,
                     fingerprinter=FINGERPRINTER)
    ((violation,),) = [run.decide(d).violations]
    assert violation.rule.value == D and f"{sidecars.OPTS_OUT} 'istio-proxy'" in violation.message


def test_a_proxy_of_another_image_is_not_the_proxy() -> None:
    """With ``image``, only the wanted image is the proxy: another one keeps the opt-out refused."""
    pinned = policy({"sidecars": {"required": [{"name": "istio-proxy", "image": "*/proxyv2:*",
                                                "injection": {"disabledBy": {"podLabels": WAYPOINT_LABELS}}}]}})
    assert rules(proxy_pod(), pinned) == set()
    assert rules(proxy_pod(image="registry.example/app:1"), pinned) == {D}


def switched_off(kind: str, ns: str, where: str, labels: dict[str, str] | None = None, **spec: Any) -> Doc:
    """``app`` with ``sidecar.istio.io/inject: "false"`` as a label or an annotation (``where``)."""
    off = {"sidecar.istio.io/inject": "false"}
    if where == "labels":
        return app(kind, ns, labels={**off, **(labels or {})}, **spec)
    return app(kind, ns, labels=labels, annotations=off, **spec)


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
@pytest.mark.parametrize("where", ["labels", "annotations"])
def test_switching_sidecar_injection_off_is_refused_in_ambient_too(kind: str, where: str) -> None:
    """Istio's CNI captures a pod of an ambient namespace whatever ``sidecar.istio.io/inject`` says
    (``cni/pkg/util/enablement_selector.go``), but SPEC refuses a ``disabledBy`` match even where a ``providedBy``
    label covers the pod: the switch is named, not the service."""
    for ns, labels in (("ambient", None), ("plain", AMBIENT), ("sidecar-mode", None), ("plain", None)):
        ((rule, message, _),) = judged(switched_off(kind, ns, where, labels))
        assert rule == D and "switches off injection of required sidecar 'istio-proxy'" in message
        assert state(switched_off(kind, ns, where, labels)) is SidecarState.DISABLED


def test_opting_out_of_ambient_is_named_even_beside_the_injection_switch() -> None:
    doc = app("Deployment", labels={"sidecar.istio.io/inject": "false", **AMBIENT_OPT_OUT})
    ((rule, message, path),) = judged(doc)
    assert (rule, path) == (D, "spec.template.metadata.labels[istio.io/dataplane-mode]")
    assert f"{sidecars.OPTS_OUT} 'istio-proxy'" in message


def test_the_audit_refuses_a_running_ambient_pod_switching_injection_off_marked_or_not() -> None:
    off = {"sidecar.istio.io/inject": "false"}
    assert rules(app(annotations=off, phase="Running"), standing=True) == {D}
    assert rules(app(annotations={**off, **REDIRECTED}, phase="Running"), standing=True) == {D}


def test_the_audit_asks_no_mark_of_running_pods_that_run_the_proxy() -> None:
    """Istio's CNI never marks a pod that runs its own proxy: a waypoint (opted out) or a sidecar-injected pod
    (``podHasSidecar``, ``cni/pkg/util/enablement_selector.go``). Running in an ambient namespace, both pass."""
    waypoint = proxy_pod("Pod")
    waypoint["status"] = {"phase": "Running", "podIP": "10.244.1.7", "conditions": [{"type": "Ready",
                                                                                   "status": "True"}]}
    assert rules(waypoint, standing=True) == set()
    assert state(waypoint, standing=True) is SidecarState.PRESENT
    injected = workload("Pod", "ambient", "app", pod_spec(container(), PROXY),
                        annotations={"sidecar.istio.io/status": '{"containers":["istio-proxy"]}'})
    injected["status"] = {"phase": "Running"}
    assert rules(injected, standing=True) == set()
