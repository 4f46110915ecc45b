"""Tiers in separate clusters (docs/fleet.md, issue 28), on two real clusters: the session's cluster is the hub and
the member ``prod-eu`` (its prod tier); a second kind cluster made here is the member ``staging`` (its dev tier),
reaching the hub's API server across Docker's kind network with the account and token the hub's chart made for
it. Both share the fingerprint key (the Secret copied, as docs/fleet.md says to).

- a value the prod cluster holds is refused in the staging cluster's dev tier, naming cluster and tier, once the
  prod cluster has published and the staging cluster has read; and the other way round;
- the staging cluster's account cannot write the prod cluster's sets (the hub's ValidatingAdmissionPolicy);
- the hub paused and resumed: the staging cluster keeps refusing from the sets it read, and reads again after;
  with fleet.maxSetAgeSeconds, its replicas are not ready while the sets are older, and ready again after;
- a member whose tierguard stopped is no longer compared once its heartbeat has lasted;
- a key rotation's first step in one member keeps both refusing; a member on a key the other lacks compares
  nothing and says so.
- ``tierguard audit`` and ``parity`` over both clusters from one place (``--cluster``): the value shared across
  them a finding in each naming the other, and the parity page a column per cluster and tier; ``audit
  --fleet-hub`` of the staging cluster alone against the hub: the same finding.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.parity_page import parse

from .conftest import unavailable
from .support.kube import Cluster, tail, wait_until
from .support.tierguard import (
    NAMESPACE,
    SELECTOR,
    TIER_LABEL,
    apply,
    assert_admitted,
    eventually,
    policy,
    secret,
    secret_value,
)
from .test_install import RELEASE, helm, wait_rolled_out
from .test_multi_node import another_local_cluster
from .test_reliability import record

HUB_ACCESS = "tierguard-fleet-hub"
FAST = ["--set", "fleet.readIntervalSeconds=2", "--set", "fleet.publishIntervalSeconds=2"]
SEEN_S = 90
"""Publication (2 s) plus reading (2 s) plus a replica's own loop: well within this, on 2 loaded cores."""


def upgrade(cluster: Cluster, *sets: str) -> None:
    done = helm(cluster, "upgrade", RELEASE, str(Path(__file__).parents[2] / "charts" / "tierguard"), "-n", NAMESPACE,
                "--reuse-values", *sets, "--wait", "--timeout=180s")
    assert done.returncode == 0, tail(done.stderr)
    wait_rolled_out(cluster)


def control_plane_address(name: str) -> str:
    found = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                            f"{name}-control-plane"], capture_output=True, text=True, check=False)
    addresses = found.stdout.split()
    if found.returncode != 0 or not addresses:
        unavailable(f"no address of {name}-control-plane on Docker's networks: {found.stderr.strip()}")
    return addresses[0]


def hub_kubeconfig(hub: Cluster, address: str, member: str) -> str:
    """A kubeconfig of the hub for ``member``'s account, reaching the API server at its node's address."""
    config = yaml.safe_load(hub.kubeconfig.read_text())
    authority = config["clusters"][0]["cluster"]["certificate-authority-data"]
    token_secret = hub.get_json("secret", f"{RELEASE}-fleet-{member}", "-n", NAMESPACE)
    token = base64.b64decode(token_secret["data"]["token"]).decode()
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "hub",
        "clusters": [{"name": "hub", "cluster": {"server": f"https://{address}:6443",
                                                 "certificate-authority-data": authority}}],
        "users": [{"name": member, "user": {"token": token}}],
        "contexts": [{"name": "hub", "context": {"cluster": "hub", "user": member}}]})


def copy_key(source: Cluster, target: Cluster) -> None:
    """The fingerprint key Secret of ``source`` into ``target`` (never printed: stdin to stdin)."""
    key = source.get_json("secret", "tierguard-fingerprint-key", "-n", NAMESPACE)
    body = {"apiVersion": "v1", "kind": "Secret", "type": key.get("type", "Opaque"), "data": key["data"],
            "metadata": {"name": "tierguard-fingerprint-key", "namespace": NAMESPACE}}
    target.kubectl("delete", "secret", "tierguard-fingerprint-key", "-n", NAMESPACE, "--ignore-not-found")
    target.kubectl("create", "-f", "-", input=json.dumps(body))


@pytest.fixture(scope="module")
def fleet(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Cluster]]:
    """(hub, staging): the session's cluster as hub and member prod-eu, a second kind cluster as member staging."""
    if not cluster.local:
        unavailable("a fleet needs a second cluster, which this suite makes only next to its own kind cluster")
    hub_name = cluster.kind_name or os.environ.get("TIERGUARD_KIND_CLUSTER", "tierguard")
    upgrade(cluster, "--set", "fleet.member=prod-eu", "--set", "fleet.hub.members={staging}", *FAST)
    try:
        with another_local_cluster(cluster, tmp_path_factory.mktemp("fleet-member"), "tg-fleet") as staging:
            copy_key(cluster, staging)
            access = hub_kubeconfig(cluster, control_plane_address(hub_name), "staging")
            staging.kubectl("create", "-f", "-", input=json.dumps({
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": HUB_ACCESS, "namespace": NAMESPACE},
                "data": {"kubeconfig": base64.b64encode(access.encode()).decode()}}))
            upgrade(staging, "--set", "fleet.member=staging", "--set", f"fleet.hub.kubeconfigSecret={HUB_ACCESS}",
                    *FAST)
            yield cluster, staging
    finally:
        upgrade(cluster, "--set", "fleet.member=", "--set", "fleet.hub.members=null")
        for item in cluster.get_json("fleetfingerprintsets")["items"]:
            cluster.kubectl("delete", "fleetfingerprintset", item["metadata"]["name"], "--ignore-not-found")


def fleet_story(hub: Cluster, staging: Cluster) -> str:
    """What the hub holds of the heartbeats, and each hub replica's readiness and last fleet lines, for a failure."""
    heartbeats = hub.get_json("leases", "-n", NAMESPACE, "-l", "tierguard.io/fleet-member")["items"]
    story = [f"heartbeats: {[(lease['metadata']['name'], lease['spec']) for lease in heartbeats]}",
             f"staging pods: {[p['metadata']['name'] for p in staging.get_json('pods', '-n', NAMESPACE)['items']]}"]
    for pod in hub.get_json("pods", "-n", NAMESPACE, "-l", SELECTOR)["items"]:
        name = pod["metadata"]["name"]
        ready = [c.get("ready") for c in pod.get("status", {}).get("containerStatuses", [])]
        logs = hub.kubectl("logs", "-n", NAMESPACE, name, "-c", "tierguard", "--tail=-1", check=False).stdout
        lines = [line for line in logs.splitlines() if "fleet" in line or "error" in line.lower()][-8:]
        story += [f"hub pod {name} ready={ready} deleting={'deletionTimestamp' in pod['metadata']}", *lines]
    return "\n".join(story)


def tiered(target: Cluster, tier: str) -> str:
    """A namespace of ``tier`` in the staging cluster (deleted with it)."""
    name = f"tg-fleet-{tier}-{uuid.uuid4().hex[:6]}"
    target.kubectl("create", "namespace", name)
    target.kubectl("label", "namespace", name, f"{TIER_LABEL}={tier}")
    return name


EXEMPT = ("--as=tg-e2e-fleet-prober", "--as-group=system:masters")
"""Who writes the copies: a member of the chart's `sharedValues.exemptGroups`. Each refusal naming another tier
spends the writer's answers (10 per replica an hour, then every Secret write of theirs is refused alike): the
polls below would spend the kind admin's (`kubeadm:cluster-admins`, not exempt) within one test, and then no
write of theirs could show a member gone (what failed in CI)."""


def dry_run(target: Cluster, namespace: str, value: str) -> subprocess.CompletedProcess[str]:
    return apply(target, secret(namespace, "copied", value), "--dry-run=server", *EXEMPT)


def refused_naming(target: Cluster, namespace: str, value: str, cluster_name: str, tier: str) -> str | None:
    result = dry_run(target, namespace, value)
    expected = f"as a Secret of cluster '{cluster_name}' (tier {tier})"
    return result.stderr if result.returncode != 0 and expected in result.stderr else None


def test_a_prod_value_is_refused_in_the_other_cluster_and_back(fleet: tuple[Cluster, Cluster],
                                                              namespace: Callable[..., str]) -> None:
    hub, staging = fleet
    prod, dev = namespace(labels={TIER_LABEL: "prod"}), tiered(staging, "dev")
    value = secret_value()
    assert_admitted(dry_run(staging, dev, secret_value()))  # an unrelated value: admitted
    created = time.monotonic()
    assert_admitted(apply(hub, secret(prod, "db", value)))
    message = wait_until(lambda: refused_naming(staging, dev, value, "prod-eu", "prod"), timeout=SEEN_S,
                         interval=1, what="the staging cluster refusing the prod cluster's value")
    # A figure, not a bound: the time from the value's creation in one cluster to its refusal in the other, at
    # the intervals of FAST (docs/fleet.md), to the 1 s of this poll.
    record("fleet-seen", seconds=round(time.monotonic() - created, 1), publish_interval_s=2, read_interval_s=2)
    assert "[secret-value-shared]" in message and value not in message
    names = [item["metadata"]["name"] for item in hub.get_json("fleetfingerprintsets")["items"]]
    assert any(re.fullmatch(r"prod-eu\.prod\.[0-9a-f]{16}\.0", name) for name in names), names

    other = secret_value()
    assert_admitted(apply(staging, secret(dev, "api", other)))
    wait_until(lambda: refused_naming(hub, prod, other, "staging", "dev"), timeout=SEEN_S, interval=2,
               what="the prod cluster refusing the staging cluster's dev value")


def test_a_member_cannot_write_another_members_sets(fleet: tuple[Cluster, Cluster]) -> None:
    hub, staging = fleet
    access = staging.get_json("secret", HUB_ACCESS, "-n", NAMESPACE)
    with tempfile.NamedTemporaryFile("w", suffix=".kubeconfig", delete=False) as handle:
        handle.write(base64.b64decode(access["data"]["kubeconfig"]).decode())
    as_staging = Cluster(kubeconfig=Path(handle.name), kubectl_path=hub.kubectl_path, bin_dir=hub.bin_dir,
                         local=True)
    forged: dict[str, Any] = {
        "apiVersion": "tierguard.io/v1alpha1", "kind": "FleetFingerprintSet", "metadata": {"name": "prod-eu.qa.0"},
        "spec": {"member": "prod-eu", "tier": "qa", "keyId": "0" * 16, "generation": 1, "chunk": 0, "chunks": 1,
                 "encoding": "gcs-v1", "p": 40, "count": 0, "data": ""}}
    try:
        refused = as_staging.apply(forged, "--dry-run=server", check=False)
        assert refused.returncode != 0 and "fleet member staging may write only its own" in refused.stderr, \
            refused.stderr
        own = {**forged, "metadata": {"name": "staging.qa.0"}, "spec": {**forged["spec"], "member": "staging"}}
        allowed = as_staging.apply(own, "--dry-run=server", check=False)
        assert allowed.returncode == 0, allowed.stderr
    finally:
        os.unlink(handle.name)


def test_the_hub_paused_and_resumed_loses_nothing(fleet: tuple[Cluster, Cluster],
                                                  namespace: Callable[..., str]) -> None:
    hub, staging = fleet
    hub_name = hub.kind_name or os.environ.get("TIERGUARD_KIND_CLUSTER", "tierguard")
    prod, dev = namespace(labels={TIER_LABEL: "prod"}), tiered(staging, "dev")
    value = secret_value()
    assert_admitted(apply(hub, secret(prod, "db", value)))
    wait_until(lambda: refused_naming(staging, dev, value, "prod-eu", "prod"), timeout=SEEN_S, interval=2,
               what="the staging cluster refusing the prod cluster's value")
    subprocess.run(["docker", "pause", f"{hub_name}-control-plane"], check=True, capture_output=True)
    try:
        time.sleep(8)  # several of the staging cluster's reads fail meanwhile
        assert refused_naming(staging, dev, value, "prod-eu", "prod"), "the sets read before were dropped"
    finally:
        subprocess.run(["docker", "unpause", f"{hub_name}-control-plane"], check=True, capture_output=True)
    wait_until(lambda: hub.kubectl("get", "--raw", "/readyz", check=False).returncode == 0 or None, timeout=120,
               what="the hub's API server back")
    wait_rolled_out(hub)
    later = secret_value()
    assert_admitted(apply(hub, secret(prod, "later", later)))
    wait_until(lambda: refused_naming(staging, dev, later, "prod-eu", "prod"), timeout=SEEN_S, interval=2,
               what="a value published after the pause refused too")


def readiness(cluster: Cluster) -> list[str]:
    """Each tierguard replica's /readyz answer, asked inside its pod (the probe's own address)."""
    answers = []
    for pod in cluster.get_json("pods", "-n", NAMESPACE, "-l", SELECTOR)["items"]:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        ports = [p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])
                 if p.get("name") == "metrics"]
        asked = cluster.kubectl("exec", "-n", NAMESPACE, pod["metadata"]["name"], "-c", "tierguard", "--", "python",
                                "-c", "import sys, urllib.request, urllib.error\n"
                                "try:\n print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())\n"
                                "except urllib.error.HTTPError as e:\n print(e.read().decode())",
                                f"http://127.0.0.1:{ports[0]}/readyz", check=False)
        answers.append(asked.stdout.strip() or asked.stderr.strip())
    return answers


def test_sets_older_than_the_max_age_make_a_member_not_ready_until_read_again(fleet: tuple[Cluster, Cluster]) -> None:
    """fleet.maxSetAgeSeconds: the hub paused for longer than it, the staging cluster's replicas are not ready,
    naming the sets' age; the hub back, they read it and are ready again. (Without it, the test above: they stay
    ready and keep the sets they read.)"""
    hub, staging = fleet
    hub_name = hub.kind_name or os.environ.get("TIERGUARD_KIND_CLUSTER", "tierguard")
    upgrade(staging, "--set", "fleet.maxSetAgeSeconds=10")
    try:
        subprocess.run(["docker", "pause", f"{hub_name}-control-plane"], check=True, capture_output=True)
        try:
            def stale() -> list[str] | None:
                answers = readiness(staging)
                return answers if answers and all("fleet's sets" in answer for answer in answers) else None

            answers = wait_until(stale, timeout=90, interval=3, what="the staging replicas not ready for old sets")
            assert all(answer.startswith("not ready: the fleet's sets were last read from the hub") for answer in
                       answers), answers
        finally:
            subprocess.run(["docker", "unpause", f"{hub_name}-control-plane"], check=True, capture_output=True)
        wait_until(lambda: all(answer == "ready" for answer in readiness(staging)) or None, timeout=120, interval=3,
                   what="the staging replicas ready again once the hub answers")
    finally:
        upgrade(staging, "--set", "fleet.maxSetAgeSeconds=0")


def test_a_member_gone_is_no_longer_compared_after_its_heartbeat(fleet: tuple[Cluster, Cluster],
                                                                  namespace: Callable[..., str]) -> None:
    """The staging cluster's tierguard stopped: its heartbeat Lease on the hub is no longer renewed, and once it
    has lasted its duration (three publications, at least 10 s) by the hub's own clock the hub stops comparing
    the staging cluster's sets. It comes back: compared again."""
    hub, staging = fleet
    prod, dev = namespace(labels={TIER_LABEL: "prod"}), tiered(staging, "dev")
    value = secret_value()
    assert_admitted(apply(staging, secret(dev, "db", value)))
    wait_until(lambda: refused_naming(hub, prod, value, "staging", "dev"), timeout=SEEN_S, interval=2,
               what="the prod cluster refusing the staging cluster's value")
    staging.kubectl("scale", f"deployment/{RELEASE}", "-n", NAMESPACE, "--replicas=0")
    last: list[subprocess.CompletedProcess[str]] = []

    def admitted() -> bool:
        last[:] = [dry_run(hub, prod, value)]
        return last[0].returncode == 0

    try:
        try:
            # The heartbeat's 10 s after the last beat; the bound is the stopping replicas' exit (their drain and
            # linger, about 100 s), should anything of theirs still beat until then.
            wait_until(lambda: admitted() or None, timeout=SEEN_S + 60, interval=2,
                       what="the prod cluster no longer comparing a gone member's sets")
        except AssertionError as error:
            raise AssertionError(f"{error}\nthe last answer: {tail(last[0].stderr)}\n"
                                 f"{fleet_story(hub, staging)}") from None
    finally:
        staging.kubectl("scale", f"deployment/{RELEASE}", "-n", NAMESPACE, "--replicas=2")
    wait_rolled_out(staging)
    wait_until(lambda: refused_naming(hub, prod, value, "staging", "dev"), timeout=SEEN_S, interval=2,
               what="the staging cluster's sets compared again once it beats")


def set_keys(target: Cluster, data: dict[str, str]) -> None:
    """The fingerprint key Secret of ``target`` holds ``data`` (base64 keys, never printed), then its replicas
    restart: the keys are read at start."""
    body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": data,
            "metadata": {"name": "tierguard-fingerprint-key", "namespace": NAMESPACE}}
    target.kubectl("delete", "secret", "tierguard-fingerprint-key", "-n", NAMESPACE, "--ignore-not-found")
    target.kubectl("create", "-f", "-", input=json.dumps(body))
    target.kubectl("rollout", "restart", f"deployment/{RELEASE}", "-n", NAMESPACE)
    wait_rolled_out(target)


def staging_keys_on_hub(hub: Cluster) -> set[str]:
    return {item["spec"]["keyId"] for item in hub.get_json("fleetfingerprintsets")["items"]
            if item["spec"]["member"] == "staging"}


def test_a_key_rotation_keeps_both_clusters_refusing_and_no_shared_key_is_said(
        fleet: tuple[Cluster, Cluster], namespace: Callable[..., str]) -> None:
    """docs/fleet.md's rotation, its first step in the staging cluster alone: the new key as ``key`` and the old one
    as ``secondary``. The staging cluster publishes under both and looks up each set under its key, so it still
    refuses the prod cluster's value and the prod cluster (the old key alone) still refuses its value. Its old key
    dropped too early (the prod cluster not yet rotated): the two share no key, compare nothing, and say so."""
    hub, staging = fleet
    prod, dev = namespace(labels={TIER_LABEL: "prod"}), tiered(staging, "dev")
    old = hub.get_json("secret", "tierguard-fingerprint-key", "-n", NAMESPACE)["data"]["key"]
    new = base64.b64encode(secrets.token_bytes(32)).decode()
    value = secret_value()
    assert_admitted(apply(hub, secret(prod, "db", value)))
    try:
        set_keys(staging, {"key": new, "secondary": old})
        wait_until(lambda: len(staging_keys_on_hub(hub)) == 2 or None, timeout=SEEN_S, interval=2,
                   what="the staging cluster publishing under both keys")
        wait_until(lambda: refused_naming(staging, dev, value, "prod-eu", "prod"), timeout=SEEN_S, interval=2,
                   what="the rotating staging cluster refusing the prod cluster's value (its old key's sets)")
        theirs = secret_value()
        assert_admitted(apply(staging, secret(dev, "api", theirs)))
        wait_until(lambda: refused_naming(hub, prod, theirs, "staging", "dev"), timeout=SEEN_S, interval=2,
                   what="the prod cluster (old key) refusing the rotating staging cluster's value")

        set_keys(staging, {"key": new})
        wait_until(lambda: len(staging_keys_on_hub(hub)) == 1 or None, timeout=SEEN_S, interval=2,
                   what="the staging cluster's old key's sets withdrawn")
        wait_until(lambda: dry_run(staging, dev, value).returncode == 0 or None, timeout=SEEN_S, interval=2,
                   what="the staging cluster, sharing no key, no longer comparing the prod cluster's sets")

        def said() -> bool:
            logs = staging.kubectl("logs", "-n", NAMESPACE, "-l", SELECTOR, "-c", "tierguard", "--tail=-1").stdout
            return "fleet: member prod-eu publishes under key id(s)" in logs and "share a key" in logs

        wait_until(lambda: said() or None, timeout=60, interval=3, what="the staging replicas saying no key is shared")
    finally:
        set_keys(staging, {"key": old})
    wait_until(lambda: refused_naming(staging, dev, value, "prod-eu", "prod"), timeout=SEEN_S, interval=2,
               what="the staging cluster on the shared key again")


def tierguard_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tierguard", *args], capture_output=True, text=True, timeout=600,
                          check=False, env={**os.environ, "KUBECONFIG": ""})


def deployment(namespace: str, app: str, containers: list[str]) -> dict[str, Any]:
    """A workload parity counts by its template: no replica, nothing to pull."""
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": app, "namespace": namespace, "labels": {"app": app}},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [
                         {"name": c, "image": "registry.k8s.io/pause:3.10"} for c in containers]}}}}


def test_audit_and_parity_judge_both_clusters_from_one_place(fleet: tuple[Cluster, Cluster],
                                                            namespace: Callable[..., str], tmp_path: Path) -> None:
    hub, staging = fleet
    prod, dev = namespace(labels={TIER_LABEL: "prod"}), tiered(staging, "dev")
    value = secret_value()
    assert_admitted(apply(hub, secret(prod, "db", value)))
    # The live fleet would refuse the copy once the staging cluster has read the prod cluster's set: admitted
    # under audit, as a copy made before the fleet was joined would stand.
    with policy(staging, {"enforcement": {"perTier": {"dev": "audit"}}}):
        eventually(lambda: assert_admitted(apply(staging, secret(dev, "copy", value))))
    app = f"tg-fleet-app-{uuid.uuid4().hex[:6]}"
    assert_admitted(apply(hub, deployment(prod, app, ["app", "istio-proxy"])))
    assert_admitted(apply(staging, deployment(dev, app, ["app"])))
    clusters = ("--cluster", f"prod-eu={hub.kubeconfig}", "--cluster", f"staging={staging.kubeconfig}")

    done = tierguard_cli("audit", *clusters, "-n", prod, "-n", dev, "-o", "json", "-q")
    assert done.returncode == 1, done.stderr
    results = {(r["cluster"], r["object"]["kind"], r["object"]["name"]): r for r in json.loads(done.stdout)["results"]}
    copy = [v["message"] for v in results[("staging", "Secret", "copy")]["violations"]]
    assert any("as a Secret of cluster 'prod-eu' (tier prod)" in m for m in copy), copy
    db = [v["message"] for v in results[("prod-eu", "Secret", "db")]["violations"]]
    assert any("as a Secret of cluster 'staging' (tier dev)" in m for m in db), db
    assert value not in done.stdout + done.stderr

    # The staging cluster alone against what the prod cluster published to the hub, with staging's own keys.
    done = tierguard_cli("audit", "--kubeconfig", str(staging.kubeconfig), "--fleet-hub", str(hub.kubeconfig),
                         "--fleet-member", "staging", "--fleet-hub-namespace", NAMESPACE, "--tierguard-namespace",
                         NAMESPACE, "-n", dev, "-o", "json", "-q")
    assert done.returncode == 1, done.stderr
    copy = [v["message"] for r in json.loads(done.stdout)["results"] if r["object"]["name"] == "copy"
            for v in r["violations"]]
    assert any("as a Secret of cluster 'prod-eu' (tier prod)" in m for m in copy), copy
    assert value not in done.stdout + done.stderr

    required = tmp_path / "policy.yaml"
    required.write_text(json.dumps({"spec": {"sidecars": {"required": [{"name": "istio-proxy"}]}}}))
    page = tierguard_cli("parity", *clusters, "--policy", str(required), "-o", "html", "-q")
    assert page.returncode in (0, 1) and page.stdout, page.stderr
    read = parse(page.stdout)
    assert read.states[(app, "prod-eu/prod", "istio-proxy")] == "present"
    assert read.states[(app, "staging/dev", "istio-proxy")] == "missing"
    assert app in read.highlighted  # the staging cluster's dev lacks what the prod cluster's prod runs
