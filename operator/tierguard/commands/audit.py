"""``tierguard audit``: the engine over what already runs in a cluster (or several), rendered like ``check``."""

from __future__ import annotations

import click

from tierguard.audit.clusters import ClusterObjects, audit_clusters
from tierguard.audit.results import audit_objects
from tierguard.commands.cluster import cluster_option, parse_clusters, read_cluster, read_clusters
from tierguard.commands.options import (
    exit_status,
    kubeconfig_option,
    listing_options,
    output_option,
    policy_name_option,
    policy_option,
    write_report,
)
from tierguard.render import render_results
from tierguard.webhook.settings import RunSettings

POLICY_REPORT = "policyreport"


@click.command()
@kubeconfig_option()
@cluster_option()
@policy_option("Judge with this TierPolicy file instead of the cluster's (of each cluster's, with --cluster).")
@policy_name_option()
@click.option("--namespace", "-n", "namespaces", multiple=True, metavar="NS",
              help="Report only objects in these namespaces (repeatable); the whole cluster is still the context.")
@click.option("--tierguard-namespace", default=RunSettings.namespace, show_default=True,
              help="tierguard's own namespace, always exempt.")
@output_option(["text", "json", POLICY_REPORT],
               "policyreport: wgpolicyk8s.io PolicyReports, one per namespace (one cluster only).")
@listing_options()
def audit(*, kubeconfig: str | None, clusters: tuple[str, ...], policy_path: str | None, policy_name: str,
          namespaces: tuple[str, ...], tierguard_namespace: str, output: str, chunk_size: int, timeout: float,
          quiet: bool) -> int:
    """Audit what already runs: every object the webhook would judge, as if it were applied now.

    Each kind is listed in pages of --chunk-size objects; a Secret's values are fingerprinted as its page
    arrives and dropped. On a terminal, stderr shows the listing's progress (not with --quiet).

    With --cluster (repeatable), several clusters are judged as one: each with its own objects and policy, and
    a value that another cluster holds in another tier is a secret-value-shared finding naming that cluster and
    tier, as a fleet's tierguard refuses it. Every cluster is listed with one fingerprint key for the run.

    Exit status: 0 nothing would be denied, 1 something would be, 2 no cluster or an invalid policy.
    """
    specs = parse_clusters(clusters, kubeconfig)
    if len(specs) > 1 and output == POLICY_REPORT:
        # Reports are applied to the cluster they describe: one stream of several clusters' namespaces could not be.
        raise click.BadParameter("PolicyReports describe one cluster: audit each cluster on its own "
                                 "(--cluster once, or --kubeconfig)", param_hint="--output")
    if specs:
        listings = read_clusters(specs, policy_path=policy_path, policy_name=policy_name, chunk_size=chunk_size,
                                 timeout=timeout, quiet=quiet)
        results = audit_clusters([ClusterObjects(name, listing.objects, listing.policy) for name, listing in listings],
                                 listings[0][1].fingerprinter, own_namespace=tierguard_namespace,
                                 namespaces=namespaces)
    else:
        listing = read_cluster(kubeconfig=kubeconfig, policy_path=policy_path, policy_name=policy_name,
                               chunk_size=chunk_size, timeout=timeout, quiet=quiet)
        results = audit_objects(listing.objects, listing.policy, own_namespace=tierguard_namespace,
                                namespaces=namespaces, fingerprinter=listing.fingerprinter)
    write_report(render_results(results, output))
    return exit_status(all(r.decision.allowed for r in results))
