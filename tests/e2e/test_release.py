"""A release as users get it: ``hack/release.sh`` (the script the release workflow runs) pushes the image and the
chart to a real OCI registry and signs them; the node pulls the image from there; ``helm upgrade`` from the
previous chart version keeps the certificates and the fingerprint key, with no admission failing.

On the local kind cluster the registry is the CNCF distribution registry of ``hack/local-registry.sh``, a process
on this host listening on the address at which the nodes reach this host (the gateway of kind's Docker network):
this host pushes to ``<gateway>:<port>`` and the nodes pull the same name, their containerd told by the
``hosts.toml`` the script writes under ``/etc/containerd/certs.d/<gateway>:<port>/`` (the nodes' registry
config_path, read at every pull) that it speaks plain HTTP; the test removes it afterwards. On any other
cluster, ``TIERGUARD_E2E_REGISTRY``: a host:port the test pushes to over plain HTTP and the nodes pull from under
the same name (kind's local registry, for instance). Signing uses a key pair made here: keyless signing needs
Fulcio, Rekor and an OIDC token, which only the workflow has.

The tests replace the session's tierguard release (uninstall, install from the registry) and put it back after
the module with the values it had, so the other modules see the release they expect.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tierguard.kinds import INDEXED

from .support.kube import REPO, Cluster, free_port, tail, url_host, wait_until
from .support.tierguard import NAMESPACE, TIER_LABEL, apply, eventually, secret
from .test_install import RELEASE, deployment, pods, wait_rolled_out
from .test_reliability import RATE, load

__all__ = ["deployment"]  # the module fixture of test_install: skips where tierguard has no pods

PREVIOUS_CHART = Path(__file__).resolve().parent / "charts" / "previous" / "tierguard"
"""The chart as released before this version (0.1.0, never published: kept as text, so a clean clone has it)."""
HELM_TIMEOUT_S = 600
RELEASE_TIMEOUT_S = 30 * 60
"""hack/release.sh may build the image and the tools (cold: tens of minutes on 2 cores)."""
UPGRADE_LOAD_S = 90.0
"""Seconds of admission load around the upgrade: it covers the rolling replacement of both replicas."""


@dataclass(frozen=True)
class Registry:
    address: str
    log: Path | None
    """The registry's access log when this session runs it, else None."""

    def manifest_fetches(self, digest: str, agent: str) -> int:
        """Requests for the manifest ``digest`` by a client whose user agent contains ``agent``."""
        if self.log is None:
            return 0
        needle = f"/v2/tierguard/manifests/{digest} "
        return sum(1 for line in self.log.read_text(errors="replace").splitlines()
                   if needle in line and agent in line)


@dataclass(frozen=True)
class Released:
    registry: Registry
    version: str
    image: str
    """repository:tag@digest, as the released chart pins it."""
    digest: str
    chart: str
    chart_digest: str
    chart_ref: str
    public_key: Path
    out: Path


def run(*args: str, env: dict[str, str] | None = None,
        timeout: float = HELM_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False,
                          env=env if env is not None else dict(os.environ))


def helm(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return run(str(cluster.bin_dir / "helm"), *args, env=cluster.env())


def tool(name: str) -> str:
    """cosign as hack/release.sh finds it: PATH, else the cache of hack/build-tools.sh (built there if absent)."""
    if found := shutil.which(name):
        return found
    built = run(str(REPO / "hack" / "build-tools.sh"), name, timeout=RELEASE_TIMEOUT_S)
    assert built.returncode == 0, f"hack/build-tools.sh {name} failed:\n{tail(built.stderr)}"
    return built.stdout.strip().splitlines()[-1]


CERTS_D = "/etc/containerd/certs.d"
"""The kind nodes' containerd registry hosts dir (config_path, hack/kind/cluster.yaml)."""


@contextmanager
def nodes_trust_plain_http(cluster: Cluster, address: str) -> Iterator[None]:
    """Every node's containerd has the hosts.toml hack/local-registry.sh start wrote for ``address`` (plain HTTP);
    removed when the block ends, so the nodes are left as the module found them."""
    directory = f"{CERTS_D}/{address}"
    nodes = cluster.nodes()
    try:
        for node in nodes:
            hosts = cluster.node_exec(node, "cat", f"{directory}/hosts.toml", check=False)
            assert hosts.returncode == 0 and f'"http://{address}"' in hosts.stdout, (
                f"hack/local-registry.sh start gave node {node} no plain-HTTP hosts.toml for {address}: "
                f"{hosts.stdout}{hosts.stderr}")
        yield
    finally:
        for node in nodes:
            cluster.node_exec(node, "rm", "-rf", directory, check=False)


@pytest.fixture(scope="module")
def registry(cluster: Cluster, deployment: dict[str, Any],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    if address := os.environ.get("TIERGUARD_E2E_REGISTRY"):
        yield Registry(address, None)
        return
    if not cluster.local:
        pytest.fail("set TIERGUARD_E2E_REGISTRY to a registry (host:port, plain HTTP) this host pushes to and the "
                    "cluster's nodes pull from under the same name", pytrace=False)
    # The nodes reach this host at kind's gateway: the registry listens there, under that name for both sides.
    host = cluster.host_address()
    assert host is not None
    listen = f"{url_host(host)}:{free_port(host)}"
    state = tmp_path_factory.mktemp("registry")
    script = str(REPO / "hack" / "local-registry.sh")
    started = run(script, "start", str(state), env={**os.environ, "TIERGUARD_LOCAL_REGISTRY": listen},
                  timeout=RELEASE_TIMEOUT_S)
    assert started.returncode == 0, f"hack/local-registry.sh start failed:\n{tail(started.stderr)}"
    address = started.stdout.strip()
    assert address == listen, f"hack/local-registry.sh listens on {address}, not on {listen}"
    try:
        with nodes_trust_plain_http(cluster, address):
            yield Registry(address, state / "registry.log")
    finally:
        stopped = run(script, "stop", str(state))
        assert stopped.returncode == 0, stopped.stderr


@pytest.fixture(scope="module")
def released(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Released:
    """One run of hack/release.sh, signing with a key pair made for this module."""
    keys = tmp_path_factory.mktemp("cosign")
    env = {**os.environ, "COSIGN_PASSWORD": secrets.token_hex(16)}
    made = subprocess.run([tool("cosign"), "generate-key-pair"], cwd=keys, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert made.returncode == 0, made.stderr
    out = tmp_path_factory.mktemp("release")
    result = run(str(REPO / "hack" / "release.sh"), "--registry", registry.address, "--plain-http",
                 "--sign", str(keys / "cosign.key"), "--sbom", "syft", "--out", str(out), env=env,
                 timeout=RELEASE_TIMEOUT_S)
    assert result.returncode == 0, f"hack/release.sh failed:\n{tail(result.stderr)}"
    summary = json.loads((out / "release.json").read_text())
    return Released(registry=registry, version=summary["version"], image=summary["image"],
                    digest=summary["digest"], chart=summary["chart"], chart_digest=summary["chart_digest"],
                    chart_ref=summary["chart_ref"], public_key=keys / "cosign.pub", out=out)


def cosign(*args: str) -> subprocess.CompletedProcess[str]:
    # Key-pair signatures with no transparency log (see the module docstring); a plain-HTTP registry.
    return run(tool("cosign"), *args, "--insecure-ignore-tlog", "--allow-http-registry", "--allow-insecure-registry")


# --- what was pushed ----------------------------------------------------------------------------------------

def test_image_and_chart_are_signed_by_the_release_key(released: Released, tmp_path: Path) -> None:
    image = f"{released.registry.address}/tierguard@{released.digest}"
    chart = f"{released.registry.address}/charts/tierguard@{released.chart_digest}"
    for ref in (image, chart):
        verified = cosign("verify", "--key", str(released.public_key), ref)
        assert verified.returncode == 0, f"{ref}: {tail(verified.stderr)}"
        claims = json.loads(verified.stdout.strip().splitlines()[-1])
        assert {claim["critical"]["image"]["docker-manifest-digest"] for claim in claims} == {ref.split("@")[1]}
    # Another key does not verify them: the check above is the key's, not any signature's.
    env = {**os.environ, "COSIGN_PASSWORD": secrets.token_hex(16)}
    subprocess.run([tool("cosign"), "generate-key-pair"], cwd=tmp_path, env=env, capture_output=True, check=True,
                   timeout=60)
    assert cosign("verify", "--key", str(tmp_path / "cosign.pub"), image).returncode != 0


def attestation(released: Released, kind: str) -> dict[str, Any]:
    ref = f"{released.registry.address}/tierguard@{released.digest}"
    verified = cosign("verify-attestation", "--key", str(released.public_key), "--type", kind, ref)
    assert verified.returncode == 0, f"{kind} of {ref}: {tail(verified.stderr)}"
    envelope = json.loads(verified.stdout.strip().splitlines()[-1])
    statement: dict[str, Any] = json.loads(base64.b64decode(envelope["payload"]))
    assert {s["digest"]["sha256"] for s in statement["subject"]} == {released.digest.removeprefix("sha256:")}
    return statement


def test_sbom_is_attested_and_lists_tierguard(released: Released) -> None:
    sbom = attestation(released, "spdxjson")["predicate"]
    versions = {p.get("versionInfo") for p in sbom["packages"] if p.get("name") == "tierguard"}
    assert released.version in versions, f"the SBOM has no tierguard {released.version} package: {versions}"


def test_provenance_is_attested_and_names_the_commit(released: Released) -> None:
    predicate = attestation(released, "slsaprovenance1")["predicate"]
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    (source,) = predicate["buildDefinition"]["resolvedDependencies"]
    assert source["digest"]["gitCommit"] == head
    assert predicate["buildDefinition"]["externalParameters"]["version"] == released.version


def test_released_chart_pins_the_pushed_digest(released: Released, cluster: Cluster) -> None:
    shown = helm(cluster, "show", "values", released.chart, "--version", released.version, "--plain-http")
    assert shown.returncode == 0, shown.stderr
    image = yaml.safe_load(shown.stdout)["image"]
    assert (image["repository"], image["digest"]) == (f"{released.registry.address}/tierguard", released.digest)


# --- installs from the registry -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def session_release(cluster: Cluster, deployment: dict[str, Any], registry: Registry,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The session's release values (its image is on the nodes); after the module, the repository's chart is
    installed again with them (the nodes having forgotten what they pulled from the registry)."""
    got = helm(cluster, "get", "values", RELEASE, "-n", NAMESPACE, "-o", "json")
    assert got.returncode == 0, got.stderr
    values: dict[str, Any] = json.loads(got.stdout) or {}
    yield values
    uninstall(cluster)
    forget_pulled_images(cluster, registry)
    saved = tmp_path_factory.mktemp("session-release") / "values.json"
    saved.write_text(json.dumps(values))
    restored = helm(cluster, "install", RELEASE, str(REPO / "charts" / "tierguard"), "-n", NAMESPACE,
                    "-f", str(saved), "--wait", "--timeout", "5m")
    assert restored.returncode == 0, f"could not put the session's release back:\n{tail(restored.stderr)}"
    wait_rolled_out(cluster)
    enforcing(cluster)


def uninstall(cluster: Cluster) -> None:
    if helm(cluster, "status", RELEASE, "-n", NAMESPACE).returncode != 0:
        return
    removed = helm(cluster, "uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "3m")
    assert removed.returncode == 0, removed.stderr
    wait_until(lambda: not pods(cluster), timeout=180, what="the uninstalled release's pods gone")


KUBELET_PULL_RECORDS = "/var/lib/kubelet/image_manager/pulled"
"""The kubelet's records of the images it pulled (KubeletEnsureSecretPulledImages), one file per image ID."""


def forget_pulled_images(cluster: Cluster, registry: Registry) -> None:
    """On the local cluster's nodes, images pulled from this registry's name go (their containerd, ``ctr -n
    k8s.io``), so that an install from it must pull, and so do the kubelet's records of those pulls: the release
    image is the session's image under another name, one image ID, and while the kubelet's record of that ID names
    only the registry, it treats the session's name (``docker.io/library/tierguard``, loaded, never pulled) as an
    image that must be pulled again to check access, which cannot succeed. Elsewhere a no-op."""
    if not cluster.local:
        return
    for node in cluster.nodes():
        listed = cluster.node_exec(node, "ctr", "-n", "k8s.io", "images", "ls", "-q")
        stale = [name for name in listed.stdout.split() if name.startswith(f"{registry.address}/")]
        if stale:
            cluster.node_exec(node, "ctr", "-n", "k8s.io", "images", "rm", *stale)
        found = cluster.node_exec(node, "grep", "-rlF", f'"{registry.address}/', KUBELET_PULL_RECORDS, check=False)
        records = found.stdout.split()
        if records:
            # The kubelet keeps its records in memory too: restarted, it reads what is left (its pods run on).
            cluster.node_exec(node, "rm", "-f", *records)
            cluster.node_exec(node, "systemctl", "restart", "kubelet")
            wait_until(lambda node=node: cluster.node_exec(node, "curl", "-s", "http://127.0.0.1:10248/healthz",
                                                           check=False).stdout == "ok",
                       timeout=120, what=f"the kubelet of {node} healthy again")


def enforcing(cluster: Cluster) -> None:
    """A value copied from a prod Secret into a dev namespace is refused: the webhook answers and enforces."""
    value = f"tg-e2e-release-{secrets.token_hex(8)}"
    prod = f"tg-e2e-rel-prod-{secrets.token_hex(3)}"
    dev = f"tg-e2e-rel-dev-{secrets.token_hex(3)}"
    try:
        for name, tier in ((prod, "prod"), (dev, "dev")):
            cluster.apply({"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": name, "labels": {TIER_LABEL: tier}}})
        apply(cluster, secret(prod, "db", value))

        def refused() -> None:
            result = apply(cluster, secret(dev, "db", value), "--dry-run=server")
            assert result.returncode != 0 and "[secret-value-shared]" in result.stderr, result.stderr

        eventually(refused, timeout=60)
    finally:
        for name in (prod, dev):
            cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def assert_runs_digest(cluster: Cluster, released: Released) -> None:
    running = pods(cluster)
    assert len(running) == 2, [pod["metadata"]["name"] for pod in running]
    repository = f"{released.registry.address}/tierguard"
    for pod in running:
        assert pod["spec"]["containers"][0]["image"] == released.image
        (status,) = pod["status"]["containerStatuses"]
        # The runtime's record of what it pulled: the registry's repository and the manifest digest.
        assert status["imageID"] == f"{repository}@{released.digest}", status["imageID"]


def test_helm_install_from_the_registry_runs_the_pushed_digest(
        cluster: Cluster, released: Released, session_release: dict[str, Any]) -> None:
    uninstall(cluster)
    forget_pulled_images(cluster, released.registry)
    pulls_before = released.registry.manifest_fetches(released.digest, "containerd")
    installed = helm(cluster, "install", RELEASE, released.chart, "--version", released.version, "--plain-http",
                     "-n", NAMESPACE, "--wait", "--timeout", "5m")
    assert installed.returncode == 0, tail(installed.stderr)
    wait_rolled_out(cluster)
    assert_runs_digest(cluster, released)
    if released.registry.log is not None:
        # The node's containerd fetched the manifest from the registry: pulled, not imported.
        assert pulls_before == 0, "containerd had fetched the release image before the install"
        assert released.registry.manifest_fetches(released.digest, "containerd") > pulls_before
    enforcing(cluster)


def secret_fingerprint(cluster: Cluster, name: str) -> tuple[str, str]:
    """The Secret's uid and a hash of its data: compared, never shown."""
    document = cluster.get_json("secret", name, "-n", NAMESPACE)
    data = json.dumps(document.get("data") or {}, sort_keys=True).encode()
    return document["metadata"]["uid"], hashlib.sha256(data).hexdigest()


def deployment_args(cluster: Cluster) -> list[str]:
    document = cluster.get_json("deployment", RELEASE, "-n", NAMESPACE)
    args: list[str] = document["spec"]["template"]["spec"]["containers"][0].get("args", [])
    return args


NEWER_IMAGE_READS = "tierguard-e2e-newer-image-reads"


@contextmanager
def newer_image_reads(cluster: Cluster) -> Iterator[None]:
    """The session's image under the previous chart needs the reads of today's indexes (``kinds.INDEXED``), which
    the previous chart may predate (its ClusterRole has no ``networkpolicies``); a real upgrade brings both at
    once. Granted to the release's ServiceAccount by a ClusterRole of the test's own, removed afterwards."""
    rules = [{"apiGroups": [info.group], "resources": [info.resource], "verbs": ["get", "list", "watch"]}
             for info in INDEXED]
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": NEWER_IMAGE_READS}, "rules": rules}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": NEWER_IMAGE_READS},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NEWER_IMAGE_READS},
               "subjects": [{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}]}
    both = {"apiVersion": "v1", "kind": "List", "items": [role, binding]}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(both))
    try:
        yield
    finally:
        for kind in ("clusterrolebinding", "clusterrole"):
            cluster.kubectl("delete", kind, NEWER_IMAGE_READS, "--ignore-not-found", check=False)


def test_helm_upgrade_from_the_previous_chart_keeps_certificates_and_key(
        cluster: Cluster, released: Released, session_release: dict[str, Any],
        namespace: Callable[..., str]) -> None:
    with newer_image_reads(cluster):
        upgrade_from_the_previous_chart(cluster, released, session_release, namespace)


def upgrade_from_the_previous_chart(cluster: Cluster, released: Released, session_release: dict[str, Any],
                                    namespace: Callable[..., str]) -> None:
    previous_version = str(yaml.safe_load((PREVIOUS_CHART / "Chart.yaml").read_text())["version"])
    assert previous_version != released.version
    session_image = session_release.get("image", {})
    uninstall(cluster)
    forget_pulled_images(cluster, released.registry)
    # The previous chart with the image the session installed (already on the nodes): the chart is what changes.
    sets = [f"--set=image.{key}={value}" for key, value in session_image.items() if key in {"repository", "tag"}]
    # --skip-crds: the session's TierPolicy CRD stays through the uninstall (Helm keeps CRDs) and is newer than the
    # previous chart's copy, which Helm 4 would server-side apply over it (a conflict on .spec.versions).
    installed = helm(cluster, "install", RELEASE, str(PREVIOUS_CHART), "-n", NAMESPACE, *sets, "--skip-crds",
                     "--wait", "--timeout", "5m")
    assert installed.returncode == 0, tail(installed.stderr)
    wait_rolled_out(cluster)
    enforcing(cluster)
    args = [a for a in deployment_args(cluster) if a.startswith("--hmac")]
    key_name = args[0].split("=", 1)[1] if args else "tierguard-fingerprint-key"
    wait_until(lambda: cluster.kubectl("get", "secret", key_name, "-n", NAMESPACE, check=False).returncode == 0,
               timeout=60, what=f"the fingerprint key Secret {key_name}")
    certs_name = f"{RELEASE}-tls"
    before = {name: secret_fingerprint(cluster, name) for name in (certs_name, key_name)}
    ca_before = [w["clientConfig"]["caBundle"] for w in cluster.get_json(
        "validatingwebhookconfigurations", "-l", f"app.kubernetes.io/instance={RELEASE}")["items"][0]["webhooks"]]

    source = namespace(labels={TIER_LABEL: "prod"})
    target = namespace(labels={TIER_LABEL: "dev"})
    with load(cluster, target, source, seconds=UPGRADE_LOAD_S, pods=False) as result:
        # --reset-values: the released chart's own values (its pinned image), not the image set above for the
        # previous chart, which helm would otherwise carry over (it reuses the last values when given none).
        upgraded = helm(cluster, "upgrade", RELEASE, released.chart, "--version", released.version, "--plain-http",
                        "-n", NAMESPACE, "--reset-values", "--wait", "--timeout", "5m")
        assert upgraded.returncode == 0, tail(upgraded.stderr)
        wait_rolled_out(cluster)
    assert result["attempted"] >= 0.3 * RATE * UPGRADE_LOAD_S, f"the load ran short: {result}"
    assert result["wrong"] == 0, f"{result['wrong']} wrong decisions during the upgrade: {result}"
    assert result["failed"] == 0, f"{result['failed']} admissions failed during the upgrade: {result['failures']}"

    assert_runs_digest(cluster, released)
    history = json.loads(helm(cluster, "history", RELEASE, "-n", NAMESPACE, "-o", "json").stdout)
    assert [entry["chart"] for entry in history[-2:]] == [f"tierguard-{previous_version}",
                                                        f"tierguard-{released.version}"]
    after = {name: secret_fingerprint(cluster, name) for name in (certs_name, key_name)}
    assert after[certs_name] == before[certs_name], "helm upgrade replaced the generated certificates"
    assert after[key_name] == before[key_name], "the fingerprint key Secret changed across the upgrade"
    ca_after = [w["clientConfig"]["caBundle"] for w in cluster.get_json(
        "validatingwebhookconfigurations", "-l", f"app.kubernetes.io/instance={RELEASE}")["items"][0]["webhooks"]]
    # One CA for every entry, the same as before (a newer chart may add entries: the sessions' CONNECT routes).
    assert len(set(ca_before)) == 1, "the previous chart's webhook entries trust different CAs"
    assert set(ca_after) == set(ca_before), "the webhook's caBundle changed across the upgrade"
    enforcing(cluster)
