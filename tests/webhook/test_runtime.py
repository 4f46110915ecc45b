"""The webhook's runtime pieces: policy reloads, API health and readiness, probes and metrics, JSON logs."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tierguard.policy import DEFAULT_POLICY, EnforcementMode
from tierguard.webhook.indexing import apply_policy
from tierguard.webhook.logs import JsonFormatter
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.probes import build_probe_app, watch_api_health
from tierguard.webhook.state import RuntimeState

VALID = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "default"},
         "spec": {"enforcement": {"default": "warn"}}}
INVALID = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "default"},
           "spec": {"tiers": ["dev", "dev"]}}


def test_policy_reload_keeps_the_last_valid_policy(state: RuntimeState, metrics: Metrics) -> None:
    apply_policy(state, metrics, VALID)
    assert state.policy is not None and state.policy.enforcement.default is EnforcementMode.WARN
    apply_policy(state, metrics, INVALID)
    assert state.policy.enforcement.default is EnforcementMode.WARN  # still the last valid one
    assert state.policy_error is not None and "spec.tiers[1]" in state.policy_error
    assert state.ready  # a valid policy is still in force
    apply_policy(state, metrics, None)
    assert state.policy == DEFAULT_POLICY and state.policy_error is None
    assert metrics.registry.get_sample_value("tierguard_policy_reloads_total", {"result": "invalid"}) == 1
    assert metrics.registry.get_sample_value("tierguard_policy_reloads_total", {"result": "success"}) == 2


def test_invalid_policy_before_any_valid_one_keeps_the_replica_unready(metrics: Metrics) -> None:
    fresh = RuntimeState(own_namespace="tierguard-system", indexes_synced=True)
    fresh.context = object()  # type: ignore[assignment]
    apply_policy(fresh, metrics, INVALID)
    reason = fresh.not_ready_reason()
    assert reason is not None and "is invalid" in reason


def test_api_health_failures_drop_readiness_and_recovery_restores_it(state: RuntimeState) -> None:
    outcomes = iter([False, False, False, True])

    def check() -> None:
        if not next(outcomes, True):
            raise ConnectionError("refused")

    async def scenario() -> list[bool]:
        seen = []
        task = asyncio.create_task(watch_api_health(state, check, interval=0.01))
        for _ in range(60):
            await asyncio.sleep(0.01)
            seen.append(state.ready)
        task.cancel()
        return seen

    readiness = asyncio.run(scenario())
    assert False in readiness, "three failed checks must drop readiness"
    assert readiness[-1] is True, "a successful check must restore it"


def test_a_check_stuck_past_its_deadline_counts_as_failed(state: RuntimeState) -> None:
    """A request hung beyond its own timeouts must not freeze the count: each stuck check is a failure."""
    release = threading.Event()

    async def scenario() -> int:
        task = asyncio.create_task(watch_api_health(state, lambda: release.wait(5), interval=0.01, deadline_s=0.05))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if state.api_failures >= state.api_failure_threshold:
                break
        task.cancel()
        release.set()
        return state.api_failures

    assert asyncio.run(scenario()) >= state.api_failure_threshold
    assert not state.ready


def test_probes_and_metrics_endpoints(state: RuntimeState, metrics: Metrics) -> None:
    async def scenario() -> dict[str, Any]:
        async with TestClient(TestServer(build_probe_app(state, metrics))) as client:
            healthy = (await client.get("/healthz")).status
            ready = (await client.get("/readyz")).status
            state.indexes_synced = False
            unready = await client.get("/readyz")
            page = await (await client.get("/metrics")).text()
            return {"healthy": healthy, "ready": ready, "unready": unready.status,
                    "reason": await unready.text(), "metrics": page}

    result = asyncio.run(scenario())
    assert (result["healthy"], result["ready"], result["unready"]) == (200, 200, 503)
    assert "initial listing" in result["reason"]
    assert "tierguard_ready 0.0" in result["metrics"]
    assert 'tierguard_index_objects{index="tg_namespaces"} 3.0' in result["metrics"]


@pytest.mark.parametrize("extra", [{}, {"rule": "secret-value-shared", "object": "Secret dev/db"}])
def test_json_log_lines(extra: dict[str, str]) -> None:
    record = logging.LogRecord("tierguard.admission", logging.INFO, __file__, 1, "violation", (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "violation" and entry["level"] == "info"
    assert entry["logger"] == "tierguard.admission"
    assert {k: entry[k] for k in extra} == extra


@pytest.mark.parametrize("kubeconfig", ["missing", "unreachable"])
def test_run_without_a_reachable_cluster_fails_clearly(tmp_path: Any, kubeconfig: str) -> None:
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from tests.webhook.helpers import free_port  # noqa: PLC0415
    from tierguard.webhook.certs import write_certificates  # noqa: PLC0415

    certs = write_certificates(tmp_path / "certs", ["127.0.0.1"])
    config = tmp_path / "kubeconfig"
    if kubeconfig == "unreachable":
        config.write_text("apiVersion: v1\nkind: Config\ncurrent-context: x\n"
                          "clusters: [{name: x, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                          "users: [{name: x, user: {}}]\ncontexts: [{name: x, context: {cluster: x, user: x}}]\n")
    done = subprocess.run(
        [sys.executable, "-m", "tierguard", "run", "--tls-cert", str(certs.cert), "--tls-key", str(certs.key),
         "--metrics-port", str(free_port()), "--webhook-port", str(free_port())],
        env={**os.environ, "KUBECONFIG": str(config)}, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    expected = "no cluster credentials" if kubeconfig == "missing" else "cannot load or create the fingerprint key"
    assert expected in done.stderr


def test_the_api_check_lists_the_builtin_indexed_kinds() -> None:
    from tierguard.kinds import INDEXED  # noqa: PLC0415
    from tierguard.webhook.reachability import CHECKED, listing_path  # noqa: PLC0415

    assert {info.kind for info in CHECKED} == {info.kind for info in INDEXED if info.version == "v1"}
    assert {listing_path(info) for info in CHECKED} >= {"/api/v1/secrets",
                                                        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                                                        "/apis/rbac.authorization.k8s.io/v1/roles"}


def test_the_client_pools_a_connection_for_every_open_watch(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each informer keeps a watch open on the one ApiClient; with urllib3's default pool of 10 the replicas
    logged 'Connection pool is full, discarding connection' (caught by the e2e log check)."""
    from tierguard.webhook.background_audit.marks import marked_kinds  # noqa: PLC0415
    from tierguard.webhook.command import _api_client  # noqa: PLC0415
    from tierguard.webhook.indexes import INDEXES  # noqa: PLC0415

    config = tmp_path / "kubeconfig"
    config.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}], "users": [{"name": "u", "user": {}}]}))
    monkeypatch.setenv("KUBECONFIG", str(config))
    from kubernetes.config import kube_config  # noqa: PLC0415

    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config))
    api_client = _api_client()
    assert api_client.configuration.connection_pool_maxsize >= len(INDEXES) + len(marked_kinds()) + 8
