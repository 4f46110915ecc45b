"""Every TierPolicy's status in a real cluster (issue 27, item 3): `kubectl get tierpolicy` shows which one is in
force and why another is not; applying one that will not be used warns; an invalid one says why."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .support.kube import Cluster
from .support.tierguard import SELECTOR, current_policy, eventually

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "policy.yaml"


def conditions(cluster: Cluster, name: str) -> dict[str, dict[str, Any]]:
    got = cluster.get_json("tierpolicies.tierguard.io", name)
    return {c["type"]: c for c in (got.get("status") or {}).get("conditions") or ()}


def row(cluster: Cluster, name: str) -> list[str]:
    """The `kubectl get tierpolicy NAME` line, split on whitespace (NAME IN-FORCE VALID REASON ...)."""
    out = cluster.kubectl("get", "tierpolicies.tierguard.io", name).stdout.splitlines()
    assert out[0].split()[:4] == ["NAME", "IN-FORCE", "VALID", "REASON"], out[0]
    return out[1].split()


def test_kubectl_get_shows_which_policy_is_in_force_and_why_another_is_not(cluster: Cluster) -> None:
    assert current_policy(cluster) is not None, "the chart installs TierPolicy default"
    applied = cluster.kubectl("apply", "-f", str(EXAMPLE), check=False)
    try:
        assert applied.returncode == 0, applied.stderr
        # The warning as it is written: the example is stored, and nothing uses it.
        assert "TierPolicy example is not in force: only the TierPolicy named default is" in applied.stderr

        def shown() -> None:
            assert row(cluster, "default")[:4] == ["default", "True", "True", "Enforced"]
            assert row(cluster, "example")[:4] == ["example", "False", "True", "NotSelected"]

        eventually(shown)
        in_force = conditions(cluster, "example")["InForce"]
        assert "only the TierPolicy named default" in in_force["message"]
        generation = cluster.get_json("tierpolicies.tierguard.io", "default")["metadata"]["generation"]
        status = cluster.get_json("tierpolicies.tierguard.io", "default")["status"]
        assert status["observedGeneration"] == status["appliedGeneration"] == generation
        wide = cluster.kubectl("get", "tierpolicies.tierguard.io", "example", "-o", "wide").stdout
        assert "MESSAGE" in wide and "only the TierPolicy named default" in wide
    finally:
        cluster.kubectl("delete", "-f", str(EXAMPLE), "--ignore-not-found", check=False)


def test_a_status_is_not_rewritten_while_nothing_changes(cluster: Cluster) -> None:
    def written() -> str:
        status = cluster.get_json("tierpolicies.tierguard.io", "default").get("status") or {}
        assert status.get("conditions"), "no status yet"
        return json.dumps(status, sort_keys=True)

    first = eventually(written)
    before = cluster.get_json("tierpolicies.tierguard.io", "default")["metadata"]["resourceVersion"]
    time.sleep(5)  # two replicas, each woken by the other's (absent) writes: nothing may change
    assert written() == first
    assert cluster.get_json("tierpolicies.tierguard.io", "default")["metadata"]["resourceVersion"] == before


@contextmanager
def tierpolicy_webhook_bypassed(cluster: Cluster) -> Iterator[None]:
    """The tierpolicies webhook entry sent only DELETEs (which it admits): an invalid TierPolicy can be stored,
    as it is while no replica is ready (that entry fails open). Put back afterwards, even on failure."""
    (config,) = cluster.get_json("validatingwebhookconfigurations", "-l", SELECTOR)["items"]
    index = next(i for i, hook in enumerate(config["webhooks"])
                 if "tierpolicies" in hook["rules"][0]["resources"])
    path = f"/webhooks/{index}/rules/0/operations"
    original = config["webhooks"][index]["rules"][0]["operations"]

    def patch(value: list[str]) -> None:
        cluster.kubectl("patch", "validatingwebhookconfiguration", config["metadata"]["name"], "--type=json",
                        "-p", json.dumps([{"op": "replace", "path": path, "value": value}]))

    patch(["DELETE"])
    try:
        yield
    finally:
        patch(original)


def test_an_invalid_policy_stored_past_the_webhook_says_why(cluster: Cluster) -> None:
    name = f"tg-e2e-{uuid.uuid4().hex[:6]}"
    broken = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": name},
              "spec": {"secrets": {"pathPatterns": {"prod": ["secret/data/[prod/*"]}}}}
    try:
        with tierpolicy_webhook_bypassed(cluster):
            cluster.kubectl("create", "-f", "-", input=json.dumps(broken))

        def invalid() -> None:
            found = conditions(cluster, name)
            assert found["Valid"]["status"] == "False" and found["Valid"]["reason"] == "Invalid"
            assert found["Valid"]["message"].startswith("spec.secrets.pathPatterns.prod[0]")
            assert found["InForce"]["reason"] == "NotSelected"
            assert row(cluster, name)[:4] == [name, "False", "False", "NotSelected"]

        eventually(invalid)
    finally:
        cluster.kubectl("delete", "tierpolicies.tierguard.io", name, "--ignore-not-found", check=False)
