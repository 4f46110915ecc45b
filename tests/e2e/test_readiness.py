"""Fail closed: a tierguard replica whose initial listing is incomplete denies every request, then admits once
synced; one that loses the API server stops admitting until it is back. Runs a second tierguard process on this
host: it reaches the API server through a gated ``kubectl proxy`` on loopback, and the API server calls its webhook
at the address where it reaches this host (the gateway of kind's Docker network for the local cluster)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

from .support.gate import gated_kubeconfig
from .support.kube import Cluster, free_port, stop, url_host, wait_until
from .support.tierguard import NAMESPACE, TIER_LABEL, apply, assert_admitted, eventually, registered_webhook


def readyz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def test_denies_until_indexes_are_synced(cluster: Cluster, namespace: Callable[..., str], tmp_path: Path,
                                         host_address: str) -> None:
    marker = f"tg-e2e-readiness-{uuid.uuid4().hex[:6]}"
    ns = namespace(labels={TIER_LABEL: "dev", marker: "yes"})
    certs = tmp_path / "certs"
    subprocess.run([sys.executable, "-m", "tierguard", "certs", "--dir", str(certs), "--host", host_address],
                   check=True, capture_output=True)
    webhook_port, metrics_port = free_port(host_address), free_port()
    with gated_kubeconfig(cluster, "/api/v1/secrets", tmp_path) as (kubeconfig, gate):
        log = (tmp_path / "tierguard.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "tierguard", "run", "--namespace", NAMESPACE, "--webhook-addr", host_address,
             "--webhook-port", str(webhook_port), "--tls-cert", str(certs / "tls.crt"), "--tls-key",
             str(certs / "tls.key"), "--metrics-addr", "127.0.0.1", "--metrics-port", str(metrics_port),
             "--api-check-interval", "0.5", "--shutdown-linger", "2"],
            env={**os.environ, "KUBECONFIG": str(kubeconfig)}, stdout=log, stderr=subprocess.STDOUT)
        client = {"url": f"https://{url_host(host_address)}:{webhook_port}/pods",
                  "caBundle": base64.b64encode((certs / "ca.crt").read_bytes()).decode()}
        try:
            with registered_webhook(cluster, marker, client, "pods"):
                pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "early", "namespace": ns},
                       "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}}

                def refused_as_not_ready() -> None:
                    assert process.poll() is None, (tmp_path / "tierguard.log").read_text()[-2000:]
                    result = apply(cluster, pod)
                    assert result.returncode != 0 and "tierguard is not ready" in result.stderr, result.stderr

                eventually(refused_as_not_ready, timeout=60)
                assert readyz(metrics_port) == 503
                # The webhook answers (not ready) before the listings start: the Secrets listing reaches the gate
                # a moment later (not yet, once, in a full e2e run on loaded cores).
                wait_until(lambda: gate.held >= 1 or None, timeout=60, what="the Secrets listing at the gate")
                time.sleep(1)
                assert readyz(metrics_port) == 503  # still held: still not ready

                gate.open()
                eventually(lambda: _assert_equal(readyz(metrics_port), 200), timeout=60)
                eventually(lambda: assert_admitted(apply(cluster, pod)), timeout=30)

                # The API server becomes unreachable for this replica: its watches go stale, so it stops
                # answering decisions until the API is back.
                gate.fail(True)
                eventually(lambda: _assert_equal(readyz(metrics_port), 503), timeout=30)
                late = {**pod, "metadata": {"name": "late", "namespace": ns}}
                refused = apply(cluster, late)
                assert refused.returncode != 0 and "tierguard is not ready" in refused.stderr, refused.stderr
                gate.fail(False)
                eventually(lambda: _assert_equal(readyz(metrics_port), 200), timeout=30)
                eventually(lambda: assert_admitted(apply(cluster, late)), timeout=30)
        finally:
            stop(process, 15)
            log.close()


def _assert_equal(actual: int, expected: int) -> None:
    assert actual == expected
