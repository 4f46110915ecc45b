"""Every rule id of SPEC's table is denied by at least one table row, so a rule cannot silently go untested.

The rows are the ``CASES`` tables of the rule test modules (and the tier-change table, and the requests of
``test_assignment``); a rule counts only when a row expects it and the engine really denies it there.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tierguard.engine import evaluate
from tierguard.engine.model import Action, Rule

from . import (
    test_assignment,
    test_cert_manager,
    test_crossplane,
    test_external_secrets,
    test_flux,
    test_kyverno,
    test_malformed,
    test_namespaces,
    test_posture,
    test_rbac_gateway,
    test_replication,
    test_sessions,
    test_shared_values,
    test_sidecars,
    test_vault_operator,
    test_volumes,
    test_workloads,
)
from .helpers import decisions

TABLES = (test_namespaces, test_replication, test_shared_values, test_workloads, test_volumes, test_rbac_gateway,
          test_sidecars, test_posture, test_malformed, test_vault_operator, test_external_secrets, test_flux,
          test_cert_manager, test_kyverno, test_crossplane)
REQUEST_TABLES = (test_sessions,)
"""Tables of whole requests (``CASES`` of rows with ``request``, ``expected`` rule ids and ``policy``, and the
module's ``context_for(policy)``): rules that judge who sends a request, not only the object."""


def denied_rules() -> dict[str, list[str]]:
    """Rule id -> ids of the rows that expect it and see it denied."""
    found: dict[str, list[str]] = {}
    for module in TABLES:
        for case in module.CASES:
            for ref, decision in decisions(case.docs, case.policy):
                for violation in decision.denials:
                    if (violation.rule.value, ref) in case.expected:
                        found.setdefault(violation.rule.value, []).append(case.id)
    for module in REQUEST_TABLES:
        for row in module.CASES:
            decision = evaluate(row.request, module.context_for(row.policy), row.policy,
                                own_namespace=module.OWN_NAMESPACE)
            for violation in decision.denials:
                if violation.rule in row.expected:
                    found.setdefault(violation.rule.value, []).append(row.id)
    for request in test_assignment.REQUESTS:  # judged on requests (a user), which manifests do not carry
        for violation in request.decide().denials:
            if request.refused and violation.rule is Rule.NAMESPACE_TIER_ASSIGNMENT:
                found.setdefault(violation.rule.value, []).append(request.id)
    for old, new, expected in test_namespaces.CHANGES:
        for violation in test_namespaces.tier_change(old, new).violations:
            if violation.action is Action.DENY and violation.rule.value in expected:
                found.setdefault(violation.rule.value, []).append(f"{old} -> {new}")
    return found


def test_every_rule_has_a_deny_row() -> None:
    covered = denied_rules()
    missing = sorted(rule.value for rule in Rule if rule.value not in covered)
    assert not missing, f"rules without a deny test: {missing}"


def test_every_rule_has_an_allow_row() -> None:
    """Each table also holds rows with nothing expected: the allowed side of its rules."""
    for module in (*TABLES, *REQUEST_TABLES):
        assert any(not case.expected for case in module.CASES), module.__name__


DOCS = Path(__file__).parents[2] / "docs" / "rules.md"


def test_every_rule_is_documented() -> None:
    text = DOCS.read_text()
    for rule in Rule:
        assert f"\n## {rule.value}\n" in text, f"docs/rules.md has no section for {rule.value}"


def test_documented_yaml_parses() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert len(blocks) >= len(Rule)
    for block in blocks:
        assert [doc for doc in yaml.safe_load_all(block) if doc], block
