"""Part 5: ``tierguard check`` objects/s on a generated tree, against PyYAML's C loader merely parsing it.

The tree: Namespaces in 4 tiers (Istio injection on), then per app one file of 10 documents (Deployment,
StatefulSet, Job, CronJob, Pod, two Secrets, ConfigMap, Service, ServiceAccount) referencing its own Secrets.
``check`` runs as a user runs it (a fresh process, ``-o json`` to /dev/null, the istio-app policy), so its
time includes interpreter start-up; the parse baseline reads and parses the same files in this process. Both
are CPU times (the child's user+system from getrusage, this process's for the parse), which another
engineer's test suite on the same cores does not inflate the way it inflates wall-clock time.
"""

from __future__ import annotations

import base64
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench import bodies
from bench.util import REPO, Figures, note

DOCS_PER_FILE = 10


def _app(namespace: str, app: int) -> list[dict[str, Any]]:
    name = f"app-{app}"
    meta = {"namespace": namespace, "labels": {"app": name}}
    container = {"name": "main", "image": f"registry.example/{name}:1.0",
                 "envFrom": [{"secretRef": {"name": f"{name}-env"}}],
                 "env": [{"name": "TOKEN",
                          "valueFrom": {"secretKeyRef": {"name": f"{name}-token", "key": "token"}}}]}
    template = {"metadata": {"labels": {"app": name, "sidecar.istio.io/inject": "true"}},
                "spec": {"containers": [container],
                         "volumes": [{"name": "s", "secret": {"secretName": f"{name}-env"}}]}}
    pod_spec = {"containers": [container, {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.1"}]}

    def value(key: str) -> str:
        return base64.b64encode(f"{namespace}-{name}-{key}-generated-filler".encode()).decode()

    def obj(api: str, kind: str, suffix: str, **rest: Any) -> dict[str, Any]:
        return {"apiVersion": api, "kind": kind, "metadata": {"name": f"{name}{suffix}", **meta}, **rest}

    return [
        obj("apps/v1", "Deployment", "", spec={"replicas": 2, "selector": {"matchLabels": {"app": name}},
                                               "template": template}),
        obj("apps/v1", "StatefulSet", "-db", spec={"serviceName": name, "selector": {"matchLabels": {"app": name}},
                                                   "template": template}),
        obj("batch/v1", "Job", "-migrate", spec={"template": template}),
        obj("batch/v1", "CronJob", "-nightly", spec={"schedule": "0 3 * * *",
                                                     "jobTemplate": {"spec": {"template": template}}}),
        obj("v1", "Pod", "-debug", spec=pod_spec),
        obj("v1", "Secret", "-env", type="Opaque", data={"password": value("password"), "url": value("url")}),
        obj("v1", "Secret", "-token", type="Opaque", data={"token": value("token")}),
        obj("v1", "ConfigMap", "-config", data={"LOG_LEVEL": "info"}),
        obj("v1", "Service", "", spec={"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}),
        obj("v1", "ServiceAccount", ""),
    ]


def generate(root: Path, objects: int) -> int:
    """Write about ``objects`` objects under ``root``; returns the exact count."""
    namespaces = max(4, objects // 100)
    apps = max(1, (objects - namespaces) // DOCS_PER_FILE)
    docs = [{"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": bodies.namespace_name(i),
                          "labels": {"tierguard.io/tier": bodies.TIERS[i % 4], "istio-injection": "enabled"}}}
            for i in range(namespaces)]
    (root / "namespaces.yaml").write_text(yaml.safe_dump_all(docs))
    for app in range(apps):
        namespace = bodies.namespace_name(app % namespaces)
        directory = root / namespace
        directory.mkdir(exist_ok=True)
        (directory / f"app-{app}.yaml").write_text(yaml.safe_dump_all(_app(namespace, app)))
    return namespaces + apps * DOCS_PER_FILE


def _parse(root: Path) -> int:
    count = 0
    for path in sorted(root.rglob("*.yaml")):
        count += sum(1 for doc in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader) if doc is not None)
    return count


def run(objects: int, repetitions: int, figures: Figures) -> None:
    with tempfile.TemporaryDirectory(prefix="tierguard-bench-tree-") as tmp:
        root = Path(tmp)
        total = generate(root, objects)
        command = [sys.executable, "-m", "tierguard", "check", "-f", str(root), "--policy",
                   str(bodies.POLICY_FILE), "-o", "json"]
        for _ in range(repetitions):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            result = subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True, timeout=600, check=False)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            check_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            if result.returncode == 2:
                note(f"tierguard check failed: {result.stderr.strip()[-300:]}")
                return
            if result.returncode == 1:
                note("tierguard check denied something in the generated tree (still timed)")
            started = time.process_time()
            parsed = _parse(root)
            parse_seconds = time.process_time() - started
            if parsed != total:
                note(f"parsed {parsed} objects, generated {total}")
            figures.add("check_objects_per_s", total / check_seconds)
            figures.add("check_parse_ratio", check_seconds / parse_seconds)
