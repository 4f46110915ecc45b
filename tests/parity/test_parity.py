"""Security-service parity report: per required sidecar and tier, how many workloads run it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tierguard.commands.root import main
from tierguard.engine.rules.sidecars import SidecarState
from tierguard.parity import parity_report
from tierguard.policy import load_policy
from tierguard.render.parity import render_parity_json, render_parity_text

POLICY = load_policy({"spec": {"sidecars": {"required": [{
    "name": "istio-proxy",
    "injection": {"namespaceLabels": {"istio-injection": "enabled"},
                  "disabledBy": {"podLabels": {"sidecar.istio.io/inject": "false"}}}}]}}})


def namespace(name: str, tier: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"tierguard.io/tier": tier, **labels}}}


def deployment(ns: str, name: str, containers: list[str], **labels: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": c, "image": "x"} for c in containers]}}}}


def pod(ns: str, name: str, containers: list[str], owned: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": ns}
    if owned:
        metadata["ownerReferences"] = [{"kind": "ReplicaSet", "name": "web-1", "uid": "u", "apiVersion": "apps/v1"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"containers": [{"name": c, "image": "x"} for c in containers]}}


OBJECTS = [
    namespace("shop-dev", "dev", **{"istio-injection": "enabled"}),
    namespace("shop-prod", "prod"),
    deployment("shop-dev", "web", ["app"]),                                   # injected
    deployment("shop-prod", "web", ["app", "istio-proxy"]),                   # present
    deployment("shop-prod", "batch", ["app"]),                                # missing
    deployment("shop-prod", "legacy", ["app"], **{"sidecar.istio.io/inject": "false"}),  # disabled
    pod("shop-prod", "debug", ["app", "istio-proxy"]),                        # present, counted
    pod("shop-prod", "web-1-abc", ["app"], owned=True),                       # a controller's Pod: not counted
    deployment("default", "untiered", ["app"]),                               # untiered: not counted
]


def report_for(objects: list[dict[str, Any]]) -> Any:
    return parity_report([(o, f"all.yaml#{i}") for i, o in enumerate(objects)], POLICY)


def test_counts_each_tier_and_lists_the_gaps() -> None:
    report = report_for(OBJECTS)
    assert report.covered("istio-proxy", "dev") == (1, 1)
    assert report.covered("istio-proxy", "prod") == (2, 4)
    assert report.covered("istio-proxy", "qa") == (0, 0)
    assert [(g.ref.name, g.state) for g in report.gaps] == [("batch", SidecarState.MISSING),
                                                            ("legacy", SidecarState.DISABLED)]
    assert not report.complete


def test_renderings() -> None:
    report = report_for(OBJECTS)
    text = render_parity_text(report)
    assert text.splitlines()[1].split() == ["istio-proxy", "1/1", "0/0", "0/0", "2/4"]
    assert "all.yaml#4 Deployment shop-prod/batch: istio-proxy missing (tier prod)" in text
    assert text.endswith("parity incomplete: 2 gap(s)")
    document = json.loads(render_parity_json(report))
    assert document["sidecars"]["istio-proxy"]["prod"] == {"present": 2, "provided": 0, "injected": 0, "missing": 1,
                                                           "disabled": 1}
    assert document["complete"] is False and len(document["gaps"]) == 2


def test_full_parity_and_no_required_sidecars() -> None:
    assert report_for(OBJECTS[:4]).complete
    empty = parity_report([(o, "x") for o in OBJECTS], load_policy({}))
    assert empty.complete and "nothing to compare" in render_parity_text(empty)


@pytest.mark.parametrize("objects, status", [(OBJECTS, 1), (OBJECTS[:4], 0)])
def test_parity_command_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str], objects: list[Any],
                                status: int) -> None:
    manifests, policy = tmp_path / "all.yaml", tmp_path / "policy.yaml"
    manifests.write_text(yaml.safe_dump_all(objects))
    policy.write_text(yaml.safe_dump({"spec": {"sidecars": {"required": [{"name": "istio-proxy", "injection": {
        "namespaceLabels": {"istio-injection": "enabled"},
        "disabledBy": {"podLabels": {"sidecar.istio.io/inject": "false"}}}}]}}}))
    assert main(["parity", "-f", str(manifests), "--policy", str(policy), "-o", "json"]) == status
    assert json.loads(capsys.readouterr().out)["complete"] is (status == 0)


def test_parity_command_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [\n")
    assert main(["parity", "-f", str(broken)]) == 2
    assert "broken.yaml#0" in capsys.readouterr().err
