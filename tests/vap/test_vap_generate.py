"""The ValidatingAdmissionPolicy generator: which objects a TierPolicy gives, who they bind, what they skip, and
globs translated for RE2 exactly as fnmatch reads them. (What the CEL decides is tested against the real API
server, beside the engine's decisions: tests/e2e/test_admission_policies.py.)"""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tierguard.engine.rules import assignment, namespaces, posture, sidecars, workloads
from tierguard.engine.subjects import NAMELESS, service_account_namespace
from tierguard.policy import load_policy
from tierguard.vap import Options, generate, managed_names
from tierguard.vap.cel import glob_body, glob_regex, string
from tierguard.vap.generate import _SERVICE_ACCOUNT_USER
from tierguard.webhook.routes import ROUTES_BY_ID

SIDECAR = {"name": "istio-proxy", "injection": {"namespaceLabels": {"istio-injection": "enabled"},
                                                "disabledBy": {"podLabels": {"sidecar.istio.io/inject": "false"}}}}


def policy(**spec: Any) -> Any:
    return load_policy({"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "default"},
                        "spec": spec})


def by_name(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def test_defaults_give_only_the_namespace_rules_denied() -> None:
    manifests = generate(policy())
    assert sorted(by_name(manifests, "ValidatingAdmissionPolicy")) == ["tierguard-namespaces-deny"]
    binding = by_name(manifests, "ValidatingAdmissionPolicyBinding")["tierguard-namespaces-deny"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    # For a Namespace the API server matches a selector against the new labels: an UPDATE removing the tier
    # label must still be judged, so this binding selects no namespaces.
    assert binding["spec"]["matchResources"]["namespaceSelector"] == {}


def test_each_action_binds_the_tiers_enforced_with_it() -> None:
    manifests = generate(policy(enforcement={"default": "enforce", "perTier": {"qa": "warn", "stage": "audit"}},
                                sidecars={"required": [SIDECAR]}))
    bindings = by_name(manifests, "ValidatingAdmissionPolicyBinding")
    selected = {name: (b["spec"]["validationActions"], b["spec"]["matchResources"]["namespaceSelector"])
                for name, b in bindings.items() if "workloads" in name}
    expression = {"key": "tierguard.io/tier", "operator": "In"}
    assert selected == {
        "tierguard-workloads-deny": (["Deny"], {"matchExpressions": [{**expression, "values": ["dev", "prod"]}]}),
        "tierguard-workloads-warn": (["Warn"], {"matchExpressions": [{**expression, "values": ["qa"]}]}),
        "tierguard-workloads-audit": (["Audit"], {"matchExpressions": [{**expression, "values": ["stage"]}]}),
    }
    namespace_policies = by_name(manifests, "ValidatingAdmissionPolicy")
    enforced = {n: next(c["expression"] for c in p["spec"]["matchConditions"]
                        if c["name"] == "enforced-with-this-action")
                for n, p in namespace_policies.items() if "namespaces" in n}
    # The default mode (enforce) also judges namespaces whose stored tier is none.
    assert enforced["tierguard-namespaces-deny"].endswith("== ''")
    assert not enforced["tierguard-namespaces-warn"].endswith("== ''")


def test_every_generated_name_is_a_managed_name_and_bindings_name_their_policy() -> None:
    manifests = generate(policy(enforcement={"default": "warn", "perTier": {"prod": "enforce", "dev": "audit"}},
                                secrets={"pathPatterns": {"prod": ["secret/data/prod/*"]}}),
                         Options(prefix="rel-tierguard"))
    names = {m["metadata"]["name"] for m in manifests}
    assert names <= set(managed_names("rel-tierguard"))
    assert len(names) == 6
    for binding in by_name(manifests, "ValidatingAdmissionPolicyBinding").values():
        assert binding["spec"]["policyName"] == binding["metadata"]["name"]
    assert all(m["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "tierguard" for m in manifests)


def test_exempt_namespaces_own_namespace_and_owner() -> None:
    owner = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "name": "tg", "uid": "u-1"}
    manifests = generate(policy(sidecars={"required": [SIDECAR]}, exemptions={"namespaces": ["team-*"]}),
                         Options(own_namespace="tierguard-system", owner=owner, failure_policy="Ignore"))
    workloads = by_name(manifests, "ValidatingAdmissionPolicy")["tierguard-workloads-deny"]
    condition = next(c["expression"] for c in workloads["spec"]["matchConditions"] if c["name"] == "not-exempt")
    assert string(glob_regex("team-*")) in condition
    assert string(glob_regex("tierguard-system")) in condition
    assert workloads["spec"]["failurePolicy"] == "Ignore"
    assert all(m["metadata"]["ownerReferences"][0]["uid"] == "u-1" for m in manifests)


def test_break_glass_is_a_match_condition_only_when_groups_may_use_it() -> None:
    def conditions(**exemptions: Any) -> list[str]:
        manifest = generate(policy(exemptions=exemptions))[0]
        return [c["name"] for c in manifest["spec"]["matchConditions"]]

    assert "not-break-glass" not in conditions()
    assert "not-break-glass" in conditions(breakGlass={"groups": ["sre"]})


def test_no_workload_policy_without_sidecars_or_path_patterns() -> None:
    assert not [m for m in generate(policy(enforcement={"perTier": {"dev": "warn"}}))
                if "workloads" in m["metadata"]["name"]]


def test_every_validation_message_is_the_joined_violations_with_rule_ids() -> None:
    for manifest in generate(policy(sidecars={"required": [SIDECAR]}, subjects=SUBJECTS,
                                    secrets={"pathPatterns": {"prod": ["secret/data/prod/*"]}},
                                    namespaces={"requiredLabels": {ENFORCE: ["restricted"]}})):
        if manifest["kind"] != "ValidatingAdmissionPolicy":
            continue
        (validation,) = manifest["spec"]["validations"]
        assert validation == {"expression": "size(variables.violations) == 0",
                              "messageExpression": "variables.violations.join('; ')", "reason": "Forbidden"}
        text = " ".join(v["expression"] for v in manifest["spec"]["variables"])
        rules = manifest["metadata"]["annotations"]["tierguard.io/rules"].split(",")
        for rule in rules:
            assert f"[{rule}] " in text
        # Only those ids, each one a rule module declares (the facts), and its module's family enforces it.
        assert set(re.findall(r"\[([a-z-]+)\] ", text)) == set(rules)
        family = manifest["metadata"]["labels"]["tierguard.io/family"]
        owners = {"namespaces": (namespaces,), "workloads": (workloads, sidecars), "assignment": (assignment,),
                  "posture": (posture,)}[family]
        assert rules == [f.id for module in owners for f in module.FACTS]


def test_messages_share_the_engines_fixed_text() -> None:
    """The CEL holds the engine's fixed advice verbatim: written from the rule modules' constants, not copied."""
    text = json.dumps(generate(policy(sidecars={"required": [SIDECAR]})))
    for fixed in (namespaces.FIX_UNKNOWN, namespaces.TIER_IS_FIXED, sidecars.MUST_RUN, sidecars.PLAIN_INIT,
                  sidecars.HOST_NETWORK, sidecars.NOT_INJECTED, sidecars.NO_CONTAINER):
        assert json.dumps(fixed)[1:-1] in text


def test_a_missing_sidecars_message_names_what_would_have_it_injected() -> None:
    """The CEL's sidecar-missing texts name the injection labels and annotations as the engine's do: for a
    template always, for a Pod only when nothing asks for injection and the injector would act."""
    sidecar = {"name": "istio-proxy", "injection": {"namespaceLabels": {"istio-injection": "enabled"},
                                                    "podAnnotations": {"sidecar.istio.io/inject": "true"}}}
    manifests = generate(policy(sidecars={"required": [sidecar]}))
    text = json.dumps(manifests)
    would = " (namespace label istio-injection=enabled or pod annotation sidecar.istio.io/inject=true would)"
    assert sidecars.injection_alternatives(load_policy({"spec": {"sidecars": {"required": [sidecar]}}})
                                           .required_sidecars[0].injection) == would[2:-7]
    for fixed in (sidecars.NOT_INJECTED + would, sidecars.NO_CONTAINER + sidecars.NOT_ASKED + would):
        assert json.dumps(fixed)[1:-1] in text
    # A Pod is told only when nothing asks and hostNetwork does not keep the injector away.
    (cel,) = [v["expression"] for m in manifests if m["kind"] == "ValidatingAdmissionPolicy"
              for v in m["spec"]["variables"] if v["name"] == "sidecarViolations"]
    assert ('variables.hostNetwork || (("sidecar.istio.io/inject" in variables.annotations && '
            'variables.annotations["sidecar.istio.io/inject"] == "true") || ("istio-injection" in '
            'variables.nsLabels && variables.nsLabels["istio-injection"] == "enabled")) ?') in cel
    # Without labels or annotations that ask for injection, nothing is named.
    bare = json.dumps(generate(policy(sidecars={"required": [{"name": "istio-proxy", "injection": {
        "disabledBy": {"podLabels": {"sidecar.istio.io/inject": "false"}}}}]})))
    assert sidecars.NOT_ASKED not in bare and " would)" not in bare and sidecars.NOT_INJECTED in bare


GLOB_CHARS = st.sampled_from(list("ab/-.*?[]!^\\+ "))


@settings(max_examples=400, deadline=None)
@given(pattern=st.text(GLOB_CHARS, max_size=8), text=st.text(st.sampled_from(list("ab/-.[]!^\\+ \n")), max_size=8))
def test_glob_regex_matches_exactly_what_fnmatch_matches(pattern: str, text: str) -> None:
    # The emitted constructs (literals escaped with a backslash, '.', '.*', classes) mean the same in RE2 and
    # Python's re; the API server's matches() is RE2.
    assert bool(re.fullmatch(glob_body(pattern), text, re.DOTALL)) == fnmatchcase(text, pattern)



# ---- assignment -------------------------------------------------------------------------------------------------

SUBJECTS = {"perTier": {"dev": {"groups": ["team-*-dev"]}, "prod": {"users": ["ana@example.com"]}},
            "platform": {"groups": ["sre"], "users": ["system:serviceaccount:argocd:*"]}}


def assignment_policies(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {n: m for n, m in by_name(manifests, "ValidatingAdmissionPolicy").items() if "-assignment-" in n}


def test_assignment_only_when_people_have_tiers() -> None:
    assert not assignment_policies(generate(policy()))
    assert not assignment_policies(generate(policy(subjects={"platform": {"groups": ["sre"]}})))
    found = assignment_policies(generate(policy(subjects=SUBJECTS)))
    assert sorted(found) == ["tierguard-assignment-deny"]
    assert set(managed_names("tierguard")) >= {"tierguard-assignment-deny", "tierguard-assignment-warn",
                                                "tierguard-assignment-audit"}


def test_assignment_judges_namespaces_and_every_tierpolicy_write_the_webhook_judges() -> None:
    (manifest,) = assignment_policies(generate(policy(subjects=SUBJECTS))).values()
    rules = {tuple(r["resources"]): r["operations"] for r in manifest["spec"]["matchConstraints"]["resourceRules"]}
    # The webhook's routes: DELETE of a TierPolicy too (deleting the one in force switches people's tiers off).
    assert rules == {("namespaces",): list(ROUTES_BY_ID["namespaces"].operations),
                     ("tierpolicies",): list(ROUTES_BY_ID["tierpolicies"].operations)}
    assert "DELETE" in rules[("tierpolicies",)]
    assert manifest["metadata"]["annotations"]["tierguard.io/rules"] == "namespace-tier-assignment"


def test_assignment_binds_each_action_some_tier_or_the_default_uses() -> None:
    manifests = generate(policy(subjects=SUBJECTS, enforcement={"default": "warn", "perTier": {"prod": "enforce"}}))
    found = assignment_policies(manifests)
    assert sorted(found) == ["tierguard-assignment-deny", "tierguard-assignment-warn"]
    conditions = {n: {c["name"]: c["expression"] for c in m["spec"]["matchConditions"]} for n, m in found.items()}
    # A Namespace takes the assigned tier's mode; a TierPolicy the default mode (warn).
    assert conditions["tierguard-assignment-deny"]["enforced-with-this-action"].endswith('in ["prod"] : false')
    assert conditions["tierguard-assignment-warn"]["enforced-with-this-action"].endswith(
        'in ["dev", "qa", "stage"] : true')
    binding = by_name(manifests, "ValidatingAdmissionPolicyBinding")["tierguard-assignment-deny"]
    assert binding["spec"]["matchResources"]["namespaceSelector"] == {}


def test_assignment_conditions_name_who_acts_in_every_tier_and_leave_serviceaccounts_namespaces_to_the_webhook(
) -> None:
    manifest = assignment_policies(generate(policy(subjects=SUBJECTS, exemptions={"namespaces": ["infra-*"]}),
                                            Options(own_namespace="tierguard-system")))["tierguard-assignment-deny"]
    conditions = {c["name"]: c["expression"] for c in manifest["spec"]["matchConditions"]}
    every = conditions["not-every-tier"]
    for literal in ("system:masters", glob_regex("sre"), glob_regex("system:serviceaccount:argocd:*"),
                    glob_regex("infra-*"), glob_regex("tierguard-system")):
        assert string(literal) in every, literal
    assert "system:serviceaccount" in conditions["namespace-not-by-a-serviceaccount"]
    assert conditions["namespace-not-by-a-serviceaccount"].startswith("request.kind.kind != 'Namespace' || ")
    tiers = next(v["expression"] for v in manifest["spec"]["variables"] if v["name"] == "tiers")
    assert string(glob_regex("team-*-dev")) in tiers and string(glob_regex("ana@example.com")) in tiers


def test_assignment_messages_share_the_engines_fixed_text() -> None:
    text = json.dumps(generate(policy(subjects=SUBJECTS)))
    for fixed in (assignment.NAMESPACE_ADVICE, assignment.POLICY_ADVICE, assignment.EVERY_TIER, NAMELESS,
                  *assignment.POLICY_VERBS.values()):
        assert json.dumps(fixed)[1:-1] in text, fixed


def test_break_glass_reads_the_stored_object_of_a_delete() -> None:
    manifest = assignment_policies(generate(policy(subjects=SUBJECTS, exemptions={"breakGlass": {"groups": ["sre"]}})
                                            ))["tierguard-assignment-deny"]
    (glass,) = [c["expression"] for c in manifest["spec"]["matchConditions"] if c["name"] == "not-break-glass"]
    assert glass.startswith("!(request.operation == 'DELETE' ? (has(oldObject.metadata.annotations)")


SERVICE_ACCOUNT_NAMES = st.text(st.sampled_from(list("ab:-")), max_size=12).map(lambda t: f"system:serviceaccount:{t}")


@settings(max_examples=300, deadline=None)
@given(name=st.one_of(SERVICE_ACCOUNT_NAMES, st.text(st.sampled_from(list("abs:-")), max_size=8)))
def test_the_serviceaccount_user_regex_is_the_engines_reading(name: str) -> None:
    """RE2 and Python read the regex alike: it must accept exactly the names the engine takes for ServiceAccounts."""
    assert bool(re.fullmatch(_SERVICE_ACCOUNT_USER, name)) == (service_account_namespace("User", name) is not None)


AMBIENT_SIDECAR = {
    "name": "istio-proxy",
    "injection": {"namespaceLabels": {"istio-injection": "enabled"},
                  "disabledBy": {"podLabels": {"sidecar.istio.io/inject": "false", "istio.io/dataplane-mode": "none"}}},
    "providedBy": {"namespaceLabels": {"istio.io/dataplane-mode": "ambient"},
                   "podLabels": {"istio.io/dataplane-mode": "ambient", "example.com/node-mesh": "on"},
                   "runningPodAnnotations": {"ambient.istio.io/redirection": "enabled"}}}


def test_provided_by_labels_pass_the_sidecar_check_as_in_the_engine() -> None:
    """``providedBy`` labels (the namespace's through namespaceObject) excuse a missing sidecar; Istio ambient's
    label not for a hostNetwork pod, another provider's always; the running pod's mark is the audit's alone."""
    (manifest,) = [m for m in generate(policy(sidecars={"required": [AMBIENT_SIDECAR]}))
                   if m["kind"] == "ValidatingAdmissionPolicy" and "workloads" in m["metadata"]["name"]]
    (sidecar_cel,) = [v["expression"] for v in manifest["spec"]["variables"] if v["name"] == "sidecarViolations"]
    ambient_ns = '("istio.io/dataplane-mode" in variables.nsLabels && ' \
                 'variables.nsLabels["istio.io/dataplane-mode"] == "ambient")'
    ambient_pod = '("istio.io/dataplane-mode" in variables.labels && ' \
                  'variables.labels["istio.io/dataplane-mode"] == "ambient")'
    other = '("example.com/node-mesh" in variables.labels && variables.labels["example.com/node-mesh"] == "on")'
    provided = f"(!variables.hostNetwork && {ambient_pod}) || {other} || (!variables.hostNetwork && {ambient_ns})"
    assert f"!({provided}) ?" in sidecar_cel
    assert "ambient.istio.io/redirection" not in sidecar_cel
    provided_by = load_policy({"spec": {"sidecars": {"required": [AMBIENT_SIDECAR]}}}).required_sidecars[0]
    for fixed in (sidecars.switches_off(provided_by, "istio.io/dataplane-mode", "none", "label"),
                  sidecars.switches_off(provided_by, "sidecar.istio.io/inject", "false", "label"),
                  f"{sidecars.NOT_PROVIDED} (namespace label istio.io/dataplane-mode=ambient or pod label "
                  "istio.io/dataplane-mode=ambient or pod label example.com/node-mesh=on would)",
                  f"; namespace label istio.io/dataplane-mode=ambient {sidecars.HOST_NETWORK_NOT_CAPTURED}",
                  f"; pod label istio.io/dataplane-mode=ambient {sidecars.HOST_NETWORK_NOT_CAPTURED}"):
        assert json.dumps(fixed)[1:-1] in json.dumps(sidecar_cel)
    assert sidecars.OPTS_OUT in sidecar_cel


def test_without_provided_by_the_sidecar_check_is_unchanged() -> None:
    text = json.dumps(generate(policy(sidecars={"required": [SIDECAR]})))
    assert sidecars.NOT_PROVIDED not in text and sidecars.OPTS_OUT not in text and "nsLabels[" in text


# --- posture: namespace-security-missing's labels ------------------------------------------------------------

ENFORCE = "pod-security.kubernetes.io/enforce"


def posture_policies(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: m for name, m in by_name(manifests, "ValidatingAdmissionPolicy").items() if "-posture-" in name}


def test_posture_only_when_labels_are_required() -> None:
    assert not posture_policies(generate(policy()))
    assert not posture_policies(generate(policy(namespaces={"defaultDenyIngress": True})))  # the webhook's alone
    assert sorted(posture_policies(generate(policy(namespaces={"requiredLabels": {ENFORCE: []}})))) == [
        "tierguard-posture-deny"]


def test_posture_binds_each_action_by_the_new_tier_and_judges_namespaces_only() -> None:
    manifests = generate(policy(enforcement={"perTier": {"dev": "warn"}},
                                namespaces={"requiredLabels": {ENFORCE: ["baseline", "restricted"]}}))
    found = posture_policies(manifests)
    assert sorted(found) == ["tierguard-posture-deny", "tierguard-posture-warn"]
    for name, manifest in found.items():
        spec = manifest["spec"]
        assert spec["matchConstraints"]["resourceRules"] == [
            {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["namespaces"], "operations": ["CREATE", "UPDATE"]}]
        conditions = {c["name"]: c["expression"] for c in spec["matchConditions"]}
        assert conditions["not-terminating"] == "!has(object.metadata.deletionTimestamp)"
        tiers = ["dev"] if name.endswith("warn") else ["qa", "stage", "prod"]
        assert conditions["enforced-with-this-action"].endswith("in [" + ", ".join(map(string, tiers)) + "]")
    binding = by_name(manifests, "ValidatingAdmissionPolicyBinding")["tierguard-posture-warn"]
    assert binding["spec"]["validationActions"] == ["Warn"]
    assert binding["spec"]["matchResources"]["namespaceSelector"] == {}


def test_posture_messages_share_the_engines_fixed_text() -> None:
    manifest = posture_policies(generate(policy(namespaces={"requiredLabels": {ENFORCE: ["baseline", "restricted"],
                                                                              "team": []}})))["tierguard-posture-deny"]
    text = json.dumps(manifest)
    assert json.dumps(posture.LABEL_FIX)[1:-1] in text
    assert json.dumps(f"label {ENFORCE} is missing (wanted: one of baseline, restricted); "
                      f"{posture.LABEL_FIX}")[1:-1] in text
    assert json.dumps("label team is missing (wanted: any value); ")[1:-1] in text
    assert json.dumps(", not one of baseline, restricted; ")[1:-1] in text
    assert manifest["metadata"]["annotations"]["tierguard.io/rules"] == "namespace-security-missing"
