"""``tierguard audit``: a thin shell that lists the cluster, evaluates each object and renders like ``check``."""

from __future__ import annotations

import os
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


def _cluster_policy(dynamic_client: Any, name: str) -> TierPolicy:
    from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError  # noqa: PLC0415

    try:
        resource = dynamic_client.resources.get(api_version="tierguard.io/v1alpha1", kind="TierPolicy")
        body = resource.get(name=name).to_dict()
    except (NotFoundError, ResourceNotFoundError):
        return DEFAULT_POLICY
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
    from kubernetes import client, config, dynamic  # noqa: PLC0415
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

    try:
        if kubeconfig or os.environ.get("KUBECONFIG") or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_kube_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        else:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        dynamic_client = dynamic.DynamicClient(client.ApiClient())  # type: ignore[no-untyped-call]
        policy = load_policy_file(policy_path) if policy_path else _cluster_policy(dynamic_client, policy_name)
        from tierguard.audit.scan import list_cluster  # noqa: PLC0415

        results = audit_objects(list_cluster(dynamic_client), policy, own_namespace=tierguard_namespace,
                                namespaces=namespaces)
    except PolicyError as error:
        raise click.ClickException(f"policy {policy_path or policy_name}: {error}") from None
    except (config.ConfigException, OSError, ApiException) as error:
        problem = f"HTTP {error.status} {error.reason}" if isinstance(error, ApiException) else str(error)[:300]
        raise click.ClickException(f"cannot read the cluster: {type(error).__name__}: {problem}") from None
    raise SystemExit(emit(results, output))
