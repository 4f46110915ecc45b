"""sidecar-missing and sidecar-injection-disabled, on hand-written workloads and on Istio's own injector
fixtures (before and after injection)."""

from __future__ import annotations

import pytest

from tierguard.engine.model import Rule
from tierguard.engine.podspec import WORKLOAD_KINDS as ENGINE_WORKLOAD_KINDS
from tierguard.engine.podspec import containers, pod_site
from tierguard.policy import TierPolicy

from .helpers import (
    ISTIO_FIXTURES,
    ISTIO_POLICY,
    TEMPLATE_KINDS,
    WORKLOAD_KINDS,
    Case,
    Doc,
    container,
    decisions,
    fixture,
    ids,
    namespace,
    pod_spec,
    policy,
    violations,
    workload,
)

M = Rule.SIDECAR_MISSING.value
D = Rule.SIDECAR_INJECTION_DISABLED.value
PROXY = container("istio-proxy", "docker.io/istio/proxyv2:1.22.0")
NATIVE_PROXY = {**PROXY, "restartPolicy": "Always"}
MESH = [namespace("dev", "dev"), namespace("mesh", "dev", labels={"istio-injection": "enabled"}),
        namespace("mesh-annotated", "dev", annotations={"example.com/inject": "yes"})]
INJECT_FALSE = {"sidecar.istio.io/inject": "false"}
INJECT_TRUE = {"sidecar.istio.io/inject": "true"}


def app(kind: str = "Pod", ns: str = "dev", *, init: list[Doc] | None = None, extra: list[Doc] | None = None,
        ephemeral: list[Doc] | None = None, labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None) -> Doc:
    spec = pod_spec(container(), *(extra or []))
    if init is not None:
        spec["initContainers"] = init
    if ephemeral is not None:
        spec["ephemeralContainers"] = ephemeral
    return workload(kind, ns, "app", spec, labels=labels, annotations=annotations)


def case(id: str, doc: Doc, expected: frozenset[str] | set[str] = frozenset(),
         pol: TierPolicy = ISTIO_POLICY) -> Case:
    ref = f"{doc['metadata']['namespace']}/app"
    return Case(id, [doc], {(rule, ref) for rule in expected}, policy=pol, namespaces=MESH)


IMAGE_POLICY = policy({"sidecars": {"required": [{"name": "istio-proxy", "image": "*/istio/proxyv2:*"}]}})
NAME_ONLY = policy({"sidecars": {"required": [{"name": "istio-proxy"}]}})
ANNOTATION_INJECTION = policy({"sidecars": {"required": [{"name": "linkerd-proxy", "injection": {
    "namespaceAnnotations": {"example.com/inject": "yes"}, "podAnnotations": {"linkerd.io/inject": "enabled"},
    "disabledBy": {"podAnnotations": {"linkerd.io/inject": "disabled"}}}}]}})
TWO = policy({"sidecars": {"required": [{"name": "istio-proxy"}, {"name": "log-shipper"}]}})

POD_CASES = [
    case("Pod with the proxy in containers", app(extra=[PROXY])),
    case("Pod with the proxy as a native sidecar", app(init=[NATIVE_PROXY])),
    case("Pod with the proxy as a plain init container", app(init=[PROXY]), {M}),
    case("Pod with the proxy only as an ephemeral container", app(ephemeral=[PROXY]), {M}),
    case("Pod without the proxy", app(), {M}),
    case("Pod without the proxy in an injecting namespace (mesh)", app(ns="mesh"), {M}),
    case("Pod without the proxy but labelled for injection", app(labels=INJECT_TRUE), {M}),
    case("Pod with the proxy and injection switched off by label", app(extra=[PROXY], labels=INJECT_FALSE), {D}),
    case("Pod with injection switched off by annotation", app(annotations=INJECT_FALSE), {D}),
    case("image glob matches", app(extra=[PROXY]), pol=IMAGE_POLICY),
    case("image glob does not match", app(extra=[container("istio-proxy", "evil.example/proxy:1")]), {M},
         pol=IMAGE_POLICY),
    case("image glob on a native sidecar", app(init=[NATIVE_PROXY]), pol=IMAGE_POLICY),
    case("no sidecars required (the default)", app(), pol=policy({})),
    case("one of two required sidecars present", app(extra=[PROXY]), {M}, pol=TWO),
    case("both required sidecars present", app(extra=[PROXY, container("log-shipper")]), pol=TWO),
]

TEMPLATE_CASES = [
    row
    for kind in TEMPLATE_KINDS
    for row in (
        case(f"{kind} without the proxy", app(kind), {M}),
        case(f"{kind} in an injecting namespace (mesh)", app(kind, "mesh")),
        case(f"{kind} labelled for injection", app(kind, labels=INJECT_TRUE)),
        case(f"{kind} with the proxy already in it", app(kind, extra=[PROXY])),
        case(f"{kind} with the proxy as a native sidecar", app(kind, init=[NATIVE_PROXY])),
        case(f"{kind} switching injection off in an injecting namespace (mesh)",
             app(kind, "mesh", labels=INJECT_FALSE), {D}),
        case(f"{kind} switching injection off by annotation", app(kind, annotations=INJECT_FALSE), {D}),
        case(f"{kind} with the proxy but injection switched off", app(kind, extra=[PROXY], labels=INJECT_FALSE),
             {D}),
        case(f"{kind} in an injecting namespace, injection not configured (mesh)", app(kind, "mesh"), {M},
             pol=NAME_ONLY),
        case(f"{kind} injected by namespace annotation (mesh)", app(kind, "mesh-annotated"),
             pol=ANNOTATION_INJECTION),
        case(f"{kind} injected by pod annotation", app(kind, annotations={"linkerd.io/inject": "enabled"}),
             pol=ANNOTATION_INJECTION),
        case(f"{kind} switching injection off by pod annotation (mesh)",
             app(kind, "mesh-annotated", annotations={"linkerd.io/inject": "disabled"}), {D},
             pol=ANNOTATION_INJECTION),
    )
]

CASES = POD_CASES + TEMPLATE_CASES


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_sidecars(case: Case) -> None:
    assert case.run() == case.expected


# --- Istio's own injector fixtures --------------------------------------------------------------------------------

TEMPLATE_FIXTURES = sorted(p.name for p in ISTIO_FIXTURES.glob("*.yaml") if fixture(p.name)["kind"] != "Pod")
POD_FIXTURES = sorted(p.name for p in ISTIO_FIXTURES.glob("*.yaml") if fixture(p.name)["kind"] == "Pod")
INJECTED_FIXTURES = sorted(p.name for p in ISTIO_FIXTURES.glob("*.yaml.injected"))


def test_fixtures_cover_every_template_kind_but_replicaset_and_rc() -> None:
    kinds = {fixture(name)["kind"] for name in TEMPLATE_FIXTURES}
    assert kinds == {"Deployment", "CronJob", "DaemonSet", "Job", "StatefulSet"}
    assert POD_FIXTURES and INJECTED_FIXTURES


def _istio(name: str, ns: str) -> set[tuple[str, str]]:
    doc = fixture(name, ns)
    ref = f"{ns}/{doc['metadata']['name']}"
    return {(rule, obj) for rule, obj in violations([*MESH, doc], ISTIO_POLICY) if obj == ref}


@pytest.mark.parametrize("name", TEMPLATE_FIXTURES)
def test_istio_template_before_injection(name: str) -> None:
    """A template in a namespace without the injection label would never get the proxy: refused."""
    doc = fixture(name, "dev")
    assert _istio(name, "dev") == {(M, f"dev/{doc['metadata']['name']}")}
    assert _istio(name, "mesh") == set()


@pytest.mark.parametrize("name", POD_FIXTURES)
def test_istio_pod_before_injection(name: str) -> None:
    """Pods are judged after mutation, so a Pod without the proxy lacks it, whatever its namespace says."""
    doc = fixture(name, "dev")
    for ns in ("dev", "mesh"):
        assert _istio(name, ns) == {(M, f"{ns}/{doc['metadata']['name']}")}


@pytest.mark.parametrize("name", INJECTED_FIXTURES)
def test_istio_after_injection(name: str) -> None:
    for ns in ("dev", "mesh"):
        assert _istio(name, ns) == set()


@pytest.mark.parametrize(("name", "group", "native"), [
    ("native-sidecar.yaml.injected", "initContainers", True),
    ("hello.yaml.injected", "initContainers", True),
    ("native-sidecar-opt-out.yaml.injected", "containers", False),
])
def test_istio_proxy_placement(name: str, group: str, native: bool) -> None:
    site = pod_site(fixture(name, "dev"))
    assert site is not None
    (proxy,) = [c for c in containers(site) if c.name == "istio-proxy"]
    assert (proxy.group, proxy.native_sidecar) == (group, native)
    (init,) = [c for c in containers(site) if c.name == "istio-init"]
    assert not init.native_sidecar


def test_native_sidecar_fixture_is_allowed_and_its_plain_init_twin_is_not() -> None:
    """native-sidecar.yaml.injected with restartPolicy removed from istio-proxy: a plain init container."""
    doc = fixture("native-sidecar.yaml.injected", "dev")
    assert violations([*MESH, doc], ISTIO_POLICY) == set()
    for init in doc["spec"]["initContainers"]:
        init.pop("restartPolicy", None)
    assert violations([*MESH, doc], ISTIO_POLICY) == {(M, "dev/hello")}


def test_kind_list_is_complete() -> None:
    """The builders' kinds are the engine's own workload kinds: a kind added there gets these tables too."""
    assert set(WORKLOAD_KINDS) == set(ENGINE_WORKLOAD_KINDS)
    assert set(TEMPLATE_KINDS) == set(ENGINE_WORKLOAD_KINDS) - {"Pod"}


def missing_message(doc: Doc, pol: TierPolicy = ISTIO_POLICY) -> str:
    (violation,) = [v for ref, d in decisions([*MESH, doc], pol) if ref.endswith("/app") for v in d.violations]
    assert violation.rule.value == M
    return violation.message


@pytest.mark.parametrize("kind", TEMPLATE_KINDS)
def test_a_template_is_told_what_would_have_the_sidecar_injected(kind: str) -> None:
    assert missing_message(app(kind)) == (
        f"{kind} dev/app lacks required sidecar 'istio-proxy': it is not in the template and nothing in the "
        "namespace or template asks for its injection (namespace label istio-injection=enabled or pod label "
        "sidecar.istio.io/inject=true would)")
    # Annotations are named as annotations, in the policy's order: namespace first, then pod.
    assert missing_message(app(kind), ANNOTATION_INJECTION).endswith(
        "asks for its injection (namespace annotation example.com/inject=yes or pod annotation "
        "linkerd.io/inject=enabled would)")


def test_a_pod_nothing_asks_an_injector_for_is_told_what_would() -> None:
    assert missing_message(app()) == (
        "Pod dev/app lacks required sidecar 'istio-proxy': no container or native sidecar has that name, and "
        "nothing in the namespace or pod asks for its injection (namespace label istio-injection=enabled or pod "
        "label sidecar.istio.io/inject=true would)")
    # Where something asks already, or the injector never acts (hostNetwork), naming the labels helps no one.
    bare = "Pod {}/app lacks required sidecar 'istio-proxy': no container or native sidecar has that name"
    assert missing_message(app(ns="mesh")) == bare.format("mesh")
    assert missing_message(app(labels=INJECT_TRUE)) == bare.format("dev")
    host = workload("Pod", "dev", "app", pod_spec(container(), hostNetwork=True))
    assert missing_message(host) == bare.format("dev")


def test_without_injection_labels_the_message_is_unchanged() -> None:
    """A policy that names no label or annotation that asks for injection (only what switches it off) has none to
    name: the message says only that nothing asks for it."""
    only_off = policy({"sidecars": {"required": [{"name": "istio-proxy", "injection": {
        "disabledBy": {"podLabels": INJECT_FALSE}}}]}})
    assert missing_message(app("Deployment"), only_off) == (
        "Deployment dev/app lacks required sidecar 'istio-proxy': it is not in the template and nothing in the "
        "namespace or template asks for its injection")
    assert missing_message(app(), only_off) == (
        "Pod dev/app lacks required sidecar 'istio-proxy': no container or native sidecar has that name")
    assert missing_message(app("Deployment"), NAME_ONLY) == (
        "Deployment dev/app lacks required sidecar 'istio-proxy': no container or native sidecar has that name")
