"""What RBAC rules let a subject reach: the paths to a namespace's secret material (SPEC "Subjects", "Reach").

Reading Secrets is one path among several: a Pod mounts any Secret of its namespace, so creating or updating
Pods or any pod template kind reaches them; ``pods/exec``, ``pods/attach`` and ``pods/portforward`` open a
running pod's mounted files; an ephemeral container mounts them too; a ServiceAccount token acts as that
ServiceAccount; impersonation acts as anyone; ``bind`` and ``escalate`` grant any role. ``*`` in verbs,
resources or API groups counts. Pure: RBAC rules (plain data) in, reach paths out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_RBAC = "rbac.authorization.k8s.io"
_WRITE = ("create", "update", "patch")
"""Writes that set a pod spec: SPEC names create and update; a patch is an update."""


@dataclass(frozen=True)
class ReachPath:
    """One way to secret material: verbs on a resource of an API group, and why it reaches the Secrets."""

    id: str
    """Stable name (JSON, the access page): read-secrets, create-pods, create-workloads, exec, attach,
    portforward, ephemeral-containers, serviceaccount-token, impersonate, bind, escalate."""
    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str
    """How it reaches the Secrets, completing "can <verb> <resource> in <namespace>, ..."."""


PATHS: tuple[ReachPath, ...] = (
    ReachPath("read-secrets", "", ("secrets",), ("get", "list", "watch"), ""),
    ReachPath("create-pods", "", ("pods",), _WRITE, "which mounts its Secrets"),
    ReachPath("create-workloads", "", ("replicationcontrollers",), _WRITE, "whose pods mount its Secrets"),
    ReachPath("create-workloads", "apps", ("deployments", "statefulsets", "daemonsets", "replicasets"), _WRITE,
              "whose pods mount its Secrets"),
    ReachPath("create-workloads", "batch", ("jobs", "cronjobs"), _WRITE, "whose pods mount its Secrets"),
    ReachPath("exec", "", ("pods/exec",), ("create",), "which reads its pods' mounted Secrets"),
    ReachPath("attach", "", ("pods/attach",), ("create",), "which reads its pods' mounted Secrets"),
    ReachPath("portforward", "", ("pods/portforward",), ("create",), "which opens its pods' ports to the caller"),
    ReachPath("ephemeral-containers", "", ("pods/ephemeralcontainers",), ("update", "patch"),
              "whose debug container mounts its Secrets"),
    ReachPath("serviceaccount-token", "", ("serviceaccounts/token",), ("create",),
              "which acts as its ServiceAccounts"),
    ReachPath("impersonate", "", ("users", "groups", "serviceaccounts"), ("impersonate",),
              "which acts as other subjects"),
    ReachPath("bind", _RBAC, ("roles", "clusterroles"), ("bind",), "which grants any role"),
    ReachPath("escalate", _RBAC, ("roles", "clusterroles"), ("escalate",), "which grants any permission"),
)
"""Every path, in the order messages name them (reading first)."""


@dataclass(frozen=True)
class Reach:
    """A path a role grants, with the verb and resource that grant it (as the role's rule words them)."""

    path: ReachPath
    verb: str
    resource: str
    """``secrets``, ``deployments.apps``, ``pods/exec``; ``*`` kept as the role wrote it."""

    def phrase(self, where: str) -> str:
        """``can create pods in payments-prod, which mounts its Secrets`` (``where``: a namespace, or "every
        namespace" for a cluster-wide binding)."""
        what = "read Secrets" if self.path.id == "read-secrets" else f"{self.verb} {self.resource}"
        return f"can {what} in {where}" + (f", {self.path.why}" if self.path.why else "")


def _strings(rule: Mapping[str, Any], key: str) -> frozenset[str]:
    entries = rule.get(key)
    if not isinstance(entries, list):
        return frozenset()
    return frozenset(entry for entry in entries if isinstance(entry, str))


def _covering(resource: str, granted: frozenset[str]) -> str | None:
    """The entry of a rule's ``resources`` that covers ``resource``, as RBAC matches it: the name, ``*``, and for a
    subresource ``pods/*`` or ``*/exec``."""
    if resource in granted:
        return resource
    if "/" in resource:
        parent, sub = resource.split("/", 1)
        for wildcard in (f"{parent}/*", f"*/{sub}"):
            if wildcard in granted:
                return wildcard
    return "*" if "*" in granted else None


def _granted(path: ReachPath, groups: frozenset[str], resources: frozenset[str], verbs: frozenset[str],
             wildcard: bool) -> Reach | None:
    """``wildcard``: some entry of ``resources`` holds a ``*`` (else a rule naming none of the path's resources is
    ruled out by one set operation: every binding review asks each path of each rule)."""
    if path.group not in groups and "*" not in groups:
        return None
    if not wildcard and resources.isdisjoint(path.resources):
        return None
    verb = next((v for v in path.verbs if v in verbs), "*" if "*" in verbs else None)
    if verb is None:
        return None
    for resource in path.resources:
        entry = _covering(resource, resources)
        if entry is not None:
            shown = f"{resource}.{path.group}" if entry == resource and path.group else entry
            return Reach(path, verb, shown)
    return None


def reach_of(rules: Sequence[Mapping[str, Any]]) -> tuple[Reach, ...]:
    """Every path the rules grant (one Reach per path id, the first rule that grants it), in ``PATHS`` order.
    Rules of another shape (``nonResourceURLs``, malformed entries) grant nothing here."""
    # Each rule's entries read once (not once per path): a binding of the built-in admin collects dozens of rules.
    parsed = [(groups, resources, verbs, any("*" in resource for resource in resources)) for rule in rules
              if (groups := _strings(rule, "apiGroups")) and (resources := _strings(rule, "resources"))
              and (verbs := _strings(rule, "verbs"))]
    found: dict[str, Reach] = {}
    for path in PATHS:
        if path.id in found:
            continue
        for groups, resources, verbs, wildcard in parsed:
            granted = _granted(path, groups, resources, verbs, wildcard)
            if granted is not None:
                found[path.id] = granted
                break
    return tuple(found.values())
