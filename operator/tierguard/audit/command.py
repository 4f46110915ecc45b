"""``tierguard audit`` and ``tierguard parity``: thin shells that list the cluster (or read manifests), run the
engine over every object and render like ``check``."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import click

from tierguard.engine import EvaluationRequest, OfflineContext, evaluate, judged_kinds, object_ref
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.policy import DEFAULT_POLICY, PolicyError, TierPolicy, load_policy, load_policy_file
from tierguard.report import Result, emit


def audit_objects(objects: Iterable[Mapping[str, Any]], policy: TierPolicy, *, own_namespace: str | None,
                  namespaces: tuple[str, ...] = ()) -> list[Result]:
    """The engine over listed objects: pure, as offline ``check``, with the whole listing as context."""
    listed = list(objects)
    context = OfflineContext.from_objects(listed, Fingerprinter.random())
    kinds = judged_kinds()
    results = []
    for obj in listed:
        ref = object_ref(obj)
        if ref.kind not in kinds or (namespaces and ref.namespace not in namespaces):
            continue
        decision = evaluate(EvaluationRequest.from_manifest(obj), context, policy, own_namespace=own_namespace)
        results.append(Result(ref, "cluster", decision))
    return results


class ClusterUnreadable(Exception):
    """The cluster cannot be listed; the message says why, in one line."""


def connect(kubeconfig: str | None) -> Any:
    """A dynamic client for the kubeconfig given, $KUBECONFIG, or the in-cluster config."""
    from kubernetes import client, config, dynamic  # noqa: PLC0415

    try:
        if kubeconfig or os.environ.get("KUBECONFIG") or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_kube_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        else:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        return dynamic.DynamicClient(client.ApiClient())  # type: ignore[no-untyped-call]
    except Exception as error:
        raise ClusterUnreadable(_unreadable(error)) from None


def list_cluster(dynamic_client: Any) -> list[dict[str, Any]]:
    from tierguard.audit.scan import list_cluster as scan  # noqa: PLC0415

    try:
        return list(scan(dynamic_client))
    except Exception as error:
        raise ClusterUnreadable(_unreadable(error)) from None


def _unreadable(error: Exception) -> str:
    status = getattr(error, "status", None)
    problem = f"HTTP {status} {getattr(error, 'reason', '')}" if status else str(error)[:300]
    return f"cannot read the cluster: {type(error).__name__}: {problem}"


def _cluster_policy(dynamic_client: Any, name: str) -> TierPolicy:
    from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError  # noqa: PLC0415

    try:
        resource = dynamic_client.resources.get(api_version="tierguard.io/v1alpha1", kind="TierPolicy")
        body = resource.get(name=name).to_dict()
    except (NotFoundError, ResourceNotFoundError):
        return DEFAULT_POLICY
    except Exception as error:
        raise ClusterUnreadable(_unreadable(error)) from None
    return load_policy({"apiVersion": body.get("apiVersion"), "kind": body.get("kind"),
                        "metadata": {"name": name}, "spec": body.get("spec") or {}})


@click.command()
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Default: $KUBECONFIG or in-cluster config.")
@click.option("--policy", "policy_path", metavar="FILE",
              help="Judge with this TierPolicy file instead of the cluster's.")
@click.option("--policy-name", default="default", show_default=True, help="The cluster's TierPolicy to use.")
@click.option("--namespace", "-n", "namespaces", multiple=True, metavar="NS",
              help="Report only objects in these namespaces (repeatable); the whole cluster is still the context.")
@click.option("--tierguard-namespace", default="tierguard-system", show_default=True,
              help="tierguard's own namespace, always exempt.")
@click.option("--output", "-o", type=click.Choice(["text", "json", "policyreport"]), default="text",
              show_default=True, help="policyreport: wgpolicyk8s.io PolicyReports, one per namespace.")
def audit(*, kubeconfig: str | None, policy_path: str | None, policy_name: str, namespaces: tuple[str, ...],
          tierguard_namespace: str, output: str) -> None:
    """Audit what already runs: every object the webhook would judge, as if it were applied now.

    Exit status: 0 nothing would be denied, 1 something would be, 2 no cluster or an invalid policy.
    """
    from tierguard.cli import Failure  # noqa: PLC0415 - cli registers this command lazily
    try:
        dynamic_client = connect(kubeconfig)
        policy = load_policy_file(policy_path) if policy_path else _cluster_policy(dynamic_client, policy_name)
        results = audit_objects(list_cluster(dynamic_client), policy, own_namespace=tierguard_namespace,
                                namespaces=namespaces)
    except PolicyError as error:
        raise Failure(f"policy {policy_path or policy_name}: {error}") from None
    except ClusterUnreadable as error:
        raise Failure(str(error)) from None
    raise SystemExit(emit(results, output))


@click.command()
@click.option("-f", "--filename", "paths", multiple=True, metavar="PATH",
              help="Manifests to compare offline (as for check); without -f, the cluster is listed.")
@click.option("--namespace-tier", "namespace_tiers", multiple=True, metavar="NS=TIER",
              help="With -f: declare a namespace's tier. Repeatable.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Default: $KUBECONFIG or in-cluster config.")
@click.option("--policy", "policy_path", metavar="FILE", help="The TierPolicy file (required sidecars).")
@click.option("--policy-name", default="default", show_default=True, help="The cluster's TierPolicy to use.")
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
def parity(*, paths: tuple[str, ...], namespace_tiers: tuple[str, ...], kubeconfig: str | None,
           policy_path: str | None, policy_name: str, output: str) -> None:
    """Security-service parity: which tiers' workloads run every required sidecar.

    Exit status: 0 every tiered workload runs (or will be injected with) every required sidecar, 1 a gap,
    2 unreadable input, no cluster or an invalid policy.
    """
    from tierguard.audit.parity import parity_report, render_parity_json, render_parity_text  # noqa: PLC0415
    from tierguard.cli import Failure, load_policy_option, parse_namespace_tiers  # noqa: PLC0415 - as above
    from tierguard.manifests import ManifestError, read_manifests  # noqa: PLC0415

    try:
        if paths:
            policy = load_policy_option(policy_path)
            labels = parse_namespace_tiers(namespace_tiers, policy)
            objects = [(o.obj, o.source) for o in read_manifests(list(paths), sys.stdin)]
        else:
            dynamic_client = connect(kubeconfig)
            policy = load_policy_file(policy_path) if policy_path else _cluster_policy(dynamic_client, policy_name)
            labels = {}
            objects = [(o, "cluster") for o in list_cluster(dynamic_client)]
    except PolicyError as error:
        raise Failure(f"policy {policy_path or policy_name}: {error}") from None
    except (ManifestError, ClusterUnreadable) as error:
        raise Failure(str(error)) from None
    report = parity_report(objects, policy, namespace_labels=labels)
    click.echo(render_parity_json(report) if output == "json" else render_parity_text(report))
    raise SystemExit(0 if report.complete else 1)
