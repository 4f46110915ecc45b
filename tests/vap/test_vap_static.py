"""The namespace rules as the API server's static manifests (``tierguard.vap.static``): the names and shape its
loader requires (k8s.io/apiserver pkg/admission/plugin/policy/manifest/loader), the same CEL as the policies
tierguard keeps through the API, and the check that refuses what the loader would refuse. (That the API server
loads and enforces them: tests/e2e/test_static_admission.py.)"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tierguard.engine.model import Rule
from tierguard.policy import load_policy
from tierguard.vap import Options, generate, generate_static
from tierguard.vap.static import SUFFIX, problems

SIDECAR = {"name": "istio-proxy", "injection": {"namespaceLabels": {"istio-injection": "enabled"}}}


def policy(**spec: Any) -> Any:
    return load_policy({"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "default"},
                        "spec": spec})


def names(manifests: list[dict[str, Any]], kind: str) -> list[str]:
    return [m["metadata"]["name"] for m in manifests if m["kind"] == kind]


def test_defaults_give_one_static_policy_and_its_binding() -> None:
    manifests = generate_static(policy())
    assert [(m["kind"], m["metadata"]["name"]) for m in manifests] == [
        ("ValidatingAdmissionPolicy", "tierguard-namespaces-deny.static.k8s.io"),
        ("ValidatingAdmissionPolicyBinding", "tierguard-namespaces-deny.static.k8s.io"),
    ]
    binding = manifests[1]
    assert binding["spec"]["policyName"] == "tierguard-namespaces-deny.static.k8s.io"
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert "paramRef" not in binding["spec"] and "paramKind" not in manifests[0]["spec"]
    assert all(m["apiVersion"] == "admissionregistration.k8s.io/v1" for m in manifests)
    assert all(m["metadata"]["labels"]["tierguard.io/static"] == "true" for m in manifests)
    assert manifests[0]["spec"]["failurePolicy"] == "Fail"  # the default: the rules hold with nothing else running
    assert problems(manifests) == []


def test_only_the_namespace_rules_even_with_workload_rules_configured() -> None:
    manifests = generate_static(policy(sidecars={"required": [SIDECAR]},
                                       secrets={"pathPatterns": {"prod": ["secret/data/prod/*"]}},
                                       enforcement={"perTier": {"qa": "warn", "stage": "audit"}}))
    assert names(manifests, "ValidatingAdmissionPolicy") == [
        f"tierguard-namespaces-{action}{SUFFIX}" for action in ("deny", "warn", "audit")]
    for manifest in manifests:
        assert manifest["metadata"]["labels"]["tierguard.io/family"] == "namespaces"
        assert manifest["metadata"]["annotations"]["tierguard.io/rules"] == \
            f"{Rule.NAMESPACE_TIER_UNKNOWN},{Rule.NAMESPACE_TIER_CHANGED}"
    actions = {m["metadata"]["name"]: m["spec"]["validationActions"] for m in manifests
               if m["kind"] == "ValidatingAdmissionPolicyBinding"}
    assert actions == {f"tierguard-namespaces-deny{SUFFIX}": ["Deny"], f"tierguard-namespaces-warn{SUFFIX}": ["Warn"],
                       f"tierguard-namespaces-audit{SUFFIX}": ["Audit"]}


@pytest.mark.parametrize("spec", [{}, {"enforcement": {"default": "warn", "perTier": {"prod": "enforce"}},
                                       "exemptions": {"namespaces": ["team-*"], "breakGlass": {"groups": ["sre"]}}}])
def test_same_cel_as_the_policies_kept_through_the_api(spec: dict[str, Any]) -> None:
    """One source of truth: a static policy is the API-synced one renamed, every expression unchanged."""
    options = Options(prefix="rel", own_namespace="tg-system", failure_policy="Ignore")
    synced = [m for m in generate(policy(**spec), options) if m["metadata"]["labels"]["tierguard.io/family"] ==
              "namespaces"]
    static = generate_static(policy(**spec), options)
    assert len(static) == len(synced) > 0
    for ours, theirs in zip(static, synced, strict=True):
        assert ours["metadata"]["name"] == theirs["metadata"]["name"] + SUFFIX
        assert (ours["kind"], ours["metadata"]["annotations"]) == (theirs["kind"], theirs["metadata"]["annotations"])
        if ours["kind"] == "ValidatingAdmissionPolicy":
            assert ours["spec"] == theirs["spec"]
            text = " ".join(v["expression"] for v in ours["spec"]["variables"])
            assert f"[{Rule.NAMESPACE_TIER_UNKNOWN}] " in text and f"[{Rule.NAMESPACE_TIER_CHANGED}] " in text
        else:
            assert ours["spec"] == {**theirs["spec"], "policyName": theirs["spec"]["policyName"] + SUFFIX}


def test_nothing_in_the_api_can_own_a_file() -> None:
    owner = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "name": "tg", "uid": "u-1"}
    assert all("ownerReferences" not in m["metadata"] for m in generate_static(policy(), Options(owner=owner)))


def mutated(change: Any) -> list[str]:
    manifests = copy.deepcopy(generate_static(policy()))
    change(manifests)
    return problems(manifests)


def test_problems_are_what_the_api_servers_loader_refuses() -> None:
    def rename(m: list[dict[str, Any]]) -> None:
        m[0]["metadata"]["name"] = "tierguard-namespaces-deny"

    def param_kind(m: list[dict[str, Any]]) -> None:
        m[0]["spec"]["paramKind"] = {"apiVersion": "v1", "kind": "ConfigMap"}

    def param_ref(m: list[dict[str, Any]]) -> None:
        m[1]["spec"]["paramRef"] = {"name": "x", "parameterNotFoundAction": "Deny"}

    def duplicate(m: list[dict[str, Any]]) -> None:
        m.append(copy.deepcopy(m[1]))

    def other_kind(m: list[dict[str, Any]]) -> None:
        m[0]["apiVersion"] = "admissionregistration.k8s.io/v1beta1"

    assert any("must end with '.static.k8s.io'" in p for p in mutated(rename))
    # ... and the binding now names a policy not among them.
    assert any("not among the static manifests" in p for p in mutated(rename))
    assert mutated(param_kind) == [f"ValidatingAdmissionPolicy 'tierguard-namespaces-deny{SUFFIX}': spec.paramKind "
                                   "is not supported for static manifests"]
    assert mutated(param_ref) == [f"ValidatingAdmissionPolicyBinding 'tierguard-namespaces-deny{SUFFIX}': "
                                  "spec.paramRef is not supported for static manifests"]
    assert mutated(duplicate) == [f"ValidatingAdmissionPolicyBinding 'tierguard-namespaces-deny{SUFFIX}': "
                                  "duplicate name"]
    assert any("only admissionregistration.k8s.io/v1" in p for p in mutated(other_kind))


@pytest.mark.parametrize("prefix", ["x" * 240, "Tierguard", "tier_guard"])
def test_a_prefix_the_api_server_would_refuse_is_refused_here(prefix: str) -> None:
    with pytest.raises(ValueError, match="not a DNS subdomain"):
        generate_static(policy(), Options(prefix=prefix))
