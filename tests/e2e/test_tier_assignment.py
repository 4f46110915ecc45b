"""namespace-tier-assignment on the real cluster, with real identities (``kubectl --as/--as-group``).

With ``spec.subjects`` in the TierPolicy in force, a dev person (user bob of ``team-payments-dev``) who may create
namespaces (the untiered group ``e2e-namespace-creators``, bound to a ClusterRole here) is refused a namespace
labelled prod and admitted one labelled dev, and refused any change to the TierPolicy; then, with every tierguard
pod gone, the prod namespace is still refused, by the generated ValidatingAdmissionPolicy. Every refusal is
compared with the engine's own message for the same request. A ServiceAccount's tier is its namespace's label,
which only the webhook can look up: its refusal comes from the webhook.

The test's own kubectl user is named under ``platform`` (``kubectl auth whoami``): it must write the TierPolicy
back afterwards, and a kind cluster's admin is in ``kubeadm:cluster-admins``, not ``system:masters``.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tierguard.engine import EvaluationRequest, UserInfo, evaluate
from tierguard.engine.context import OfflineContext
from tierguard.engine.fingerprints import Fingerprinter

from .support.kube import Cluster
from .support.tierguard import NAMESPACE, TIER_LABEL, assert_admitted, assert_refused, eventually, policy, whoami
from .test_admission_policies import assert_policy_answer, stored_policy, tierguard_stopped, wait_in_step

RULE = "namespace-tier-assignment"
CREATORS = "e2e-namespace-creators"
BOB = ("bob", ("team-payments-dev", CREATORS))
"""A dev person who may create namespaces and patch TierPolicies (RBAC), as kubectl impersonates him."""


def as_user(user: str, groups: tuple[str, ...]) -> list[str]:
    return ["--as", user, *(arg for group in groups for arg in ("--as-group", group))]


def tiered_namespace(tier: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": f"tg-assign-{tier}-{uuid.uuid4().hex[:6]}", "labels": {TIER_LABEL: tier}}}


def create(cluster: Cluster, obj: dict[str, Any], who: tuple[str, tuple[str, ...]], *, dry_run: bool = True
           ) -> subprocess.CompletedProcess[str]:
    extra = ["--dry-run=server"] if dry_run else []
    return cluster.kubectl("create", *extra, *as_user(*who), "-f", "-", input=json.dumps(obj), check=False)


def engine_message(cluster: Cluster, obj: dict[str, Any], who: tuple[str, tuple[str, ...]], *,
                   operation: str = "CREATE", old: dict[str, Any] | None = None) -> str:
    """What the webhook answers for this request: the engine's violations, with the requester the API server
    sees (impersonation adds ``system:authenticated``)."""
    known = cluster.get_json("namespaces")["items"]
    context = OfflineContext.from_objects(known, Fingerprinter.random())
    user = UserInfo(who[0], (*who[1], "system:authenticated"))
    decision = evaluate(EvaluationRequest(obj=obj, old=old, operation=operation, user=user), context,
                        stored_policy(cluster), own_namespace=NAMESPACE)
    return "; ".join(f"[{v.rule}] {v.message}" for v in decision.violations)


@pytest.fixture(scope="module")
def people(cluster: Cluster) -> Iterator[dict[str, str]]:
    """People with tiers in force, a group that may create namespaces and write TierPolicies, a dev namespace
    (for a ServiceAccount of it), and the generated policies in step; all undone afterwards."""
    suffix = uuid.uuid4().hex[:6]
    role = f"tg-e2e-assignment-{suffix}"
    dev = f"tg-assign-sa-dev-{suffix}"
    rbac = [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": role},
         "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["create", "get", "patch"]},
                   {"apiGroups": ["tierguard.io"], "resources": ["tierpolicies"],
                    "verbs": ["get", "patch", "update", "delete"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": role},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": CREATORS}]},
    ]
    subjects = {"perTier": {"dev": {"groups": ["team-*-dev"]}, "prod": {"groups": ["team-*-prod"]}},
                "platform": {"groups": ["sre"], "users": [whoami(cluster)]}}
    try:
        for manifest in rbac:
            cluster.apply(manifest)
        cluster.apply({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": dev, "labels": {TIER_LABEL: "dev"}}})
        with policy(cluster, {"subjects": subjects}):
            prefix = wait_in_step(cluster)

            def answered_by_the_policy() -> None:
                # Stored is not yet loaded: the API server's admission plugin picks new policies up from its own
                # watch a moment later, and until then only the webhook refuses.
                result = create(cluster, tiered_namespace("prod"), BOB)
                assert f"ValidatingAdmissionPolicy '{prefix}-assignment-deny'" in result.stderr, result.stderr

            eventually(answered_by_the_policy)
            yield {"prefix": prefix, "dev": dev}
    finally:
        cluster.kubectl("delete", "namespace", dev, "--wait=false", "--ignore-not-found", check=False)
        cluster.kubectl("delete", "clusterrolebinding", role, "--ignore-not-found", check=False)
        cluster.kubectl("delete", "clusterrole", role, "--ignore-not-found", check=False)


def test_a_dev_person_creating_a_prod_namespace_is_refused_and_a_dev_one_admitted(
        cluster: Cluster, people: dict[str, str]) -> None:
    prod = tiered_namespace("prod")
    expected = engine_message(cluster, prod, BOB)
    assert expected == (f"[{RULE}] Namespace {prod['metadata']['name']} is created in tier prod by user bob, who is "
                        f"in tier dev; only subjects of that tier or of the platform (spec.subjects) may put a "
                        f"namespace in it")
    # Not a dry run: refused for real, and nothing is left.
    refused = create(cluster, prod, BOB, dry_run=False)
    assert_policy_answer(refused, "deny", people["prefix"], "assignment", expected)
    assert cluster.kubectl("get", "namespace", prod["metadata"]["name"], check=False).returncode != 0
    dev = tiered_namespace("dev")
    try:
        assert_admitted(create(cluster, dev, BOB, dry_run=False))
    finally:
        cluster.kubectl("delete", "namespace", dev["metadata"]["name"], "--wait=false", "--ignore-not-found",
                        check=False)


def test_labelling_an_untiered_namespace_is_an_assignment(cluster: Cluster, people: dict[str, str],
                                                          namespace: Any) -> None:
    name = namespace()
    old = cluster.get_json("namespace", name)
    new = json.loads(json.dumps(old))
    new["metadata"]["labels"][TIER_LABEL] = "prod"
    carol = ("carol", (CREATORS,))
    expected = engine_message(cluster, new, carol, operation="UPDATE", old=old)
    assert expected.startswith(f"[{RULE}] Namespace {name} is labelled tier prod by user carol, who is in no tier;")
    label = ("label", "namespace", name, f"{TIER_LABEL}=prod", "--dry-run=server")
    assert_policy_answer(cluster.kubectl(*label, *as_user(*carol), check=False), "deny", people["prefix"],
                         "assignment", expected)
    assert_admitted(cluster.kubectl(*label, *as_user("sam", ("sre", CREATORS)), check=False))  # platform


def test_a_serviceaccount_is_judged_by_its_namespaces_tier_in_the_webhook(cluster: Cluster,
                                                                          people: dict[str, str]) -> None:
    dev = people["dev"]
    account = (f"system:serviceaccount:{dev}:ci", ("system:serviceaccounts", f"system:serviceaccounts:{dev}",
                                                   CREATORS))
    prod = tiered_namespace("prod")
    expected = engine_message(cluster, prod, account)
    assert "who is in tier dev;" in expected

    def refused_by_the_webhook() -> None:
        # The policies admit a ServiceAccount (its tier is another namespace's label): the webhook refuses it,
        # once its replicas have loaded the people's tiers.
        result = create(cluster, prod, account)
        assert_refused(result, RULE)
        assert "admission webhook" in result.stderr and expected in result.stderr, result.stderr

    eventually(refused_by_the_webhook)
    assert_admitted(create(cluster, tiered_namespace("dev"), account))


def test_a_tierpolicy_change_by_a_person_is_refused(cluster: Cluster, people: dict[str, str]) -> None:
    current = cluster.get_json("tierpolicies.tierguard.io", "default")
    changed = json.loads(json.dumps(current))
    changed["spec"]["subjects"]["perTier"]["prod"]["groups"].append("team-*-dev")
    patch = json.dumps({"spec": {"subjects": changed["spec"]["subjects"]}})
    result = cluster.kubectl("patch", "tierpolicies.tierguard.io", "default", "--type=merge", "-p", patch,
                             "--dry-run=server", *as_user(*BOB), check=False)
    expected = engine_message(cluster, changed, BOB, operation="UPDATE", old=current)
    assert expected.startswith(f"[{RULE}] TierPolicy default is changed by user bob, who does not act in every tier")
    assert_policy_answer(result, "deny", people["prefix"], "assignment", expected)
    deleted = cluster.kubectl("delete", "tierpolicies.tierguard.io", "default", "--dry-run=server",
                              *as_user(*BOB), check=False)
    assert_policy_answer(deleted, "deny", people["prefix"], "assignment",
                         engine_message(cluster, current, BOB, operation="DELETE", old=current))
    # The platform may (the test's own user; dry run: nothing changes).
    assert_admitted(cluster.kubectl("patch", "tierpolicies.tierguard.io", "default", "--type=merge", "-p", patch,
                                    "--dry-run=server", check=False))


def test_a_prod_namespace_stays_refused_with_tierguard_gone(cluster: Cluster, people: dict[str, str]) -> None:
    prod = tiered_namespace("prod")
    expected = engine_message(cluster, prod, BOB)
    patch = json.dumps({"spec": {"enforcement": {"default": "warn"}}})
    with tierguard_stopped(cluster):
        assert_policy_answer(create(cluster, prod, BOB), "deny", people["prefix"], "assignment", expected)
        result = cluster.kubectl("patch", "tierpolicies.tierguard.io", "default", "--type=merge", "-p", patch,
                                 "--dry-run=server", *as_user(*BOB), check=False)
        assert_refused(result, RULE)
        assert f"'{people['prefix']}-assignment-deny'" in result.stderr
