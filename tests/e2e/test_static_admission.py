"""The namespace rules as static admission policies (KEP-5793, manifest-based admission control): read by the API
server from files (``tierguard admission-policies --static DIR``), evaluated before every policy stored through
its API, and not in that API at all, so nobody with API access can list, change or delete them.

Needs an API server of Kubernetes 1.36+ whose ValidatingAdmissionPolicy plugin has a ``staticManifestsDir``
(hack/local-cluster.sh configures ``<state>/admission/static`` there, and turns the 1.36 alpha gate on), found
from the API server's own metrics, not from its version. On the local cluster the test writes tierguard's file
into that directory (unless ``TIERGUARD_STATIC_POLICIES=1`` had ``up`` write it before the API server started),
waits for the API server to reread it, and removes it afterwards: later tests expect tierguard's own policies to
answer first. Skipped with the reason where the feature is absent or off (1.35) or the directory is out of reach.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tierguard.commands.root import main
from tierguard.vap.static import FILE_NAME, static_name

from .support.kube import Cluster, local_state_dir, wait_until
from .support.tierguard import NAMESPACE, TIER_LABEL, current_policy
from .test_admission_policies import dry_run, expected_message, tierguard_stopped

GATE = "ManifestBasedAdmissionControlConfig"
POLICY = static_name("tierguard-namespaces-deny")
RELOAD_TIMEOUT_S = 90.0
"""The API server rereads the directory on a file event, and at the latest every minute."""
ANSWER = f"ValidatingAdmissionPolicy '{POLICY}' with binding '{POLICY}' denied request: "


def api_server_metrics(cluster: Cluster) -> str:
    got = cluster.kubectl("get", "--raw", "/metrics", check=False)
    if got.returncode != 0:
        pytest.skip(f"cannot read the API server's /metrics, where the feature gate shows: {got.stderr.strip()}")
    return got.stdout


def server_minor(cluster: Cluster) -> int:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]
    return int(re.sub(r"\D", "", version["minor"]))


def static_dir_configured(cluster: Cluster) -> None:
    """Skips unless the API server runs with the gate on and a static manifest directory for its
    ValidatingAdmissionPolicy plugin (it then records a reload of it at start); on the local cluster of 1.36+,
    where hack/local-cluster.sh sets both, their absence fails."""
    metrics = api_server_metrics(cluster)
    gate = re.search(rf'^kubernetes_feature_enabled\{{name="{GATE}",stage="(\w*)"\}} (\d)', metrics, re.MULTILINE)
    loaded = re.search(r'^apiserver_manifest_admission_config_controller_automatic_reloads_total\{[^}]*'
                       r'plugin="ValidatingAdmissionPolicy"[^}]*status="success"', metrics, re.MULTILINE)
    expected_here = cluster.local and server_minor(cluster) >= 36
    if gate is None:
        assert not expected_here, f"a 1.36+ API server without the {GATE} gate"
        pytest.skip(f"this API server has no {GATE} feature gate (manifest-based admission control: Kubernetes "
                    "1.36+)")
    if gate.group(2) != "1":
        assert not expected_here, f"hack/local-cluster.sh turns {GATE} on for 1.36, and 1.37 has it on by default"
        pytest.skip(f"the {GATE} feature gate ({gate.group(1).lower()}) is off in this API server")
    if loaded is None:
        assert not expected_here, ("hack/local-cluster.sh gives the API server a staticManifestsDir on 1.36+, but "
                                   "its ValidatingAdmissionPolicy plugin recorded no load of one")
        pytest.skip("the API server's ValidatingAdmissionPolicy plugin has no staticManifestsDir")


def unknown_tier_namespace() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": f"tg-static-{uuid.uuid4().hex[:8]}", "labels": {TIER_LABEL: "prd"}}}


def static_answers(cluster: Cluster) -> bool:
    return ANSWER in dry_run(cluster, unknown_tier_namespace(), None).stderr


@pytest.fixture(scope="module")
def static_rules(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """tierguard's static namespace rules, answering in the API server for the module."""
    static_dir_configured(cluster)
    directory = local_state_dir() / "admission" / "static"
    written = directory / FILE_NAME
    if static_answers(cluster):  # written before the API server started (TIERGUARD_STATIC_POLICIES=1)
        yield
        return
    if not cluster.local or not directory.is_dir():
        pytest.skip(f"static manifests live on the control plane's disk: write them there with `tierguard "
                    f"admission-policies --static DIR` (no {directory} here)")
    stored = current_policy(cluster)
    assert stored is not None, "no TierPolicy default"
    policy_file = tmp_path_factory.mktemp("static") / "policy.json"
    policy_file.write_text(json.dumps(stored))
    assert main(["admission-policies", "--policy", str(policy_file), "--namespace", NAMESPACE,
                 "--static", str(directory)]) == 0
    try:
        wait_until(lambda: static_answers(cluster), timeout=RELOAD_TIMEOUT_S, interval=1,
                   what=f"the API server answering with the static policy {POLICY} (from {written})")
        yield
    finally:
        written.unlink(missing_ok=True)
        wait_until(lambda: not static_answers(cluster), timeout=RELOAD_TIMEOUT_S, interval=1,
                   what=f"the API server no longer answering with {POLICY} ({written} removed)")


def assert_static_refusal(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode != 0, f"admitted; expected {POLICY} to refuse: {expected}"
    assert f"{ANSWER}{expected}\n" in result.stderr + "\n", result.stderr


def test_static_rules_refuse_unknown_and_changed_tiers_first(
        cluster: Cluster, static_rules: None, namespace: Callable[..., str]) -> None:
    typo = unknown_tier_namespace()
    expected = expected_message(cluster, typo, None)
    assert expected.startswith("[namespace-tier-unknown] ")
    # The static policy answers although tierguard's own policies and webhook would refuse too: it runs first.
    assert_static_refusal(dry_run(cluster, typo, None), expected)
    prod = namespace({TIER_LABEL: "prod"})
    old = cluster.get_json("namespace", prod)
    for change in (f"{TIER_LABEL}=dev", f"{TIER_LABEL}-"):
        changed = json.loads(json.dumps(old))
        if change.endswith("-"):
            del changed["metadata"]["labels"][TIER_LABEL]
        else:
            changed["metadata"]["labels"][TIER_LABEL] = "dev"
        expected = expected_message(cluster, changed, None, old=old)
        assert expected.startswith("[namespace-tier-changed] ")
        result = cluster.kubectl("label", "namespace", prod, change, "--overwrite", "--dry-run=server", check=False)
        assert_static_refusal(result, expected)
    # What the rules allow is admitted.
    assert cluster.kubectl("label", "namespace", prod, "team=payments", "--dry-run=server", check=False).returncode == 0


def test_static_policies_are_not_in_the_api(cluster: Cluster, static_rules: None) -> None:
    for kind in ("validatingadmissionpolicies", "validatingadmissionpolicybindings"):
        names = [item["metadata"]["name"] for item in cluster.get_json(kind)["items"]]
        assert POLICY not in names, f"{kind}: {names}"
        deleted = cluster.kubectl("delete", kind, POLICY, check=False)
        assert deleted.returncode != 0 and "NotFound" in deleted.stderr, deleted.stderr
    # Nor can one be put in its place through the API: the suffix is reserved while the gate is on.
    impostor = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": POLICY},
                "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                                  "resources": ["namespaces"],
                                                                  "operations": ["CREATE"]}]},
                         "validations": [{"expression": "true"}]}}
    created = cluster.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(impostor), check=False)
    assert created.returncode != 0 and "reserved for static manifest-based configurations" in created.stderr, \
        created.stderr


def test_static_rules_hold_without_tierguard_and_its_policies(
        cluster: Cluster, static_rules: None, namespace: Callable[..., str]) -> None:
    """tierguard stopped and its own namespace policies deleted (it puts them back when it starts again): what
    refuses is the static policy, from the API server alone."""
    prod = namespace({TIER_LABEL: "prod"})
    synced = [(kind, item["metadata"]["name"])
              for kind in ("validatingadmissionpolicybindings", "validatingadmissionpolicies")
              for item in cluster.get_json(kind, "-l", "tierguard.io/family=namespaces")["items"]]
    assert synced, "tierguard keeps no namespace policies in this cluster"
    with tierguard_stopped(cluster):
        for kind, name in synced:
            cluster.kubectl("delete", kind, name, "--ignore-not-found")
        refused = dry_run(cluster, unknown_tier_namespace(), None)
        assert refused.returncode != 0 and f"{ANSWER}[namespace-tier-unknown] " in refused.stderr, refused.stderr
        result = cluster.kubectl("label", "namespace", prod, f"{TIER_LABEL}=dev", "--overwrite", "--dry-run=server",
                                 check=False)
        assert result.returncode != 0 and f"{ANSWER}[namespace-tier-changed] " in result.stderr, result.stderr

    def restored() -> bool:
        return all(cluster.kubectl("get", kind, name, check=False).returncode == 0 for kind, name in synced)

    wait_until(restored, timeout=RELOAD_TIMEOUT_S, interval=2, what="tierguard's namespace policies applied again")


def test_the_file_is_what_the_api_server_loaded(static_rules: None, cluster: Cluster) -> None:
    """The API server reports the hash of the directory it loaded: that of tierguard's file when it is alone."""
    directory = local_state_dir() / "admission" / "static"
    if not cluster.local:
        pytest.skip("the static manifest directory is on the control plane's disk, not here")
    if sorted(p.name for p in directory.iterdir()) != [FILE_NAME]:
        pytest.skip(f"{directory} does not hold tierguard's file alone")
    digest = directory_hash(directory / FILE_NAME)
    wait_until(lambda: f'hash="{digest}"' in api_server_metrics(cluster), timeout=RELOAD_TIMEOUT_S, interval=2,
               what=f"apiserver_manifest_admission_config_controller_last_config_info with hash {digest}")


def directory_hash(only_file: Path) -> str:
    """The loader's hash of a directory holding one file (k8s.io/apiserver manifest.LoadFiles: each file's bytes
    and a NUL byte, in name order)."""
    return "sha256:" + hashlib.sha256(only_file.read_bytes() + b"\0").hexdigest()
