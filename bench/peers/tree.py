"""The generated tree every tool of part 6 judges, and which of its objects violate (known by construction).

Built from part 5's generator (bench/check.py: per app one file of 10 documents, Deployment, StatefulSet, Job,
CronJob, Pod, Secrets, ConfigMap, Service, ServiceAccount), changed so that the sidecar rule has something to
find: the ``istio-proxy`` container is written into every pod and pod template (no injection: the equivalent
policies require it in the object itself), then taken out again, or put where it does not count, for some apps.
One namespace in five has no tier label: what is in it is never a violation, which every tool must see from
the namespace's labels. Each variant is one ``Variant``; ``expected`` is the set of violating objects.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from bench import bodies, check

TIER_LABEL = "tierguard.io/tier"
SIDECAR = "istio-proxy"
PROXY = {"name": SIDECAR, "image": "docker.io/istio/proxyv2:1.22.1"}
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"})

ObjectId = tuple[str, str, str]
"""(kind, namespace, name): how the tools' answers are compared."""


class Variant(Enum):
    """What an app's workloads carry; ``app % len(CYCLE)`` picks it."""

    PROXY = "proxy in every container list"
    NONE = "no proxy anywhere (all 5 workloads violate)"
    POD_ONLY_MISSING = "the Pod lacks it, the templates have it"
    NATIVE = "proxy as a native sidecar (init container, restartPolicy: Always): passes"
    PLAIN_INIT = "proxy as a plain init container: does not count, all 5 violate"


CYCLE = (Variant.PROXY, Variant.NONE, Variant.PROXY, Variant.POD_ONLY_MISSING, Variant.PROXY, Variant.NATIVE,
         Variant.PROXY, Variant.PLAIN_INIT, Variant.PROXY, Variant.PROXY, Variant.PROXY, Variant.PROXY)


@dataclass
class Tree:
    """The files written under ``root``: nested per namespace (tierguard, gator) and flat (Kyverno)."""

    root: Path
    objects: int
    namespace_labels: dict[str, dict[str, str]]
    expected: set[ObjectId] = field(default_factory=set)

    @property
    def nested(self) -> Path:
        return self.root / "tree"

    @property
    def flat(self) -> Path:
        """The same files hard-linked into one directory: Kyverno's CLI does not descend into subdirectories."""
        return self.root / "flat"

    @property
    def kyverno_values(self) -> Path:
        """Namespace labels for Kyverno's CLI, which takes them from a values file, not from Namespace objects."""
        return self.root / "kyverno-values.yaml"


def _pod_specs(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = obj.get("spec", {})
    if obj["kind"] == "Pod":
        yield spec
    elif obj["kind"] == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif "template" in spec:
        yield spec["template"]["spec"]


def _apply(obj: dict[str, Any], variant: Variant) -> bool:
    """Give ``obj`` its variant's proxy; True when it then violates (a tiered namespace assumed)."""
    violates = False
    for spec in _pod_specs(obj):
        containers = [c for c in spec["containers"] if c["name"] != SIDECAR]
        missing = variant in (Variant.NONE, Variant.PLAIN_INIT) or (
            variant is Variant.POD_ONLY_MISSING and obj["kind"] == "Pod")
        if variant is Variant.NATIVE:
            spec["initContainers"] = [{**PROXY, "restartPolicy": "Always"}]
        elif variant is Variant.PLAIN_INIT:
            spec["initContainers"] = [dict(PROXY)]
        elif not missing:
            containers.append(dict(PROXY))
        spec["containers"] = containers
        violates = violates or missing
    return violates


def generate(root: Path, objects: int) -> Tree:
    """Write about ``objects`` objects; returns the tree with its expected violations."""
    namespaces = max(5, objects // 100)
    apps = max(1, (objects - namespaces) // check.DOCS_PER_FILE)
    labels: dict[str, dict[str, str]] = {}
    for index in range(namespaces):
        name = bodies.namespace_name(index)
        labels[name] = {} if index % 5 == 4 else {TIER_LABEL: bodies.TIERS[index % 4]}
    tree = Tree(root, namespaces + apps * check.DOCS_PER_FILE, labels)
    tree.nested.mkdir(parents=True)
    tree.flat.mkdir()
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, **({"labels": lab} if lab else {})}}
            for name, lab in labels.items()]
    (tree.nested / "namespaces.yaml").write_text(yaml.safe_dump_all(docs))
    os.link(tree.nested / "namespaces.yaml", tree.flat / "namespaces.yaml")
    for app in range(apps):
        namespace = bodies.namespace_name(app % namespaces)
        variant = CYCLE[app % len(CYCLE)]
        objs = check._app(namespace, app)
        for obj in objs:
            if obj["kind"] in WORKLOAD_KINDS:
                # Part 5's templates ask Istio to inject; here the proxy must be in the object itself.
                obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}).pop(
                    "sidecar.istio.io/inject", None)
                if _apply(obj, variant) and labels[namespace]:
                    tree.expected.add((obj["kind"], namespace, obj["metadata"]["name"]))
        directory = tree.nested / namespace
        directory.mkdir(exist_ok=True)
        path = directory / f"app-{app}.yaml"
        path.write_text(yaml.safe_dump_all(objs))
        os.link(path, tree.flat / f"{namespace}-app-{app}.yaml")
    values = {"apiVersion": "cli.kyverno.io/v1alpha1", "kind": "Value", "metadata": {"name": "values"},
              "namespaceSelector": [{"name": name, "labels": lab} for name, lab in labels.items()]}
    tree.kyverno_values.write_text(yaml.safe_dump(values))
    return tree
