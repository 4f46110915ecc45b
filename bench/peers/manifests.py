"""Part 7's installs: the peers' own manifests trimmed to their admission part, and every webhook narrowed to the
bench namespace, one server at a time.

Which server the API server calls for the bench namespace is chosen by one label on it, ``ARM_LABEL``: each
peer's and the floor's webhooks select ``ARM_LABEL=<server>``, and tierguard's (installed by its chart for every
tiered namespace) get ``ARM_LABEL NotIn <the others>`` added, so relabelling the namespace switches servers and
no configuration is deleted. Pure functions over parsed YAML: the cluster side is ``deploy.py``.

- Kyverno: ``config/install-latest-testing.yaml`` of the module source (the chart rendered with its CRDs, what its
  docs' "install from manifests" applies), without the background, cleanup and reports controllers; the admission
  controller and its init container (``kyverno-init``) run the images built here, without admission reports and
  without turning policies into ValidatingAdmissionPolicies (so the policy is judged by its webhook, as the
  others are); its webhooks' namespaceSelector (the ``webhooks`` key of its ConfigMap) narrowed to the arm label.
- Gatekeeper: ``deploy/gatekeeper.yaml`` of the module source, without the audit Deployment, the mutating webhook
  and its operation, the ``generate`` operation moved from the audit pod to the webhook's (it creates each
  ConstraintTemplate's constraint CRD); one replica of the controller-manager (its webhook) on the image built
  here; both entries of its ValidatingWebhookConfiguration narrowed to the arm label.
"""

from __future__ import annotations

import copy
import json
from typing import Any

ARM_LABEL = "bench.tierguard.io/admission"
SERVERS = ("none", "floor", "tierguard", "kyverno", "gatekeeper")
"""The arms of part 7, in table order: no webhook, the do-nothing floor, tierguard, the peers."""
KYVERNO_DROPPED = ("background-controller", "cleanup-controller", "reports-controller")
KYVERNO_BINARIES = {"kyverno": "/usr/local/bin/kyverno-admission", "kyverno-pre": "/usr/local/bin/kyverno-init"}
KYVERNO_ARGS = {"--admissionReports": "false", "--generateValidatingAdmissionPolicy": "false"}
FLOOR_CONFIG = "tierguard-bench-peers-floor"
GATEKEEPER_BINARY = "/usr/local/bin/gatekeeper"
GATEKEEPER_DROPPED = {("Deployment", "gatekeeper-audit"), ("PodDisruptionBudget", "gatekeeper-controller-manager")}

Doc = dict[str, Any]


def arm_selector(server: str) -> Doc:
    return {"matchLabels": {ARM_LABEL: server}}


def _name(doc: Doc) -> str:
    return str(doc.get("metadata", {}).get("name", ""))


def _set_args(args: list[str], values: dict[str, str]) -> list[str]:
    """``--flag=value`` arguments with ``values`` replacing (or added after) the flags they name."""
    kept = [arg for arg in args if arg.split("=", 1)[0] not in values]
    return kept + [f"{flag}={value}" for flag, value in values.items()]


def _local_image(container: Doc, image: str, command: str) -> None:
    container["image"] = image
    container["imagePullPolicy"] = "Never"  # loaded into the node with kind load: no registry here
    container["command"] = [command]


def kyverno(docs: list[Doc], image: str) -> list[Doc]:
    """Kyverno's install manifest trimmed to its admission controller, running ``image``."""
    out: list[Doc] = []
    found = False
    for original in docs:
        if any(part in _name(original) for part in KYVERNO_DROPPED):
            continue
        doc = copy.deepcopy(original)
        if doc["kind"] == "ConfigMap" and _name(doc) == "kyverno":
            doc["data"]["webhooks"] = json.dumps({"namespaceSelector": arm_selector("kyverno")})
        if doc["kind"] == "Deployment" and _name(doc) == "kyverno-admission-controller":
            found = True
            spec = doc["spec"]["template"]["spec"]
            doc["spec"]["replicas"] = 1
            for container in spec.get("initContainers", []) + spec["containers"]:
                if container["name"] not in KYVERNO_BINARIES:
                    raise ValueError(f"kyverno: unexpected container {container['name']!r} in the admission controller")
                _local_image(container, image, KYVERNO_BINARIES[container["name"]])
                if container["name"] == "kyverno":
                    container["args"] = _set_args(container.get("args", []), KYVERNO_ARGS)
        out.append(doc)
    if not found:
        raise ValueError("kyverno: no kyverno-admission-controller Deployment in the manifest")
    return out


def gatekeeper(docs: list[Doc], image: str) -> list[Doc]:
    """Gatekeeper's install manifest trimmed to one controller-manager with its validating webhook."""
    out: list[Doc] = []
    found = False
    for original in docs:
        kind = original["kind"]
        if (kind, _name(original)) in GATEKEEPER_DROPPED or kind == "MutatingWebhookConfiguration":
            continue
        doc = copy.deepcopy(original)
        if kind == "Deployment" and _name(doc) == "gatekeeper-controller-manager":
            found = True
            doc["spec"]["replicas"] = 1
            container = doc["spec"]["template"]["spec"]["containers"][0]
            _local_image(container, image, GATEKEEPER_BINARY)
            # generate: what the audit pod does upstream besides auditing, create each template's constraint CRD.
            container["args"] = [*(arg for arg in container.get("args", []) if arg != "--operation=mutation-webhook"),
                                 "--operation=generate"]
        if kind == "ValidatingWebhookConfiguration":
            for webhook in doc["webhooks"]:
                webhook["namespaceSelector"] = arm_selector("gatekeeper")
        out.append(doc)
    if not found:
        raise ValueError("gatekeeper: no gatekeeper-controller-manager Deployment in the manifest")
    return out


def floor_webhook(url: str, ca_bundle: str) -> Doc:
    """The do-nothing floor (``bench.serve floor``) for the bench namespace's Pod creations."""
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": FLOOR_CONFIG},
            "webhooks": [{"name": "pods.floor.bench.tierguard.io", "admissionReviewVersions": ["v1"],
                          "sideEffects": "None", "failurePolicy": "Fail", "timeoutSeconds": 5,
                          "clientConfig": {"url": url, "caBundle": ca_bundle},
                          "namespaceSelector": arm_selector("floor"),
                          "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                                     "resources": ["pods"], "scope": "Namespaced"}]}]}


def narrow_away(webhooks: list[Doc], server: str = "tierguard") -> list[Doc]:
    """``server``'s webhooks (those with a namespaceSelector) kept off the namespace when another arm is chosen."""
    others = [arm for arm in SERVERS if arm != server]
    out = copy.deepcopy(webhooks)
    for webhook in out:
        selector = webhook.get("namespaceSelector")
        if selector is None:
            continue  # a cluster-scoped kind's entry: never a Pod
        expressions = [e for e in selector.get("matchExpressions") or [] if e.get("key") != ARM_LABEL]
        selector["matchExpressions"] = [*expressions, {"key": ARM_LABEL, "operator": "NotIn", "values": others}]
    return out
