"""docs/rules.md stays true. Its sections are the rule modules' facts: one per rule id, in ``Rule``'s order, each
opening with the id's description and category as its module declares them, and no other rule id anywhere.
Its examples: each "Refused" document gives its section's rule id through the engine, each "Allowed" one does
not, as the README transcripts are run through the CLI.

An ``AdmissionReview`` document is judged as the request it carries (a rule of who sends a request, such as
``session-cross-tier``: the CONNECT's body is not an object of its own). A section's YAML blocks hold documents
separated by ``---``; the last ``# Allowed`` / ``# Refused`` comment
before a document's first line labels it (a document without one keeps the label before it). A fragment (no
``kind``, e.g. only ``metadata``) is merged into the last whole document of its block, or into the section's
base object below. Each section runs with STANDARD's namespaces plus the context it names in prose.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engine.helpers import (
    AMBIENT,
    AMBIENT_POLICY,
    FINGERPRINTER,
    STANDARD,
    Doc,
    namespace,
    policy,
    secret,
    workload,
)
from tierguard.engine import EvaluationRequest, OfflineContext, UserInfo, evaluate
from tierguard.engine.evaluation import RULE_FACTS
from tierguard.engine.model import Rule
from tierguard.engine.reach import PATHS, reach_of
from tierguard.policy import DEFAULT_POLICY, TierPolicy

DOCS = Path(__file__).parents[2] / "docs" / "rules.md"
_LABEL = re.compile(r"^#\s*(Allowed|Refused)\b")


@dataclass(frozen=True)
class Setup:
    """What a section's prose assumes: extra objects, the policy, the object fragments complete, the old object."""

    context: tuple[Doc, ...] = ()
    policy: TierPolicy = DEFAULT_POLICY
    base: Doc | None = None
    old: Mapping[str, Doc] = field(default_factory=dict)
    """Per label: the old object of an UPDATE (the document is then judged as an UPDATE)."""
    user: UserInfo | None = None
    """Who asks (the rules judging requests, not documents, need one)."""


WEB = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web", "labels": {}}}
_REACH_ROLE = re.compile(r"^\|.*\| `([a-z-]+)`: `([a-z]+) ([a-z/]+)(?:\.([a-z.0-9]+))?` \|$", re.MULTILINE)


def reach_roles() -> tuple[Doc, ...]:
    """The ClusterRoles rbac-cross-tier-subject's table names, one path each (``create deployments.apps``)."""
    section = DOCS.read_text().split("## rbac-cross-tier-subject", 1)[1].split("\n## ", 1)[0]
    return tuple({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
                  "rules": [{"apiGroups": [group or ""], "resources": [resource], "verbs": [verb]}]}
                 for name, verb, resource, group in _REACH_ROLE.findall(section))


SHOP_AMBIENT = namespace("shop-ambient", "prod", labels=AMBIENT)
"""The ambient namespace the sidecar sections' prose names; their policy is Istio's with ambient (providedBy)."""
PEOPLE = policy({"subjects": {"perTier": {"dev": {"groups": ["team-*-dev"], "users": ["dana@example.com"]},
                                          "prod": {"groups": ["team-*-prod"], "users": ["pat@example.com"]}},
                              "platform": {"groups": ["sre"]}}})
"""The people rbac-cross-tier-subject's prose gives the policy."""
SETUPS: dict[str, Setup] = {
    "namespace-tier-changed": Setup(base=WEB, old={"Allowed": WEB, "Refused": namespace("web", "prod")}),
    "secret-replication-cross-tier": Setup(context=(
        namespace("billing-prod", "prod"), namespace("billing-prod-eu", "prod"), namespace("demo-dev", "dev"),
        namespace("demo-prod", "prod"))),
    "workload-secret-cross-tier": Setup(
        context=(namespace("billing-dev", "dev"), namespace("billing-prod", "prod"),
                 secret("billing-dev", "db-credentials", {"password": "x" * 20},
                        annotations={"reflector.v1.k8s.emberstack.com/reflects": "billing-prod/db-credentials"})),
        policy=policy({"secrets": {"pathPatterns": {"dev": ["secret/data/dev/*"], "prod": ["secret/data/prod/*"]}}}),
        base=workload("Pod", "billing-dev", "billing")),
    "rbac-cross-tier-subject": Setup(
        context=reach_roles(), policy=PEOPLE,
        base={"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
              "metadata": {"name": "payments-devs", "namespace": "prod"},
              "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-creator"},
              "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team-payments-dev"}]}),
    "sidecar-missing": Setup(context=(namespace("shop-reports", "prod"), SHOP_AMBIENT), policy=AMBIENT_POLICY),
    "namespace-tier-assignment": Setup(
        policy=policy({"subjects": {"perTier": {"dev": {"groups": ["team-*-dev"]}, "prod": {"groups": ["team-*-prod"]}},
                                    "platform": {"groups": ["sre"]}}}),
        user=UserInfo("bob", ("team-payments-dev", "system:authenticated"))),
    "sidecar-injection-disabled": Setup(
        context=(namespace("mesh", "prod", labels={"istio-injection": "enabled"}), SHOP_AMBIENT), policy=AMBIENT_POLICY,
        base=workload("Deployment", "mesh", "web")),
    "session-cross-tier": Setup(
        context=(namespace("payments-dev", "dev"), namespace("payments-prod", "prod")),
        policy=policy({"subjects": {"perTier": {"dev": {"groups": ["team-*-dev"]},
                                                "prod": {"groups": ["team-*-prod"]}}},
                       "exemptions": {"breakGlass": {"groups": ["oncall"]}}})),
    "namespace-security-missing": Setup(policy=policy({"namespaces": {
        "requiredLabels": {"pod-security.kubernetes.io/enforce": ["baseline", "restricted"]},
        "defaultDenyIngress": True}})),
}


@dataclass(frozen=True)
class Example:
    rule: str
    label: str
    doc: Doc
    block: tuple[Doc, ...]
    """The documents of its block with the same label: judged together (two Secrets sharing a value)."""

    def __repr__(self) -> str:
        request = self.doc.get("request", {})
        name = (f"{request.get('subResource')} {request.get('namespace')}/{request.get('name')}" if request
                else self.doc.get("metadata", {}).get("name"))
        return f"{self.rule}: {self.label} {self.doc.get('kind')} {name}"


def _merge(base: Mapping[str, Any], fragment: Mapping[str, Any]) -> Doc:
    merged = copy.deepcopy(dict(base))
    for key, value in fragment.items():
        old = merged.get(key)
        merged[key] = _merge(old, value) if isinstance(old, Mapping) and isinstance(value, Mapping) else value
    return merged


def _label(text: str, previous: str | None) -> str | None:
    label = previous
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        match = _LABEL.match(line)
        if match:
            label = match.group(1)
    return label


def examples() -> list[Example]:
    found: list[Example] = []
    for section in re.split(r"^## ", DOCS.read_text(), flags=re.MULTILINE)[1:]:
        rule = section.split("\n", 1)[0].strip()
        if rule not in {r.value for r in Rule}:
            continue
        setup = SETUPS.get(rule, Setup())
        for block in re.findall(r"```yaml\n(.*?)```", section, re.DOTALL):
            labelled: list[tuple[str, Doc]] = []
            label: str | None = None
            whole: Doc | None = None
            for text in re.split(r"^---$", block, flags=re.MULTILINE):
                label = _label(text.strip(), label)
                doc = yaml.safe_load(text)
                if not doc:
                    continue
                assert label is not None, f"{rule}: a document without an Allowed/Refused comment:\n{text}"
                if "kind" in doc:
                    whole = doc
                else:
                    base = whole if whole is not None else setup.base
                    assert base is not None, f"{rule}: a fragment with nothing to complete:\n{text}"
                    doc = _merge(base, doc)
                labelled.append((label, doc))
            for label_, doc in labelled:
                group = tuple(d for other, d in labelled if other == label_)
                found.append(Example(rule, label_, doc, group))
    return found


EXAMPLES = examples()


def test_every_rule_has_a_refused_example() -> None:
    assert {e.rule for e in EXAMPLES if e.label == "Refused"} == {r.value for r in Rule}


@pytest.mark.parametrize("example", EXAMPLES, ids=repr)
def test_documented_example(example: Example) -> None:
    setup = SETUPS.get(example.rule, Setup())
    objects = [doc for doc in example.block if doc.get("kind") != "AdmissionReview"]
    context = OfflineContext.from_objects([*STANDARD, *setup.context, *objects], FINGERPRINTER)
    old = setup.old.get(example.label)
    if example.doc.get("kind") == "AdmissionReview":
        request = EvaluationRequest.from_admission_request(example.doc["request"])
    elif old is not None:
        request = EvaluationRequest(obj=example.doc, old=old, operation="UPDATE")
    else:
        request = EvaluationRequest.from_manifest(example.doc)
    if request.user is None:
        request.user = setup.user
    # Refused: denied; Allowed: admitted (a break-glass example is admitted with its finding as a warning).
    rules = {v.rule.value for v in evaluate(request, context, setup.policy).denials}
    if example.label == "Refused":
        assert example.rule in rules, rules
    else:
        assert example.rule not in rules, rules


# A rule id's shape: kebab-case ending as every id does, so a renamed or misspelt id in the prose is caught while
# annotation names (``reflection-allowed``) and namespaces (``prod-b``) are not.
_ID_SHAPE = r"[a-z]+(?:-[a-z]+)*-(?:cross-tier|shared|unknown|changed|subject|missing|disabled|assignment|invalid)"


def sections() -> dict[str, str]:
    """Heading -> text of each ``## `` section, in order."""
    parts = re.split(r"^## ", DOCS.read_text(), flags=re.MULTILINE)[1:]
    return {part.split("\n", 1)[0].strip(): part.split("\n", 1)[1] for part in parts}


def test_the_sections_are_the_facts_ids_in_order() -> None:
    headings = [heading for heading in sections() if re.fullmatch(r"[a-z]+(?:-[a-z]+)+", heading)]
    assert headings == [facts.id for facts in RULE_FACTS.values()]
    contents = re.findall(r"\[([^]]+)\]\(#([^)]+)\)", DOCS.read_text().split("\n## ", 1)[0])
    assert [text for text, anchor in contents if text == anchor] == headings


def test_each_section_opens_with_its_description_and_category() -> None:
    found = sections()
    for facts in RULE_FACTS.values():
        opening = " ".join(found[facts.id].strip().split("\n\n", 1)[0].split())
        assert opening == f"*{facts.description}* Category: `{facts.category}`.", facts.id


def test_no_rule_id_the_facts_lack() -> None:
    named = set(re.findall(rf"(?<![\w-])({_ID_SHAPE})(?![\w-])", DOCS.read_text()))
    assert named == {facts.id for facts in RULE_FACTS.values()}


def test_rbac_examples_refuse_and_admit_every_reach_path() -> None:
    """Each path of SPEC's "Reach" has its ClusterRole in the table, granting that path alone, and a refused and
    an allowed example binding it."""
    roles = {role["metadata"]["name"]: [reach.path.id for reach in reach_of(role["rules"])] for role in reach_roles()}
    assert sorted(ids[0] for ids in roles.values() if len(ids) == 1) == sorted({path.id for path in PATHS})
    for label in ("Refused", "Allowed"):
        bound = {e.doc["roleRef"]["name"] for e in EXAMPLES if e.rule == Rule.RBAC_CROSS_TIER_SUBJECT.value
                 and e.label == label}
        assert set(roles) <= bound, (label, set(roles) - bound)
