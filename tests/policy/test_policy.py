"""TierPolicy loading: SPEC's defaults, and errors that name the offending field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tierguard.engine.evaluation import ACTION_BY_MODE
from tierguard.engine.model import Action
from tierguard.policy import (
    DEFAULT_POLICY,
    BreakGlass,
    DisabledBy,
    EnforcementMode,
    Injection,
    PolicyError,
    RequiredSidecar,
    load_policy,
    load_policy_file,
    load_policy_text,
)

SPEC_DEFAULTS = """
apiVersion: tierguard.io/v1alpha1
kind: TierPolicy
metadata:
  name: default
spec:
  tierLabel: tierguard.io/tier
  tiers: [dev, qa, stage, prod]
  enforcement:
    default: enforce
    perTier: {}
  secrets:
    shareable:
      labels: {tierguard.io/shareable: "true"}
    fingerprints:
      enabled: true
      minLength: 16
      ignoreKeys: [ca.crt, tls.crt]
    pathPatterns: {}
  sidecars:
    required: []
  exemptions:
    namespaces: [kube-system, kube-public, kube-node-lease]
    breakGlass:
      annotation: tierguard.io/break-glass
      groups: []
  subjects:
    perTier: {}
    platform: {groups: [], users: []}
"""


def test_defaults_equal_spec() -> None:
    assert load_policy_text(SPEC_DEFAULTS) == DEFAULT_POLICY


@pytest.mark.parametrize("document", [
    {},
    {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy"},
    {"spec": None},
    {"spec": {}},
    {"spec": {"enforcement": {}, "secrets": {"fingerprints": {}, "shareable": {}}, "sidecars": {},
              "exemptions": {"breakGlass": {}}}},
])
def test_omitted_fields_take_defaults(document: dict[str, Any]) -> None:
    assert load_policy(document) == DEFAULT_POLICY


def test_default_values() -> None:
    p = DEFAULT_POLICY
    assert p.tier_label == "tierguard.io/tier"
    assert p.tiers == ("dev", "qa", "stage", "prod")
    assert p.enforcement.default is EnforcementMode.ENFORCE and p.enforcement.per_tier == {}
    assert dict(p.secrets.shareable.labels) == {"tierguard.io/shareable": "true"}
    assert p.secrets.fingerprints.enabled and p.secrets.fingerprints.min_length == 16
    assert p.secrets.fingerprints.ignore_keys == ("ca.crt", "tls.crt")
    assert p.secrets.path_patterns == {}
    assert p.required_sidecars == ()
    assert p.exemptions.namespaces == ("kube-system", "kube-public", "kube-node-lease")
    assert p.exemptions.break_glass == BreakGlass("tierguard.io/break-glass", ())


def test_full_policy() -> None:
    policy = load_policy_text("""
spec:
  tierLabel: example.com/env
  tiers: [dev, prod]
  enforcement: {default: warn, perTier: {prod: enforce, dev: audit}}
  secrets:
    shareable: {labels: {public: "yes"}}
    fingerprints: {enabled: false, minLength: 32, ignoreKeys: []}
    pathPatterns: {prod: ["secret/data/prod/*"]}
  sidecars:
    required:
    - name: istio-proxy
      image: "*/proxyv2:*"
      injection:
        namespaceLabels: {istio-injection: enabled}
        podLabels: {sidecar.istio.io/inject: "true"}
        disabledBy:
          podAnnotations: {sidecar.istio.io/inject: "false"}
    - name: log-shipper
  exemptions:
    namespaces: ["platform-*"]
    breakGlass: {annotation: example.com/why, groups: [sre]}
""")
    assert policy.tier_label == "example.com/env" and policy.tiers == ("dev", "prod")
    assert ACTION_BY_MODE[policy.enforcement.mode_for("prod")] is Action.DENY
    assert ACTION_BY_MODE[policy.enforcement.mode_for("dev")] is Action.AUDIT
    assert ACTION_BY_MODE[policy.enforcement.mode_for(None)] is Action.WARN
    assert policy.secrets.path_patterns == {"prod": ("secret/data/prod/*",)}
    assert policy.secrets.fingerprints.ignore_keys == ()
    assert policy.required_sidecars == (
        RequiredSidecar("istio-proxy", "*/proxyv2:*", Injection(
            namespace_labels={"istio-injection": "enabled"}, pod_labels={"sidecar.istio.io/inject": "true"},
            disabled_by=DisabledBy(pod_annotations={"sidecar.istio.io/inject": "false"}))),
        RequiredSidecar("log-shipper"),
    )
    assert policy.exemptions.namespaces == ("platform-*",)
    assert policy.exemptions.break_glass == BreakGlass("example.com/why", ("sre",))


SIDECARS = {"required": [{"name": "istio-proxy"}, {"name": "other", "image": "x"}]}

ERRORS = [
    # unknown fields, at several depths
    ({"specs": {}}, "specs", "unknown field"),
    ({"spec": {"tierLable": "x"}}, "spec.tierLable", "unknown field"),
    ({"spec": {"secrets": {"fingerprints": {"minLenght": 8}}}}, "spec.secrets.fingerprints.minLenght",
     "unknown field"),
    ({"spec": {"sidecars": {"required": [{"name": "a"}, {"name": "b", "imag": "x"}]}}},
     "spec.sidecars.required[1].imag", "unknown field"),
    ({"spec": {"sidecars": {"required": [{"name": "a", "injection": {"disabledBy": {"labels": {}}}}]}}},
     "spec.sidecars.required[0].injection.disabledBy.labels", "unknown field"),
    ({"spec": {"exemptions": {"breakGlass": {"group": ["sre"]}}}}, "spec.exemptions.breakGlass.group",
     "unknown field"),
    ({"spec": {"enforcement": {"mode": "warn"}}}, "spec.enforcement.mode", "unknown field"),
    # wrong types
    ({"spec": {"sidecars": {"required": [{"name": "a"}, {"name": "b", "image": 5}]}}},
     "spec.sidecars.required[1].image", "expected a string"),
    ({"spec": {"sidecars": {"required": {"name": "a"}}}}, "spec.sidecars.required", "expected a list"),
    ({"spec": {"sidecars": {"required": ["istio-proxy"]}}}, "spec.sidecars.required[0]", "expected a mapping"),
    ({"spec": {"sidecars": {"required": [{"image": "x"}]}}}, "spec.sidecars.required[0].name", "required"),
    ({"spec": {"tiers": "dev,prod"}}, "spec.tiers", "expected a list"),
    ({"spec": {"tiers": ["dev", 3]}}, "spec.tiers[1]", "expected a string"),
    ({"spec": {"tiers": []}}, "spec.tiers", "at least one tier"),
    ({"spec": {"tiers": ["dev", "pr od"]}}, "spec.tiers[1]", "not a valid label value"),
    ({"spec": {"tierLabel": ""}}, "spec.tierLabel", "must not be empty"),
    ({"spec": {"tierLabel": None}}, "spec.tierLabel", "expected a string, got null"),
    ({"spec": {"secrets": {"fingerprints": {"minLength": 1.5}}}}, "spec.secrets.fingerprints.minLength",
     "expected an integer, got a number"),
    ({"spec": {"secrets": {"fingerprints": {"minLength": "16"}}}}, "spec.secrets.fingerprints.minLength",
     "expected an integer"),
    ({"spec": {"secrets": {"fingerprints": {"minLength": True}}}}, "spec.secrets.fingerprints.minLength",
     "expected an integer"),
    ({"spec": {"secrets": {"fingerprints": {"minLength": 0}}}}, "spec.secrets.fingerprints.minLength",
     "at least 1"),
    ({"spec": {"secrets": {"fingerprints": {"enabled": "yes"}}}}, "spec.secrets.fingerprints.enabled",
     "expected a boolean"),
    ({"spec": {"secrets": {"fingerprints": {"ignoreKeys": "ca.crt"}}}}, "spec.secrets.fingerprints.ignoreKeys",
     "expected a list"),
    ({"spec": {"secrets": {"shareable": {"labels": {"tierguard.io/shareable": True}}}}},
     "spec.secrets.shareable.labels.tierguard.io/shareable", "expected a string"),
    ({"spec": {"secrets": {"pathPatterns": {"prod": "secret/*"}}}}, "spec.secrets.pathPatterns.prod",
     "expected a list"),
    ({"spec": {"secrets": "none"}}, "spec.secrets", "expected a mapping"),
    ({"spec": {"exemptions": {"namespaces": "kube-system"}}}, "spec.exemptions.namespaces", "expected a list"),
    ({"spec": {"exemptions": {"breakGlass": {"annotation": ""}}}}, "spec.exemptions.breakGlass.annotation",
     "must not be empty"),
    ({"spec": []}, "spec", "expected a mapping"),
    ({"metadata": {"name": 5}}, "metadata.name", "expected a string"),
    # a tier listed twice, a sidecar listed twice
    ({"spec": {"tiers": ["dev", "prod", "dev"]}}, "spec.tiers[2]", "listed twice"),
    ({"spec": {"sidecars": {"required": [{"name": "a"}, {"name": "a"}]}}}, "spec.sidecars.required[1]",
     "listed twice"),
    # invalid globs
    ({"spec": {"exemptions": {"namespaces": ["kube-[system"]}}}, "spec.exemptions.namespaces[0]", "invalid glob"),
    ({"spec": {"exemptions": {"namespaces": ["ok", "a]b"]}}}, "spec.exemptions.namespaces[1]", "invalid glob"),
    ({"spec": {"exemptions": {"namespaces": ["team-[]"]}}}, "spec.exemptions.namespaces[0]", "invalid glob"),
    ({"spec": {"exemptions": {"namespaces": [""]}}}, "spec.exemptions.namespaces[0]", "must not be empty"),
    ({"spec": {"secrets": {"pathPatterns": {"prod": ["secret/[prod/*"]}}}}, "spec.secrets.pathPatterns.prod[0]",
     "invalid glob"),
    ({"spec": {"sidecars": {"required": [{"name": "a", "image": "proxy[v2"}]}}}, "spec.sidecars.required[0].image",
     "invalid glob"),
    # perTier / pathPatterns naming an unknown tier
    ({"spec": {"enforcement": {"perTier": {"prd": "warn"}}}}, "spec.enforcement.perTier.prd", "unknown tier"),
    ({"spec": {"tiers": ["dev", "prod"], "enforcement": {"perTier": {"qa": "warn"}}}},
     "spec.enforcement.perTier.qa", "unknown tier"),
    ({"spec": {"secrets": {"pathPatterns": {"production": ["x/*"]}}}}, "spec.secrets.pathPatterns.production",
     "unknown tier"),
    # bad modes
    ({"spec": {"enforcement": {"default": "deny"}}}, "spec.enforcement.default", "unknown mode"),
    ({"spec": {"enforcement": {"default": "Enforce"}}}, "spec.enforcement.default", "unknown mode"),
    ({"spec": {"enforcement": {"perTier": {"dev": "off"}}}}, "spec.enforcement.perTier.dev", "unknown mode"),
    ({"spec": {"enforcement": {"default": True}}}, "spec.enforcement.default", "expected a string"),
    # the document itself
    ({"apiVersion": "tierguard.io/v1"}, "apiVersion", "expected"),
    ({"kind": "Policy"}, "kind", "expected"),
    ("spec: {}", "", "expected a mapping"),
    (["spec"], "", "expected a mapping"),
]


@pytest.mark.parametrize(("document", "field", "problem"), ERRORS,
                         ids=[f"{e[1] or 'document'}: {e[2]}" for e in ERRORS])
def test_errors_name_the_field(document: Any, field: str, problem: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(document)
    assert caught.value.field == field
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{field}: " if field else problem[:5])


@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty"),
    ("# only a comment\n", "empty"),
    ("spec: [unclosed", "not valid YAML: line 1"),
    ("spec:\n\t tiers: [dev]\n", "not valid YAML: line 2"),
    ("spec: {tiers: [dev]}\n---\nspec: {}\n", "not valid YAML"),
    ("- just\n- a list\n", "expected a mapping"),
    ("just text", "expected a mapping"),
])
def test_policy_text_errors(text: str, problem: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text)
    assert problem in str(caught.value)


def test_policy_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy_file(tmp_path / "missing.yaml")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy_file(tmp_path / "binary.yaml")
    (tmp_path / "ok.yaml").write_text(SPEC_DEFAULTS)
    assert load_policy_file(tmp_path / "ok.yaml") == DEFAULT_POLICY


def test_example_policy_loads() -> None:
    example = Path(__file__).parents[2] / "examples" / "policy.yaml"
    load_policy_file(example)


def test_a_value_its_yaml_tag_cannot_read_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="explicit tag cannot read"):
        load_policy_text('spec:\n  tiers: [!!int ""]\n')
