"""Part 7's load: server-side dry-run Pod creations posted straight to the API server (urllib3, kept-alive
connections, the kubeconfig's client certificate), at a fixed rate (open loop: request i is due at start + i/rate,
its latency counted from then, so a stall shows in full) or at saturation (closed loop, ``concurrency`` in flight).
"""

from __future__ import annotations

import base64
import json
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import urllib3
import yaml

from bench.peers.verdicts import SIDECAR, Verdict, parse


def pod(name: str, sidecar: bool = True) -> dict[str, Any]:
    """The bench's Pod: an app reading a Secret (so tierguard's skip conditions send it) and, unless told
    otherwise, the ``istio-proxy`` sidecar every server's policy requires."""
    containers: list[dict[str, Any]] = [{"name": "app", "image": "registry.example/app:1", "env": [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "bench-token", "key": "token"}}}]}]
    if sidecar:
        containers.append({"name": SIDECAR, "image": "registry.example/proxyv2:1"})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": containers}}


class Creator:
    """Dry-run creations of one body in one namespace through a pool of kept-alive connections."""

    def __init__(self, kubeconfig: Path, namespace: str, concurrency: int) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        self._files = tempfile.TemporaryDirectory(prefix="tierguard-bench-load-")
        paths = {}
        for key in ("certificate-authority-data", "client-certificate-data", "client-key-data"):
            path = Path(self._files.name) / key
            path.write_bytes(base64.b64decode(cluster.get(key) or user.get(key) or ""))
            paths[key] = str(path)
        server = urlsplit(cluster["server"])
        self._pool = urllib3.HTTPSConnectionPool(
            server.hostname, server.port or 443, maxsize=concurrency, block=True, retries=False, timeout=30,
            ca_certs=paths["certificate-authority-data"], cert_file=paths["client-certificate-data"],
            key_file=paths["client-key-data"])
        self._path = f"/api/v1/namespaces/{namespace}/pods?dryRun=All"

    def create(self, body: bytes) -> Verdict:
        answer = self._pool.urlopen("POST", self._path, body=body, headers={"Content-Type": "application/json"})
        return parse(answer.status, answer.data)

    def close(self) -> None:
        self._pool.close()
        self._files.cleanup()


class Refused(RuntimeError):
    """A timed creation was refused: the verdicts changed under load, so the batch measures nothing."""


@dataclass(frozen=True)
class Batch:
    latencies: list[float]
    wall_s: float


def _timed(creator: Creator, body: bytes, due: float) -> float:
    verdict = creator.create(body)
    finished = time.perf_counter()
    if not verdict.allowed:
        raise Refused(f"a timed creation was refused: {verdict.message[:300]}")
    return finished - due


def fixed_rate(creator: Creator, pod_body: dict[str, Any], rate: float, count: int, workers: int) -> Batch:
    body = json.dumps(pod_body).encode()
    started = time.perf_counter() + 0.05
    with ThreadPoolExecutor(max_workers=workers) as pool:
        def one(index: int) -> float:
            due = started + index / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            return _timed(creator, body, due)
        latencies = list(pool.map(one, range(count)))
    return Batch(latencies, time.perf_counter() - started)


def saturated(creator: Creator, pod_body: dict[str, Any], count: int, concurrency: int) -> Batch:
    body = json.dumps(pod_body).encode()
    lock = threading.Lock()
    remaining = [count]
    latencies: list[float] = []

    def worker() -> None:
        while True:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            latency = _timed(creator, body, time.perf_counter())
            with lock:
                latencies.append(latency)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    return Batch(latencies, time.perf_counter() - started)
