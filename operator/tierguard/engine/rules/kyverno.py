"""Kyverno: generate policies that copy a Secret from one tier's namespace into namespaces of another.

Reported as ``secret-replication-cross-tier`` (the rule's facts live in ``replication.py``). What Kyverno does,
from its own source (kyverno/kyverno: ``api/kyverno/v1/common_types.go``, ``pkg/engine/utils/match.go``) and
docs (``policy-types/cluster-policy/generate``, ``policy-types/generating-policy``):

- A ``ClusterPolicy`` (``kyverno.io``) rule whose ``generate`` (or ``generate.foreach[]``) has ``kind: Secret``
  with ``clone: {namespace, name}``, or ``cloneList: {namespace, kinds: [v1/Secret], selector}``, copies that
  namespace's Secret(s) into ``generate.namespace``. The target namespace is read statically when it is a plain
  name, ``{{request.object.metadata.name}}`` of a rule matching ``Namespace`` (the namespaces ``match`` selects
  by ``name``/``names``/``namespaces`` wildcards and ``selector``; ``namespaceSelector`` never matches a
  Namespace), or ``{{request.object.metadata.namespace}}`` of a rule matching namespaced kinds (``namespaces``
  and ``namespaceSelector``). ``match.any`` adds up, ``match.all`` narrows, ``exclude`` takes away what it
  excludes whatever the request (its filters about users or operations exclude nothing here).
- A rule generating a ``kind: Secret`` from templated ``data`` copies what its ``context`` reads with ``apiCall``
  from Secrets (``kyverno_reads.py``): from a plain namespace, judged as a clone from there; from the trigger's
  namespace into a plain one (kyverno/policies' ``argo-cluster-generation-from-rancher-capi``), each tier the
  rule's match selects other than the target's; so is a ``clone``/``cloneList`` from the trigger's namespace
  into a plain one, and a GeneratingPolicy's ``resource.Get``/``List`` of Secrets in ``object.metadata.namespace``
  applied into a string literal (the trigger namespaces its ``namespaceSelector`` selects).
- A ``GeneratingPolicy`` (``policies.kyverno.io``, 1.15+) reads its source in CEL: a literal
  ``resource.Get("v1", "secrets", "<namespace>", "<name>")`` or ``resource.List("v1", "secrets",
  "<namespace>")`` (or 1.18's camelCase ``resource.get``/``resource.list``/``generator.apply``) in a variable or
  generate expression, written by ``generator.Apply(<target>, ...)`` into
  ``object.metadata.name`` of a Namespace trigger (``matchConstraints`` on ``namespaces``: its
  ``namespaceSelector`` and ``objectSelector`` both select on the Namespace's own labels, ``resourceNames``
  narrow it), ``object.metadata.namespace`` of a namespaced trigger (``namespaceSelector``), or a string
  literal. A ``generate[].template`` (1.19) with ``interpolate: cel`` reads the same calls in its ``(( ... ))``
  placeholders and writes into each rendered resource's ``metadata.namespace`` (a plain name, or a placeholder
  of the forms above). Anything else (a computed namespace, ``matchConditions``) is CEL that tierguard does not
  evaluate: not judged (docs/rules.md).

The namespaces reached are the known ones the match selects, and any new namespace of a tier (or untiered) that
it would select by labels alone (an unrestricted match: every namespace). Each tier reached other than the
source's is one finding, enforced in that tier (a copy into untiered namespaces: in the source's tier); a
Secret cloned by name that carries the shareable labels is not judged (its copies keep them). A
``NamespacedGeneratingPolicy`` generates only into its own namespace (Kyverno refuses a namespace argument to
``generator.Apply`` and a template resource of another namespace); a ``resource.Get``/``List`` of its naming
another tier's namespace is refused (current Kyverno compiles them against the policy's own namespace only,
kyverno/sdk ``extensions/cel/libs/resource/lib.go`` ``namespacedEnv``, so it rejects such a policy too). A
namespaced Kyverno ``Policy`` may neither clone from nor generate into another namespace (Kyverno refuses it),
so it is not judged.

Refused: kyverno/policies' ``sync-secrets`` when ``default`` is in ``dev`` (every new namespace gets its
``regcred``). Allowed: the same rule matching only Namespaces labelled ``tierguard.io/tier: dev``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import yaml

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Malformed, Rule, in_tier
from tierguard.engine.objects import list_at, mapping_at, mappings_at, str_at
from tierguard.engine.rules import RuleFacts, RuleFamily
from tierguard.engine.rules.kyverno_reads import (
    TRIGGER_NAMESPACE,
    TRIGGER_NAMESPACE_VARIABLE,
    SecretRead,
    secret_reads,
    trigger_clone,
    writes_read_values,
)
from tierguard.engine.secrets import is_shareable, secret_ref
from tierguard.engine.selectors import label_selector_matches
from tierguard.kinds import group_kinds

FACTS: tuple[RuleFacts, ...] = ()
"""It owns no rule id: what it finds is ``secret-replication-cross-tier`` (``replication.py``)."""
RULES = frozenset({Rule.SECRET_REPLICATION_CROSS_TIER, Rule.POLICY_INVALID})
KINDS = group_kinds("ClusterPolicy", "GeneratingPolicy", "NamespacedGeneratingPolicy")

Reach = Callable[[str, Mapping[str, str]], bool]
"""Whether a namespace (name, labels) is one the policy generates into."""
FilterTest = Callable[[Mapping[str, Any], str, Mapping[str, str]], bool]
"""Whether one of a rule's resource filters (``match.any[]``...) holds for a namespace (name, labels)."""

UNKNOWN_NAME = ""
"""The name a namespace not yet created is judged with: only an unrestricted name pattern (``*``) matches it."""

_TRIGGER_NAME = re.compile(r"\{\{\s*request\.object\.metadata\.name\s*\}\}")
# Kyverno 1.18 adds camelCase names (get, list, apply) beside the PascalCase ones (kyverno/sdk
# extensions/cel/libs/resource/lib.go, generator/lib.go); its own conformance tests use both.
_CEL_SECRETS_CALL = (r"""resource\.(?P<call>[Gg]et|[Ll]ist)\(\s*(?P<q>["'])v1(?P=q)\s*,\s*"""
                     r"""(?P<q2>["'])secrets(?P=q2)\s*,\s*""")
"""``resource.Get``/``List`` of Secrets up to the namespace argument."""
_CEL_NAME_ARGUMENT = r"""(?:\s*,\s*(?P<q4>["'])(?P<name>[^"']*)(?P=q4))?"""
_CEL_SECRET = re.compile(_CEL_SECRETS_CALL + r"""(?P<q3>["'])(?P<namespace>[^"']*)(?P=q3)""" + _CEL_NAME_ARGUMENT)
_CEL_TRIGGER_SECRET = re.compile(_CEL_SECRETS_CALL + r"(?:object|oldObject)\.metadata\.namespace" + _CEL_NAME_ARGUMENT)
"""A read of a Secret in the trigger's own namespace."""
_CEL_APPLY = re.compile(r"generator\.[Aa]pply\(\s*(?P<target>[^,()]+?)\s*,")
_CEL_LITERAL = re.compile(r"""^(["'])(?P<value>[a-z0-9]([-a-z0-9]*[a-z0-9])?)\1$""")
_CEL_VARIABLE = re.compile(r"^variables\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")
_TRIGGER_NAMESPACES = ("object.metadata.namespace", "oldObject.metadata.namespace", "namespaceObject.metadata.name")
"""CEL naming a namespaced trigger's namespace (``oldObject`` on DELETE, ``namespaceObject`` the Namespace itself)."""
_PLACEHOLDER = re.compile(r"\(\((?P<expr>.*?)\)\)", re.DOTALL)
"""A CEL placeholder of a ``generate[].template`` with ``interpolate: cel``."""
_SET_ASIDE = re.compile(r"__tierguard_cel_(?P<index>[0-9]+)__")


@dataclass(frozen=True)
class Source:
    """The Secret(s) a rule copies: their namespace, what the message calls them, the field naming them."""

    namespace: str
    shown: str
    path: str
    name: str = ""


def check(subject: Candidate) -> Iterator[Finding]:
    spec = mapping_at(subject.obj, "spec", "spec")
    if subject.kind == "ClusterPolicy":
        yield from _cluster_policy(subject, spec)
    else:
        yield from _generating_policy(subject, spec)


# --- ClusterPolicy --------------------------------------------------------------------------------------------

def _cluster_policy(subject: Candidate, spec: Mapping[str, Any]) -> Iterator[Finding]:
    for rule, path in mappings_at(spec, "rules", "spec.rules"):
        generate = mapping_at(rule, "generate", f"{path}.generate")
        if not generate:
            continue
        label = f"rule {str_at(rule, 'name', f'{path}.name')!r}"
        patterns = [(generate, f"{path}.generate"), *mappings_at(generate, "foreach", f"{path}.generate.foreach")]
        for pattern, at in patterns:
            target = str_at(pattern, "namespace", f"{at}.namespace") or str_at(generate, "namespace",
                                                                               f"{path}.generate.namespace")
            source = _cloned(pattern, generate, at)
            sources = [source] if source is not None else []
            gathered: list[SecretRead] = []
            cloned_here = trigger_clone(pattern, generate, at) if source is None else None
            if cloned_here is not None and _plain(target):
                gathered.append(cloned_here)
            elif source is None and writes_read_values(pattern, generate):
                for read in secret_reads(rule, path, pattern, at):
                    if read.namespace != TRIGGER_NAMESPACE:
                        shown = (f"values of Secret {read.namespace}/{read.name}" if read.name
                                 else f"values of the Secrets of {read.namespace}")
                        sources.append(Source(read.namespace, f"{shown} ({read.via})", read.path,
                                              read.name))
                    elif _plain(target):
                        gathered.append(read)
            reach = _rule_reach(rule, path, target) if sources else None
            if reach is not None:
                for found in sources:
                    yield from _copy_findings(subject, label, found, reach, _plain(target))
            if gathered:
                triggers = _matched(rule, path, _namespaced_trigger)
                for read in gathered:
                    yield from _gather_findings(subject, f"{subject.ref} ({label})", triggers, read, target)


def _gather_findings(subject: Candidate, head: str, triggers: Reach, read: SecretRead,
                     target: str) -> Iterator[Finding]:
    """A policy reading a Secret in each trigger's namespace into a Secret of one namespace: one finding per tier
    of the namespaces whose objects trigger it (and any new one that would) other than the target's."""
    into = subject.tier_of(target)
    reached: dict[str | None, list[str]] = {}
    for namespace in subject.context.namespaces():
        if namespace.name != target and triggers(namespace.name, namespace.labels):
            reached.setdefault(subject.tier_of(namespace.name), []).append(namespace.name)
    future = {tier for tier in _tiers(subject) if triggers(UNKNOWN_NAME, _labels_of(subject, tier))}
    what = f"Secret {read.name}" if read.name else "the Secrets"
    for tier in sorted({*reached, *future} - {into}, key=lambda t: (t is None, t or "")):
        enforced = into if into is not None else tier
        if enforced is None:
            continue
        fix = (f"match only objects in namespaces of tier {into} (a namespaceSelector on "
               f"{subject.policy.tier_label})"
               if into is not None else "generate into a namespace of the tier it reads")
        yield Finding(
            Rule.SECRET_REPLICATION_CROSS_TIER,
            f"{head} copies the values of {what} of each triggering namespace ({read.via}), of "
            f"{_where(sorted(reached.get(tier, [])), tier in future)} ({in_tier(tier)}), "
            f"into a Secret of namespace {target} ({in_tier(into)}); {fix}",
            read.path,
            tier=enforced,
        )


def _cloned(pattern: Mapping[str, Any], generate: Mapping[str, Any], at: str) -> Source | None:
    """The Secret(s) a generate pattern clones; None when it clones no Secret, or from a templated namespace."""
    clone = mapping_at(pattern, "clone", f"{at}.clone")
    kind = str_at(pattern, "kind", f"{at}.kind") or str_at(generate, "kind", f"{at}.kind")
    api_version = str_at(pattern, "apiVersion", f"{at}.apiVersion") or str_at(generate, "apiVersion",
                                                                              f"{at}.apiVersion")
    if clone and kind == "Secret" and api_version in ("", "v1"):
        namespace, name = str_at(clone, "namespace", f"{at}.clone.namespace"), str_at(clone, "name",
                                                                                     f"{at}.clone.name")
        if namespace and "{{" not in namespace:
            shown = f"Secret {namespace}/{name}" if name and "{{" not in name else f"a Secret of {namespace}"
            return Source(namespace, shown, f"{at}.clone", name if "{{" not in name else "")
        return None
    clone_list = mapping_at(pattern, "cloneList", f"{at}.cloneList")
    kinds = list_at(clone_list, "kinds", f"{at}.cloneList.kinds")
    if any(isinstance(k, str) and k.rpartition("/")[2] == "Secret" and k.rpartition("/")[0] in ("", "v1", "*")
           for k in kinds):
        namespace = str_at(clone_list, "namespace", f"{at}.cloneList.namespace")
        if namespace and "{{" not in namespace:
            return Source(namespace, f"the Secrets cloneList selects in {namespace}", f"{at}.cloneList")
    return None


def _plain(target: str) -> str | None:
    return target if target and "{{" not in target else None


def _rule_reach(rule: Mapping[str, Any], path: str, target: str) -> Reach | None:
    """The namespaces a rule generates into; None when its target namespace is not statically known."""
    if _plain(target):
        return lambda name, _labels: name == target
    if _TRIGGER_NAME.fullmatch(target.strip()):
        trigger: FilterTest = _namespace_trigger
    elif TRIGGER_NAMESPACE_VARIABLE.fullmatch(target.strip()):
        trigger = _namespaced_trigger
    else:
        return None
    return _matched(rule, path, trigger)


def _matched(rule: Mapping[str, Any], path: str, trigger: FilterTest) -> Reach:
    """The namespaces of the triggers a rule's ``match`` selects and its ``exclude`` does not."""
    included = _block(mapping_at(rule, "match", f"{path}.match"), f"{path}.match", trigger)
    excluded = _block(mapping_at(rule, "exclude", f"{path}.exclude"), f"{path}.exclude", _excluding(trigger))
    return lambda name, labels: included(name, labels) and not excluded(name, labels)


def _block(block: Mapping[str, Any], path: str, test: FilterTest) -> Reach:
    """A match or exclude block: ``any`` (one filter), ``all`` (every filter) or the legacy ``resources`` (the
    block is the filter); an empty block holds for no namespace."""
    any_of = [f for f, _ in mappings_at(block, "any", f"{path}.any")]
    all_of = [f for f, _ in mappings_at(block, "all", f"{path}.all")]
    legacy = [block] if isinstance(block.get("resources"), Mapping) else []

    def reach(name: str, labels: Mapping[str, str]) -> bool:
        if any_of:
            return any(test(f, name, labels) for f in any_of)
        if all_of:
            return all(test(f, name, labels) for f in all_of)
        if legacy:
            return test(legacy[0], name, labels)
        return False
    return reach


def _resources(resource_filter: Mapping[str, Any]) -> Mapping[str, Any]:
    found = resource_filter.get("resources")
    return found if isinstance(found, Mapping) else {}


def _kinds(resources: Mapping[str, Any]) -> list[str]:
    return [k.rpartition("/")[2] for k in resources.get("kinds") or [] if isinstance(k, str)]


def _wild(patterns: object, value: str) -> bool:
    """Kyverno's ``wildcard.Match`` over a list (``*`` and ``?``); no list matches everything."""
    if not isinstance(patterns, list) or not patterns:
        return True
    return any(isinstance(p, str) and fnmatchcase(value, p) for p in patterns)


def _selector(selector: object, labels: Mapping[str, str]) -> bool:
    return not isinstance(selector, Mapping) or label_selector_matches(selector, labels)


def _namespace_trigger(resource_filter: Mapping[str, Any], name: str, labels: Mapping[str, str]) -> bool:
    """A filter matching the Namespace itself (``checkNameSpace`` uses a Namespace's name as its namespace)."""
    resources = _resources(resource_filter)
    kinds = _kinds(resources)
    if kinds and not ({"Namespace", "*"} & set(kinds)):
        return False
    if resources.get("namespaceSelector") is not None:
        return False  # "namespace selector is not applicable for namespace resource"
    single, listed = resources.get("name"), resources.get("names")
    names = [*([single] if isinstance(single, str) and single else []), *(listed if isinstance(listed, list) else [])]
    return (_wild(names, name) and _wild(resources.get("namespaces"), name)
            and _selector(resources.get("selector"), labels))


def _namespaced_trigger(resource_filter: Mapping[str, Any], name: str, labels: Mapping[str, str]) -> bool:
    """A filter matching some namespaced object in the namespace: only its namespace conditions decide that."""
    resources = _resources(resource_filter)
    if _kinds(resources) == ["Namespace"]:
        return False
    return _wild(resources.get("namespaces"), name) and _selector(resources.get("namespaceSelector"), labels)


_REQUEST_CONDITIONS = ("subjects", "roles", "clusterRoles")
_RESOURCE_CONDITIONS = ("operations", "annotations")


def _excluding(trigger: FilterTest) -> FilterTest:
    """An exclude filter takes a namespace away only when it holds whatever the request: one naming users,
    roles, operations or annotations excludes some requests, not the namespace."""
    def excludes(resource_filter: Mapping[str, Any], name: str, labels: Mapping[str, str]) -> bool:
        resources = _resources(resource_filter)
        if any(resource_filter.get(k) for k in _REQUEST_CONDITIONS) or any(resources.get(k) for k in
                                                                            _RESOURCE_CONDITIONS):
            return False
        if trigger is _namespaced_trigger and (resources.get("names") or resources.get("name")
                                               or resources.get("selector")):
            return False  # it excludes some objects of the namespace, not all
        return bool(resources) and trigger(resource_filter, name, labels)
    return excludes


# --- GeneratingPolicy -----------------------------------------------------------------------------------------

def _generating_policy(subject: Candidate, spec: Mapping[str, Any]) -> Iterator[Finding]:
    variables = {str_at(v, "name", f"{p}.name"): (str_at(v, "expression", f"{p}.expression"), f"{p}.expression")
                 for v, p in mappings_at(spec, "variables", "spec.variables")}
    read: list[tuple[str, str]] = list(variables.values())
    targets: list[str] = []
    for generate, path in mappings_at(spec, "generate", "spec.generate"):
        expression = str_at(generate, "expression", f"{path}.expression")
        if expression:
            read.append((expression, f"{path}.expression"))
            targets += [found["target"].strip() for found in _CEL_APPLY.finditer(expression)]
        template = mapping_at(generate, "template", f"{path}.template")
        if template and str_at(template, "interpolate", f"{path}.template.interpolate") == "cel":
            value = str_at(template, "value", f"{path}.template.value")
            read.append((value, f"{path}.template.value"))
            targets += _template_namespaces(value)
    sources = [source for text, path in read for source in _cel_sources(text, path)]
    gathered = [SecretRead(TRIGGER_NAMESPACE, found["name"] or "", f"resource.{found['call']}", path)
                for text, path in read for found in _CEL_TRIGGER_SECRET.finditer(text)]
    if not sources and not gathered:
        return
    if subject.namespace is not None:  # a NamespacedGeneratingPolicy writes into its own namespace only
        own = subject.namespace
        for source in sources:
            yield from _copy_findings(subject, "spec.generate", source, lambda name, _labels: name == own, own)
        return
    constraints = mapping_at(spec, "matchConstraints", "spec.matchConstraints")
    for written in dict.fromkeys(targets):
        variable = _CEL_VARIABLE.match(written)
        target = variables[variable["name"]][0].strip() if variable and variable["name"] in variables else written
        reach = _cel_reach(constraints, target)
        if reach is None:
            continue
        literal = _CEL_LITERAL.match(target)
        for source in sources:
            yield from _copy_findings(subject, "spec.generate", source, reach, literal["value"] if literal else None)
        triggers = _cel_reach(constraints, "object.metadata.namespace")
        if literal is not None and triggers is not None:
            for found in gathered:
                yield from _gather_findings(subject, f"{subject.ref} (spec.generate)", triggers, found,
                                            literal["value"])


def _template_namespaces(value: str) -> list[str]:
    """The namespace of each resource a ``generate[].template`` renders, as a CEL expression (a plain name as a
    string literal); a template whose YAML does not parse once its ``(( ... ))`` placeholders are set aside
    gives none (Kyverno parses it only after rendering)."""
    placeholders: list[str] = []

    def set_aside(found: re.Match[str]) -> str:
        placeholders.append(found["expr"].strip())
        return f"__tierguard_cel_{len(placeholders) - 1}__"

    try:
        documents = list(yaml.safe_load_all(_PLACEHOLDER.sub(set_aside, value)))
    except yaml.YAMLError:
        return []
    found = []
    for document in documents:
        metadata = document.get("metadata") if isinstance(document, Mapping) else None
        namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
        if not isinstance(namespace, str) or not namespace:
            continue  # none: a cluster-scoped resource
        placeholder = _SET_ASIDE.fullmatch(namespace)
        found.append(placeholders[int(placeholder["index"])] if placeholder else f'"{namespace}"')
    return found


def _cel_sources(text: str, path: str) -> Iterator[Source]:
    for found in _CEL_SECRET.finditer(text):
        namespace, name = found["namespace"], found["name"] or ""
        if not namespace:
            continue
        get = found["call"] in ("Get", "get")
        shown = f"Secret {namespace}/{name}" if get and name else f"the Secrets of {namespace}"
        yield Source(namespace, shown, path, name if get else "")


def _cel_reach(constraints: Mapping[str, Any], target: str) -> Reach | None:
    literal = _CEL_LITERAL.match(target)
    if literal:
        return lambda name, _labels: name == literal["value"]
    rules = [r for r, _ in mappings_at(constraints, "resourceRules", "spec.matchConstraints.resourceRules")]
    excluded = [r for r, _ in mappings_at(constraints, "excludeResourceRules",
                                          "spec.matchConstraints.excludeResourceRules")]
    namespace_selector = constraints.get("namespaceSelector")
    object_selector = constraints.get("objectSelector")
    if target == "object.metadata.name":
        named = [r for r in rules if _core_rule(r, "namespaces")]
        if not named:
            return None
        # A Namespace is its own namespace for the webhook-style selectors (as the API server's own matching).
        return lambda name, labels: (
            any(_named(r, name) for r in named)
            and not any(_core_rule(r, "namespaces") and _named(r, name) for r in excluded)
            and _selector(namespace_selector, labels) and _selector(object_selector, labels))
    if target in _TRIGGER_NAMESPACES:
        if not any(set(r.get("resources") or []) - {"namespaces"} for r in rules):
            return None  # no namespaced trigger
        return lambda _name, labels: _selector(namespace_selector, labels)
    return None


def _core_rule(rule: Mapping[str, Any], resource: str) -> bool:
    groups, resources = rule.get("apiGroups") or [], rule.get("resources") or []
    return (("" in groups or "*" in groups) if isinstance(groups, list) else False) and (
        (resource in resources or "*" in resources) if isinstance(resources, list) else False)


def _named(rule: Mapping[str, Any], name: str) -> bool:
    """A resource rule's ``resourceNames`` (none: every name)."""
    names = rule.get("resourceNames")
    return not isinstance(names, list) or not names or name in names


# --- findings -------------------------------------------------------------------------------------------------

def _copy_findings(subject: Candidate, label: str, source: Source, reach: Reach,
                   named: str | None) -> Iterator[Finding]:
    """One finding per tier the copies land in other than the source's."""
    if "/" in source.namespace:
        raise Malformed(source.path, f"namespace {source.namespace!r} is not a namespace name")
    known = subject.context.secret(source.namespace, source.name) if source.name else None
    if known is not None and is_shareable(known, subject.policy):
        return  # Kyverno copies the source's labels too: each copy is as shareable as the source
    own = subject.tier_of(source.namespace)
    reached: dict[str | None, list[str]] = {}
    for namespace in subject.context.namespaces():
        if namespace.name != source.namespace and reach(namespace.name, namespace.labels):
            reached.setdefault(subject.tier_of(namespace.name), []).append(namespace.name)
    if named and named != source.namespace and subject.context.namespace(named) is None:
        reached.setdefault(None, []).append(named)  # a plain name not created yet: untiered until it is
    future = {tier for tier in _tiers(subject) if reach(UNKNOWN_NAME, _labels_of(subject, tier))}
    for tier in sorted({*reached, *future} - {own}, key=lambda t: (t is None, t or "")):
        enforced = tier if tier is not None else own
        if enforced is None:
            continue  # untiered material into untiered namespaces: nothing of a tier crosses
        where = _where(sorted(reached.get(tier, [])), tier in future)
        fix = (f"read only Secrets of tier {tier}" if subject.namespace is not None
               else f"generate only into namespaces of tier {own}" if own is not None
               else f"clone from a namespace of tier {tier}")
        yield Finding(
            Rule.SECRET_REPLICATION_CROSS_TIER,
            f"{subject.ref} ({label}) copies {source.shown} ({in_tier(own)}) into {where} ({in_tier(tier)}); "
            f"{fix}, or label the Secret shareable if it is public",
            source.path,
            tier=enforced,
            related=(secret_ref(source.namespace, source.name),) if source.name else (),
        )


def _tiers(subject: Candidate) -> Iterable[str | None]:
    return (*subject.policy.tiers, None)


def _labels_of(subject: Candidate, tier: str | None) -> Mapping[str, str]:
    return {subject.policy.tier_label: tier} if tier is not None else {}


def _where(names: list[str], future: bool) -> str:
    shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
    listed = f"namespace{'s' if len(names) > 1 else ''} {shown}" if names else ""
    if future:
        return f"{listed} and any new namespace" if names else "any new namespace"
    return listed


FAMILY = RuleFamily("kyverno", KINDS, RULES, check, FACTS)
