"""``tierguard audit`` against an API server (``tests/fakes/apiserver.py``) judges pods as they stand: a running pod
that an Istio ambient label covers but that lacks the CNI's mark is ``sidecar-missing`` (claimed, not in force);
``tierguard check`` of the same manifests, which judges them as if created, admits it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.engine.helpers import AMBIENT, REDIRECTED
from tests.fakes.apiserver import FakeApiServer, serving

TIMEOUT_S = 120
POLICY = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "default"},
          "spec": {"sidecars": {"required": [{"name": "istio-proxy", "providedBy": {
              "namespaceLabels": AMBIENT, "runningPodAnnotations": REDIRECTED}}]}}}


def pod(name: str, phase: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "shop", "uid": f"uid-{name}", "annotations": annotations or {}},
            "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True"}]}}


PODS = [pod("captured", "Running", REDIRECTED), pod("uncaptured", "Running"), pod("starting", "Pending")]
SHOP = {"metadata": {"name": "shop", "uid": "uid-ns-shop", "labels": {"tierguard.io/tier": "dev", **AMBIENT}}}


def tierguard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tierguard", *args], capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False, env={**os.environ, "KUBECONFIG": ""})


def test_audit_reports_the_running_pod_without_the_mark_and_check_does_not(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    with serving(FakeApiServer(objects={"namespaces": [SHOP], "pods": PODS})) as api:
        audited = tierguard("audit", "--kubeconfig", str(api.kubeconfig(tmp_path)), "--policy", str(policy),
                            "-o", "json", "-q")
    assert audited.returncode == 1, audited.stderr
    denied = {r["object"]["name"]: [v["rule"] for v in r["violations"]]
              for r in json.loads(audited.stdout)["results"] if r["violations"]}
    assert denied == {"uncaptured": ["sidecar-missing"]}
    assert "claimed, not in force: the running pod lacks annotation ambient.istio.io/redirection=enabled" \
        in audited.stdout

    manifests = tmp_path / "cluster.json"
    manifests.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", **SHOP}, *({"apiVersion": "v1", "kind": "Pod", **p} for p in PODS)]}))
    checked = tierguard("check", "--policy", str(policy), "-f", str(manifests))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "4 objects checked: 0 denied" in checked.stdout
