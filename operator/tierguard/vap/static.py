"""The namespace rules as static manifests: ValidatingAdmissionPolicies the API server loads from files at start
(manifest-based admission control, KEP-5793: feature gate ``ManifestBasedAdmissionControlConfig``, alpha and off
in Kubernetes 1.36, beta and on in 1.37). Pure: policy in, manifests out.

The API server reads them from the ``staticManifestsDir`` of its ValidatingAdmissionPolicy plugin configuration
before it serves its first request, evaluates them before any policy stored through the API, and never stores
them: they are not listed, and cannot be changed or deleted, through the API. Its loader
(k8s.io/apiserver ``pkg/admission/plugin/policy/manifest/loader``) accepts only admissionregistration.k8s.io/v1
policies and bindings whose names end in ``.static.k8s.io``, unique per kind, with no ``spec.paramKind`` or
``spec.paramRef``, every binding's ``spec.policyName`` a policy in the same directory; it decodes strictly
(an unknown field is an error). A directory that breaks one of these keeps the API server from starting (and a
broken change is ignored by a running one, which keeps the last good set): ``problems`` checks them here first.

Only the ``namespaces`` family is written: its rules (``namespace-tier-unknown``, ``namespace-tier-changed``)
need nothing but the request, hold from the first request on, and are the ones a tenant could otherwise break
while tierguard is not yet (or no longer) running. The CEL is ``generate.py``'s, unchanged.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

from tierguard.policy import TierPolicy
from tierguard.vap.generate import API_VERSION, Options, generate

SUFFIX = ".static.k8s.io"
"""What the API server requires every static manifest's name to end in (and refuses through its API)."""
FAMILY = "namespaces"
FILE_NAME = "tierguard-namespaces.yaml"
"""The file ``tierguard admission-policies --static DIR`` writes in DIR (the API server reads every ``*.yaml``,
``*.yml`` and ``*.json`` there)."""
KINDS = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
"""A policy's or binding's name, as the API server validates it (at most 253 characters)."""


DEFAULT_OPTIONS = Options(failure_policy="Fail")
"""Fail: an expression that cannot be evaluated refuses the request, as the rules must hold with nothing else
running (the namespace rules' expressions are small, whatever the object)."""


def static_name(name: str) -> str:
    return f"{name}{SUFFIX}"


def generate_static(policy: TierPolicy, options: Options = DEFAULT_OPTIONS) -> list[dict[str, Any]]:
    """The ``namespaces`` family of ``generate(policy, options)`` as static manifests: names (and bindings'
    ``policyName``) with the static suffix, no owner (nothing in the API owns a file), marked
    ``tierguard.io/static``. Raises ValueError if the API server would refuse them."""
    manifests = []
    for manifest in generate(policy, dataclasses.replace(options, owner=None)):
        if manifest["metadata"]["labels"].get("tierguard.io/family") != FAMILY:
            continue
        static = copy.deepcopy(manifest)
        static["metadata"]["name"] = static_name(manifest["metadata"]["name"])
        static["metadata"]["labels"]["tierguard.io/static"] = "true"
        if static["kind"] == "ValidatingAdmissionPolicyBinding":
            static["spec"]["policyName"] = static_name(manifest["spec"]["policyName"])
        manifests.append(static)
    found = problems(manifests)
    if found:
        raise ValueError("; ".join(found))
    return manifests


def problems(manifests: Iterable[Mapping[str, Any]]) -> list[str]:
    """What the API server's static manifest loader would refuse in this set of manifests (one directory)."""
    found: list[str] = []
    seen: dict[str, set[str]] = {kind: set() for kind in KINDS}
    policies, bindings = set(), []
    for manifest in manifests:
        kind, metadata = manifest.get("kind"), manifest.get("metadata") or {}
        name, spec = str(metadata.get("name") or ""), manifest.get("spec") or {}
        if manifest.get("apiVersion") != API_VERSION or kind not in KINDS:
            found.append(f"{manifest.get('apiVersion')}/{kind} {name!r}: only {API_VERSION} "
                         f"{' and '.join(KINDS)} are loaded")
            continue
        if not name.endswith(SUFFIX):
            found.append(f"{kind} {name!r}: the name must end with {SUFFIX!r}")
        if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
            found.append(f"{kind} {name!r}: not a DNS subdomain (lower case letters, digits, '-' and '.', at most "
                         "253 characters)")
        if name in seen[kind]:
            found.append(f"{kind} {name!r}: duplicate name")
        seen[kind].add(name)
        if "ownerReferences" in metadata:
            found.append(f"{kind} {name!r}: an owner in the API cannot own a file (no metadata.ownerReferences)")
        if kind == "ValidatingAdmissionPolicy":
            policies.add(name)
            if "paramKind" in spec:
                found.append(f"{kind} {name!r}: spec.paramKind is not supported for static manifests")
        else:
            if "paramRef" in spec:
                found.append(f"{kind} {name!r}: spec.paramRef is not supported for static manifests")
            policy_name = str(spec.get("policyName") or "")
            if not policy_name.endswith(SUFFIX):
                found.append(f"{kind} {name!r}: spec.policyName {policy_name!r} must end with {SUFFIX!r}")
            bindings.append((name, policy_name))
    found += [f"ValidatingAdmissionPolicyBinding {name!r} references policy {policy_name!r}, which is not among "
              f"the static manifests" for name, policy_name in bindings if policy_name not in policies]
    return found
