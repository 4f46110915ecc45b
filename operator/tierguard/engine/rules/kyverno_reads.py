"""The Secrets a Kyverno ClusterPolicy rule reads through its ``context`` (``apiCall``) to write their values into
a Secret it generates with ``data``, and those it clones from the namespace of the object triggering it.

Kyverno's ``apiCall`` GETs ``urlPath`` from the API server with Kyverno's own credentials, whichever namespace it
names (kyverno/kyverno ``pkg/engine/apicall``): ``/api/v1/namespaces/<namespace>/secrets`` lists a namespace's
Secrets and ``.../secrets/<name>`` reads one. kyverno/policies ships rules that read a Secret so in the trigger's
namespace (``{{request.object.metadata.namespace}}``) and write its values into a Secret of a fixed namespace
(``argo-cluster-generation-from-rancher-capi``, ``config-syncer-secret-generation-from-rancher-capi``). A read is
taken to reach the generated Secret when the ``data`` is templated (a ``{{ }}`` somewhere in it): Kyverno's
variables are resolved there; a ``data`` of fixed values copies nothing read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tierguard.engine.objects import list_at, mapping_at, mappings_at, str_at

TRIGGER_NAMESPACE = "\0trigger"
"""A read from the namespace of the object that triggers the rule."""

_SECRETS_URL = re.compile(r"^/api/v1/namespaces/(?P<namespace>[^/]+)/secrets(?:/(?P<name>[^/?]+))?/?(?:\?.*)?$")
TRIGGER_NAMESPACE_VARIABLE = re.compile(
    r"\{\{\s*(request\.object\.metadata\.namespace|request\.namespace)\s*\}\}")
"""Kyverno's variable for the namespace of the object triggering a rule."""


@dataclass(frozen=True)
class SecretRead:
    namespace: str
    """A namespace name, or ``TRIGGER_NAMESPACE``."""
    name: str
    """The Secret's name; empty for a list or a name computed from variables."""
    via: str
    """How the rule reads it, for messages: ``context 'name'`` (an apiCall), ``clone``, ``cloneList``."""
    path: str
    """The field naming its namespace (an ``urlPath``, a ``clone.namespace``)."""


def secret_reads(rule: Mapping[str, Any], rule_path: str, pattern: Mapping[str, Any], pattern_path: str
                 ) -> Iterator[SecretRead]:
    """The Secret reads of a rule's context (and of a ``foreach`` pattern's) that a static reading decides: a
    namespace computed any other way is not judged."""
    entries = [*mappings_at(rule, "context", f"{rule_path}.context")]
    if pattern is not rule.get("generate"):
        entries += mappings_at(pattern, "context", f"{pattern_path}.context")
    for entry, path in entries:
        call = mapping_at(entry, "apiCall", f"{path}.apiCall")
        url = str_at(call, "urlPath", f"{path}.apiCall.urlPath").strip()
        found = _SECRETS_URL.match(url)
        if found is None:
            continue
        namespace, name = found["namespace"], found["name"] or ""
        if TRIGGER_NAMESPACE_VARIABLE.fullmatch(namespace):
            namespace = TRIGGER_NAMESPACE
        elif "{{" in namespace:
            continue
        yield SecretRead(namespace, "" if "{{" in name else name,
                         f"context {str_at(entry, 'name', f'{path}.name')!r}", f"{path}.apiCall.urlPath")


def trigger_clone(pattern: Mapping[str, Any], generate: Mapping[str, Any], at: str) -> SecretRead | None:
    """A ``clone`` (or ``cloneList``) of Secrets from the namespace of the object that triggers the rule."""
    kind = pattern.get("kind") or generate.get("kind")
    clone = mapping_at(pattern, "clone", f"{at}.clone")
    if clone and kind == "Secret" and TRIGGER_NAMESPACE_VARIABLE.fullmatch(
            str_at(clone, "namespace", f"{at}.clone.namespace")):
        name = str_at(clone, "name", f"{at}.clone.name")
        return SecretRead(TRIGGER_NAMESPACE, "" if "{{" in name else name, "clone", f"{at}.clone.namespace")
    listed = mapping_at(pattern, "cloneList", f"{at}.cloneList")
    kinds = list_at(listed, "kinds", f"{at}.cloneList.kinds")
    secrets = any(isinstance(k, str) and k.rpartition("/")[2] == "Secret" for k in kinds)
    if secrets and TRIGGER_NAMESPACE_VARIABLE.fullmatch(str_at(listed, "namespace", f"{at}.cloneList.namespace")):
        return SecretRead(TRIGGER_NAMESPACE, "", "cloneList", f"{at}.cloneList.namespace")
    return None


def writes_read_values(pattern: Mapping[str, Any], generate: Mapping[str, Any]) -> bool:
    """Whether a generate pattern makes a Secret from templated ``data``."""
    kind = pattern.get("kind") or generate.get("kind")
    api_version = pattern.get("apiVersion") or generate.get("apiVersion")
    data = pattern.get("data")
    return kind == "Secret" and api_version in (None, "", "v1") and data is not None and "{{" in str(data)
