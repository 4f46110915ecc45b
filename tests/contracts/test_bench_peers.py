"""bench part 6 (peers offline): the tree's violations are what tierguard finds, a disagreeing tool stops the run,
each peer's output is read object by object, and ``--parts 6`` ends with both ratios (null only with a reason).
No timing is asserted (figures live in bench/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench import peers
from bench.peers import tools
from bench.peers.tree import CYCLE, Variant, generate

REPO = Path(__file__).resolve().parents[2]


def test_tierguard_flags_exactly_the_objects_the_tree_is_built_to_violate(tmp_path: Path) -> None:
    tree = generate(tmp_path / "t", 300)
    sample, found = peers._judge(tools.tierguard(), tree, tmp_path / "tierguard.out")
    assert sample.exit_code == 1 and sample.cpu_s > 0
    assert found == tree.expected
    kinds = {kind for kind, _, _ in found}
    assert kinds == {"Deployment", "StatefulSet", "Job", "CronJob", "Pod"}  # templates and Pods alike
    untiered = {name for name, labels in tree.namespace_labels.items() if not labels}
    assert untiered and not any(namespace in untiered for _, namespace, _ in found)
    # Native sidecars pass, a plain init container does not, a Pod alone can miss it.
    def flagged(variant: Variant) -> set[str]:
        prefixes = tuple(f"app-{app}-" for app in range(29) if CYCLE[app % len(CYCLE)] is variant)
        return {name for _, _, name in found if f"{name}-".startswith(prefixes)}

    assert not flagged(Variant.NATIVE) and not flagged(Variant.PROXY)
    assert flagged(Variant.PLAIN_INIT) and flagged(Variant.NONE)
    assert {name.rsplit("-", 1)[1] for name in flagged(Variant.POD_ONLY_MISSING)} == {"debug"}


def test_a_tool_flagging_other_objects_stops_the_run(tmp_path: Path) -> None:
    tree = generate(tmp_path / "t", 120)
    one = sorted(tree.expected)[0]
    peers.reconcile(tools.tierguard(), tree, set(tree.expected))
    with pytest.raises(peers.Disagreement, match="missed"):
        peers.reconcile(tools.tierguard(), tree, tree.expected - {one})
    with pytest.raises(peers.Disagreement, match="wrongly flagged"):
        peers.reconcile(tools.tierguard(), tree, tree.expected | {("Pod", "team-0004", "elsewhere")})


def test_tierguard_output_with_another_rule_is_refused() -> None:
    report = {"results": [{"object": {"kind": "Secret", "namespace": "a", "name": "s"},
                           "violations": [{"rule": "secret-value-shared"}]}]}
    with pytest.raises(tools.OutputError, match="secret-value-shared"):
        tools.tierguard_violations(json.dumps(report))


GATOR_RESULT = {  # one result of `gator test -o json` v3.23.1 on the generated tree (constraint trimmed)
    "target": "admission.k8s.gatekeeper.sh", "msg": "CronJob team-0001/app-1-nightly lacks required sidecar",
    "constraint": {"kind": "TierguardRequiredSidecar", "metadata": {"name": "istio-proxy"}},
    "enforcementAction": "deny", "trace": None,
    "violatingObject": {"apiVersion": "batch/v1", "kind": "CronJob",
                        "metadata": {"name": "app-1-nightly", "namespace": "team-0001"}}}


def test_gator_output_is_read_object_by_object() -> None:
    assert tools.gator_violations(json.dumps([GATOR_RESULT])) == {("CronJob", "team-0001", "app-1-nightly")}
    assert tools.gator_violations("null") == set()
    with pytest.raises(tools.OutputError, match="without kind"):
        tools.gator_violations(json.dumps([{**GATOR_RESULT, "violatingObject": {"kind": "Pod"}}]))


KYVERNO_OUTPUT = (  # `kyverno apply --policy-report --output-format json` v1.19.1 on the generated tree, trimmed
    "Warning: clusterpolicy.yaml: kyverno.io/v1 ClusterPolicy is deprecated and will be removed in a future release\n"
    '{"kind":"ClusterReport","apiVersion":"openreports.io/v1alpha1","metadata":{"name":"merged"},'
    '"summary":{"pass":1,"fail":1,"warn":0,"error":0,"skip":0},"results":['
    '{"policy":"require-istio-proxy","rule":"autogen-istio-proxy","result":"fail","resources":[{"kind":"Job",'
    '"namespace":"team-0001","name":"app-1-migrate","apiVersion":"batch/v1"}],"message":"Job lacks istio-proxy"},'
    '{"policy":"require-istio-proxy","rule":"autogen-istio-proxy","result":"pass","resources":[{"kind":"Deployment",'
    '"namespace":"team-0002","name":"app-52","apiVersion":"apps/v1"}],"message":"passed"}]}\n')


def test_kyverno_report_is_read_object_by_object_past_its_warning() -> None:
    assert tools.kyverno_violations(KYVERNO_OUTPUT) == {("Job", "team-0001", "app-1-migrate")}
    with pytest.raises(tools.OutputError, match="'error'"):
        tools.kyverno_violations(KYVERNO_OUTPUT.replace('"result":"pass"', '"result":"error"'))


def test_bench_parts_6_ends_with_both_peer_ratios() -> None:
    result = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--parts", "6"], cwd=REPO,
                            capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "part 6, peers offline" in result.stdout and "| tierguard |" in result.stdout
    assert report["peer_cpu_s_tierguard_95"] > 0  # tierguard itself is always measured
    for peer in peers.PEERS:
        value = report[f"peer_check_ratio_{peer}"]
        if value is None:  # a peer not built: null, and why
            assert f"peer_check_ratio_{peer} is null:" in result.stderr
        else:
            assert isinstance(value, float) and value > 0


def test_a_peer_not_built_is_null_with_the_reason(tmp_path: Path) -> None:
    env = {**os.environ, "TIERGUARD_TOOLS_CACHE": str(tmp_path)}  # an empty cache: nothing built
    result = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--parts", "6"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for peer in peers.PEERS:
        assert report[f"peer_check_ratio_{peer}"] is None
        assert f"peer_check_ratio_{peer} is null: {peer} unavailable" in result.stderr
        assert f"hack/build-tools.sh {peer}" in result.stderr  # what to run to get it
    assert report["peer_cpu_s_tierguard_95"] > 0 and "| kyverno" not in result.stdout
