"""Part 7's server CPU and memory: the servers' containers' cgroups, as the kind node's containerd reports them.

``crictl stats -o json`` inside the node (``docker exec <node> crictl stats -o json``) gives, per container, its
cgroup's cumulative CPU (``cpu.usageCoreNanoSeconds``: cpuacct.usage on cgroup v1, cpu.stat usage_usec on v2) and
its resident memory (``memory.rssBytes``: memory.stat rss on v1, anon on v2; ``workingSetBytes`` where a runtime
reports no RSS). A server's CPU sums its pods' containers (tierguard's chart runs two replicas, both serving).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Usage:
    cpu_ns: int
    rss_bytes: int
    containers: int


def _value(stat: Any, *keys: str) -> int:
    for key in keys:
        field = (stat or {}).get(key)
        if isinstance(field, dict) and field.get("value") not in (None, ""):
            return int(field["value"])
    return 0


def parse(text: str, namespace: str, pod_prefix: str) -> Usage:
    """The summed usage of the containers of the pods in ``namespace`` whose names start with ``pod_prefix``;
    ValueError when there are none (a server not running is not a zero)."""
    cpu = rss = found = 0
    for stat in json.loads(text).get("stats") or []:
        labels = (stat.get("attributes") or {}).get("labels") or {}
        if labels.get("io.kubernetes.pod.namespace") != namespace:
            continue
        if not str(labels.get("io.kubernetes.pod.name", "")).startswith(pod_prefix):
            continue
        found += 1
        cpu += _value(stat.get("cpu"), "usageCoreNanoSeconds")
        rss += _value(stat.get("memory"), "rssBytes", "workingSetBytes")
    if not found:
        raise ValueError(f"no running container of a pod {pod_prefix}* in {namespace} in crictl stats")
    return Usage(cpu, rss, found)


def sample(node: str) -> str:
    """The node's ``crictl stats -o json`` (every container)."""
    result = subprocess.run(["docker", "exec", node, "crictl", "stats", "-o", "json"], capture_output=True,
                            text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"docker exec {node} crictl stats failed: {result.stderr.strip()[:300]}")
    return result.stdout
