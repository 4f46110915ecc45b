"""``rbac-cross-tier-subject``: a binding that lets a subject of one tier read Secrets of another.

A RoleBinding in a tiered namespace may not bind a Secret-reading role to ServiceAccounts of another tier,
to ``system:serviceaccounts:<ns>`` of another tier, or to everyone (``system:serviceaccounts``,
``system:authenticated``, ``system:unauthenticated``). A ClusterRoleBinding of a Secret-reading ClusterRole
grants every tier's Secrets, so it may not name a tiered subject or everyone. Subjects in untiered namespaces
(platform controllers) may hold cluster-wide bindings; plain users and groups have no tier and are not judged.
Built-in ClusterRoles are known without a cluster: ``cluster-admin``, ``admin`` and ``edit`` read Secrets,
``view`` does not. A role the context does not know is not judged. An aggregated ClusterRole
(``aggregationRule``) is judged as the aggregation controller fills it: its own rules plus the rules of every
ClusterRole its selectors match, transitively (built-in ``admin``, ``edit`` and ``view`` aggregate
``rbac.authorization.k8s.io/aggregate-to-<name>: "true"`` roles, and ``view`` is part of ``edit``, ``edit`` of
``admin``), so a RoleBinding of ``view`` reads Secrets once a Secret-reading role aggregates into it.

Refused, in ``prod``: RoleBinding of ``edit`` to ServiceAccount ``dev/ci``. Allowed: binding ``view``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tierguard.engine.candidate import Candidate
from tierguard.engine.context import Context
from tierguard.engine.model import Finding, Rule, in_tier
from tierguard.engine.objects import mapping_at, mappings_at, str_at
from tierguard.engine.rules import RuleFacts, RuleFamily, owned
from tierguard.engine.selectors import label_selector_matches
from tierguard.kinds import group_kinds

FACTS = (
    RuleFacts(Rule.RBAC_CROSS_TIER_SUBJECT, "A binding that lets a subject of one tier read Secrets in another tier."),
)
RULES = owned(FACTS)
KINDS = group_kinds("RoleBinding", "ClusterRoleBinding")

_READ_ALL: Sequence[Mapping[str, Any]] = ({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},)
BUILTIN_CLUSTER_ROLES: Mapping[str, Sequence[Mapping[str, Any]]] = {
    "cluster-admin": _READ_ALL,
    "admin": ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},),
    "edit": ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},),
    "view": ({"apiGroups": [""], "resources": ["configmaps", "pods"], "verbs": ["get", "list", "watch"]},),
}
_AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"
BUILTIN_AGGREGATION: Mapping[str, tuple[Mapping[str, str], Sequence[Mapping[str, Any]]]] = {
    "admin": ({}, ({"matchLabels": {_AGGREGATE + "admin": "true"}},)),
    "edit": ({_AGGREGATE + "admin": "true"}, ({"matchLabels": {_AGGREGATE + "edit": "true"}},)),
    "view": ({_AGGREGATE + "edit": "true"}, ({"matchLabels": {_AGGREGATE + "view": "true"}},)),
}
"""Built-in aggregated ClusterRoles: (their own labels, their selectors), as Kubernetes' bootstrap policy has them."""
EVERYONE = frozenset({"system:serviceaccounts", "system:authenticated", "system:unauthenticated"})
_READ_VERBS = frozenset({"get", "list", "watch", "*"})


def can_read_secrets(rules: Sequence[Mapping[str, Any]]) -> bool:
    for rule in rules:
        groups, resources, verbs = (rule.get(k) or [] for k in ("apiGroups", "resources", "verbs"))
        if not (isinstance(groups, list) and isinstance(resources, list) and isinstance(verbs, list)):
            continue
        groups, resources, verbs = ({item for item in entries if isinstance(item, str)}
                                    for entries in (groups, resources, verbs))
        if ({"", "*"} & groups) and ({"secrets", "*"} & resources) and (_READ_VERBS & verbs):
            return True
    return False


def cluster_role_rules(context: Context, name: str) -> Sequence[Mapping[str, Any]] | None:
    """A ClusterRole's rules as the aggregation controller fills them; None when the role is unknown.

    Offline the input's aggregated roles have no rules yet; live the controller has filled them, and adding the
    parts again also covers the moment before it has (a part and a binding applied together).
    """
    seen: set[str] = set()
    known = False
    collected: list[Mapping[str, Any]] = []
    labels = None
    pending = [name]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        own = context.role_rules("ClusterRole", None, current)
        selectors = context.cluster_role_aggregation(current)
        if own is None and current in BUILTIN_CLUSTER_ROLES:
            own = BUILTIN_CLUSTER_ROLES[current]
            selectors = BUILTIN_AGGREGATION.get(current, ({}, None))[1]
        if own is None:
            continue
        known = True
        collected.extend(own)
        if not selectors or can_read_secrets(collected):
            continue
        if labels is None:
            labels = dict(context.cluster_role_labels())
            for builtin, (builtin_labels, _) in BUILTIN_AGGREGATION.items():
                labels.setdefault(builtin, builtin_labels)
        pending.extend(part for part, part_labels in labels.items()
                       if part not in seen and any(label_selector_matches(s, part_labels) for s in selectors))
    return collected if known else None


def _subject_namespace(subject_ref: Mapping[str, Any], path: str, default_namespace: str | None) -> str | None:
    """The namespace whose tier a binding subject has; "*" for everyone; None for tierless users/groups."""
    kind = str_at(subject_ref, "kind", f"{path}.kind", required=True)
    name = str_at(subject_ref, "name", f"{path}.name", required=True)
    if kind == "ServiceAccount":
        return str_at(subject_ref, "namespace", f"{path}.namespace") or default_namespace
    if kind == "Group":
        if name in EVERYONE:
            return "*"
        if name.startswith("system:serviceaccounts:"):
            return name.removeprefix("system:serviceaccounts:")
    if kind == "User" and name.startswith("system:serviceaccount:"):
        return name.split(":")[2] if name.count(":") >= 3 else None
    return None


def check(binding: Candidate) -> Iterator[Finding]:
    role_ref = mapping_at(binding.obj, "roleRef", "roleRef")
    role_kind = str_at(role_ref, "kind", "roleRef.kind", required=True)
    role_name = str_at(role_ref, "name", "roleRef.name", required=True)
    rules = binding.context.role_rules(role_kind, binding.namespace, role_name)
    if role_kind == "ClusterRole":
        rules = cluster_role_rules(binding.context, role_name)
    if rules is None or not can_read_secrets(rules):
        return
    cluster_wide = binding.kind == "ClusterRoleBinding"
    for subject_ref, path in mappings_at(binding.obj, "subjects", "subjects"):
        namespace = _subject_namespace(subject_ref, path, binding.namespace)
        if namespace is None:
            continue
        who = f"{subject_ref.get('kind')} {subject_ref.get('name')}"
        if namespace == "*":
            scope = "every namespace" if cluster_wide else f"namespace {binding.namespace}"
            yield Finding(
                Rule.RBAC_CROSS_TIER_SUBJECT,
                f"{binding.ref} lets {who} (every tier) read Secrets in {scope} through {role_kind} "
                f"{role_name}; bind a role without Secret access, or name subjects of one tier",
                path,
            )
            continue
        subject_tier = binding.tier_of(namespace)
        if cluster_wide and subject_tier is not None:
            yield Finding(
                Rule.RBAC_CROSS_TIER_SUBJECT,
                f"{binding.ref} lets {who} of namespace {namespace} (tier {subject_tier}) read Secrets of every "
                f"tier through ClusterRole {role_name}; use a RoleBinding in namespaces of tier {subject_tier}",
                path,
                tier=subject_tier,
            )
        elif not cluster_wide and subject_tier != binding.tier:
            yield Finding(
                Rule.RBAC_CROSS_TIER_SUBJECT,
                f"{binding.ref} ({in_tier(binding.tier)}) lets {who} of namespace {namespace} "
                f"({in_tier(subject_tier)}) read its Secrets through {role_kind} {role_name}; "
                f"bind only subjects of {in_tier(binding.tier)}",
                path,
            )


FAMILY = RuleFamily("rbac", KINDS, RULES, check, FACTS)
