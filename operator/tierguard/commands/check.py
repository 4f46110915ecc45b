"""``tierguard check``: manifests judged offline, as the webhook would judge them at admission."""

from __future__ import annotations

from collections.abc import Mapping

import click

from tierguard.commands.options import (
    Failure,
    exit_status,
    filename_option,
    kubeconfig_option,
    load_policy_option,
    namespace_tier_option,
    output_option,
    parse_namespace_tiers,
    policy_option,
    read_input,
    write_report,
)
from tierguard.engine.objects import placed_in
from tierguard.engine.offline import judge_documents
from tierguard.errors import ClusterUnreadable
from tierguard.policy import TierPolicy
from tierguard.render import render_results


@click.command()
@filename_option("A manifest file, a directory (recursively *.yaml, *.yml, *.json) or - for stdin. Repeatable.")
@policy_option("A TierPolicy document (default: SPEC's defaults).")
@output_option(["text", "json", "sarif"], "sarif: SARIF 2.1.0 for code scanning, at the file and line of each "
                                          "offending field.")
@namespace_tier_option("Declare a namespace's tier without a Namespace object. Repeatable.")
@click.option("-n", "--namespace", "namespace", metavar="NS", default=None,
              help="Place objects that name no namespace in NS, as `kubectl apply -n NS` does (default: default).")
@click.option("--namespace-tiers-from-cluster", "tiers_from_cluster", is_flag=True,
              help="Read the tier label of every Namespace of the cluster (kubeconfig; nothing but Namespaces "
                   "is read). Namespace objects in the input and --namespace-tier take precedence.")
@kubeconfig_option()
@click.option("--skip-non-manifests", "skip_non_manifests", is_flag=True,
              help="Leave out documents that are not Kubernetes objects (no apiVersion and kind) instead of failing: "
                   "for hooks handed every changed YAML file (the pre-commit hook sets it).")
@click.argument("files", nargs=-1, metavar="[PATH]...")
def check(*, paths: tuple[str, ...], policy_path: str | None, output: str, namespace_tiers: tuple[str, ...],
          namespace: str | None, tiers_from_cluster: bool, kubeconfig: str | None, skip_non_manifests: bool,
          files: tuple[str, ...]) -> int:
    """Check manifests against the tier policy, offline, as the webhook would at admission.

    PATHs given without -f are read like -f PATH (as hooks pass file names).

    Exit status: 0 nothing denied, 1 at least one denial, 2 unreadable input, invalid policy or (with
    --namespace-tiers-from-cluster) no cluster.
    """
    policy = load_policy_option(policy_path)
    namespace_labels = parse_namespace_tiers(namespace_tiers, policy)
    objects = read_input([*paths, *files], skip_non_objects=skip_non_manifests)
    if tiers_from_cluster:
        # The input's own Namespace objects describe what is about to be applied: they win over the cluster.
        declared = {o.obj.get("metadata", {}).get("name") for o in objects
                    if o.obj.get("kind") == "Namespace" and o.obj.get("apiVersion") == "v1"
                    and isinstance(o.obj.get("metadata"), Mapping)}
        cluster = {name: labels for name, labels in _cluster_tiers(kubeconfig, policy).items() if name not in declared}
        namespace_labels = {**cluster, **namespace_labels}
    documents = [(placed_in(o.obj, namespace) if namespace else o.obj, o.source) for o in objects]
    results = judge_documents(documents, policy, namespace_labels=namespace_labels)
    locations = {o.source: o.location for o in objects if o.location is not None}
    write_report(render_results(results, output, locations))
    return exit_status(all(r.decision.allowed for r in results))


def _cluster_tiers(kubeconfig: str | None, policy: TierPolicy) -> dict[str, dict[str, str]]:
    from tierguard.audit.tiers import cluster_namespace_tiers  # noqa: PLC0415 - plain check stays light

    try:
        return cluster_namespace_tiers(kubeconfig, policy.tier_label)
    except ClusterUnreadable as error:
        raise Failure(str(error)) from None
