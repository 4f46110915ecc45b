"""``tierguard parity`` with ``spec.namespaces``: each tier's namespace posture beside the sidecars, from manifests
and from an API server, in every format; a namespace outside the policy is a gap (exit status 1), a tier weaker
than prod is flagged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.fakes.apiserver import FakeApiServer, serving
from tests.support.parity_page import parse
from tierguard.kinds import row_of

from .manifests import POSTURE, POSTURE_POLICY

ENFORCE = "pod-security.kubernetes.io/enforce"
TIMEOUT_S = 120


def files(tmp_path: Path, manifests: str = POSTURE) -> tuple[str, ...]:
    (tmp_path / "policy.yaml").write_text(POSTURE_POLICY)
    (tmp_path / "all.yaml").write_text(manifests)
    return "parity", "--policy", str(tmp_path / "policy.yaml"), "-f", str(tmp_path / "all.yaml")


def test_a_namespace_outside_the_policy_is_a_gap_in_every_format(run: Any, tmp_path: Path) -> None:
    argv = files(tmp_path)
    status, text, err = run(*argv)
    assert (status, err) == (1, "")
    assert f"{tmp_path / 'all.yaml'}#1 Namespace shop-qa: no default-deny-ingress NetworkPolicy (tier qa)" in text
    assert "\nnamespace posture " in text and text.endswith("parity incomplete: 1 gap(s)\n")
    document = json.loads(run(*argv, "-o", "json")[1])
    assert document["gaps"] == [] and document["complete"] is False
    assert document["posture"]["tiers"]["dev"]["weaker"] == [ENFORCE]
    assert document["posture"]["tiers"]["qa"]["weaker"] == ["default-deny-ingress"]
    page = parse(run(*argv, "-o", "html")[1])
    assert page.weaker(ENFORCE) == {"dev"} and page.weaker("default-deny-ingress") == {"qa"}


def test_every_namespace_within_the_policy_is_complete(run: Any, tmp_path: Path) -> None:
    fixed = POSTURE + """---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop-qa}
spec: {podSelector: {}}
"""
    status, text, _ = run(*files(tmp_path, fixed))
    assert status == 0 and text.endswith("parity complete\n")
    assert "weaker than prod: dev" in text  # drift within the policy is shown, not a gap


def objects_of(kind: str) -> list[dict[str, Any]]:
    """The manifests of a kind as the API server stores them (list items carry no apiVersion or kind)."""
    return [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")}
            for o in yaml.safe_load_all(POSTURE) if o["kind"] == kind]


def test_the_posture_from_an_api_server(tmp_path: Path) -> None:
    api = FakeApiServer(objects={"namespaces": objects_of("Namespace"), "pods": objects_of("Pod"),
                                 "networkpolicies": objects_of("NetworkPolicy")})
    (tmp_path / "policy.yaml").write_text(POSTURE_POLICY)
    with serving(api):
        done = subprocess.run([sys.executable, "-m", "tierguard", "parity", "--kubeconfig",
                               str(api.kubeconfig(tmp_path)), "--policy", str(tmp_path / "policy.yaml"), "-o", "json"],
                              capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
                              env={**os.environ, "KUBECONFIG": ""})
    posture = json.loads(done.stdout)["posture"]
    assert posture["tiers"]["dev"]["weaker"][0] == ENFORCE
    assert posture["tiers"]["prod"]["namespaces"] == ["shop-prod"]
    deny = posture["defaultDenyIngress"]
    if row_of("networking.k8s.io/v1", "NetworkPolicy") is not None:
        # the kinds table lists NetworkPolicies: counted, and shop-qa's missing one is a gap
        assert done.returncode == 1, done.stderr
        assert deny["listed"] is True and deny["tiers"]["qa"] == {"keeping": 0, "namespaces": 1, "weaker": True}
        assert [g["namespace"] for g in posture["gaps"]] == ["shop-qa"]
        assert "networkpolicies" in {r.resource for r in api.requests}
    else:
        # no row for them yet: never listed, so nothing is counted or made a gap from their absence
        assert done.returncode == 0, done.stderr
        assert deny["listed"] is False and deny["tiers"]["qa"]["keeping"] is None and posture["gaps"] == []
