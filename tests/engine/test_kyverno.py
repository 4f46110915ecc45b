"""Kyverno generate policies judged as ``secret-replication-cross-tier``: a ClusterPolicy rule cloning a Secret
(``clone``, ``cloneList``, ``foreach``) and a GeneratingPolicy reading one with ``resource.Get``/``resource.List``,
into the namespaces they generate into (resolved from ``match``/``exclude`` or ``matchConstraints`` against the
known namespaces, and any new namespace they would select by labels)."""

from __future__ import annotations

from typing import Any

import pytest

from tierguard.engine.model import Rule

from .helpers import TIER_LABEL, Case, Doc, decisions, ids, secret

R = Rule.SECRET_REPLICATION_CROSS_TIER.value
P = Rule.POLICY_INVALID.value
NAME = "{{request.object.metadata.name}}"
NAMESPACE = "{{request.object.metadata.namespace}}"
NAMESPACES = {"kinds": ["Namespace"]}


def cluster_policy(generate: dict[str, Any], match: dict[str, Any] | None = None,
                   exclude: dict[str, Any] | None = None) -> Doc:
    rule: dict[str, Any] = {"name": "sync", "match": match or {"any": [{"resources": NAMESPACES}]},
                            "generate": generate}
    if exclude is not None:
        rule["exclude"] = exclude
    return {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "sync-secrets"},
            "spec": {"rules": [rule]}}


def clone(source: str, target: str = NAME, kind: str = "Secret") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "name": "regcred", "namespace": target, "synchronize": True,
            "clone": {"namespace": source, "name": "regcred"}}


def clone_list(source: str, kinds: list[str], target: str = NAME) -> dict[str, Any]:
    return {"namespace": target, "synchronize": True,
            "cloneList": {"namespace": source, "kinds": kinds, "selector": {"matchLabels": {"cloned": "true"}}}}


def only(**resources: Any) -> dict[str, Any]:
    return {"any": [{"resources": {"kinds": ["Namespace"], **resources}}]}


def generating(source_expr: str, target: str = "variables.targetNs", rules: list[dict[str, Any]] | None = None,
               apply: str = "Apply", **constraints: Any) -> Doc:
    return {"apiVersion": "policies.kyverno.io/v1", "kind": "GeneratingPolicy", "metadata": {"name": "clone"},
            "spec": {"matchConstraints": {"resourceRules": rules or [
                        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                         "resources": ["namespaces"]}], **constraints},
                     "variables": [{"name": "targetNs", "expression": "object.metadata.name"},
                                   {"name": "source", "expression": source_expr}],
                     "generate": [{"expression": f"generator.{apply}({target}, [variables.source])"}]}}


def namespaced(ns: str, source_expr: str) -> Doc:
    return {"apiVersion": "policies.kyverno.io/v1", "kind": "NamespacedGeneratingPolicy",
            "metadata": {"name": "clone", "namespace": ns},
            "spec": {"matchConstraints": {"resourceRules": [
                        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}]},
                     "variables": [{"name": "source", "expression": source_expr}],
                     "generate": [{"expression": "generator.Apply([variables.source])"}]}}


GET_PROD = 'resource.Get("v1", "secrets", "prod", "regcred")'
CLUSTERS = {"kinds": ["provisioning.cattle.io/v1/Cluster"]}
SECRET_TRIGGERS = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["secrets"]}]


def data_policy(url: str, target: str, match: dict[str, Any] | None = None, kind: str = "Secret",
                data: Any = None) -> Doc:
    """kyverno/policies' argo-cluster-generation-from-rancher-capi, cut down: a Secret read by ``apiCall`` and its
    values written into a generated Secret's ``data``."""
    rule = {"name": "copy-kubeconfig", "match": match or {"all": [{"resources": CLUSTERS}]},
            "context": [{"name": "kubeconfigData",
                         "apiCall": {"urlPath": url, "jmesPath": "data | to_string(@)"}}],
            "generate": {"apiVersion": "v1", "kind": kind, "name": "cluster-{{request.object.metadata.name}}",
                         "namespace": target, "synchronize": True,
                         "data": data if data is not None else {"type": "Opaque", "data": {
                             "config": "{{ kubeconfigData | base64_encode(@) }}"}}}}
    return {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "argo-clusters"},
            "spec": {"rules": [rule]}}


TRIGGER_SECRET = "/api/v1/namespaces/{{request.object.metadata.namespace}}/secrets/{{kubeconfigName}}"
PROD_ONLY = {"matchLabels": {TIER_LABEL: "prod"}}

CASES = [
    # ClusterPolicy clone into the Namespace that triggers the rule.
    Case("clone into every new namespace", [cluster_policy(clone("prod"))], {(R, "sync-secrets")}),
    Case("clone into namespaces selected by their tier label",
         [cluster_policy(clone("prod"), only(selector=PROD_ONLY))]),
    Case("clone into namespaces selected by another tier's label",
         [cluster_policy(clone("prod"), only(selector={"matchLabels": {TIER_LABEL: "dev"}}))], {(R, "sync-secrets")}),
    Case("clone into namespaces named by wildcard, all of its tier",
         [cluster_policy(clone("prod"), only(names=["prod-?"]))]),
    Case("clone into namespaces named by wildcard, one of another tier",
         [cluster_policy(clone("prod"), only(names=["prod*", "qa"]))], {(R, "sync-secrets")}),
    Case("namespaceSelector never matches a Namespace",
         [cluster_policy(clone("prod"), only(namespaceSelector={"matchLabels": {TIER_LABEL: "dev"}}))]),
    Case("match.all narrows",
         [cluster_policy(clone("prod"), {"all": [{"resources": NAMESPACES},
                                                 {"resources": {"kinds": ["Namespace"], "selector": PROD_ONLY}}]})]),
    Case("exclude taking away every other tier",
         [cluster_policy(clone("prod"), exclude={"any": [{"resources": {"selector": {"matchExpressions": [
             {"key": TIER_LABEL, "operator": "NotIn", "values": ["prod"]}]}}}]})]),
    Case("exclude by users excludes no namespace",
         [cluster_policy(clone("prod"), exclude={"any": [{"subjects": [{"kind": "User", "name": "alice"}],
                                                          "resources": {"namespaces": ["*"]}}]})],
         {(R, "sync-secrets")}),
    Case("legacy match.resources", [cluster_policy(clone("dev"), {"resources": {"kinds": ["Namespace"],
                                                                                "names": ["dev*"]}})]),
    Case("clone of a shareable Secret: its copies are shareable too",
         [secret("prod", "regcred", {"k": "public-registry-credential"}, labels={"tierguard.io/shareable": "true"}),
          cluster_policy(clone("prod"))]),
    Case("clone of a known Secret that is not shareable",
         [secret("prod", "regcred", {"k": "private-registry-credential"}), cluster_policy(clone("prod"))],
         {(R, "sync-secrets")}),
    Case("clone a ConfigMap: not a Secret", [cluster_policy(clone("prod", kind="ConfigMap"))]),
    Case("clone from a templated namespace: not decidable", [cluster_policy(clone("{{request.object.data.src}}"))]),
    Case("a plain target namespace of another tier", [cluster_policy(clone("prod", target="dev"))],
         {(R, "sync-secrets")}),
    Case("a plain target namespace not yet created (untiered)", [cluster_policy(clone("prod", target="new-ns"))],
         {(R, "sync-secrets")}),
    Case("a plain target namespace of its tier", [cluster_policy(clone("prod", target="prod-b"))]),
    Case("a computed target namespace: not decidable",
         [cluster_policy(clone("prod", target="{{request.object.data.target}}"))]),
    Case("generate into the trigger's namespace, any namespace",
         [cluster_policy(clone("dev", target=NAMESPACE), {"any": [{"resources": {"kinds": ["Pod"]}}]})],
         {(R, "sync-secrets")}),
    Case("generate into the trigger's namespace, selected by tier",
         [cluster_policy(clone("dev", target=NAMESPACE), {"any": [{"resources": {
             "kinds": ["Pod"], "namespaceSelector": {"matchLabels": {TIER_LABEL: "dev"}}}}]})]),
    Case("untiered source into untiered namespaces only",
         [cluster_policy(clone("shared"), only(selector={"matchExpressions": [
             {"key": TIER_LABEL, "operator": "DoesNotExist"}]}))]),
    Case("untiered source into every namespace", [cluster_policy(clone("shared"))], {(R, "sync-secrets")}),
    # cloneList and foreach.
    Case("cloneList of Secrets into every namespace", [cluster_policy(clone_list("stage", ["v1/Secret"]))],
         {(R, "sync-secrets")}),
    Case("cloneList of ConfigMaps only", [cluster_policy(clone_list("stage", ["v1/ConfigMap"]))]),
    Case("cloneList of Secrets into its tier", [cluster_policy(clone_list("stage", ["v1/Secret"], target="stage"))]),
    Case("foreach clone into a plain namespace of another tier",
         [cluster_policy({"synchronize": True, "foreach": [
             {"list": "request.object.data.namespaces", **clone("prod", target="qa")}]})], {(R, "sync-secrets")}),
    Case("foreach into each element: not decidable",
         [cluster_policy({"foreach": [{"list": "x", **clone("prod", target="{{element}}")}]})]),
    # GeneratingPolicy.
    Case("GeneratingPolicy cloning into every new namespace", [generating(GET_PROD)], {(R, "clone")}),
    Case("GeneratingPolicy narrowed by namespaceSelector", [generating(GET_PROD, namespaceSelector=PROD_ONLY)]),
    Case("GeneratingPolicy narrowed by objectSelector", [generating(GET_PROD, objectSelector=PROD_ONLY)]),
    Case("GeneratingPolicy resourceNames of its tier",
         [generating(GET_PROD, rules=[{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["namespaces"],
                                       "operations": ["CREATE"], "resourceNames": ["prod-b"]}])]),
    Case("GeneratingPolicy listing a namespace's Secrets", [generating('resource.List("v1", "secrets", "dev")')],
         {(R, "clone")}),
    Case("GeneratingPolicy into a literal namespace of another tier", [generating(GET_PROD, target='"qa"')],
         {(R, "clone")}),
    Case("GeneratingPolicy into a computed namespace: not decidable",
         [generating(GET_PROD, target='object.metadata.labels["target"]')]),
    Case("GeneratingPolicy reading a ConfigMap", [generating('resource.Get("v1", "configmaps", "prod", "x")')]),
    Case("GeneratingPolicy reading a shareable Secret",
         [secret("prod", "regcred", {"k": "public-registry-credential"}, labels={"tierguard.io/shareable": "true"}),
          generating(GET_PROD)]),
    Case("GeneratingPolicy into the trigger's namespace (pods), every namespace",
         [generating(GET_PROD, target="object.metadata.namespace",
                     rules=[{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
                             "operations": ["CREATE"]}])], {(R, "clone")}),
    # NamespacedGeneratingPolicy: into its own namespace only, reading any.
    Case("namespaced GeneratingPolicy reading another tier's Secret",
         [namespaced("dev", 'resource.Get("v1", "secrets", "prod", "regcred")')], {(R, "dev/clone")}),
    Case("namespaced GeneratingPolicy reading its own tier's Secret",
         [namespaced("dev", 'resource.Get("v1", "secrets", "dev-b", "regcred")')]),
    Case("namespaced GeneratingPolicy reading its own namespace",
         [namespaced("dev", 'resource.List("v1", "secrets", "dev")')]),
    Case("namespaced GeneratingPolicy in an untiered namespace: not judged",
         [namespaced("shared", 'resource.Get("v1", "secrets", "prod", "regcred")')]),
    Case("clone namespace with a slash", [cluster_policy(clone("prod/x", target="qa"))], {(P, "sync-secrets")}),
    # Kyverno 1.18 adds camelCase names for the same functions (kyverno/sdk extensions/cel/libs/*/lib.go), which
    # its own conformance tests use: generator.apply, resource.get, resource.list.
    # data: a generated Secret holding values read by apiCall from Secrets of other namespaces.
    Case("data from the trigger's namespace's Secret into a fixed namespace, every namespace",
         [data_policy(TRIGGER_SECRET, "prod")], {(R, "argo-clusters")}),
    Case("data from the trigger's namespace, triggers only in its own tier",
         [data_policy(TRIGGER_SECRET, "prod", {"all": [{"resources": {**CLUSTERS, "namespaceSelector": PROD_ONLY}}]})]),
    Case("data from the trigger's namespace into the trigger's namespace",
         [data_policy(TRIGGER_SECRET, "{{request.object.metadata.namespace}}")]),
    Case("data from a fixed namespace's Secrets into every new Namespace",
         [data_policy("/api/v1/namespaces/prod/secrets", NAME, {"any": [{"resources": NAMESPACES}]})],
         {(R, "argo-clusters")}),
    Case("data from a fixed namespace's Secret into a namespace of its tier",
         [data_policy("/api/v1/namespaces/prod/secrets/kubeconfig", "prod-b")]),
    Case("data read from ConfigMaps only", [data_policy("/api/v1/namespaces/{{request.object.metadata.namespace}}"
                                                        "/configmaps/x", "prod")]),
    Case("data of fixed values: nothing read flows in",
         [data_policy(TRIGGER_SECRET, "prod", data={"type": "Opaque", "data": {"k": "dmFsdWU="}})]),
    Case("data generating a ConfigMap", [data_policy(TRIGGER_SECRET, "prod", kind="ConfigMap")]),
    # clone from each trigger's namespace into one namespace: every matched namespace's Secret gathered there.
    Case("clone from the trigger's namespace into a fixed namespace, every namespace",
         [cluster_policy(clone(NAMESPACE, target="prod"), {"any": [{"resources": {"kinds": ["Secret"]}}]})],
         {(R, "sync-secrets")}),
    Case("clone from the trigger's namespace into a fixed namespace, triggers of its tier",
         [cluster_policy(clone(NAMESPACE, target="prod"),
                         {"any": [{"resources": {"kinds": ["Secret"], "namespaceSelector": PROD_ONLY}}]})]),
    Case("cloneList from the trigger's namespace into a fixed namespace",
         [cluster_policy(clone_list(NAMESPACE, ["v1/Secret"], target="qa"),
                         {"any": [{"resources": {"kinds": ["ConfigMap"]}}]})], {(R, "sync-secrets")}),
    Case("GeneratingPolicy gathering each trigger namespace's Secret into a literal namespace",
         [generating('resource.get("v1", "secrets", object.metadata.namespace, "kubeconfig")', target='"prod"',
                     rules=SECRET_TRIGGERS)], {(R, "clone")}),
    Case("GeneratingPolicy gathering only from namespaces of the target's tier",
         [generating('resource.get("v1", "secrets", object.metadata.namespace, "kubeconfig")', target='"prod"',
                     rules=SECRET_TRIGGERS, namespaceSelector=PROD_ONLY)]),
    Case("GeneratingPolicy copying the trigger namespace's Secret into that namespace",
         [generating('resource.get("v1", "secrets", object.metadata.namespace, "kubeconfig")',
                     target="object.metadata.namespace", rules=SECRET_TRIGGERS)]),
    Case("GeneratingPolicy in camelCase: generator.apply of a resource.get",
         [generating('resource.get("v1", "secrets", "prod", "regcred")', apply="apply")], {(R, "clone")}),
    Case("GeneratingPolicy in camelCase: generator.apply of a resource.list",
         [generating('resource.list("v1", "secrets", "dev")', apply="apply")], {(R, "clone")}),
    Case("GeneratingPolicy into namespaceObject's name (the trigger's namespace), every namespace",
         [generating(GET_PROD, target="namespaceObject.metadata.name",
                     rules=[{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"],
                             "operations": ["DELETE"]}])], {(R, "clone")}),
    Case("GeneratingPolicy into a deleted trigger's namespace (oldObject), every namespace",
         [generating(GET_PROD, target="oldObject.metadata.namespace",
                     rules=[{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"],
                             "operations": ["DELETE"]}])], {(R, "clone")}),
    Case("GeneratingPolicy in camelCase into its own tier",
         [generating('resource.get("v1", "secrets", "prod", "regcred")', apply="apply",
                     namespaceSelector=PROD_ONLY)]),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_kyverno(case: Case) -> None:
    assert case.run() == case.expected


def _violations(doc: Doc) -> list[Any]:
    ref = "/".join(filter(None, (doc["metadata"].get("namespace"), doc["metadata"]["name"])))
    return list(dict(decisions([*Case("", []).docs, doc]))[ref].violations)


def test_one_finding_per_tier_reached_each_enforced_there() -> None:
    found = _violations(cluster_policy(clone("prod")))
    assert {v.path for v in found} == {"spec.rules[0].generate.clone"}
    by_tier = {v.message.rpartition("(")[2].split(")")[0]: v.message for v in found}
    assert set(by_tier) == {"tier dev", "tier qa", "tier stage", "untiered"}
    assert by_tier["tier dev"] == (
        "ClusterPolicy sync-secrets (rule 'sync') copies Secret prod/regcred (tier prod) into namespaces dev, dev-b "
        "and any new namespace (tier dev); generate only into namespaces of tier prod, or label the Secret "
        "shareable if it is public")


def test_cluster_scoped_policy_is_never_placed_in_a_tier_of_its_own() -> None:
    for violation in _violations(generating(GET_PROD)):
        assert not violation.message.startswith("GeneratingPolicy clone (tier")
        assert violation.path == "spec.variables[1].expression"


def templated(value: str, interpolate: str = "cel") -> Doc:
    """A GeneratingPolicy of Kyverno 1.19's ``generate[].template`` form."""
    return {"apiVersion": "policies.kyverno.io/v1", "kind": "GeneratingPolicy", "metadata": {"name": "clone"},
            "spec": {"matchConstraints": {"resourceRules": [
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["namespaces"]}]},
                "generate": [{"template": {"interpolate": interpolate, "value": value}}]}}


SECRET_TEMPLATE = """apiVersion: v1
kind: Secret
metadata:
  name: regcred
  namespace: {namespace}
type: kubernetes.io/dockerconfigjson
data: (( resource.Get("v1", "secrets", "prod", "regcred").data ))
"""

TEMPLATE_CASES = [
    Case("template into the trigger Namespace",
         [templated(SECRET_TEMPLATE.format(namespace="(( object.metadata.name ))"))], {(R, "clone")}),
    Case("template into a plain namespace of another tier", [templated(SECRET_TEMPLATE.format(namespace="qa"))],
         {(R, "clone")}),
    Case("template into a plain namespace of its tier", [templated(SECRET_TEMPLATE.format(namespace="prod-b"))]),
    Case("template without CEL interpolation reads nothing",
         [templated(SECRET_TEMPLATE.format(namespace="qa"), interpolate="none")]),
    Case("template into a computed namespace: not decidable",
         [templated(SECRET_TEMPLATE.format(namespace='(( object.metadata.labels["to"] ))'))]),
]


@pytest.mark.parametrize("case", TEMPLATE_CASES, ids=ids(TEMPLATE_CASES))
def test_kyverno_generation_templates(case: Case) -> None:
    assert case.run() == case.expected


def test_namespaced_policy_message_names_its_own_namespace_and_the_fix() -> None:
    (violation,) = _violations(namespaced("dev", 'resource.Get("v1", "secrets", "prod", "regcred")'))
    assert violation.message == (
        "NamespacedGeneratingPolicy dev/clone (spec.generate) copies Secret prod/regcred (tier prod) into namespace "
        "dev (tier dev); read only Secrets of tier dev, or label the Secret shareable if it is public")


def test_data_gathered_from_every_namespace_names_the_read_the_tiers_and_the_fix() -> None:
    found = _violations(data_policy(TRIGGER_SECRET, "prod"))
    assert {v.path for v in found} == {"spec.rules[0].context[0].apiCall.urlPath"}
    by_tier = {v.message.split("), into")[0].rsplit("(", 1)[1]: v for v in found}
    assert sorted(by_tier) == ["tier dev", "tier qa", "tier stage", "untiered"]
    assert by_tier["tier dev"].message == (
        "ClusterPolicy argo-clusters (rule 'copy-kubeconfig') copies the values of the Secrets of each triggering "
        "namespace (context 'kubeconfigData'), of namespaces dev, dev-b and any new namespace (tier dev), into a "
        "Secret of namespace prod (tier prod); match only objects in namespaces of tier prod (a namespaceSelector "
        "on tierguard.io/tier)")
