"""cert-manager (``cert-manager.io``): the Secret a Certificate's ``spec.secretTemplate`` shapes, and the ones an
Ingress's or Gateway's ``cert-manager.io/secret-template`` shapes through ingress-shim, judged as
``secret-replication-cross-tier`` before cert-manager writes them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tierguard.engine.model import Rule

from .helpers import Case, Doc, decisions, ids

R = Rule.SECRET_REPLICATION_CROSS_TIER.value
P = Rule.POLICY_INVALID.value
REFLECTOR = "reflector.v1.k8s.emberstack.com/"
REPLICATOR = "replicator.v1.mittwald.de/"
TEMPLATE = "cert-manager.io/secret-template"


def certificate(ns: str, annotations: dict[str, Any] | None = None, labels: dict[str, Any] | None = None,
                secret_name: str = "web-tls") -> Doc:
    template: dict[str, Any] = {}
    if annotations is not None:
        template["annotations"] = annotations
    if labels is not None:
        template["labels"] = labels
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "web", "namespace": ns},
            "spec": {"secretName": secret_name, "issuerRef": {"name": "ca"}, "secretTemplate": template}}


def ingress(ns: str, template: Any, secret_names: tuple[str, ...] = ("web-tls",)) -> Doc:
    text = template if isinstance(template, str) else json.dumps(template)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": ns,
                         "annotations": {"cert-manager.io/cluster-issuer": "ca", TEMPLATE: text}},
            "spec": {"tls": [{"hosts": ["web.example.com"], "secretName": name} for name in secret_names]}}


def gateway(ns: str, template: Any, listeners: list[dict[str, Any]], kind: str = "Gateway") -> Doc:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": kind,
            "metadata": {"name": "web", "namespace": ns,
                         "annotations": {"cert-manager.io/issuer": "ca", TEMPLATE: json.dumps(template)}},
            "spec": {"gatewayClassName": "eg", "listeners": listeners}}


def listener(ref: dict[str, Any], mode: str = "Terminate") -> dict[str, Any]:
    return {"name": "https", "hostname": "web.example.com", "port": 443, "protocol": "HTTPS",
            "tls": {"mode": mode, "certificateRefs": [ref]}}


EVERY = {REFLECTOR + "reflection-allowed": "true", REFLECTOR + "reflection-auto-enabled": "true"}
PUSH_PROD = {"annotations": {REPLICATOR + "replicate-to": "prod"}}
PUSH_DEV = {"annotations": {REPLICATOR + "replicate-to": "dev-b"}}

CASES = [
    # Certificate: spec.secretTemplate is copied onto the Secret spec.secretName.
    Case("secretTemplate reflected into every namespace", [certificate("dev", EVERY)], {(R, "dev/web")}),
    Case("secretTemplate allowing another tier", [certificate("dev", {
        REFLECTOR + "reflection-allowed": "true", REFLECTOR + "reflection-allowed-namespaces": "dev-b,prod"})],
        {(R, "dev/web")}),
    Case("secretTemplate allowing its own tier", [certificate("dev", {
        REFLECTOR + "reflection-allowed": "true", REFLECTOR + "reflection-allowed-namespaces": "dev-b"})]),
    Case("secretTemplate replicated by regex into prod",
         [certificate("dev", {REPLICATOR + "replication-allowed": "true",
                              REPLICATOR + "replication-allowed-namespaces": "prod-[a-z]*"})], {(R, "dev/web")}),
    Case("secretTemplate with kubed sync (label selector every namespace)",
         [certificate("prod", {"kubed.appscode.com/sync": ""})], {(R, "prod/web")}),
    Case("secretTemplate with plain annotations", [certificate("dev", {"owner": "web"}, {"app": "web"})]),
    Case("shareable labels in the template: the issued Secret is shareable",
         [certificate("dev", EVERY, {"tierguard.io/shareable": "true"})]),
    Case("no secretTemplate", [{**certificate("dev"), "spec": {"secretName": "web-tls"}}]),
    Case("untiered namespace: not judged", [certificate("shared", EVERY)]),
    Case("secretTemplate annotation not a string", [certificate("dev", {"owner": 1})], {(P, "dev/web")}),
    # Ingress: ingress-shim makes a Certificate per spec.tls[].secretName with the annotation as its template.
    Case("Ingress template pushing into another tier", [ingress("dev", PUSH_PROD)], {(R, "dev/web")}),
    Case("Ingress template pushing into its own tier", [ingress("dev", PUSH_DEV)]),
    Case("Ingress template with labels only", [ingress("dev", {"labels": {"app": "web"}})]),
    Case("Ingress without TLS blocks", [ingress("dev", PUSH_PROD, secret_names=())]),
    # A template the shim rejects: the API server accepts the Ingress, the shim issues nothing for it (helper.go's
    # error ends buildCertificates), so nothing is refused.
    Case("Ingress template not JSON", [ingress("dev", "{annotations: x}")]),
    Case("Ingress template with an unknown field (DisallowUnknownFields)",
         [ingress("dev", {"annotations": PUSH_PROD["annotations"], "data": {}})]),
    Case("Ingress template with a value that is not a string",
         [ingress("dev", {"annotations": {**PUSH_PROD["annotations"], "n": 1}})]),
    Case("Ingress template with a cert-manager.io/ annotation",
         [ingress("dev", {"annotations": {**PUSH_PROD["annotations"], "cert-manager.io/issuer": "x"}})]),
    # Gateway: one Certificate per Secret its TLS listeners reference in its own namespace.
    Case("Gateway template pushing into another tier",
         [gateway("dev", PUSH_PROD, [listener({"name": "web-tls"})])], {(R, "dev/web")}),
    Case("Gateway listener in Passthrough: no Certificate",
         [gateway("dev", PUSH_PROD, [listener({"name": "web-tls"}, mode="Passthrough")])]),
    Case("Gateway reference into another namespace: the shim skips it",
         [gateway("dev", PUSH_PROD, [listener({"name": "web-tls", "namespace": "dev-b"})])]),
    Case("ListenerSet template pushing into another tier",
         [gateway("dev", PUSH_PROD, [listener({"name": "web-tls"})], kind="ListenerSet")], {(R, "dev/web")}),
    Case("Gateway template pushing into its own tier",
         [gateway("dev", PUSH_DEV, [listener({"name": "web-tls"})])]),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_cert_manager(case: Case) -> None:
    assert case.run() == case.expected


def test_certificate_message_names_the_issued_secret_and_the_template_field() -> None:
    cert = certificate("dev", {REFLECTOR + "reflection-allowed": "true",
                               REFLECTOR + "reflection-allowed-namespaces": "prod"})
    (violation,) = dict(decisions([*Case("", []).docs, cert]))["dev/web"].violations
    assert violation.path == f"spec.secretTemplate.annotations[{REFLECTOR}reflection-allowed-namespaces]"
    assert violation.message.startswith(
        "Certificate dev/web has cert-manager issue Secret dev/web-tls with the labels and annotations of "
        "spec.secretTemplate: Secret dev/web-tls (tier dev) lets reflector mirror it into prod (tier prod)")


def test_ingress_message_names_each_tls_secret_and_points_at_the_annotation() -> None:
    found = dict(decisions([*Case("", []).docs, ingress("dev", PUSH_PROD, ("a-tls", "b-tls"))]))["dev/web"]
    assert {v.path for v in found.violations} == {f"metadata.annotations[{TEMPLATE}]"}
    messages = sorted(v.message for v in found.violations)
    assert len(messages) == 2
    assert "Secret dev/a-tls (spec.tls[0].secretName)" in messages[0]
    assert "Secret dev/b-tls (spec.tls[1].secretName)" in messages[1]
    assert all("push it into prod (tier prod)" in m for m in messages)
