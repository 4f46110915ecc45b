"""``tierguard check`` and the audit judge people's bindings by reach from the same ``spec.subjects`` (issue 24,
item 3): offline and from a cluster alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tierguard.audit.results import audit_objects
from tierguard.policy import load_policy

POLICY = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy",
          "spec": {"subjects": {"perTier": {"dev": {"groups": ["team-*-dev"]}, "prod": {"groups": ["team-*-prod"]}}}}}
OBJECTS: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": {"tierguard.io/tier": n}}}
    for n in ("dev", "prod")
] + [
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "debug", "namespace": "prod"},
     "rules": [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
     "metadata": {"name": "debuggers", "namespace": "prod"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "debug"},
     "subjects": [{"kind": "Group", "name": "team-payments-dev"}, {"kind": "Group", "name": "team-payments-prod"}]},
]
MESSAGE = ("[rbac-cross-tier-subject] RoleBinding prod/debuggers (tier prod) lets Group team-payments-dev (tier dev) "
           "reach its Secrets: can create pods/exec in prod, which reads its pods' mounted Secrets (Role debug); bind "
           "only subjects of tier prod")


def test_check_and_audit_refuse_the_same_binding(run: Any, tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(POLICY))
    (tmp_path / "objects.yaml").write_text(yaml.safe_dump_all(OBJECTS))
    code, out, _ = run("check", "--policy", str(tmp_path / "policy.yaml"), "-f", str(tmp_path / "objects.yaml"))
    assert code == 1
    assert out.splitlines()[0].endswith(f"RoleBinding prod/debuggers: {MESSAGE}")
    results = audit_objects(OBJECTS, load_policy(POLICY), own_namespace="tierguard-system")
    assert [f"[{v.rule.value}] {v.message}" for r in results for v in r.decision.violations] == [MESSAGE]
    code, _, _ = run("check", "-f", str(tmp_path / "objects.yaml"))  # without subjects people are not judged
    assert code == 0
