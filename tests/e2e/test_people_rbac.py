"""rbac-cross-tier-subject judges people by ``spec.subjects`` and by reach (issue 24, item 3), at the admission
boundary of a real API server with real ``kubectl``: a RoleBinding that lets a dev group create pods in a prod
namespace (a Pod mounts any Secret of its namespace) is refused, naming that path; the same binding for the prod
group is admitted, and RBAC then really grants it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

from .support.kube import Cluster
from .support.tierguard import (
    TIER_LABEL,
    apply,
    assert_admitted,
    assert_refused,
    current_policy,
    eventually,
    policy,
)

NamespaceFactory = Callable[..., str]
SUBJECTS = {"perTier": {"dev": {"groups": ["team-payments-dev"]}, "prod": {"groups": ["team-payments-prod"]}}}


def binding(namespace: str, group: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "payments-pods", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-creator"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]}


def test_a_dev_group_may_not_be_given_create_pods_in_prod(cluster: Cluster, namespace: NamespaceFactory) -> None:
    prod = namespace(labels={TIER_LABEL: "prod"})
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "pod-creator", "namespace": prod},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}]}
    assert_admitted(apply(cluster, role))
    spec = {**(current_policy(cluster) or {}).get("spec", {}), "subjects": SUBJECTS}
    with policy(cluster, spec):
        # The policy reload and the Role's arrival in tierguard's index take a moment.
        refused = eventually(lambda: _refused(apply(cluster, binding(prod, "team-payments-dev"))))
        assert f"Group team-payments-dev (tier dev) reach its Secrets: can create pods in {prod}, which mounts " \
               "its Secrets (Role pod-creator)" in refused
        assert_admitted(apply(cluster, binding(prod, "team-payments-prod")))
        can = cluster.kubectl("auth", "can-i", "create", "pods", "-n", prod, "--as", "someone",
                              "--as-group", "team-payments-prod", check=False)
        assert can.stdout.strip() == "yes", can.stdout + can.stderr


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    assert_refused(result, "rbac-cross-tier-subject")
    return result.stderr
