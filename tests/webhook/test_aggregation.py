"""The live context judges aggregated ClusterRoles from its index of ClusterRole labels (issue 10, item 9)."""

from __future__ import annotations

from tests.engine.test_aggregated_roles import MONITORING, READS_PODS, READS_SECRETS, binding
from tests.webhook.helpers import FakeIndexes, review
from tests.webhook.test_admission import answer
from tierguard.webhook.admission import AdmissionService


def test_a_binding_to_an_aggregated_role_is_judged_by_its_parts(service: AdmissionService,
                                                                indexes: FakeIndexes) -> None:
    indexes.add(MONITORING)  # stored before the controller filled its rules
    indexes.add(READS_SECRETS)
    response = answer(service, review(binding("monitoring")), "rolebindings")
    assert response["allowed"] is False
    assert response["status"]["message"].startswith("[rbac-cross-tier-subject] ")


def test_an_aggregated_role_of_harmless_parts_is_admitted(service: AdmissionService, indexes: FakeIndexes) -> None:
    indexes.add(MONITORING)
    indexes.add(READS_PODS)
    assert answer(service, review(binding("monitoring")), "rolebindings")["allowed"] is True


def test_rules_the_controller_filled_are_read_too(service: AdmissionService, indexes: FakeIndexes) -> None:
    filled = {**MONITORING, "rules": READS_SECRETS["rules"]}
    indexes.add(filled)
    assert answer(service, review(binding("monitoring")), "rolebindings")["allowed"] is False
