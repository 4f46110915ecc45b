"""Parts 3 and 4, against a real API server: ``--kubeconfig`` of ``hack/local-cluster.sh up`` (the local kind
cluster, tierguard installed by its chart).

Part 3, index scale: create ``secrets`` Secrets over ``namespaces`` namespaces (idempotent: existing ones are
kept), then, repetition by repetition, (a) the baseline, a plain paginated list of every Secret with the
kubernetes client (pages of 500, each page's JSON parsed, nothing kept), and (b) a fresh ``tierguard run``
process against the same API server: seconds from its start to /readyz answering 200 (every index listed,
policy loaded), and its resident memory then. The namespaces carry no tier label, so creating them does not
go through the webhook; tierguard indexes every Secret all the same. That process is a third replica beside the
chart's two, with their ValidatingAdmissionPolicy prefix and owner, so it applies exactly what they apply.

Part 4, through the API server: ``pods`` Pod creations (server-side dry run, so nothing is stored) in a tiered
namespace, timed with tierguard's webhook configuration in place, with it removed (then put back), and with
only the plain-aiohttp floor of part 1 (``bench.serve floor``: TLS, parse, answer allowed) registered for the
same Pods, in alternating rounds. ``apiserver_overhead_ratio`` = with tierguard / without;
``apiserver_floor_overhead_ratio`` = with the floor / without (what any webhook costs: the API server's call,
HTTP and TLS); ``apiserver_vs_floor_ratio`` = with tierguard / with the floor. The floor runs on this host and
listens on the address at which the API server reaches it (``host_address``: for the local kind cluster the gateway
of its Docker network); where the API server cannot reach it, its arm is skipped with a note.

Every load is bounded in count and time. Secret values are generated filler.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.util import REPO, Figures, free_port, note, stop

NAMESPACE_PREFIX = "bench-index-"
CREATE_TIMEOUT = 900.0
EXTRA_RUN_ARGS: list[str] = []
RELEASE = "tierguard"
"""The chart's release (hack/install-tierguard.sh): its fullname is the replicas' admission policy prefix and owner."""
HOST_ADDRESS_ENV = "TIERGUARD_E2E_HOST_ADDRESS"


def host_address() -> str:
    """Where the API server reaches this host: ``$TIERGUARD_E2E_HOST_ADDRESS``, else the local kind cluster's Docker
    network gateway (``hack/local-cluster.sh host-address``), else 127.0.0.1 (an API server on this host)."""
    if explicit := os.environ.get(HOST_ADDRESS_ENV):
        return explicit
    try:
        found = subprocess.run([str(REPO / "hack" / "local-cluster.sh"), "host-address"], capture_output=True,
                               text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "127.0.0.1"
    lines = found.stdout.split()
    return lines[-1] if found.returncode == 0 and lines else "127.0.0.1"


def _clients(kubeconfig: Path) -> Any:
    from kubernetes import client, config  # noqa: PLC0415

    api_client = config.new_client_from_config(str(kubeconfig))  # type: ignore[no-untyped-call]
    api_client.configuration.connection_pool_maxsize = 16
    return client, api_client


def _create_objects(kubeconfig: Path, secrets: int, namespaces: int) -> None:
    client, api_client = _clients(kubeconfig)
    core = client.CoreV1Api(api_client)
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

    def ignore_conflict(call: Any, *args: Any) -> None:
        try:
            call(*args)
        except ApiException as error:
            if error.status != 409:
                raise

    deadline = time.monotonic() + CREATE_TIMEOUT
    with ThreadPoolExecutor(max_workers=8) as pool:
        names = [f"{NAMESPACE_PREFIX}{i:05d}" for i in range(namespaces)]
        list(pool.map(lambda n: ignore_conflict(core.create_namespace, {"metadata": {"name": n}}), names))

        def create(index: int) -> None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"creating {secrets} Secrets took over {CREATE_TIMEOUT:.0f}s")
            namespace = names[index % namespaces]
            name = f"s-{index // namespaces}"
            data = {key: base64.b64encode(f"bench-{namespace}-{name}-{key}-filler".encode()).decode()
                    for key in ("password", "token")}
            ignore_conflict(core.create_namespaced_secret, namespace,
                            {"metadata": {"name": name}, "data": data, "type": "Opaque"})

        list(pool.map(create, range(secrets)))


def _list_all(kubeconfig: Path) -> tuple[int, float]:
    client, api_client = _clients(kubeconfig)
    core = client.CoreV1Api(api_client)
    started = time.perf_counter()
    count, token = 0, None
    while True:
        response = core.list_secret_for_all_namespaces(limit=500, _continue=token, _preload_content=False)
        page = json.loads(response.data)
        count += len(page["items"])
        token = page["metadata"].get("continue")
        if not token:
            return count, time.perf_counter() - started


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class NotReady(TimeoutError):
    def __init__(self, seconds: float, rss_mb: float) -> None:
        super().__init__(f"tierguard run was not ready after {seconds:.0f}s (RSS then {rss_mb:.0f} MB)")
        self.rss_mb = rss_mb


def _tierguard_ready(kubeconfig: Path, timeout: float) -> tuple[float, float]:
    """(seconds from start to /readyz 200, RSS MB then) of a fresh ``tierguard run``; NotReady after
    ``timeout`` seconds."""
    with tempfile.TemporaryDirectory(prefix="tierguard-bench-run-") as tmp:
        from tierguard.webhook.certs import write_certificates  # noqa: PLC0415

        certs = write_certificates(Path(tmp), ["127.0.0.1"])
        probe_port = free_port()
        command = [sys.executable, "-m", "tierguard", "run", "--namespace", "tierguard-system",
                   "--webhook-addr", "127.0.0.1", "--webhook-port", str(free_port()),
                   "--tls-cert", str(certs.cert), "--tls-key", str(certs.key), "--metrics-addr", "127.0.0.1",
                   "--metrics-port", str(probe_port), "--log-level", "info",
                   # As the chart's replicas run: their policies, owned by their ClusterRole (a process without an
                   # owner would apply the same policies without it, and strip it from the chart's).
                   "--admission-policy-prefix", RELEASE, "--admission-policy-owner", RELEASE, *EXTRA_RUN_ARGS]
        env = dict(os.environ, KUBECONFIG=str(kubeconfig))
        env.setdefault("MALLOC_ARENA_MAX", "2")  # as the image (Dockerfile) runs it
        log = Path(tmp) / "run.log"
        with log.open("w") as output:
            started = time.perf_counter()
            process = subprocess.Popen(command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
            try:
                while True:
                    if process.poll() is not None:
                        raise RuntimeError(f"tierguard run exited {process.returncode}: "
                                           f"{log.read_text()[-400:]}")
                    if time.perf_counter() - started > timeout:
                        raise NotReady(timeout, _rss_mb(process.pid))
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{probe_port}/readyz", timeout=2) as answer:
                            if answer.status == 200:
                                ready = time.perf_counter() - started, _rss_mb(process.pid)
                                if os.environ.get("BENCH_RUN_LOG"):
                                    Path(os.environ["BENCH_RUN_LOG"]).write_text(log.read_text())
                                return ready
                    except OSError:
                        pass
                    time.sleep(0.1)
            finally:
                stop(process, 15)


def index_scale(kubeconfig: Path, secrets: int, namespaces: int, figures: Figures, *, repetitions: int,
                ready_timeout: float) -> None:
    started = time.perf_counter()
    _create_objects(kubeconfig, secrets, namespaces)
    note(f"part 3: {secrets} Secrets over {namespaces} namespaces in place after "
         f"{time.perf_counter() - started:.0f}s")
    for _ in range(repetitions):
        listed, list_seconds = _list_all(kubeconfig)
        if listed < secrets:
            note(f"part 3: listed {listed} Secrets, expected at least {secrets}")
        figures.add("index_list_s", list_seconds)
        try:
            ready_seconds, rss = _tierguard_ready(kubeconfig, ready_timeout)
        except NotReady as error:
            reason = f"part 3: {error}; the list baseline took {list_seconds:.1f}s"
            note(reason)
            figures.add("index_rss_not_ready_mb", error.rss_mb)
            for name in ("index_ready_s", "index_rss_mb", "index_ready_ratio"):
                figures.missing(name, reason)
            return
        figures.add("index_ready_s", ready_seconds)
        figures.add("index_rss_mb", rss)
        figures.add("index_ready_ratio", ready_seconds / list_seconds)


def _floor_webhook(namespace: str, url: str, ca_bundle: str) -> dict[str, Any]:
    """A ValidatingWebhookConfiguration sending the bench namespace's Pod creations to the floor server."""
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "tierguard-bench-floor"},
            "webhooks": [{"name": "pods.floor.bench.tierguard.io", "admissionReviewVersions": ["v1"],
                          "sideEffects": "None", "failurePolicy": "Fail", "timeoutSeconds": 5,
                          "clientConfig": {"url": url, "caBundle": ca_bundle},
                          "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                          "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                                     "resources": ["pods"], "scope": "Namespaced"}]}]}


def _start_floor(certs: Path, address: str) -> tuple[subprocess.Popen[str], str]:
    """The floor server on ``address`` (where the API server reaches this host), its certificate naming it."""
    from tierguard.webhook.certs import write_certificates  # noqa: PLC0415

    write_certificates(certs, [address])
    port = free_port(address)
    process = subprocess.Popen([sys.executable, "-m", "bench.serve", "floor", "--port", str(port), "--certs",
                                str(certs), "--addr", address], stdout=subprocess.PIPE, text=True, cwd=REPO,
                               env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                   [str(REPO), str(REPO / "operator"), os.environ.get("PYTHONPATH", "")])})
    assert process.stdout is not None
    if not process.stdout.readline().startswith("ready"):
        process.kill()
        raise RuntimeError(f"the floor server did not start (exit {process.wait()})")
    host = f"[{address}]" if ":" in address else address
    return process, f"https://{host}:{port}/pods"


def apiserver_overhead(kubeconfig: Path, pods: int, figures: Figures, rounds: int = 5,
                       address: str | None = None) -> None:
    """Part 4; the floor listens on ``address`` (default: ``host_address()``)."""
    with tempfile.TemporaryDirectory(prefix="tierguard-bench-floor-") as tmp:
        floor, url = _start_floor(Path(tmp) / "certs", address or host_address())
        try:
            ca_bundle = base64.b64encode((Path(tmp) / "certs" / "ca.crt").read_bytes()).decode()
            _apiserver_overhead(kubeconfig, pods, figures, rounds, floor_url=url, floor_ca=ca_bundle)
        finally:
            stop(floor)


def _apiserver_overhead(kubeconfig: Path, pods: int, figures: Figures, rounds: int, *, floor_url: str,
                        floor_ca: str) -> None:
    client, api_client = _clients(kubeconfig)
    core = client.CoreV1Api(api_client)
    admission = client.AdmissionregistrationV1Api(api_client)
    configs = [c for c in admission.list_validating_webhook_configuration().items
               if any("tierguard" in (w.name or "") for w in c.webhooks or [])]
    if not configs:
        figures.missing("apiserver_overhead_ratio", "no tierguard ValidatingWebhookConfiguration in the cluster "
                                                    "(hack/local-cluster.sh up installs one)")
        return
    saved = [api_client.sanitize_for_serialization(c) for c in configs]
    for body in saved:
        body["metadata"] = {"name": body["metadata"]["name"], "labels": body["metadata"].get("labels")}
    namespace = "bench-admission"
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

    try:
        core.create_namespace({"metadata": {"name": namespace, "labels": {"tierguard.io/tier": "dev"}}})
    except ApiException as error:
        if error.status != 409:
            raise
    time.sleep(2)  # the watch indexes the namespace

    def create_pods(label: str, *, reviewed: bool = True) -> float:
        """N dry-run Pod creations. A reviewed Pod reads a Secret (absent: admitted), so the chart's
        matchConditions send it; the other references nothing and is skipped (``webhook.skipCertain``)."""
        container: dict[str, object] = {"name": "app", "image": "registry.example/app:1"}
        if reviewed:
            container["env"] = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "bench-token",
                                                                                 "key": "token"}}}]
        started = time.perf_counter()
        for index in range(pods):
            core.create_namespaced_pod(namespace, {
                "metadata": {"name": f"{label}-{index}"}, "spec": {"containers": [container]}}, dry_run="All")
        return time.perf_counter() - started

    floor_config = _floor_webhook(namespace, floor_url, floor_ca)
    floor_name = floor_config["metadata"]["name"]
    floor_works = True

    def floor_round() -> float | None:
        nonlocal floor_works
        if not floor_works:
            return None
        admission.create_validating_webhook_configuration(floor_config)
        time.sleep(1)
        try:
            return create_pods("floor")
        except ApiException as error:  # the API server cannot reach this host at that address (a remote cluster)
            note(f"part 4: the floor webhook at {floor_url} is not reachable from this API server "
                 f"({error.status} {error.reason}): its arm is skipped")
            floor_works = False
            return None
        finally:
            admission.delete_validating_webhook_configuration(floor_name)
            time.sleep(1)

    try:
        create_pods("warm")
        for _ in range(rounds):
            with_webhook = create_pods("with")
            skipped = create_pods("skipped", reviewed=False)
            for body in saved:
                admission.delete_validating_webhook_configuration(body["metadata"]["name"])
            time.sleep(1)
            without = create_pods("without")
            skipped_without = create_pods("plain", reviewed=False)
            with_floor = floor_round()
            for body in saved:
                admission.create_validating_webhook_configuration(body)
            time.sleep(1)
            figures.add("apiserver_overhead_ratio", with_webhook / without)
            figures.add("apiserver_skipped_overhead_ratio", skipped / skipped_without)
            if with_floor is not None:
                figures.add("apiserver_floor_overhead_ratio", with_floor / without)
                figures.add("apiserver_vs_floor_ratio", with_webhook / with_floor)
    finally:
        present = {c.metadata.name for c in admission.list_validating_webhook_configuration().items}
        if floor_name in present:
            admission.delete_validating_webhook_configuration(floor_name)
        for body in saved:
            if body["metadata"]["name"] not in present:
                admission.create_validating_webhook_configuration(body)
