"""namespace-security-missing: required namespace labels and the last default-deny-ingress NetworkPolicy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tierguard.engine import EvaluationRequest, OfflineRun, evaluate
from tierguard.engine.context import Context
from tierguard.engine.model import Action, Decision, Rule
from tierguard.engine.posture import denies_all_ingress, keeps_default_deny
from tierguard.engine.rules import posture
from tierguard.policy import TierPolicy
from tierguard.webhook.indexes import project_network_policy
from tierguard.webhook.live_context import LiveContext

from ..fakes.indexes import FakeIndexes
from .helpers import FINGERPRINTER, Case, Doc, context_of, ids, namespace, policy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECIPES = FIXTURES / "network-policy-recipes"
"""ahmetb/kubernetes-network-policy-recipes (Apache-2.0), tests/fixtures/README.md."""
POD_SECURITY = FIXTURES / "pod-security"
"""Kubernetes' Pod Security docs' Namespace examples (CC BY 4.0), tests/fixtures/README.md."""

ENFORCE = "pod-security.kubernetes.io/enforce"
LABELS = policy({"namespaces": {"requiredLabels": {ENFORCE: ["baseline", "restricted"]}}})
DENY = policy({"namespaces": {"defaultDenyIngress": True}})
RULE = Rule.NAMESPACE_SECURITY_MISSING
LABELS_SPEC = {"requiredLabels": {ENFORCE: ["baseline", "restricted"]}}


def recipes() -> dict[str, list[Doc]]:
    return {path.stem: [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
            for path in sorted(RECIPES.glob("*.yaml"))}


def found(decision: Decision) -> list[str]:
    return [v.message for v in decision.violations if v.rule is RULE]


def _with(labels: dict[str, str], name: str = "web", tier: str | None = "dev") -> Doc:
    return namespace(name, tier, labels=labels)


CASES = [
    Case("required label present", [_with({ENFORCE: "restricted"})], policy=LABELS, namespaces=[]),
    Case("required label missing", [_with({})], {("namespace-security-missing", "web")}, policy=LABELS,
         namespaces=[]),
    Case("required label with a value not listed", [_with({ENFORCE: "privileged"})],
         {("namespace-security-missing", "web")}, policy=LABELS, namespaces=[]),
    Case("untiered namespace without it", [_with({}, tier=None)], policy=LABELS, namespaces=[]),
    Case("no required labels", [_with({})], namespaces=[]),
]
"""Namespaces judged as created (``tierguard check``): the label rows; NetworkPolicy rows need a DELETE below."""


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_required_labels_table(case: Case) -> None:
    assert case.run() == case.expected


# --- denies_all_ingress over public recipes -----------------------------------------------------------------

def test_only_the_namespace_wide_deny_all_recipe_denies_all_ingress() -> None:
    verdicts = {name: [denies_all_ingress(doc) for doc in docs] for name, docs in recipes().items()}
    assert verdicts == {
        "01-deny-all-traffic-to-an-application": [False],  # app=web only
        "02-limit-traffic-to-an-application": [False],
        "02a-allow-all-traffic-to-an-application": [False],
        "03-deny-all-non-whitelisted-traffic-in-the-namespace": [True],
        "04-deny-traffic-from-other-namespaces": [False],  # every pod, but the namespace's own pods get in
        "05-allow-traffic-from-all-namespaces": [False],
        "06-allow-traffic-from-a-namespace": [False],
        "07-allow-traffic-from-some-pods-in-another-namespace": [False],
        "08-allow-external-traffic": [False],  # ingress: [{}] admits everything
        "09-allow-traffic-only-to-a-port": [False],
        "10-allowing-traffic-with-multiple-selectors": [False],
        "11-deny-egress-traffic-from-an-application": [False, False],
        "12-deny-all-non-whitelisted-traffic-from-the-namespace": [False],  # egress only
        "14-deny-external-egress-traffic": [False],
    }


def test_a_namespace_keeps_default_deny_with_the_recipe_among_others() -> None:
    every = [doc for docs in recipes().values() for doc in docs]
    assert keeps_default_deny(every)
    assert not keeps_default_deny(d for d in every if d["metadata"]["name"] != "default-deny-all")


@pytest.mark.parametrize(("spec", "denies"), [
    ({"podSelector": {}}, True),  # policyTypes defaulted to Ingress
    ({"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "egress": [{}]}, True),
    ({"podSelector": {}, "ingress": [{}]}, False),  # one empty rule admits everything
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}}, False),
    ({"podSelector": {}, "policyTypes": ["Egress"]}, False),
    # The API server defaults an empty policyTypes as an absent one (networking/v1 SetDefaults_NetworkPolicy:
    # len(PolicyTypes) == 0 implies Ingress), and an explicit null rule list as none.
    ({"podSelector": {}, "policyTypes": []}, True),
    ({"podSelector": {}, "policyTypes": [], "ingress": [], "egress": [{}]}, True),
    ({"podSelector": {}, "policyTypes": None, "ingress": None}, True),
    ({"podSelector": None, "policyTypes": ["Ingress"]}, True),
    ({"podSelector": {"matchLabels": {}, "matchExpressions": []}, "policyTypes": ["Ingress"]}, True),
    ({"podSelector": {}, "ingress": [{"from": []}]}, False),  # an empty from admits every source
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 443}]}]}, False),
])
def test_denies_all_ingress_by_the_api_servers_defaults(spec: dict[str, Any], denies: bool) -> None:
    assert denies_all_ingress({"kind": "NetworkPolicy", "spec": spec}) is denies


WEBSITE = FIXTURES / "network-policy-website"
"""The NetworkPolicy examples of Kubernetes' Network Policies page (CC BY 4.0), tests/fixtures/README.md."""


def website() -> dict[str, Doc]:
    return {doc["metadata"]["name"]: doc for path in sorted(WEBSITE.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc}


DOCS_DEFAULT_DENY = {"default-deny-ingress", "default-deny-all", "allow-egress-deny-ingress"}
"""The page's "Default deny all ingress traffic" examples, and its deny-all that also denies egress, and the one
that allows all egress but no ingress ("ingress: [] # Removing this line also works")."""


def test_the_network_policies_pages_default_deny_examples_deny_all_ingress() -> None:
    docs = website()
    assert len(docs) == 9
    assert {name for name, doc in docs.items() if denies_all_ingress(doc)} == DOCS_DEFAULT_DENY


@pytest.mark.parametrize("name", ["default-deny-ingress", "default-deny-all", "allow-egress-deny-ingress",
                                  "allow-all-ingress", "default-deny-egress", "test-network-policy"])
def test_deleting_each_of_the_pages_examples_as_the_last_one(name: str) -> None:
    """Deleting one of the page's examples from a tiered namespace where it is alone: refused only for those
    that deny all ingress; the audit reports the namespace once only the others are left."""
    doc = {**website()[name]}
    doc["metadata"] = {**doc["metadata"], "namespace": "prod"}
    decision = delete(doc, [])
    assert bool(found(decision)) is (name in DOCS_DEFAULT_DENY)
    standing = OfflineRun([namespace("prod", "prod"), doc], DENY, fingerprinter=FINGERPRINTER, standing=True)
    assert bool(found(standing.decide(namespace("prod", "prod")))) is (name not in DOCS_DEFAULT_DENY)


# --- required labels -----------------------------------------------------------------------------------------

def pod_security(level: str, tier: str | None = "dev") -> Doc:
    (doc,) = yaml.safe_load_all((POD_SECURITY / f"podsecurity-{level}.yaml").read_text())
    if tier is not None:
        doc["metadata"]["labels"]["tierguard.io/tier"] = tier
    return dict(doc)


def create(doc: Doc, pol: TierPolicy = LABELS, context: Context | None = None) -> Decision:
    return evaluate(EvaluationRequest(doc), context or context_of([]), pol)


def update(old: Doc, new: Doc, pol: TierPolicy = LABELS) -> Decision:
    return evaluate(EvaluationRequest(new, old, "UPDATE"), context_of([old]), pol)


@pytest.mark.parametrize(("level", "refused"), [("baseline", False), ("restricted", False), ("privileged", True)])
def test_pod_security_docs_namespaces(level: str, refused: bool) -> None:
    decision = create(pod_security(level))
    assert bool(found(decision)) is refused
    assert decision.allowed is not refused


def test_a_value_not_listed_is_refused_naming_label_values_and_fix() -> None:
    (violation,) = create(pod_security("privileged")).violations
    assert violation.rule is RULE and violation.action is Action.DENY
    assert violation.path == f"metadata.labels[{ENFORCE}]"
    assert violation.message == (
        f"Namespace my-privileged-namespace (tier dev): label {ENFORCE} is 'privileged', not one of baseline, "
        f"restricted; {posture.LABEL_FIX}")


def test_a_missing_label_is_refused() -> None:
    (message,) = found(create(namespace("web", "prod")))
    assert f"label {ENFORCE} is missing (wanted: one of baseline, restricted)" in message


def test_an_empty_list_takes_any_value_but_wants_the_label() -> None:
    pol = policy({"namespaces": {"requiredLabels": {"team": []}}})
    assert not found(create(namespace("web", "dev", labels={"team": "x"}), pol))
    (message,) = found(create(namespace("web", "dev"), pol))
    assert "label team is missing (wanted: any value)" in message


def test_each_missing_label_is_its_own_violation() -> None:
    pol = policy({"namespaces": {"requiredLabels": {ENFORCE: ["restricted"], "team": []}}})
    assert [v.path for v in create(namespace("web", "dev"), pol).violations] == [
        f"metadata.labels[{ENFORCE}]", "metadata.labels[team]"]


@pytest.mark.parametrize("doc", [
    pod_security("privileged", tier=None),  # untiered
    namespace("kube-system", "dev"),  # exempt
    namespace("web", "prd"),  # an unknown tier is namespace-tier-unknown's
], ids=["untiered", "exempt", "unknown tier"])
def test_only_tiered_namespaces_are_held_to_the_labels(doc: Doc) -> None:
    assert not found(create(doc))


def test_the_new_tiers_mode_applies() -> None:
    pol = policy({"enforcement": {"perTier": {"dev": "warn"}}, "namespaces": LABELS_SPEC})
    assert [v.action for v in create(namespace("web", "dev"), pol).violations] == [Action.WARN]
    assert [v.action for v in create(namespace("web", "prod"), pol).violations] == [Action.DENY]



def labelled(value: str | None, tier: str | None = "prod", **extra: str) -> Doc:
    labels = dict(extra) | ({ENFORCE: value} if value is not None else {})
    return namespace("web", tier, labels=labels)


@pytest.mark.parametrize(("old", "new", "refused"), [
    (labelled(None), labelled(None, team="a"), False),  # the gap it had, left as it was
    (labelled("privileged"), labelled("privileged", team="a"), False),
    (labelled("baseline"), labelled(None), True),  # removes the label
    (labelled("baseline"), labelled("privileged"), True),  # a value not listed
    (labelled("privileged"), labelled(None), True),  # a changed gap is a new one
    (labelled(None), labelled("banana"), True),
    (labelled(None, tier=None), labelled(None), True),  # put into a tier without the label
    (labelled(None), labelled("restricted"), False),  # fixed
], ids=["kept-missing", "kept-value", "removed", "bad-value", "changed-gap", "missing-to-bad", "tiered-now",
        "fixed"])
def test_an_update_is_refused_for_the_gaps_it_makes(old: Doc, new: Doc, refused: bool) -> None:
    assert bool(found(update(old, new))) is refused


def test_a_terminating_namespace_is_never_held_up() -> None:
    old = labelled("baseline")
    new = labelled(None)
    new["metadata"]["deletionTimestamp"] = "2026-12-07T12:00:00Z"
    assert not found(update(old, new))
    assert not found(create(new))


def test_the_audit_reports_every_gap_a_standing_namespace_has() -> None:
    run = OfflineRun([labelled(None)], LABELS, fingerprinter=FINGERPRINTER, standing=True)
    assert [v.rule for v in run.decide(labelled(None)).violations] == [RULE]


# --- the last default-deny-ingress NetworkPolicy -------------------------------------------------------------

def network_policy(name: str, ns: str = "prod", *, deny: bool = True) -> Doc:
    spec: Doc = {"podSelector": {}, "policyTypes": ["Ingress"]}
    if not deny:
        spec["ingress"] = [{"from": [{"podSelector": {}}]}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def delete(doc: Doc, others: list[Doc], pol: TierPolicy = DENY, ns: Doc | None = None) -> Decision:
    context = context_of([ns or namespace("prod", "prod"), doc, *others])
    return evaluate(EvaluationRequest(doc, doc, "DELETE"), context, pol)


def test_deleting_the_last_default_deny_is_refused() -> None:
    (violation,) = delete(network_policy("default-deny"), [network_policy("allow-web", deny=False)]).violations
    assert violation.rule is RULE and violation.action is Action.DENY
    assert violation.message == (
        "NetworkPolicy prod/default-deny is the last NetworkPolicy denying all ingress in namespace prod (tier "
        f"prod): deleting it would leave the namespace open; {posture.KEEP_ONE}")


@pytest.mark.parametrize("case", ["another default-deny", "policy off", "not default-deny", "terminating",
                                  "untiered namespace", "another namespace's"])
def test_deleting_a_default_deny_is_admitted(case: str) -> None:
    doc, others, pol, ns = network_policy("default-deny"), [], DENY, namespace("prod", "prod")
    if case == "another default-deny":
        others = [network_policy("deny-all")]
    elif case == "policy off":
        pol = LABELS
    elif case == "not default-deny":
        doc = network_policy("allow-web", deny=False)
    elif case == "terminating":
        ns["metadata"]["deletionTimestamp"] = "2026-12-07T12:00:00Z"
    elif case == "untiered namespace":
        ns = namespace("prod")
    else:
        others = [network_policy("deny-all", "prod-b")]
        decision = delete(doc, others, pol, ns)
        assert found(decision)  # another namespace's policy does not count
        return
    assert not found(delete(doc, others, pol, ns))


def test_deleting_in_a_namespace_that_is_gone_is_admitted() -> None:
    doc = network_policy("default-deny")
    assert evaluate(EvaluationRequest(doc, doc, "DELETE"), context_of([doc]), DENY).allowed


def test_an_update_that_stops_the_last_one_denying_is_refused() -> None:
    old, new = network_policy("default-deny"), network_policy("default-deny", deny=False)
    context = context_of([namespace("prod", "prod"), old])
    (violation,) = evaluate(EvaluationRequest(new, old, "UPDATE"), context, DENY).violations
    assert violation.path == "spec" and "this change would leave the namespace open" in violation.message
    assert evaluate(EvaluationRequest(old, old, "UPDATE"), context, DENY).allowed
    assert evaluate(EvaluationRequest(new, old, "UPDATE"), context_of([namespace("prod", "prod"), old,
                                                                       network_policy("b")]), DENY).allowed


def test_creating_network_policies_is_never_judged() -> None:
    assert evaluate(EvaluationRequest(network_policy("open", deny=False)), context_of([namespace("prod", "prod")]),
                    DENY).allowed


# --- the audit: a standing namespace without any -------------------------------------------------------------

def test_the_audit_reports_a_tiered_namespace_without_default_deny() -> None:
    docs = [namespace("prod", "prod"), namespace("dev", "dev"), namespace("shared"),
            network_policy("deny-all", "dev"), network_policy("allow", "prod", deny=False)]
    run = OfflineRun(docs, DENY, fingerprinter=FINGERPRINTER, standing=True)
    reported = {doc["metadata"]["name"]: found(run.decide(doc)) for doc in docs[:3]}
    assert reported == {"prod": [f"Namespace prod (tier prod) has no NetworkPolicy denying all ingress; "
                                 f"{posture.CREATE_ONE}"], "dev": [], "shared": []}
    # check and admission judge changes, not what stands: no NetworkPolicy can exist before its namespace
    assert not found(OfflineRun(docs, DENY, fingerprinter=FINGERPRINTER).decide(docs[0]))


# --- the live index answers as the offline context does -----------------------------------------------------

def test_the_index_keeps_only_default_deny_names() -> None:
    assert project_network_policy(network_policy("allow", deny=False), FINGERPRINTER) == {}
    assert project_network_policy(network_policy("deny-all"), FINGERPRINTER) == {"prod": "deny-all"}


def test_live_and_offline_contexts_agree() -> None:
    docs = [namespace("prod", "prod"), network_policy("a"), network_policy("b"), network_policy("c", deny=False),
            network_policy("d", "dev")]
    fakes = FakeIndexes(FINGERPRINTER, docs)
    live = LiveContext(FINGERPRINTER, fakes.data)
    offline = context_of(docs)
    for ns in ("prod", "dev", "qa"):
        assert set(live.default_deny_ingress_policies(ns)) == set(offline.default_deny_ingress_policies(ns))
    assert set(live.default_deny_ingress_policies("prod")) == {"a", "b"}
    fakes.remove(network_policy("a"))
    assert set(live.default_deny_ingress_policies("prod")) == {"b"}
    doc = network_policy("b")
    assert not evaluate(EvaluationRequest(doc, doc, "DELETE"), live, DENY).allowed


def test_a_terminating_namespace_reaches_the_live_context() -> None:
    ns = namespace("prod", "prod")
    ns["metadata"]["deletionTimestamp"] = "2026-12-07T12:00:00Z"
    doc = network_policy("a")
    live = LiveContext(FINGERPRINTER, FakeIndexes(FINGERPRINTER, [ns, doc]).data)
    view = live.namespace("prod")
    assert view is not None and view.terminating
    assert evaluate(EvaluationRequest(doc, doc, "DELETE"), live, DENY).allowed


def test_the_namespace_labels_task_pages_example_and_its_kubectl_label_steps() -> None:
    """Kubernetes' "Enforce Pod Security Standards with Namespace Labels": its Namespace (the version labels
    still the page's Hugo shortcode) in a tier is admitted; the page's ``kubectl label --overwrite ns --all``
    adding audit and warn to a tiered namespace lacking enforce keeps that gap (admitted, the audit reports it);
    its ``enforce=restricted`` step fixes it; removing enforce is refused."""
    (doc,) = yaml.safe_load_all((POD_SECURITY / "enforce-standards-namespace-labels.yaml").read_text())
    assert doc["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"] == "v{{< skew latestVersion >}}"
    doc["metadata"]["labels"]["tierguard.io/tier"] = "dev"
    assert not found(create(doc))
    bare = namespace("my-existing-namespace", "prod")
    audited = namespace("my-existing-namespace", "prod", labels={"pod-security.kubernetes.io/audit": "baseline",
                                                                 "pod-security.kubernetes.io/warn": "baseline"})
    assert not found(update(bare, audited))
    enforced = namespace("my-existing-namespace", "prod", labels={
        **audited["metadata"]["labels"], ENFORCE: "restricted", "pod-security.kubernetes.io/enforce-version": "v1.34"})
    assert not found(update(audited, enforced))
    assert found(update(enforced, audited))
