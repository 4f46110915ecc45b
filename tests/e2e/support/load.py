"""A bounded admission load for reliability tests: creates and deletes Pods and Secrets at a steady rate.

Run as its own process (``python -m tests.e2e.support.load ...``) so its cost never slows the test that watches the
cluster. Every second operation is one tierguard must refuse (a Secret copied from another tier by a reflector
annotation), the rest are admissible, so a result is either right, wrong (admitted what must be refused, or the
reverse) or failed (no decision: the webhook could not be reached, timed out, or the API server erred). Prints
one JSON object with the counts and, for failures, the first few messages (never a Secret value: the values are
random and appear in no message the API server returns).
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import signal
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

REFLECTS = "reflector.v1.k8s.emberstack.com/reflects"
REQUIRED_SIDECAR = "istio-proxy"
POLICY = {"sidecars": {"required": [{"name": REQUIRED_SIDECAR}]}}
"""The TierPolicy spec the load expects (with ``--pods``): Pods must run the sidecar."""


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    wrong_at: list[float] = field(default_factory=list)
    """Seconds into the load of the first wrong decisions: a burst at the start is a policy not yet in force, one
    in the middle the disruption."""
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str, detail: str = "") -> None:
        with self.lock:
            self.counts[outcome] += 1
            if outcome == "failed" and len(self.failures) < 5:
                self.failures.append(detail[:300])
            if outcome == "wrong" and len(self.wrong_at) < 20:
                self.wrong_at.append(round(time.monotonic() - self.started, 2))


def secret_body(name: str, refused: bool, source: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": {"tierguard.io/load": "yes"}}
    if refused:
        metadata["annotations"] = {REFLECTS: f"{source}/db"}
    value = base64.b64encode(secrets.token_hex(24).encode()).decode()
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "data": {"password": value}}


def pod_body(name: str, refused: bool) -> dict[str, Any]:
    """A Pod with the required sidecar (``REQUIRED_SIDECAR``, see ``POLICY``), or without it (refused). Never
    scheduled (no node has the label): admission is the point, not running containers."""
    containers = [{"name": "app", "image": "registry.invalid/app:1"}]
    if not refused:
        containers.append({"name": REQUIRED_SIDECAR, "image": "registry.invalid/proxy:1"})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"tierguard.io/load": "yes"}},
            "spec": {"nodeSelector": {"tierguard.io/no-such-node": "x"}, "containers": containers}}


def classify(error: ApiException) -> tuple[str, str]:
    body = str(error.body or "")
    # Refused by tierguard's webhook ("denied the request") or, first, by its admission policies in the API server.
    if error.status == 403 and ("denied the request" in body or "denied request: [" in body):
        return "denied", body
    return "failed", f"{error.status} {error.reason}: {body}"


@dataclass(frozen=True)
class Target:
    core: Any
    namespace: str
    source: str
    pods: bool


def operate(target: Target, serial: int, tally: Tally) -> None:
    core, namespace, source = target.core, target.namespace, target.source
    refused = serial % 2 == 1
    kind = "pod" if target.pods and serial % 4 >= 2 else "secret"
    name = f"load-{kind}-{serial}"
    try:
        if kind == "pod":
            core.create_namespaced_pod(namespace, pod_body(name, refused), _request_timeout=30)
        else:
            core.create_namespaced_secret(namespace, secret_body(name, refused, source), _request_timeout=30)
        outcome = "wrong" if refused else "right"
        detail = ""
    except ApiException as error:
        verdict, detail = classify(error)
        outcome = verdict if verdict == "failed" else ("right" if refused else "wrong")
    except Exception as error:  # a dropped connection, a timeout: no decision reached us
        outcome, detail = "failed", f"{type(error).__name__}: {error}"
    tally.add(outcome, detail)
    tally.add(f"{kind}-{'refused' if refused else 'admitted'}-{outcome}")
    if outcome == "right" and not refused:
        try:
            if kind == "pod":
                core.delete_namespaced_pod(name, namespace, grace_period_seconds=0, _request_timeout=30)
            else:
                core.delete_namespaced_secret(name, namespace, _request_timeout=30)
            tally.add("deleted")
        except Exception as error:  # deletes are not admission decisions; count them apart
            tally.add("delete-failed", str(error))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True, help="a tiered namespace to create objects in")
    parser.add_argument("--source", required=True, help="a namespace of another tier that Secrets copy from")
    parser.add_argument("--rate", type=float, default=50.0, help="operations per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds (bounded: at most 600)")
    parser.add_argument("--pods", action="store_true", help="mix Pods in with the Secrets")
    args = parser.parse_args(argv)
    duration = min(args.duration, 600.0)
    config.load_kube_config(config_file=args.kubeconfig)
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = 32
    core = client.CoreV1Api(client.ApiClient(configuration))
    target = Target(core, args.namespace, args.source, args.pods)
    tally = Tally()
    # SIGTERM ends the schedule early (the test's disruption is over); operations in flight still finish and count.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=24) as pool:
        serial = 0
        while not stop.is_set() and (now := time.monotonic()) < started + duration:
            due = started + serial / args.rate
            if due > now and stop.wait(due - now):
                break
            pool.submit(operate, target, serial, tally)
            serial += 1
    elapsed = time.monotonic() - started
    attempted = tally.counts["right"] + tally.counts["wrong"] + tally.counts["failed"]
    json.dump({"attempted": attempted, "right": tally.counts["right"], "wrong": tally.counts["wrong"],
               "failed": tally.counts["failed"], "rate": attempted / elapsed if elapsed else 0.0,
               "seconds": round(elapsed, 1), "counts": dict(tally.counts), "failures": tally.failures,
               "wrong_at": tally.wrong_at}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
