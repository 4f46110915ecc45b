"""``rbac-cross-tier-subject``: a binding that lets a subject of one tier reach Secrets of another.

A role *reaches* a namespace's Secrets by any path ``engine/reach.py`` knows (SPEC "Subjects", "Reach"): reading
them, creating or updating Pods or pod templates (a Pod mounts any Secret of its namespace), ``pods/exec``,
``pods/attach``, ``pods/portforward``, ephemeral containers, ``serviceaccounts/token``, impersonation, ``bind``
and ``escalate``. People and ServiceAccounts are judged alike by that reach, each with the tiers
``engine/subjects.py`` gives it: a ServiceAccount its namespace's (also as ``system:serviceaccount:<ns>:<name>``
and ``system:serviceaccounts:<ns>``), a user or group those of the ``spec.subjects.perTier`` entries its name
matches; ``platform`` subjects, ``system:masters`` and ServiceAccounts of exempt namespaces act in every tier.

Whose tiers a subject has, and when a binding crosses tiers for it, is ``engine/binding_subjects.py``: the one
reading ``tierguard access`` marks by too. A RoleBinding in a namespace of tier T refuses a tiered subject that
may not reach T, and everyone (``system:serviceaccounts``, ``system:authenticated``, ``system:unauthenticated``).
A ClusterRoleBinding reaches every namespace, so it refuses a tiered subject that does not act in every tier
(enforced with that subject's tier's mode), and everyone. An untiered person (no ``perTier`` entry matches) is
not judged; nor is a ServiceAccount of an untiered namespace in a ClusterRoleBinding (platform controllers such
as cert-manager or External Secrets need cluster-wide Secret access), while a RoleBinding in a tiered namespace
still refuses one (it belongs to no tier, so not to this one).

Built-in ClusterRoles are known without a cluster, with the rules of Kubernetes' bootstrap policy that reach
Secrets (``cluster-admin`` everything, ``edit`` and ``admin`` reading Secrets, pods, workloads, exec, attach,
portforward, ServiceAccount tokens and impersonation; ``view`` none). A role the context does not know is not
judged. An aggregated ClusterRole (``aggregationRule``) is judged as the aggregation controller fills it: its own
rules plus the rules of every ClusterRole its selectors match, transitively (built-in ``admin``, ``edit`` and
``view`` aggregate ``rbac.authorization.k8s.io/aggregate-to-<name>: "true"`` roles, and ``view`` is part of
``edit``, ``edit`` of ``admin``), so a RoleBinding of ``view`` reaches Secrets once a part that creates pods
aggregates into it.

Refused, in ``prod``: RoleBinding of ``edit`` to ServiceAccount ``dev/ci``, or of a Role that creates pods to
Group ``team-payments-dev`` (tier dev). Allowed: binding ``view``, or the same to Group ``team-payments-prod``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tierguard.engine.binding_subjects import NoSubject, Standing, binding_subject
from tierguard.engine.candidate import Candidate
from tierguard.engine.context import Context
from tierguard.engine.model import Finding, Rule, in_tier
from tierguard.engine.objects import mapping_at, mappings_at, str_at
from tierguard.engine.reach import Reach, reach_of
from tierguard.engine.rules import RuleFacts, RuleFamily, owned
from tierguard.engine.selectors import label_selector_matches
from tierguard.engine.subjects import SubjectTiers
from tierguard.kinds import group_kinds
from tierguard.policy import EnforcementMode

FACTS = (
    RuleFacts(Rule.RBAC_CROSS_TIER_SUBJECT,
              "A binding that lets a subject of one tier reach Secrets in another tier (reading them, or a path to "
              "them such as creating pods or exec)."),
)
RULES = owned(FACTS)
KINDS = group_kinds("RoleBinding", "ClusterRoleBinding")

# What of Kubernetes' bootstrap policy reaches Secrets, from k8s.io/kubernetes (v1.37.2)
# plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go: ClusterRoles() and editRules(). ``edit`` is filled
# from ``system:aggregate-to-edit`` (editRules), ``admin`` from ``system:aggregate-to-admin`` (read/write of roles
# and rolebindings, create localsubjectaccessreviews: no path of its own, not bind or escalate; it reaches through
# ``edit``), ``view`` from viewRules (reads only, not Secrets: no path). Each rule below is one of editRules' with
# its verbs, kept to the resources a reach path names; edit has no ``pods/ephemeralcontainers``, and ``get`` of
# ``pods/exec`` (also in editRules) is no path (engine/reach.py).
_WRITE = ["create", "update", "patch", "delete", "deletecollection"]
_EDIT: Sequence[Mapping[str, Any]] = (
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
    {"apiGroups": [""], "resources": ["pods", "pods/attach", "pods/exec", "pods/portforward"], "verbs": _WRITE},
    {"apiGroups": [""], "resources": ["replicationcontrollers"], "verbs": _WRITE},
    {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
    {"apiGroups": ["apps"], "resources": ["statefulsets", "daemonsets", "deployments", "replicasets"],
     "verbs": _WRITE},
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": _WRITE},
)
BUILTIN_CLUSTER_ROLES: Mapping[str, Sequence[Mapping[str, Any]]] = {
    "cluster-admin": ({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},),
    "admin": (),
    "edit": _EDIT,
    "view": ({"apiGroups": [""], "resources": ["configmaps", "pods", "serviceaccounts"],
              "verbs": ["get", "list", "watch"]},),
}
"""Each built-in ClusterRole's own rules as far as reach goes (aggregation adds ``edit`` to ``admin``)."""
_AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"
BUILTIN_AGGREGATION: Mapping[str, tuple[Mapping[str, str], Sequence[Mapping[str, Any]]]] = {
    "admin": ({}, ({"matchLabels": {_AGGREGATE + "admin": "true"}},)),
    "edit": ({_AGGREGATE + "admin": "true"}, ({"matchLabels": {_AGGREGATE + "edit": "true"}},)),
    "view": ({_AGGREGATE + "edit": "true"}, ({"matchLabels": {_AGGREGATE + "view": "true"}},)),
}
"""Built-in aggregated ClusterRoles: (their own labels, their selectors), as Kubernetes' bootstrap policy has them."""

_STRICTNESS = {EnforcementMode.ENFORCE: 0, EnforcementMode.WARN: 1, EnforcementMode.AUDIT: 2}


def cluster_role_rules(context: Context, name: str) -> Sequence[Mapping[str, Any]] | None:
    """A ClusterRole's rules as the aggregation controller fills them; None when the role is unknown.

    Every part is collected (any path counts, and ``tierguard access`` shows them all). Offline the input's
    aggregated roles have no rules yet; live the controller has filled them, and adding the parts again also
    covers the moment before it has (a part and a binding applied together).
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
        if not selectors:
            continue
        if labels is None:
            labels = dict(context.cluster_role_labels())
            for builtin, (builtin_labels, _) in BUILTIN_AGGREGATION.items():
                labels.setdefault(builtin, builtin_labels)
        pending.extend(_parts(selectors, labels, seen))
    return collected if known else None


def _parts(selectors: Sequence[Mapping[str, Any]], labels: Mapping[str, Mapping[str, str]], seen: set[str]
           ) -> list[str]:
    """The ClusterRoles (not yet seen) whose labels some selector matches. Every part is collected now, so each
    binding of ``admin``, ``edit`` or ``view`` walks every ClusterRole's labels: a selector's first ``matchLabels``
    pair, a dict lookup in a comprehension, rules most of them out before the full match."""
    found: dict[str, None] = {}
    for selector in selectors:
        first = _first_label(selector)
        if first is None:
            candidates = [part for part in labels if part not in seen]
        else:
            key, value = first
            candidates = [part for part, part_labels in labels.items()
                          if part_labels.get(key) == value and part not in seen]
        found.update((part, None) for part in candidates if label_selector_matches(selector, labels[part]))
    return list(found)


def _first_label(selector: Mapping[str, Any]) -> tuple[str, str] | None:
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, Mapping) and match_labels:
        key, value = next(iter(match_labels.items()))
        return str(key), str(value)
    return None


def _describe(standing: Standing, binding: Candidate) -> str:
    if standing.everyone:
        return "every tier's subjects"
    return standing.tiers.describe(binding.policy.tiers)


def _through(paths: Sequence[Reach], where: str, role: str) -> str:
    """The first path (reach order) and the role; how many more paths the role has, if any."""
    more = len(paths) - 1
    others = f", and {more} more path{'s' if more > 1 else ''}" if more else ""
    return f"{paths[0].phrase(where)} ({role}{others})"


def _enforcing_tier(subject: SubjectTiers, binding: Candidate) -> str | None:
    """The subject's tier whose mode a cluster-wide finding takes: the strictest (a subject of a warned and an
    enforced tier is refused), the policy's first among equals."""
    tiers = [tier for tier in binding.policy.tiers if tier in subject.tiers]
    mode_for = binding.policy.enforcement.mode_for
    return min(tiers, key=lambda tier: _STRICTNESS[mode_for(tier)]) if tiers else None


def check(binding: Candidate) -> Iterator[Finding]:
    role_ref = mapping_at(binding.obj, "roleRef", "roleRef")
    role_kind = str_at(role_ref, "kind", "roleRef.kind", required=True)
    role_name = str_at(role_ref, "name", "roleRef.name", required=True)
    rules = binding.context.role_rules(role_kind, binding.namespace, role_name)
    if role_kind == "ClusterRole":
        rules = cluster_role_rules(binding.context, role_name)
    if rules is None:
        return
    paths = reach_of(rules)
    if not paths:
        return
    role = f"{role_kind} {role_name}"
    cluster_wide = binding.kind == "ClusterRoleBinding"
    policy = binding.policy
    for entry, path in mappings_at(binding.obj, "subjects", "subjects"):
        try:
            # tierguard's own namespace is exempt too: the Candidate knows it.
            subject, standing = binding_subject(entry, path, binding.namespace, policy=policy,
                                                tier_of=binding.tier_of, exempt=binding.is_exempt)
        except NoSubject:
            continue  # names no one RBAC matches (the API server refuses it, or a kind RBAC does not know)
        if not standing.crosses(cluster_wide=cluster_wide, tier=binding.tier, order=policy.tiers):
            continue
        if standing.everyone:
            scope = "every tier's Secrets" if cluster_wide else "its Secrets"
            where = "every namespace" if cluster_wide else str(binding.namespace)
            yield Finding(
                Rule.RBAC_CROSS_TIER_SUBJECT,
                f"{binding.ref}{_placed(binding)} lets {subject} (every tier's subjects) reach {scope}: "
                f"{_through(paths, where, role)}; bind a role that reaches no Secrets, or name subjects of "
                f"{'one tier' if cluster_wide else in_tier(binding.tier)}",
                path,
            )
        elif cluster_wide:
            yield Finding(
                Rule.RBAC_CROSS_TIER_SUBJECT,
                f"{binding.ref} lets {subject} ({_describe(standing, binding)}) reach every tier's Secrets: "
                f"{_through(paths, 'every namespace', role)}; use RoleBindings in namespaces of "
                f"{_describe(standing, binding)}",
                path,
                tier=_enforcing_tier(standing.tiers, binding),
            )
        else:
            yield Finding(
                Rule.RBAC_CROSS_TIER_SUBJECT,
                f"{binding.ref} ({in_tier(binding.tier)}) lets {subject} ({_describe(standing, binding)}) "
                f"reach its Secrets: {_through(paths, str(binding.namespace), role)}; bind only subjects of "
                f"{in_tier(binding.tier)}",
                path,
            )


def _placed(binding: Candidate) -> str:
    """`` (tier prod)`` after a RoleBinding's name; nothing for a ClusterRoleBinding."""
    return f" ({in_tier(binding.tier)})" if binding.kind == "RoleBinding" else ""


FAMILY = RuleFamily("rbac", KINDS, RULES, check, FACTS)
