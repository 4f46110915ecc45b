"""``tierguard audit --fleet-hub``: one member cluster (a fake API server, ``tests/fakes/apiserver.py``) judged
against the sets the other members published to the hub (another fake API server holding what ``fleet/publisher.py``
writes): a value the prod cluster published is ``secret-value-shared`` in the member's dev tier, naming that
cluster and tier, with the member's own keys (during a rotation, either one); the member's own sets are left out;
nothing is written to the hub; and the ways it cannot run are one line each, exit 2."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.apiserver import FakeApiServer, namespace, secret, serving
from tierguard.engine.fingerprint_set import key_ids
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.fleet.publisher import Publisher
from tierguard.kube.hub import MemoryHub

TIMEOUT_S = 120
HUB_NAMESPACE = "tierguard-system"
KEY, NEW = b"k" * 32, b"n" * 32
PROD_VALUE = b"the-prod-database-password-value"
KEY_SECRET = f"/api/v1/namespaces/{HUB_NAMESPACE}/secrets/tierguard-fingerprint-key"
SETS = "/apis/tierguard.io/v1alpha1/fleetfingerprintsets"
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{HUB_NAMESPACE}/leases"


def tierguard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tierguard", *args], capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False, env={**os.environ, "KUBECONFIG": ""})


def hub_paths(publishers: dict[str, Fingerprinter]) -> dict[str, Any]:
    """The hub as the members' publishers leave it: prod-eu's prod tier holds PROD_VALUE, staging's dev tier a value
    of its own; each member publishes under its keys."""
    hub = MemoryHub()
    held = {"prod-eu": ("prod", PROD_VALUE), "staging": ("dev", b"a-value-only-staging-holds-here")}
    for member, keys in publishers.items():
        tier, value = held[member]
        digests = {"k": keys.digest(value)}
        if keys.secondary is not None:
            digests["s"] = keys.secondary.digest(value)
        sets = {key: {tier: {digest}} for key, digest in zip(key_ids(keys), digests.values(), strict=True)}
        Publisher(hub, member, namespace=HUB_NAMESPACE, heartbeat_s=30).publish(sets)
    items = list(hub.objects.values())
    return {SETS: {"kind": "FleetFingerprintSetList", "apiVersion": "tierguard.io/v1alpha1", "items": items},
            **{f"{SETS}/{obj['metadata']['name']}": obj for obj in items},
            LEASES: {"kind": "LeaseList", "apiVersion": "coordination.k8s.io/v1", "items": list(hub.leases.values())}}


def member_cluster(keys: dict[str, bytes]) -> FakeApiServer:
    """The staging cluster: a dev namespace holding a copy of the prod value, and its tierguard's key Secret."""
    data = {name: base64.b64encode(key).decode() for name, key in keys.items()}
    return FakeApiServer(
        objects={"namespaces": [namespace("web-dev", "dev"), namespace(HUB_NAMESPACE)],
                 "secrets": [secret("web-dev", "db", PROD_VALUE), secret("web-dev", "own",
                                                                         b"a-value-only-staging-holds-here")]},
        paths={KEY_SECRET: {"apiVersion": "v1", "kind": "Secret", "data": data,
                            "metadata": {"name": "tierguard-fingerprint-key", "namespace": HUB_NAMESPACE}}})


def audit(tmp_path: Path, member: FakeApiServer, hub: FakeApiServer, *extra: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "member").mkdir(exist_ok=True)
    (tmp_path / "hub").mkdir(exist_ok=True)
    return tierguard("audit", "--kubeconfig", str(member.kubeconfig(tmp_path / "member")),
                     "--fleet-hub", str(hub.kubeconfig(tmp_path / "hub")), "--fleet-member", "staging",
                     "--tierguard-namespace", HUB_NAMESPACE, "-o", "json", "-q", *extra)


@pytest.mark.parametrize(("member_keys", "prod_keys"), [
    ({"key": KEY}, Fingerprinter(KEY)),
    ({"key": NEW, "secondary": KEY}, Fingerprinter(KEY)),  # the member rotating, prod not yet
    ({"key": KEY}, Fingerprinter(NEW, KEY)),  # prod rotating, the member not yet
])
def test_a_value_the_prod_cluster_published_is_a_finding_in_the_member_naming_that_cluster(
        tmp_path: Path, member_keys: dict[str, bytes], prod_keys: Fingerprinter) -> None:
    staging_keys = Fingerprinter(member_keys["key"], member_keys.get("secondary"))
    with serving(member_cluster(member_keys)) as member, \
            serving(FakeApiServer(paths=hub_paths({"prod-eu": prod_keys, "staging": staging_keys}))) as hub:
        done = audit(tmp_path, member, hub)
    assert done.returncode == 1, done.stderr
    found = {r["object"]["name"]: [v["message"] for v in r["violations"]] for r in json.loads(done.stdout)["results"]
             if r["object"]["kind"] == "Secret"}
    assert found["db"] == ["Secret web-dev/db (tier dev) holds in key 'value' the same value as a Secret of cluster "
                           "'prod-eu' (tier prod), by the fingerprints that cluster publishes to the fleet; issue a "
                           "separate credential for each tier"]
    assert found["own"] == []  # its own published set is not another member's
    assert PROD_VALUE.decode() not in done.stdout + done.stderr


def test_without_a_shared_key_nothing_is_found_and_the_reader_says_why(tmp_path: Path) -> None:
    with serving(member_cluster({"key": NEW})) as member, \
            serving(FakeApiServer(paths=hub_paths({"prod-eu": Fingerprinter(KEY)}))) as hub:
        done = tierguard("audit", "--kubeconfig", str(member.kubeconfig(_dir(tmp_path, "m"))), "--fleet-hub",
                         str(hub.kubeconfig(_dir(tmp_path, "h"))), "--fleet-member", "staging",
                         "--tierguard-namespace", HUB_NAMESPACE, "-o", "json")
    assert done.returncode == 0, done.stderr
    assert "fleet: member prod-eu publishes under key id(s)" in done.stderr and "share a key" in done.stderr


def _dir(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir(exist_ok=True)
    return path


@pytest.mark.parametrize(("args", "says"), [
    (["--fleet-hub", "hub.kubeconfig"], "--fleet-hub needs --fleet-member"),
    (["--fleet-hub", "hub.kubeconfig", "--fleet-member", "Prod_EU"], "'Prod_EU' is not a member name"),
    (["--fleet-member", "staging"], "give --fleet-hub too"),
    (["--fleet-hub", "hub.kubeconfig", "--fleet-member", "staging", "--cluster", "a=x.kubeconfig"],
     "--cluster judges several"),
])
def test_options_that_cannot_work_are_refused_in_one_line(args: list[str], says: str) -> None:
    done = tierguard("audit", *args)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_member_without_its_key_secret_or_an_unreachable_hub_is_one_line(tmp_path: Path) -> None:
    without_key = member_cluster({"key": KEY})
    without_key.paths.clear()
    with serving(without_key) as member, serving(FakeApiServer(paths=hub_paths({}))) as hub:
        done = audit(tmp_path, member, hub)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "error: no fingerprint key Secret tierguard-system/tierguard-fingerprint-key" in done.stderr
    with serving(member_cluster({"key": KEY})) as member:
        gone = tmp_path / "gone.kubeconfig"
        gone.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "x",
            "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],
            "users": [{"name": "x", "user": {"token": "t"}}],
            "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}))
        done = tierguard("audit", "--kubeconfig", str(member.kubeconfig(_dir(tmp_path, "m2"))), "--fleet-hub",
                         str(gone), "--fleet-member", "staging", "--tierguard-namespace", HUB_NAMESPACE,
                         "--timeout", "5")
    assert done.returncode == 2 and "error: the fleet's hub: cannot read the cluster at http://127.0.0.1:9" \
        in done.stderr, done.stderr
