"""The Secret index's memory in the real pods: with Secrets in bulk, each replica, freshly restarted so that it
listed them all, runs under the chart's memory limit with room to spare, and was not OOM-killed (issue:
reliability, item 3). The bounded version runs in CI; the chart's limit is sized from the bench's figure at 100k
Secrets (bench/README.md, docs/reliability.md), and ``TIERGUARD_E2E_MEMORY_SECRETS=100000`` runs this test at
that scale (about 30 minutes of creation on 2 cores).

Sizes (environment): TIERGUARD_E2E_MEMORY_SECRETS (default 2000), TIERGUARD_E2E_MEMORY_NAMESPACES (default
secrets / 20). The RSS is read inside each pod (``/proc/1/status``, the tierguard process), and the pod's own
``tierguard_index_objects`` proves what it indexed.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from .support.kube import Cluster
from .support.tierguard import NAMESPACE
from .test_audit_scale import create_bulk
from .test_install import deployment, pods, wait_rolled_out
from .test_reliability import record

__all__ = ["deployment"]  # the fixture, from test_install
SECRETS = int(os.environ.get("TIERGUARD_E2E_MEMORY_SECRETS", "2000"))
NAMESPACES = int(os.environ.get("TIERGUARD_E2E_MEMORY_NAMESPACES", str(max(1, SECRETS // 20))))
HEADROOM = 0.8
"""A replica must stay under this share of its limit: churn, a relist and an audit pass allocate on top."""
PROBE = """
import json, re, urllib.request
status = open("/proc/1/status").read()
rss_kb = int(re.search(r"VmRSS:\\s+(\\d+) kB", status).group(1))
metrics = urllib.request.urlopen("http://127.0.0.1:8080/metrics", timeout=5).read().decode()
keys = re.search(r'tierguard_index_objects\\{index="tg_secrets"\\} ([0-9.e+]+)', metrics)
print(json.dumps({"rss_mb": rss_kb / 1024, "secret_keys": float(keys.group(1)) if keys else None}))
"""


def memory_limit_mb(document: dict[str, Any]) -> float:
    container = next(c for c in document["spec"]["template"]["spec"]["containers"] if c["name"] == "tierguard")
    limit = str(container["resources"]["limits"]["memory"])
    units = {"Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0, "K": 1000 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    for suffix, factor in units.items():
        if limit.endswith(suffix):
            return float(limit.removesuffix(suffix)) * factor
    return float(limit) / 2**20


def probe(cluster: Cluster, pod: str) -> dict[str, Any]:
    done = cluster.kubectl("exec", "-n", NAMESPACE, pod, "-c", "tierguard", "--", "python3", "-c", PROBE)
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_replicas_index_bulk_secrets_under_the_memory_limit(cluster: Cluster, deployment: dict[str, Any]) -> None:
    limit_mb = memory_limit_mb(deployment)
    run_id = uuid.uuid4().hex[:6]
    try:
        create_bulk(cluster, run_id, SECRETS, NAMESPACES, max(120.0, SECRETS * 0.06))
        cluster.kubectl("rollout", "restart", f"deployment/{deployment['metadata']['name']}", "-n", NAMESPACE)
        wait_rolled_out(cluster)  # ready: every index listed, the bulk Secrets included
        measured = {pod["metadata"]["name"]: probe(cluster, pod["metadata"]["name"]) for pod in pods(cluster)}
        restarts = {pod["metadata"]["name"]: sum(s.get("restartCount", 0) for s in pod["status"]["containerStatuses"])
                    for pod in pods(cluster)}
        record("index memory", secrets=SECRETS, namespaces=NAMESPACES, limit_mb=limit_mb,
               rss_mb={name: round(found["rss_mb"], 1) for name, found in measured.items()})
        for name, found in measured.items():
            assert found["secret_keys"] is not None and found["secret_keys"] >= SECRETS, (name, found)
            assert found["rss_mb"] < HEADROOM * limit_mb, (name, found, limit_mb)
        assert set(restarts.values()) == {0}, restarts  # no OOM kill
    finally:
        cluster.kubectl("delete", "namespace", "-l", f"tierguard.io/e2e-bulk={run_id}", "--wait=false",
                        check=False, timeout=300)
