"""cert-manager (``cert-manager.io``): the Secret it issues, opened to other tiers by the labels and annotations a
Certificate or an ingress-shim annotation gives it.

Reported as ``secret-replication-cross-tier`` (the rule's facts live in ``replication.py``). What cert-manager
writes, from its own source (cert-manager/cert-manager, ``pkg/controller/certificates/issuing/internal/secret.go``,
``pkg/controller/certificate-shim/helper.go`` and ``sync.go``) and docs (``reference/annotations.md``):

- A ``Certificate`` has its Secret ``spec.secretName`` written in its own namespace with every label and
  annotation of ``spec.secretTemplate`` copied on. That Secret is judged here as ``replication.py`` judges a
  Secret (reflector, replicator, config-syncer annotations), before cert-manager writes it: the Secret alone
  would be refused only when cert-manager writes it, long after the Certificate was admitted.
- ingress-shim makes one Certificate per Secret an ``Ingress`` names (``spec.tls[].secretName``) or a listener
  of a ``Gateway`` or ``ListenerSet`` names (``spec.listeners[].tls.certificateRefs[]``, not in ``Passthrough``
  mode; a reference into another namespace is skipped by the shim), and the annotation
  ``cert-manager.io/secret-template`` (JSON of a secretTemplate: ``{"annotations": {...}, "labels": {...}}``, no
  other field) becomes its ``spec.secretTemplate``.
  Each of those Secrets is judged the same way. The shim acts only on objects carrying an issuer annotation (or
  a configured ``--auto-certificate-annotations`` one, which tierguard cannot see): the template is judged
  whichever, since it says what the Secret would be. A template the shim rejects (not JSON, another field, a value
  not a string, a ``cert-manager.io/`` annotation) makes it issue nothing for the object: not judged.

Refused, in ``dev``: a Certificate with ``secretTemplate.annotations`` ``reflector.v1.k8s.emberstack.com/
reflection-allowed: "true"`` and no namespace list (every namespace). Allowed: the list names only ``dev``
namespaces.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule
from tierguard.engine.objects import annotations_of, mapping_at, mappings_at, str_at, string_map_at
from tierguard.engine.rules import RuleFacts, RuleFamily
from tierguard.engine.rules.replication import written_secret_findings
from tierguard.engine.secrets import SecretView
from tierguard.kinds import group_kinds

FACTS: tuple[RuleFacts, ...] = ()
"""It owns no rule id: what it finds is ``secret-replication-cross-tier`` (``replication.py``)."""
RULES = frozenset({Rule.SECRET_REPLICATION_CROSS_TIER, Rule.POLICY_INVALID})
KINDS = group_kinds("Certificate", "Ingress", "Gateway", "ListenerSet")

SECRET_TEMPLATE = "cert-manager.io/secret-template"
"""ingress-shim's annotation (``cmapi.IngressSecretTemplate``): a secretTemplate as JSON; one the shim rejects
issues nothing."""
TEMPLATE_FIELDS = frozenset({"annotations", "labels"})
SHIM_RESERVED = "cert-manager.io/"
"""An annotation the shim refuses in the template (``helper.go``)."""
PASSTHROUGH = "Passthrough"


def check(subject: Candidate) -> Iterator[Finding]:
    if subject.kind == "Certificate":
        yield from _certificate(subject)
        return
    notes = annotations_of(subject.obj)
    if SECRET_TEMPLATE not in notes:
        return
    at = f"metadata.annotations[{SECRET_TEMPLATE}]"
    template = _shim_template(notes[SECRET_TEMPLATE])
    if template is None:
        return  # the shim rejects it and issues nothing for the object
    labels, annotations = template
    if not labels and not annotations:
        return  # the shim sets no secretTemplate then
    spec = mapping_at(subject.obj, "spec", "spec")
    names = _ingress_secrets(spec) if subject.kind == "Ingress" else _gateway_secrets(subject, spec)
    for name, field in names.items():
        lead = (f"{subject.ref} has cert-manager's ingress-shim issue Secret {subject.namespace}/{name} ({field}) "
                f"with the labels and annotations of {SECRET_TEMPLATE}")
        yield from _issued(subject, name, labels, annotations, lead=lead, path_of=lambda _path: at)


def _certificate(subject: Candidate) -> Iterator[Finding]:
    spec = mapping_at(subject.obj, "spec", "spec")
    template = mapping_at(spec, "secretTemplate", "spec.secretTemplate")
    name = str_at(spec, "secretName", "spec.secretName")
    if not template or not name:
        return
    labels = string_map_at(template, "labels", "spec.secretTemplate.labels")
    annotations = string_map_at(template, "annotations", "spec.secretTemplate.annotations")
    lead = (f"{subject.ref} has cert-manager issue Secret {subject.namespace}/{name} with the labels and "
            f"annotations of spec.secretTemplate")
    yield from _issued(subject, name, labels, annotations, lead=lead,
                       path_of=lambda path: "spec.secretTemplate" + path.removeprefix("metadata"))


def _issued(subject: Candidate, name: str, labels: dict[str, str], annotations: dict[str, str], *, lead: str,
            path_of: Callable[[str], str]) -> Iterator[Finding]:
    view = SecretView(namespace=subject.namespace or "default", name=name, kind="Secret", labels=labels,
                      annotations=annotations)
    yield from written_secret_findings(view, subject, lead, path_of)


def _shim_template(text: str) -> tuple[dict[str, str], dict[str, str]] | None:
    """The secretTemplate of the annotation, read as the shim reads it (``DisallowUnknownFields``, values strings,
    no ``cert-manager.io/`` annotation); None when the shim rejects it: it then makes no Certificate for the
    object at all (``buildCertificates`` returns the error), so nothing is issued, while the API server accepts
    the object whatever the annotation says."""
    try:
        template = json.loads(text)
    except ValueError:
        return None
    if not isinstance(template, Mapping) or set(template) - TEMPLATE_FIELDS:
        return None
    read: list[dict[str, str]] = []
    for field in ("labels", "annotations"):
        values = template.get(field)
        if values is None:
            values = {}
        if not isinstance(values, Mapping) or not all(v is None or isinstance(v, str) for v in values.values()):
            return None
        read.append({str(k): v or "" for k, v in values.items()})
    labels, annotations = read
    if any(key.startswith(SHIM_RESERVED) for key in annotations):
        return None
    return labels, annotations


def _ingress_secrets(spec: Mapping[str, Any]) -> dict[str, str]:
    """Each Secret an Ingress's TLS blocks name -> the first field naming it (the shim makes one Certificate each)."""
    names: dict[str, str] = {}
    for tls, path in mappings_at(spec, "tls", "spec.tls"):
        name = str_at(tls, "secretName", f"{path}.secretName")
        if name:
            names.setdefault(name, f"{path}.secretName")
    return names


def _gateway_secrets(subject: Candidate, spec: Mapping[str, Any]) -> dict[str, str]:
    """Each Secret a Gateway's (or ListenerSet's) TLS listeners reference in its own namespace -> the first field
    naming it."""
    names: dict[str, str] = {}
    for listener, path in mappings_at(spec, "listeners", "spec.listeners"):
        tls = mapping_at(listener, "tls", f"{path}.tls")
        if str_at(tls, "mode", f"{path}.tls.mode") == PASSTHROUGH:
            continue
        for ref, ref_path in mappings_at(tls, "certificateRefs", f"{path}.tls.certificateRefs"):
            kind = str_at(ref, "kind", f"{ref_path}.kind") or "Secret"
            group = str_at(ref, "group", f"{ref_path}.group")
            namespace = str_at(ref, "namespace", f"{ref_path}.namespace") or subject.namespace
            name = str_at(ref, "name", f"{ref_path}.name")
            if kind == "Secret" and group in ("", "core") and namespace == subject.namespace and name:
                names.setdefault(name, f"{ref_path}.name")
    return names


FAMILY = RuleFamily("cert-manager", KINDS, RULES, check, FACTS)
