"""From a TierPolicy, the ValidatingAdmissionPolicies and bindings that make the API server itself refuse what
needs no lookup of other objects. Pure: policy in, manifests (plain dicts) out; nothing here talks to a cluster.

Four families, each one policy and one binding per enforcement action that some tier uses:

- ``namespaces``: ``namespace-tier-unknown`` and ``namespace-tier-changed`` on Namespace CREATE/UPDATE. The
  binding selects no namespaces (for a Namespace request the API server matches a selector against the *new*
  labels, which would miss an UPDATE that removes the tier label); the policy's match condition picks the tier
  whose mode applies, as the engine does: the stored (old) object's tier, else the default mode.
- ``workloads``: ``sidecar-missing``, ``sidecar-injection-disabled`` (namespace injection and ``providedBy``
  labels through ``namespaceObject``) and ``workload-secret-cross-tier`` for the external secret paths a Pod or
  pod template names (Vault agent and Bank-Vaults annotations, ``vault:`` env values) that ``pathPatterns`` give
  another tier.
  The binding selects the tiers enforced with its action by their namespaces' tier label.
- ``posture`` (only when ``spec.namespaces.requiredLabels`` lists labels): ``namespace-security-missing`` for a
  tiered Namespace's labels on CREATE/UPDATE (an UPDATE only for the gaps it makes, as the engine). The binding
  selects nothing; the match condition picks the new tier's mode, as the engine does. A namespace being deleted
  is skipped. The rule's NetworkPolicy part needs a namespace's other NetworkPolicies: the webhook's alone.
- ``assignment`` (only when ``spec.subjects.perTier`` gives people tiers): ``namespace-tier-assignment`` from
  ``request.userInfo``, on Namespace CREATE/UPDATE and TierPolicy CREATE/UPDATE/DELETE (the webhook's operations:
  ``kinds.KindInfo.deletes``). Subjects' globs become RE2 regexes; ``system:masters``, ``platform`` names and
  ServiceAccounts of exempt namespaces act in every tier (match conditions, as the exemptions). People are decided
  fully. A Namespace request naming a ServiceAccount of another namespace is admitted and left to the webhook: the
  ServiceAccount's tier is that namespace's label, which CEL cannot look up. A TierPolicy change needs no tier
  (only "acts in every tier"), so it is decided fully. The policy's match condition picks the mode as the engine
  does: the assigned (new) tier's for a Namespace, the default mode for a TierPolicy. Its binding selects nothing.

Each policy has one validation whose message is the webhook's: ``[rule-id] message`` for each violation, joined
with ``"; "``, in the engine's order, so a request refused by both is refused with the same text. The API server
runs its policies before any webhook, so while tierguard runs the refusal a client sees for these rules is the
policy's, with the same text. Exempt namespaces (globs), tierguard's own namespace and break-glass requests are
match conditions: the API server skips them, as the engine does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tierguard.engine.evaluation import ACTION_BY_MODE
from tierguard.engine.model import Action, Rule
from tierguard.engine.podspec import CONTAINER_GROUPS, POD_SPEC_PATHS
from tierguard.engine.rules import assignment, namespaces, posture, sidecars, workloads
from tierguard.engine.rules.sidecars import NEVER_CAPTURED_WITH_HOST_NETWORK, NEVER_INJECTED_WITH_HOST_NETWORK
from tierguard.engine.subjects import EVERYONE, MASTERS, NAMELESS, SERVICE_ACCOUNT_USER, SERVICE_ACCOUNTS_GROUP
from tierguard.kinds import JUDGED, GroupKind, KindInfo
from tierguard.policy import RequiredSidecar, TierPolicy
from tierguard.vap import cel

API_VERSION = "admissionregistration.k8s.io/v1"
MANAGED_BY = {"app.kubernetes.io/managed-by": "tierguard"}
FAMILIES = ("namespaces", "workloads", "assignment", "posture")
ACTIONS: Mapping[Action, str] = {Action.DENY: "Deny", Action.WARN: "Warn", Action.AUDIT: "Audit"}
"""The engine's action -> the binding's validationAction."""

RULES: Mapping[str, tuple[Rule, ...]] = {
    "namespaces": tuple(f.rule for f in namespaces.FACTS),
    "workloads": tuple(f.rule for f in (*workloads.FACTS, *sidecars.FACTS)),
    "assignment": tuple(f.rule for f in assignment.FACTS),
    "posture": tuple(f.rule for f in posture.FACTS),
}
"""The rules each family's policy enforces, as their modules declare them (``workload-secret-cross-tier`` only
for external secret paths). Messages are the engine's: their fixed text comes from the same modules."""


@dataclass(frozen=True)
class Options:
    prefix: str = "tierguard"
    """Names are ``<prefix>-<family>-<action>`` (the chart passes its fullname; its RBAC names them all)."""
    own_namespace: str | None = None
    """tierguard's own namespace: always exempt, like the engine's."""
    failure_policy: str = "Ignore"
    """What the API server does when an expression cannot be evaluated, above all when an object is too large
    for the API server's CEL cost limit. Ignore: such an object is left to the webhook (which, under
    ``failurePolicy: Fail``, still refuses it while tierguard is down); Fail would refuse large legitimate
    workloads even while tierguard runs, since the policies are evaluated first."""
    owner: Mapping[str, str] | None = None
    """An ownerReference (apiVersion, kind, name, uid) put on every object, so the garbage collector removes them
    with the release (the chart's ClusterRole), never left enforcing after an uninstall."""


def managed_names(prefix: str) -> tuple[str, ...]:
    """Every name a generated policy or binding may have: what RBAC grants and what a sync may delete."""
    return tuple(f"{prefix}-{family}-{action.value}" for family in FAMILIES for action in ACTIONS)


def generate(policy: TierPolicy, options: Options = Options()) -> list[dict[str, Any]]:
    """The policies and bindings for ``policy``: each policy followed by its binding, families in order."""
    manifests: list[dict[str, Any]] = []
    for action in ACTIONS:
        tiers = tiers_with(policy, action)
        default_here = ACTION_BY_MODE[policy.enforcement.default] is action
        if tiers or default_here:
            manifests += _pair(policy, options, "namespaces", action, _namespaces_spec(policy, options, tiers,
                                                                                      default_here))
    if policy.required_sidecars or policy.secrets.path_patterns:
        for action in ACTIONS:
            tiers = tiers_with(policy, action)
            if tiers:
                selector = {"matchExpressions": [{"key": policy.tier_label, "operator": "In",
                                                  "values": list(tiers)}]}
                manifests += _pair(policy, options, "workloads", action, _workloads_spec(policy, options),
                                  selector=selector)
    if policy.subjects.configured:
        for action in ACTIONS:
            tiers = tiers_with(policy, action)
            default_here = ACTION_BY_MODE[policy.enforcement.default] is action
            if tiers or default_here:
                manifests += _pair(policy, options, "assignment", action,
                                   _assignment_spec(policy, options, tiers, default_here))
    if policy.namespaces.required_labels:
        for action in ACTIONS:
            tiers = tiers_with(policy, action)
            if tiers:
                manifests += _pair(policy, options, "posture", action, _posture_spec(policy, options, tiers))
    return manifests


def tiers_with(policy: TierPolicy, action: Action) -> tuple[str, ...]:
    """The tiers whose enforcement mode gives ``action``, in the policy's order."""
    return tuple(t for t in policy.tiers if ACTION_BY_MODE[policy.enforcement.mode_for(t)] is action)


def _pair(policy: TierPolicy, options: Options, family: str, action: Action, spec: dict[str, Any], *,
          selector: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    name = f"{options.prefix}-{family}-{action.value}"
    metadata: dict[str, Any] = {
        "name": name,
        "labels": {**MANAGED_BY, "tierguard.io/policy": policy.name, "tierguard.io/family": family},
        "annotations": {"tierguard.io/rules": ",".join(r.value for r in RULES[family])},
    }
    if options.owner is not None:
        metadata["ownerReferences"] = [{**options.owner, "blockOwnerDeletion": False, "controller": False}]
    binding_spec: dict[str, Any] = {
        "policyName": name,
        "validationActions": [ACTIONS[action]],
        "matchResources": {"namespaceSelector": dict(selector or {}), "objectSelector": {}},
    }
    return [
        {"apiVersion": API_VERSION, "kind": "ValidatingAdmissionPolicy", "metadata": metadata, "spec": spec},
        {"apiVersion": API_VERSION, "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {**metadata, "labels": dict(metadata["labels"])}, "spec": binding_spec},
    ]


def _resource_rules(kinds: Iterable[GroupKind]) -> list[dict[str, Any]]:
    rows: list[KindInfo] = sorted((i for i in JUDGED if i.key in set(kinds)), key=lambda i: (i.group, i.resource))
    by_group: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    for info in rows:
        # The webhook's operations (webhook/routes.py): DELETE too for a row that ``deletes`` (the TierPolicy).
        operations = ("CREATE", "UPDATE", "DELETE") if info.deletes else ("CREATE", "UPDATE")
        by_group.setdefault((info.group, info.version, operations), []).append(info.resource)
    return [{"apiGroups": [group], "apiVersions": [version], "resources": resources,
             "operations": list(operations)} for (group, version, operations), resources in by_group.items()]


def _spec(policy: TierPolicy, options: Options, kinds: Iterable[GroupKind], conditions: list[dict[str, str]],
          variables: list[dict[str, str]], *, break_glass: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "failurePolicy": options.failure_policy,
        "matchConstraints": {"resourceRules": _resource_rules(kinds), "namespaceSelector": {}, "objectSelector": {},
                             "matchPolicy": "Equivalent"},
        "matchConditions": [*conditions, *(_break_glass(policy) if break_glass is None else break_glass)],
        "variables": variables,
        "validations": [{
            "expression": "size(variables.violations) == 0",
            "messageExpression": "variables.violations.join('; ')",
            "reason": "Forbidden",
        }],
    }


def _exempt_globs(policy: TierPolicy, options: Options) -> list[str]:
    globs = list(policy.exemptions.namespaces)
    if options.own_namespace:
        globs.append(_escape_glob(options.own_namespace))
    return globs


def _escape_glob(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _break_glass(policy: TierPolicy) -> list[dict[str, str]]:
    """A member of a break-glass group who gives a reason is admitted by the webhook with a warning: skip."""
    test = _break_glass_test(policy, "object")
    return [] if test is None else [{"name": "not-break-glass", "expression": f"!({test})"}]


def _break_glass_test(policy: TierPolicy, subject: str) -> str | None:
    """CEL: ``subject`` (the object, or the old object of a DELETE) carries a reason and the requester may break
    glass; None when break-glass is off."""
    settings = policy.exemptions.break_glass
    if not settings.groups:
        return None
    key = cel.string(settings.annotation)
    annotations = f"{subject}.metadata.annotations"
    return (f"has({annotations}) && {key} in {annotations} && {annotations}[{key}].trim() != '' && "
            f"has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in {cel.strings(settings.groups)})")


# ---- namespaces -----------------------------------------------------------------------------------------------


def _namespaces_spec(policy: TierPolicy, options: Options, tiers: Sequence[str], default_here: bool
                     ) -> dict[str, Any]:
    label, known = cel.string(policy.tier_label), cel.strings(policy.tiers)
    old_labels = "(oldObject != null && has(oldObject.metadata.labels) ? oldObject.metadata.labels : {})"
    old_tier = f"({label} in {old_labels} && {old_labels}[{label}] in {known} ? {old_labels}[{label}] : '')"
    enforced = f"{old_tier} in {cel.strings(tiers)}" + (f" || {old_tier} == ''" if default_here else "")
    exempt = cel.any_glob("object.metadata.name", _exempt_globs(policy, options))
    conditions = [
        {"name": "not-exempt", "expression": f"!{exempt}"},
        {"name": "enforced-with-this-action", "expression": enforced},
    ]
    ref = "'Namespace ' + variables.name"
    not_a_tier = f", which is not one of the tiers ({', '.join(policy.tiers)}); {namespaces.FIX_UNKNOWN}"
    unknown = (f"variables.hasTier && !(variables.tier in {known}) ? '[{Rule.NAMESPACE_TIER_UNKNOWN}] ' + {ref} + "
               f"{cel.string(f' has tier label {policy.tier_label}=')} + {cel.py_repr('variables.tier')} + "
               f"{cel.string(not_a_tier)} : ''")
    changed = (f"variables.oldTier != '' && variables.tier != variables.oldTier ? '[{Rule.NAMESPACE_TIER_CHANGED}] ' "
               f"+ {ref} + (variables.tier != '' ? ' changes its tier from ' + variables.oldTier + ' to ' + "
               f"variables.tier : ' removes its tier ' + variables.oldTier) + "
               f"{cel.string('; ' + namespaces.TIER_IS_FIXED)} : ''")
    variables = [
        {"name": "name", "expression": _name_expression()},
        {"name": "labels", "expression": cel.str_map("object.metadata", "labels")},
        {"name": "hasTier", "expression": f"{label} in variables.labels"},
        {"name": "tier", "expression": f"variables.hasTier ? variables.labels[{label}] : ''"},
        {"name": "oldTier", "expression": old_tier},
        {"name": "violations", "expression": f"[{unknown}, {changed}].filter(m, m != '')"},
    ]
    return _spec(policy, options, namespaces.KINDS, conditions, variables)


def _name_expression(subject: str = "object") -> str:
    """CEL: the name messages give an object (``engine.objects.object_ref``: its name, else its generateName)."""
    return (f"has({subject}.metadata.name) && {subject}.metadata.name != '' ? {subject}.metadata.name : "
            f"(has({subject}.metadata.generateName) ? {subject}.metadata.generateName : '')")


# ---- assignment -----------------------------------------------------------------------------------------------

_USER = "(has(request.userInfo.username) ? request.userInfo.username : '')"
_GROUPS = "(has(request.userInfo.groups) ? request.userInfo.groups : [])"
_SERVICE_ACCOUNT_USER = f"^{re.escape(SERVICE_ACCOUNT_USER)}[^:]+:[^:]*$"
"""``subjects.service_account_namespace``: a user ``system:serviceaccount:<ns>:<name>`` (four parts, a namespace)."""


def _service_account_group(group: str) -> str:
    """CEL: the group names a ServiceAccount namespace (``system:serviceaccounts:<ns>``, ``<ns>`` not empty)."""
    prefix = SERVICE_ACCOUNTS_GROUP
    return f"({group}.startsWith({cel.string(prefix)}) && size({group}) > {len(prefix)})"


def _acts_in_every_tier(policy: TierPolicy, options: Options) -> str:
    """CEL: ``subjects.requester_tiers(...).every`` from ``request.userInfo`` alone: ``system:masters``, a
    ``platform`` user or group, a ServiceAccount (user or group) of an exempt namespace. The groups every requester
    holds (``system:authenticated``, ...) count for nothing, as there."""
    platform, exempt = policy.subjects.platform, _exempt_globs(policy, options)
    user, groups = _USER, f"{_GROUPS}.filter(g, !(g in {cel.strings(sorted(EVERYONE))}))"
    account_namespace = f"{user}.split(':')[2]"
    group_namespace = f"g.substring({len(SERVICE_ACCOUNTS_GROUP)})"
    tests = [
        f"{cel.string(MASTERS)} in {_GROUPS}",
        f"({user} != '' && {cel.any_glob(user, platform.users)})",
        f"({user}.matches({cel.string(_SERVICE_ACCOUNT_USER)}) && {cel.any_glob(account_namespace, exempt)})",
        f"{groups}.exists(g, {cel.any_glob('g', platform.groups)} || ({_service_account_group('g')} && "
        f"{cel.any_glob(group_namespace, exempt)}))",
    ]
    return " || ".join(tests)


def _person_tiers(policy: TierPolicy) -> str:
    """CEL: the tiers ``spec.subjects.perTier`` gives the requester's user and groups, in the policy's order
    (``SubjectTiers.describe``'s); only for requests that name no ServiceAccount, whose tier CEL cannot know."""
    entries = []
    for tier in policy.tiers:
        names = policy.subjects.per_tier.get(tier)
        if names is None:
            continue
        tests = []
        if names.users:
            tests.append(f"(variables.username != '' && {cel.any_glob('variables.username', names.users)})")
        if names.groups:
            tests.append(f"variables.personGroups.exists(g, {cel.any_glob('g', names.groups)})")
        if tests:
            entries.append(f"({' || '.join(tests)}) ? {cel.string(tier)} : ''")
    return f"[{', '.join(entries)}].filter(t, t != '')"


def _assignment_spec(policy: TierPolicy, options: Options, tiers: Sequence[str], default_here: bool
                     ) -> dict[str, Any]:
    """``namespace-tier-assignment`` (``engine/rules/assignment.py``), with the engine's messages.

    Namespaces: decided for people; a request naming a ServiceAccount (user or group) is admitted here and left to
    the webhook (its tier is its namespace's label, which CEL cannot look up; one of an exempt namespace acts in
    every tier anyway). TierPolicies: decided fully, DELETE included. The mode: the assigned tier's for a
    Namespace (its binding's action), the default mode's for a TierPolicy.
    """
    label, known = cel.string(policy.tier_label), cel.strings(policy.tiers)
    new_labels = cel.str_map("object.metadata", "labels")
    new_tier = f"({label} in {new_labels} ? {new_labels}[{label}] : '')"
    exempt = cel.any_glob("object.metadata.name", _exempt_globs(policy, options))
    names_account = (f"{_USER}.matches({cel.string(_SERVICE_ACCOUNT_USER)}) || "
                     f"{_GROUPS}.exists(g, {_service_account_group('g')})")
    conditions = [
        {"name": "not-exempt", "expression": f"request.kind.kind != 'Namespace' || !{exempt}"},
        {"name": "enforced-with-this-action", "expression":
         f"request.kind.kind == 'Namespace' ? {new_tier} in {cel.strings(tiers)} : {str(default_here).lower()}"},
        {"name": "not-every-tier", "expression": f"!({_acts_in_every_tier(policy, options)})"},
        {"name": "namespace-not-by-a-serviceaccount", "expression":
         f"request.kind.kind != 'Namespace' || !({names_account})"},
    ]
    glass = _break_glass_test(policy, "oldObject"), _break_glass_test(policy, "object")
    break_glass = [] if glass[0] is None else [{"name": "not-break-glass", "expression":
                                                f"!(request.operation == 'DELETE' ? ({glass[0]}) : ({glass[1]}))"}]
    old_labels = "(oldObject != null && has(oldObject.metadata.labels) ? oldObject.metadata.labels : {})"
    requester = f"(variables.username != '' ? 'user ' + variables.username : {cel.quoted(NAMELESS)})"
    described = ("(size(variables.tiers) == 0 ? 'no tier' : size(variables.tiers) == 1 ? 'tier ' + variables.tiers[0]"
                 " : 'tiers ' + variables.tiers.join(', '))")
    how = ("(request.operation == 'UPDATE' && oldObject != null ? ' is labelled tier ' : ' is created in tier ')")
    namespace = (f"variables.tier != '' && variables.oldTier == '' && !(variables.tier in variables.tiers) ? "
                 f"'[{Rule.NAMESPACE_TIER_ASSIGNMENT}] Namespace ' + variables.name + {how} + variables.tier + ' by ' "
                 f"+ {requester} + ', who is in ' + {described} + "
                 f"{cel.string('; ' + assignment.NAMESPACE_ADVICE)} : ''")
    verbs = assignment.POLICY_VERBS
    verb = (f"(request.operation == 'CREATE' ? {cel.quoted(verbs['CREATE'])} : request.operation == 'DELETE' ? "
            f"{cel.quoted(verbs['DELETE'])} : {cel.quoted(verbs['UPDATE'])})")
    spec_changed = ("request.operation != 'UPDATE' || has(object.spec) != has(oldObject.spec) || "
                    "(has(object.spec) && object.spec != oldObject.spec)")
    tier_policy = (f"{spec_changed} ? '[{Rule.NAMESPACE_TIER_ASSIGNMENT}] TierPolicy ' + variables.name + ' is ' + "
                   f"{verb} + ' by ' + {requester} + "
                   f"{cel.string(', ' + assignment.EVERY_TIER + '; ' + assignment.POLICY_ADVICE)} : ''")
    variables = [
        # A DELETE's object is the stored one (``oldObject``), as the engine judges it.
        {"name": "stored", "expression": "request.operation == 'DELETE' ? oldObject : object"},
        {"name": "name", "expression": _name_expression("variables.stored")},
        {"name": "username", "expression": _USER},
        {"name": "personGroups", "expression": f"{_GROUPS}.filter(g, !(g in {cel.strings(sorted(EVERYONE))}))"},
        {"name": "tiers", "expression": _person_tiers(policy)},
        {"name": "tier", "expression": f"request.kind.kind == 'Namespace' && {new_tier} in {known} ? {new_tier} : ''"},
        {"name": "oldTier", "expression": f"({label} in {old_labels} && {old_labels}[{label}] in {known} ? "
                                          f"{old_labels}[{label}] : '')"},
        {"name": "violations", "expression":
         f"[request.kind.kind == 'Namespace' ? ({namespace}) : ({tier_policy})].filter(m, m != '')"},
    ]
    return _spec(policy, options, assignment.KINDS, conditions, variables, break_glass=break_glass)


# ---- workloads ------------------------------------------------------------------------------------------------


def _by_kind(values: Mapping[str, str]) -> str:
    """CEL choosing a literal by the request's kind (Pod, CronJob, the other templates)."""
    return (f"request.kind.kind == 'Pod' ? {cel.string(values['Pod'])} : request.kind.kind == 'CronJob' ? "
            f"{cel.string(values['CronJob'])} : {cel.string(values['Deployment'])}")


def _paths(kind: str) -> tuple[str, str]:
    """(pod spec path, pod metadata path) as the engine's messages write them."""
    base = ".".join(POD_SPEC_PATHS[kind])
    return (f"{base}.spec" if base else "spec", f"{base}.metadata" if base else "metadata")


def _workloads_spec(policy: TierPolicy, options: Options) -> dict[str, Any]:
    kinds = sidecars.KINDS & workloads.KINDS
    label = cel.string(policy.tier_label)
    pod = ("request.kind.kind == 'Pod' ? object : request.kind.kind == 'CronJob' ? "
           "object.spec.jobTemplate.spec.template : object.spec.template")
    variables = [
        {"name": "pod", "expression": pod},
        {"name": "specPath", "expression": _by_kind({k: _paths(k)[0] for k in ("Pod", "CronJob", "Deployment")})},
        {"name": "metaPath", "expression": _by_kind({k: _paths(k)[1] for k in ("Pod", "CronJob", "Deployment")})},
        {"name": "labels", "expression": "has(variables.pod.metadata) && has(variables.pod.metadata.labels) ? "
                                         "variables.pod.metadata.labels : {}"},
        {"name": "annotations", "expression": "has(variables.pod.metadata) && has(variables.pod.metadata.annotations)"
                                              " ? variables.pod.metadata.annotations : {}"},
        {"name": "spec", "expression": "variables.pod.spec"},
        *({"name": group, "expression": f"has(variables.spec.{group}) ? variables.spec.{group} : []"}
          for group in CONTAINER_GROUPS),
        {"name": "hostNetwork", "expression": "has(variables.spec.hostNetwork) && variables.spec.hostNetwork"},
        {"name": "nsLabels", "expression": "namespaceObject != null && has(namespaceObject.metadata.labels) ? "
                                           "namespaceObject.metadata.labels : {}"},
        {"name": "nsAnnotations", "expression": "namespaceObject != null && has(namespaceObject.metadata.annotations)"
                                                " ? namespaceObject.metadata.annotations : {}"},
        {"name": "tier", "expression": f"{label} in variables.nsLabels ? variables.nsLabels[{label}] : ''"},
        {"name": "ref", "expression": f"request.kind.kind + ' ' + request.namespace + '/' + ({_name_expression()})"},
        {"name": "isTemplate", "expression": "request.kind.kind != 'Pod'"},
    ]
    parts = []
    if policy.secrets.path_patterns:
        variables += _path_variables(policy)
        parts.append("variables.pathViolations")
    if policy.required_sidecars:
        sidecar_checks = ", ".join(_sidecar(s) for s in policy.required_sidecars)
        variables.append({"name": "sidecarViolations", "expression": f"[{sidecar_checks}].filter(m, m != '')"})
        parts.append("variables.sidecarViolations")
    variables.append({"name": "violations", "expression": " + ".join(parts)})
    conditions = [{"name": "not-exempt",
                   "expression": f"!{cel.any_glob('request.namespace', _exempt_globs(policy, options))}"}]
    return _spec(policy, options, kinds, conditions, variables)


VAULT = workloads.VAULT
BANK_VAULTS = workloads.BANK_VAULTS
_TEMPLATE_SECRET = r"""secret\s+["`][^"`]+["`]"""
"""``workloads._TEMPLATE_SECRET`` without its group (RE2's findAll returns whole matches)."""


def _path_variables(policy: TierPolicy) -> list[dict[str, str]]:
    """The secret paths a pod names, each judged against ``pathPatterns`` as ``workloads._path_findings`` does:
    annotations in key order (the order of the JSON the webhook receives), then env values of every container."""
    patterns = "{" + ", ".join(f"{cel.string(t)}: {cel.strings(cel.glob_regex(p.lstrip('/')) for p in globs)}"
                               for t, globs in policy.secrets.path_patterns.items()) + "}"
    owners = f"{cel.strings(policy.secrets.path_patterns)}.filter(t, {patterns}[t].exists(r, n.matches(r)))"
    message = (f"'[{Rule.WORKLOAD_SECRET_CROSS_TIER}] ' + variables.ref + ' (tier ' + variables.tier + ') names secret "
               f"path ' + {cel.py_repr('p[0].trim()')} + ' in ' + p[1] + ', which belongs to tier ' + o.join(', ') + "
               f"'; use a path of tier ' + variables.tier")
    normalized = "[p[0].trim()].map(t, t.startsWith('/') ? t.substring(size(t.find('^/+'))) : t)[0]"
    judge = (f"[{normalized}].map(n, [{owners}].map(o, size(o) > 0 && !(variables.tier in o) ? {message} : '')[0])"
             f"[0]")
    secret_keys = (f"k.startsWith({cel.string(VAULT + 'agent-inject-secret-')}) || k == {cel.string(VAULT + 'role')} "
                   f"|| k == {cel.string(BANK_VAULTS + 'vault-role')}")
    template = cel.string(VAULT + "agent-inject-template-")
    env_from = cel.string(BANK_VAULTS + "vault-env-from-path")
    field = "variables.metaPath + '.annotations[' + k + ']'"
    annotation_paths = (
        f"({secret_keys}) ? [[string(variables.annotations[k]), {field}]] : "
        f"k.startsWith({template}) ? variables.annotations[k].findAll({cel.string(_TEMPLATE_SECRET)})"
        f".map(m, [m.substring(6).trim()].map(q, [string(q.substring(1, size(q) - 1)), {field}])[0]) : "
        f"variables.annotations[k].split(',').map(item, [string(item), {field}])"
    )
    keys = (f"variables.annotations.filter(k, {secret_keys} || k.startsWith({template}) || k == {env_from})")
    env = " + ".join(
        f"variables.{group}.transformList(ci, c, has(c.env) ? c.env.transformList(ei, e, has(e.value) && "
        f"e.value.matches('^(>>)?vault:[^#]') ? [[string([e.value.substring(e.value.startsWith('>>') ? 8 : 6)].map(r, "
        f"r.indexOf('#') >= 0 ? r.substring(0, r.indexOf('#')) : r)[0]), variables.specPath + '.{group}[' + "
        f"string(ci) + '].env[' + string(ei) + '].value']].map(p, {judge})[0] : '').filter(m, m != '').join('; ') "
        f": '')" for group in CONTAINER_GROUPS)
    return [
        {"name": "pathKeys", "expression": keys},
        # [key, its violations] for the keys with some: judged unordered, then only these few are sorted.
        {"name": "keyViolations", "expression": f"variables.pathKeys.map(k, [string(k), ({annotation_paths}).map(p, "
                                                f"{judge}).filter(m, m != '').join('; ')]).filter(x, x[1] != '')"},
        # Sorted by key without sort() (CEL lists gained it only in Kubernetes 1.34): the i-th has i smaller keys.
        {"name": "pathViolations", "expression":
         f"(variables.keyViolations.transformList(i, x, variables.keyViolations.filter(y, variables.keyViolations"
         f".filter(z, z[0] < y[0]).size() == i)[0][1]) + {env}).filter(m, m != '')"},
    ]


def _sidecar(sidecar: RequiredSidecar) -> str:
    """CEL giving the sidecar's violation message, or '' (``sidecars.check`` for one required sidecar)."""
    name = cel.string(sidecar.name)
    shown = repr(sidecar.name)
    image = ("true" if not sidecar.image else
             f"(has(c.image) && c.image.matches({cel.string(cel.glob_regex(sidecar.image))}))")
    present = (f"variables.containers.exists(c, c.name == {name} && {image}) || variables.initContainers.exists(c, "
               f"c.name == {name} && has(c.restartPolicy) && c.restartPolicy == 'Always' && {image})")
    disabled = _disabled(sidecar, name, image)
    injected = _injected(sidecar)
    runs_image = (f"{cel.string(f'container {shown} runs image ')} + (has(c.image) ? {cel.py_repr('c.image')} : "
                  f"'None') + {cel.string(f', which does not match {sidecar.image!r}')}")
    plain_init = cel.string(f"container {shown} {sidecars.PLAIN_INIT}")
    if sidecar.injection is None:
        absent = cel.string(sidecars.NO_CONTAINER)
    else:
        never = sidecar.name in NEVER_INJECTED_WITH_HOST_NETWORK
        host = f"variables.hostNetwork ? {cel.quoted(sidecars.HOST_NETWORK)} : " if never else ""
        alternatives = sidecars.would(sidecars.injection_alternatives(sidecar.injection))
        on_pod = cel.quoted(sidecars.NO_CONTAINER)
        if alternatives:  # a Pod nothing asks the injector for: what would have (``sidecars._missing_message``)
            on_pod = (f"({'variables.hostNetwork || ' if never else ''}{_asks_for_injection(sidecar)} ? {on_pod} : "
                      f"{cel.quoted(sidecars.NO_CONTAINER + sidecars.NOT_ASKED + alternatives)})")
        absent = (f"(variables.isTemplate ? ({host}{cel.quoted(sidecars.NOT_INJECTED + alternatives)}) : "
                  f"{on_pod})")
    not_provided = _not_provided(sidecar)
    if not_provided:
        absent = f"{absent} + {not_provided}"
    detail = (f"(variables.containers.exists(c, c.name == {name}) ? variables.containers.filter(c, c.name == {name})"
              f".map(c, {runs_image})[0] : variables.initContainers.exists(c, c.name == {name}) ? "
              f"variables.initContainers.filter(c, c.name == {name}).map(c, has(c.restartPolicy) && "
              f"c.restartPolicy == 'Always' ? {runs_image} : {plain_init})[0] : {absent})")
    missing = (f"!({present}) && !({injected}) && !({_provided(sidecar)}) ? '[{Rule.SIDECAR_MISSING}] ' + "
               f"variables.ref + {cel.string(f' lacks required sidecar {shown}: ')} + {detail} : ''")
    return f"[{disabled}].map(d, d != '' ? d : ({missing}))[0]"


def _disabled(sidecar: RequiredSidecar, name: str, image: str) -> str:
    """CEL giving the ``sidecar-injection-disabled`` message, or '' (``sidecars._disabled_by``): the match named,
    unless the pod is the sidecar."""
    if sidecar.injection is None:
        return "''"
    off = sidecar.injection.disabled_by
    matches = [(cel.map_has("variables.labels", k, v), sidecars.switches_off(sidecar, k, v, "label"), "label",
                sidecars.opts_out(sidecar, k, "label")) for k, v in off.pod_labels.items()]
    matches += [(cel.map_has("variables.annotations", k, v), sidecars.switches_off(sidecar, k, v, "annotation"),
                 "annotation", False) for k, v in off.pod_annotations.items()]
    if not matches:
        return "''"

    def chain(ordered: list[tuple[str, str, str, bool]]) -> str:
        named = "''"
        for test, does, what, _ in reversed(ordered):
            text = cel.string(f" {does}; {sidecars.MUST_RUN} {what}")
            named = f"{test} ? '[{Rule.SIDECAR_INJECTION_DISABLED}] ' + variables.ref + {text} : {named}"
        return named

    opt_outs = [m for m in matches if m[3]]
    provider = _provided(sidecar)
    the_sidecar = f"size(variables.containers) == 1 && variables.containers.all(c, c.name == {name} && {image})"
    named = chain(matches)
    if provider != "false" and opt_outs:
        named = f"({provider}) ? ({chain(opt_outs + [m for m in matches if not m[3]])}) : ({named})"
    return f"({the_sidecar}) ? '' : ({named})"


def _provided_labels(sidecar: RequiredSidecar) -> list[tuple[str, str, str]]:
    """(CEL test, its label's phrase, its key) for each ``providedBy`` label, pod labels first, as
    ``sidecars._carried`` lists them."""
    provided = sidecar.provided_by
    if provided is None:
        return []
    return ([(cel.map_has("variables.labels", k, v), f"pod label {k}={v}", k) for k, v in provided.pod_labels.items()]
            + [(cel.map_has("variables.nsLabels", k, v), f"namespace label {k}={v}", k)
               for k, v in provided.namespace_labels.items()])


def _provided(sidecar: RequiredSidecar) -> str:
    """CEL: a ``providedBy`` label provides the service to this pod or template (``sidecars._provider``); a
    hostNetwork pod is not captured by Istio ambient's label."""
    tests = [f"(!variables.hostNetwork && {test})" if key in NEVER_CAPTURED_WITH_HOST_NETWORK else test
             for test, _, key in _provided_labels(sidecar)]
    return " || ".join(tests) if tests else "false"


def _not_provided(sidecar: RequiredSidecar) -> str:
    """CEL: why no ``providedBy`` label provides it (``sidecars._not_provided``), asked only when none does: a
    carried label was skipped for hostNetwork, else none is carried. '' without ``providedBy`` labels."""
    labels = _provided_labels(sidecar)
    if sidecar.provided_by is None or not labels:
        return ""
    none = cel.string(f"{sidecars.NOT_PROVIDED} ({sidecars.provided_alternatives(sidecar.provided_by)} would)")
    for test, phrase, _ in reversed(labels):
        none = f"{test} ? {cel.string(f'; {phrase} {sidecars.HOST_NETWORK_NOT_CAPTURED}')} : {none}"
    return f"({none})"


def _injected(sidecar: RequiredSidecar) -> str:
    """CEL: a template whose sidecar the mesh's injector will add (``sidecars._will_be_injected``)."""
    asks = _asks_for_injection(sidecar)
    if asks == "false":
        return "false"
    host = "!variables.hostNetwork && " if sidecar.name in NEVER_INJECTED_WITH_HOST_NETWORK else ""
    return f"variables.isTemplate && {host}{asks}"


def _asks_for_injection(sidecar: RequiredSidecar) -> str:
    """CEL: a namespace or pod label or annotation of ``injection`` is there (``sidecars._asks_for_injection``)."""
    injection = sidecar.injection
    if injection is None:
        return "false"
    asks = [cel.map_has("variables.labels", k, v) for k, v in injection.pod_labels.items()]
    asks += [cel.map_has("variables.annotations", k, v) for k, v in injection.pod_annotations.items()]
    asks += [cel.map_has("variables.nsLabels", k, v) for k, v in injection.namespace_labels.items()]
    asks += [cel.map_has("variables.nsAnnotations", k, v) for k, v in injection.namespace_annotations.items()]
    return f"({' || '.join(asks)})" if asks else "false"


# ---- posture --------------------------------------------------------------------------------------------------


def _posture_spec(policy: TierPolicy, options: Options, tiers: Sequence[str]) -> dict[str, Any]:
    """``namespace-security-missing``'s labels (``engine/rules/posture.py``), with the engine's messages: one per
    required label a tiered Namespace lacks or holds with a value not listed; an UPDATE only for the gaps it
    makes (a label the namespace lacked in its tier, left as it was, is admitted). Enforced with the new tier's
    mode (this binding's action); exempt and terminating namespaces are skipped."""
    label, known = cel.string(policy.tier_label), cel.strings(policy.tiers)
    exempt = cel.any_glob("object.metadata.name", _exempt_globs(policy, options))
    new_labels = cel.str_map("object.metadata", "labels")
    conditions = [
        {"name": "not-exempt", "expression": f"!{exempt}"},
        {"name": "not-terminating", "expression": "!has(object.metadata.deletionTimestamp)"},
        {"name": "enforced-with-this-action", "expression":
         f"{label} in {new_labels} && {new_labels}[{label}] in {cel.strings(tiers)}"},
    ]
    old_labels = ("(request.operation == 'UPDATE' && oldObject != null && has(oldObject.metadata.labels) ? "
                  "oldObject.metadata.labels : {})")
    prefix = f"'[{Rule.NAMESPACE_SECURITY_MISSING}] Namespace ' + variables.name + ' (tier ' + variables.tier + '): '"
    checks = []
    for key, wanted in policy.namespaces.required_labels.items():
        name = cel.string(key)
        wanted_text = f"one of {', '.join(wanted)}" if wanted else "any value"
        missing = cel.string(f"label {key} is missing (wanted: {wanted_text}); {posture.LABEL_FIX}")
        value = f"variables.labels[{name}]"
        unlisted = (f"{cel.string(f'label {key} is ')} + {cel.py_repr(value)} + "
                    f"{cel.string(f', not {wanted_text}; {posture.LABEL_FIX}')}")
        gap = f"!({name} in variables.labels)" + (f" || !({value} in {cel.strings(wanted)})" if wanted else "")
        # The engine's ``old_labels.get(label) == gap.actual``: absent in both, or the same value.
        kept = (f"variables.wasTiered && ({name} in variables.oldLabels) == ({name} in variables.labels) && "
                f"(!({name} in variables.labels) || variables.oldLabels[{name}] == {value})")
        checks.append(f"({gap}) && !({kept}) ? {prefix} + (!({name} in variables.labels) ? {missing} : "
                      f"{unlisted}) : ''")
    variables = [
        {"name": "name", "expression": _name_expression()},
        {"name": "labels", "expression": new_labels},
        {"name": "tier", "expression": f"variables.labels[{label}]"},
        {"name": "oldLabels", "expression": old_labels},
        {"name": "wasTiered", "expression": f"{label} in variables.oldLabels && "
                                            f"variables.oldLabels[{label}] in {known}"},
        {"name": "violations", "expression": f"[{', '.join(checks)}].filter(m, m != '')"},
    ]
    return _spec(policy, options, namespaces.KINDS, conditions, variables)  # the Namespace row of posture.KINDS
