"""Each tier's namespace posture in the parity report (``namespace_posture.py``): which labels are shown, the
values per tier, Pod Security's order, the default-deny-ingress count, which tier is weaker than prod, and the
namespaces outside ``spec.namespaces`` as gaps."""

from __future__ import annotations

from typing import Any

import pytest

from tierguard.namespace_posture import DEFAULT_DENY, level_rank
from tierguard.parity import ParityReport, parity_report
from tierguard.policy import TierPolicy, load_policy

ENFORCE = "pod-security.kubernetes.io/enforce"
WARN = "pod-security.kubernetes.io/warn"
AUDIT = "pod-security.kubernetes.io/audit"
REQUIRED = load_policy({"spec": {"namespaces": {"requiredLabels": {ENFORCE: ["baseline", "restricted"],
                                                                   "team": []},
                                                "defaultDenyIngress": True}}})
NOTHING = load_policy({})


def namespace(name: str, tier: str | None, **labels: str) -> dict[str, Any]:
    tiered = {"tierguard.io/tier": tier} if tier else {}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {**tiered, **labels}}}


def network_policy(ns: str, name: str = "deny", api_version: str = "networking.k8s.io/v1",
                   **spec: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": ns},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"], **spec}}


def report_for(objects: list[dict[str, Any]], policy: TierPolicy = REQUIRED, **options: Any) -> ParityReport:
    return parity_report([(o, f"all.yaml#{i}") for i, o in enumerate(objects)], policy, **options)


def psa(level: str) -> dict[str, str]:
    return {ENFORCE: level}


def test_without_requirements_or_pod_security_labels_nothing_is_shown() -> None:
    report = report_for([namespace("a", "dev"), namespace("b", "prod"), network_policy("a", ingress=[{}])], NOTHING)
    assert not report.posture.shown and report.posture.checks == () and report.complete


def test_pod_security_labels_are_shown_when_carried_even_if_not_required() -> None:
    report = report_for([namespace("a", "dev", **{WARN: "baseline"}), namespace("b", "prod", **psa("restricted"))],
                        NOTHING)
    assert report.posture.labels == (ENFORCE, WARN)  # audit: nobody carries it; the order is enforce, audit, warn
    assert report.posture.tier("dev").weakest(ENFORCE) == "privileged"  # absent: privileged
    assert report.posture.weaker("dev") == (ENFORCE,)
    assert report.complete  # drift alone is no gap: the policy requires nothing


def test_required_labels_are_shown_and_counted_per_tier() -> None:
    objects = [namespace("dev-a", "dev", team="shop", **psa("baseline")), namespace("dev-b", "dev"),
               namespace("prod-a", "prod", team="shop", **psa("restricted")), network_policy("prod-a"),
               namespace("stray", None, **psa("privileged"))]  # untiered: not read
    posture = report_for(objects).posture
    assert posture.labels == (ENFORCE, "team") and posture.checks == (ENFORCE, "team", DEFAULT_DENY)
    assert posture.tier("dev").values(ENFORCE) == {"baseline": 1, None: 1}
    assert posture.tier("dev").default_deny() == (0, 2) and posture.tier("prod").default_deny() == (1, 1)
    assert posture.outside_policy("dev", ENFORCE) == 1 and posture.outside_policy("dev", "team") == 1
    assert [n.name for n in posture.tier("dev").namespaces] == ["dev-a", "dev-b"]
    assert not posture.tier("qa").namespaces and posture.weaker("qa") == ()


@pytest.mark.parametrize(("dev", "prod", "weaker"), [
    ([psa("baseline")], [psa("restricted")], True),
    ([psa("restricted"), {}], [psa("restricted")], True),  # one namespace without the label: privileged
    ([psa("restricted")], [psa("restricted"), psa("baseline")], False),  # prod's weakest is baseline
    ([psa("baseline")], [psa("baseline")], False),
    ([psa("restricted")], [psa("baseline")], False),  # stronger than prod is not drift to flag
    ([psa("Restricted")], [psa("baseline")], False),  # not a level: Pod Security enforces restricted
    ([psa("Restricted")], [psa("restricted")], False),
    ([psa("baseline")], [psa("Restricted")], True),
    ([{}], [{}], False),
])
def test_a_tier_whose_weakest_level_is_below_prods_is_weaker(dev: list[dict[str, str]], prod: list[dict[str, str]],
                                                            weaker: bool) -> None:
    objects = [*(namespace(f"dev-{i}", "dev", **labels) for i, labels in enumerate(dev)),
               *(namespace(f"prod-{i}", "prod", **labels) for i, labels in enumerate(prod))]
    policy = load_policy({"spec": {"namespaces": {"requiredLabels": {ENFORCE: []}}}})
    assert (ENFORCE in report_for(objects, policy).posture.weaker("dev")) is weaker


def test_levels_rank_as_pod_security_orders_them() -> None:
    assert [level_rank(v) for v in (None, "privileged", "baseline", "restricted", "typo")] == [0, 0, 1, 2, 0]


def test_a_value_that_is_no_level_ranks_as_pod_security_reads_it() -> None:
    """Pod Security's ``PolicyToEvaluate`` (k8s.io/pod-security-admission/api/helpers.go): an enforce level it
    cannot parse is enforced as ``restricted`` (fail closed), an audit or warn one as ``privileged`` (fail open)."""
    assert level_rank("Baseline", ENFORCE) == 2
    assert level_rank(None, ENFORCE) == 0
    assert [level_rank("typo", f"pod-security.kubernetes.io/{mode}") for mode in ("audit", "warn")] == [0, 0]


@pytest.mark.parametrize(("dev", "weaker"), [
    (["shop"], False), (["shop", "pay"], False), (["other"], True), ([None], True), (["shop", None], True),
])
def test_another_label_differs_from_prod_by_a_value_or_an_absence(dev: list[str | None], weaker: bool) -> None:
    objects = [*(namespace(f"dev-{i}", "dev", **({"team": v} if v else {})) for i, v in enumerate(dev)),
               namespace("prod-a", "prod", team="shop"), namespace("prod-b", "prod", team="pay")]
    policy = load_policy({"spec": {"namespaces": {"requiredLabels": {"team": []}}}})
    assert ("team" in report_for(objects, policy).posture.weaker("dev")) is weaker


def test_fewer_default_deny_namespaces_is_weaker_only_when_prod_keeps_them_all() -> None:
    every = [namespace("dev-a", "dev"), network_policy("dev-a"), namespace("dev-b", "dev"),
             namespace("prod-a", "prod"), network_policy("prod-a")]
    assert report_for(every, NOTHING).posture.weaker("dev") == (DEFAULT_DENY,)
    not_all = [*every, namespace("prod-b", "prod")]
    assert report_for(not_all, NOTHING).posture.weaker("dev") == ()


@pytest.mark.parametrize("spec", [
    {"ingress": [{}]},  # admits everything
    {"podSelector": {"matchLabels": {"app": "web"}}},  # not every pod
    {"policyTypes": ["Egress"]},
])
def test_only_a_policy_that_denies_all_ingress_counts(spec: dict[str, Any]) -> None:
    report = report_for([namespace("prod-a", "prod", team="x", **psa("baseline")), network_policy("prod-a", **spec)])
    assert report.posture.tier("prod").default_deny() == (0, 1)
    assert [g.phrase() for g in report.posture.gaps] == ["no default-deny-ingress NetworkPolicy"]


def test_a_network_policy_of_another_api_group_or_namespace_does_not_count() -> None:
    objects = [namespace("prod-a", "prod"), network_policy("prod-a", api_version="crd.projectcalico.org/v1"),
               network_policy("elsewhere")]
    assert report_for(objects, NOTHING).posture.default_deny_shown is False


def test_each_namespace_outside_the_policy_is_a_gap() -> None:
    objects = [namespace("dev-a", "dev", team="shop", **psa("privileged")), network_policy("dev-a"),
               namespace("prod-a", "prod", team="shop", **psa("restricted")), network_policy("prod-a"),
               namespace("prod-b", "prod", **psa("baseline"))]
    report = report_for(objects)
    assert [(g.namespace, g.source, g.tier, g.phrase()) for g in report.posture.gaps] == [
        ("dev-a", "all.yaml#0", "dev",
         f"label {ENFORCE} is 'privileged', not one of baseline, restricted"),
        ("prod-b", "all.yaml#4", "prod", "label team is missing (wanted: any value)"),
        ("prod-b", "all.yaml#4", "prod", "no default-deny-ingress NetworkPolicy")]
    assert not report.gaps and not report.complete  # no sidecar gap, yet incomplete


def test_exempt_and_untiered_namespaces_and_tiers_given_by_option_are_not_read() -> None:
    objects = [namespace("kube-system", "prod"), namespace("tierguard", "prod"), namespace("odd", "nonsense"),
               namespace("declared", None, **psa("restricted")), namespace("prod-a", "prod", team="a",
                                                                                 **psa("restricted")),
               network_policy("prod-a")]
    declared = {"declared": {"tierguard.io/tier": "dev"}, "bare": {"tierguard.io/tier": "dev"}}
    report = report_for(objects, own_namespace="tierguard", namespace_labels=declared)
    assert [n.name for n in report.posture.tier("prod").namespaces] == ["prod-a"]
    # --namespace-tier gives a Namespace object its tier; a namespace it alone names has no labels to read
    assert [n.name for n in report.posture.tier("dev").namespaces] == ["declared"]
    assert [g.namespace for g in report.posture.gaps] == ["declared", "declared"]  # team, default-deny


def test_without_network_policies_listed_no_count_and_no_gap_is_made_up() -> None:
    objects = [namespace("prod-a", "prod", team="a", **psa("restricted"))]
    report = report_for(objects, network_policies_read=False)
    assert report.posture.default_deny_shown and report.complete
    assert report.posture.weaker("prod") == ()
