"""Bulk objects for the audit's scale test, and the baseline it is measured against. Run as its own process:

``python -m tests.e2e.support.bulk create --kubeconfig K --run-id ID --namespaces N --secrets S --deadline-s T``
    creates N namespaces labelled ``tierguard.io/e2e-bulk=ID``, tiered round-robin dev/qa/stage/prod (so the
    webhook judges every Secret, and the audit's context has four tiers), then S Secrets spread evenly over
    them, each with a unique random 32-byte ``password`` and a random 1.5 KiB ``tls.key`` (about 2.7 KiB of
    JSON each: object size, not only count, is what the projection has to keep out of memory). Parallel
    requests from one process (a thread pool over the kubernetes client). Bounded: gives up at the deadline.
    Idempotent: objects of this run id that exist already are not created again (listed first, by label), so a
    set can be kept and measured again. Prints one JSON object with the counts.
    ``--workloads W`` adds W Deployments (0 replicas, each reading one Secret of its namespace through
    ``envFrom``: judged, no finding), ``--shared P`` P pairs of Secrets holding one value in two namespaces
    of different tiers (findings for the background audit's reports; create them with the tiers in audit mode).

``python -m tests.e2e.support.bulk plain-list --kubeconfig K --chunk-size C``
    the baseline: the kinds the audit lists (``tierguard.kinds.listed()``), found by the same discovery, read
    in pages of C with the kubernetes client, each page parsed as JSON and dropped. No projection, no engine.
    Prints one JSON object with the count.

Never prints a value: they are random, and no message of the API server quotes them.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

TIERS = ("dev", "qa", "stage", "prod")
RUN_LABEL = "tierguard.io/e2e-bulk"
WORKERS = 16
ATTEMPTS = 4


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def create(args: argparse.Namespace) -> dict[str, Any]:
    from kubernetes import client, config  # noqa: PLC0415
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

    configuration = client.Configuration()
    config.load_kube_config(config_file=args.kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = WORKERS
    api = client.CoreV1Api(client.ApiClient(configuration))
    deadline = time.monotonic() + args.deadline_s
    failures: list[str] = []
    lock = threading.Lock()

    def attempt(call: Callable[[], object]) -> bool:
        for tried in range(ATTEMPTS):
            if time.monotonic() > deadline:
                return False
            try:
                call()
                return True
            except ApiException as error:
                if error.status == 409:  # AlreadyExists: a re-run
                    return True
                if tried == ATTEMPTS - 1:
                    with lock:
                        failures.append(f"HTTP {error.status} {error.reason}")
            except Exception as error:
                if tried == ATTEMPTS - 1:
                    with lock:
                        failures.append(type(error).__name__)
            time.sleep(0.2 * (tried + 1))
        return False

    names = [f"tg-bulk-{args.run_id}-{i:04d}" for i in range(args.namespaces)]
    selector = f"{RUN_LABEL}={args.run_id}"
    existing_namespaces = {n.metadata.name for n in api.list_namespace(label_selector=selector).items}
    existing: set[tuple[str, str]] = set()
    token = None
    while True:
        page = api.list_secret_for_all_namespaces(label_selector=selector, limit=1000, _continue=token)
        existing.update((s.metadata.namespace, s.metadata.name) for s in page.items)
        token = page.metadata._continue
        if not token:
            break

    def namespace(index: int) -> bool:
        if names[index] in existing_namespaces:
            return True
        body = {"metadata": {"name": names[index],
                             "labels": {RUN_LABEL: args.run_id, "tierguard.io/tier": TIERS[index % len(TIERS)]}}}
        return attempt(lambda: api.create_namespace(body, _request_timeout=30))

    def secret(index: int) -> bool:
        ns = names[index % len(names)]
        if (ns, f"bulk-{index:06d}") in existing:
            return True
        body = {"metadata": {"name": f"bulk-{index:06d}", "labels": {RUN_LABEL: args.run_id}},
                "type": "Opaque",
                "data": {"password": b64(os.urandom(32)), "tls.key": b64(os.urandom(1536))}}
        return attempt(lambda: api.create_namespaced_secret(ns, body, _request_timeout=30))

    apps = client.AppsV1Api(client.ApiClient(configuration))

    def workload(index: int) -> bool:
        ns = names[index % len(names)]
        reads = f"bulk-{index % len(names):06d}"  # secret i lives in namespace i % N
        body = {"metadata": {"name": f"bulk-{index:06d}", "labels": {RUN_LABEL: args.run_id}},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": f"bulk-{index:06d}"}},
                         "template": {"metadata": {"labels": {"app": f"bulk-{index:06d}"}},
                                      "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1",
                                                               "envFrom": [{"secretRef": {"name": reads}}]}]}}}}
        return attempt(lambda: apps.create_namespaced_deployment(ns, body, _request_timeout=30))

    def shared(index: int) -> bool:
        value = b64(os.urandom(32))
        ok = True
        for ns in (names[index % len(names)], names[(index + 1) % len(names)]):
            body = {"metadata": {"name": f"shared-{index:04d}", "labels": {RUN_LABEL: args.run_id}},
                    "type": "Opaque", "data": {"password": value}}
            ok = attempt(lambda ns=ns, body=body: api.create_namespaced_secret(ns, body, _request_timeout=30)) and ok
        return ok

    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        namespaces = sum(pool.map(namespace, range(args.namespaces)))
        namespaces_s = time.monotonic() - started
        secrets = sum(pool.map(secret, range(args.secrets))) if namespaces == args.namespaces else 0
        workloads = sum(pool.map(workload, range(args.workloads))) if namespaces == args.namespaces else 0
        pairs = sum(pool.map(shared, range(args.shared))) if namespaces == args.namespaces else 0
    elapsed = time.monotonic() - started
    return {"namespaces": namespaces, "secrets": secrets, "workloads": workloads, "shared_pairs": pairs,
            "existed": len(existing_namespaces) + len(existing),
            "namespaces_s": round(namespaces_s, 1),
            "seconds": round(elapsed, 1), "per_second": round((namespaces + secrets) / elapsed, 1),
            "out_of_time": time.monotonic() > deadline, "failures": failures[:10], "failed": len(failures)}


def plain_list(args: argparse.Namespace) -> dict[str, Any]:
    from kubernetes import client, config, dynamic  # noqa: PLC0415
    from kubernetes.dynamic.exceptions import ResourceNotFoundError  # noqa: PLC0415

    from tierguard.kinds import listed  # noqa: PLC0415 - only the table of kinds, none of the audit's code

    configuration = client.Configuration()
    config.load_kube_config(config_file=args.kubeconfig, client_configuration=configuration)
    dynamic_client = dynamic.DynamicClient(client.ApiClient(configuration))
    count = pages = 0
    for wanted in listed():
        try:
            found = dynamic_client.resources.search(group=wanted.group, kind=wanted.kind)
        except ResourceNotFoundError:
            continue
        resources = [r for r in found if getattr(r, "kind", None) == wanted.kind and "list" in (r.verbs or [])]
        if not resources:
            continue
        token = None
        while True:
            response = resources[0].get(limit=args.chunk_size, _continue=token, serialize=False,
                                        _request_timeout=60)
            page = json.loads(response.data)
            count += len(page.get("items") or [])
            pages += 1
            token = (page.get("metadata") or {}).get("continue") or None
            del page, response
            if not token:
                break
    return {"objects": count, "pages": pages}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.support.bulk")
    commands = parser.add_subparsers(dest="command", required=True)
    making = commands.add_parser("create")
    making.add_argument("--kubeconfig", required=True)
    making.add_argument("--run-id", required=True)
    making.add_argument("--namespaces", type=int, required=True)
    making.add_argument("--secrets", type=int, required=True)
    making.add_argument("--deadline-s", type=float, required=True)
    making.add_argument("--workloads", type=int, default=0)
    making.add_argument("--shared", type=int, default=0)
    listing = commands.add_parser("plain-list")
    listing.add_argument("--kubeconfig", required=True)
    listing.add_argument("--chunk-size", type=int, default=500)
    args = parser.parse_args()
    result = create(args) if args.command == "create" else plain_list(args)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
