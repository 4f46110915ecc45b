"""``tierguard audit``: the engine over what already runs in a cluster (or several), rendered like ``check``."""

from __future__ import annotations

import click

from tierguard.audit.clusters import ClusterObjects, audit_clusters
from tierguard.audit.fleet_hub import FleetHub, member_keys, read_fleet
from tierguard.audit.listing import connect
from tierguard.audit.results import audit_objects
from tierguard.commands.cluster import (
    CLUSTER_NAME,
    cluster_option,
    kubeconfig_and_context,
    parse_clusters,
    read_cluster,
    read_clusters,
)
from tierguard.commands.options import (
    Failure,
    exit_status,
    kubeconfig_option,
    listing_options,
    output_option,
    policy_name_option,
    policy_option,
    write_report,
)
from tierguard.engine.context import OfflineContext
from tierguard.errors import ClusterUnreadable
from tierguard.render import render_results
from tierguard.webhook.settings import FleetSettings, RunSettings

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
@click.option("--fleet-hub", metavar="KUBECONFIG[#CONTEXT]",
              help="Also judge the cluster's values against what the other members of its fleet published to this "
                   "hub (docs/fleet.md), with the cluster's own fingerprint keys; with --fleet-member.")
@click.option("--fleet-member", metavar="NAME", help="The cluster's member name in the fleet (its own sets are left "
                                                     "out).")
@click.option("--fleet-hub-namespace", default=FleetSettings.hub_namespace, show_default=True,
              help="The hub's namespace holding the members' heartbeats (its tierguard release's).")
@click.option("--hmac-secret", default=RunSettings.hmac_secret, show_default=True,
              help="The fingerprint key Secret in --tierguard-namespace (with --fleet-hub).")
@listing_options()
def audit(*, kubeconfig: str | None, clusters: tuple[str, ...], policy_path: str | None, policy_name: str,
          namespaces: tuple[str, ...], tierguard_namespace: str, output: str, fleet_hub: str | None,
          fleet_member: str | None, fleet_hub_namespace: str, hmac_secret: str, chunk_size: int, timeout: float,
          quiet: bool) -> int:
    """Audit what already runs: every object the webhook would judge, as if it were applied now.

    Each kind is listed in pages of --chunk-size objects; a Secret's values are fingerprinted as its page
    arrives and dropped. On a terminal, stderr shows the listing's progress (not with --quiet).

    With --cluster (repeatable), several clusters are judged as one: each with its own objects and policy, and
    a value that another cluster holds in another tier is a secret-value-shared finding naming that cluster and
    tier, as a fleet's tierguard refuses it. Every cluster is listed with one fingerprint key for the run.

    With --fleet-hub and --fleet-member, one member cluster's values are also judged against the sets the other
    members published to the fleet's hub, as its tierguard judges them (read once: every member with a
    heartbeat counts), with the member's fingerprint keys read from its key Secret.

    Exit status: 0 nothing would be denied, 1 something would be, 2 no cluster or an invalid policy.
    """
    specs = parse_clusters(clusters, kubeconfig)
    hub = fleet_hub_of(fleet_hub, fleet_member, fleet_hub_namespace, several=bool(specs))
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
    elif hub is not None:
        try:
            keys = member_keys(connect(kubeconfig, timeout), tierguard_namespace, hmac_secret)
            fleet = read_fleet(hub, keys, timeout)
        except ClusterUnreadable as error:
            raise Failure(str(error)) from None
        listing = read_cluster(kubeconfig=kubeconfig, policy_path=policy_path, policy_name=policy_name,
                               chunk_size=chunk_size, timeout=timeout, quiet=quiet, fingerprinter=keys)
        context = OfflineContext.from_objects(listing.objects, keys)
        context.fleet = fleet
        results = audit_objects(listing.objects, listing.policy, own_namespace=tierguard_namespace,
                                namespaces=namespaces, context=context)
    else:
        listing = read_cluster(kubeconfig=kubeconfig, policy_path=policy_path, policy_name=policy_name,
                               chunk_size=chunk_size, timeout=timeout, quiet=quiet)
        results = audit_objects(listing.objects, listing.policy, own_namespace=tierguard_namespace,
                                namespaces=namespaces, fingerprinter=listing.fingerprinter)
    write_report(render_results(results, output))
    return exit_status(all(r.decision.allowed for r in results))


def fleet_hub_of(value: str | None, member: str | None, namespace: str, *, several: bool) -> FleetHub | None:
    """``--fleet-hub`` with its member, checked: raises BadParameter (exit 2) saying what is missing or wrong."""
    if value is None:
        if member is not None:
            raise click.BadParameter("--fleet-member names this cluster in a fleet: give --fleet-hub too",
                                     param_hint="--fleet-member")
        return None
    if several:
        raise click.BadParameter("--fleet-hub judges one cluster against its fleet's hub; --cluster judges several "
                                 "from their own listings: give one or the other", param_hint="--fleet-hub")
    if not member or not CLUSTER_NAME.match(member):
        raise click.BadParameter(f"{member!r} is not a member name: --fleet-hub needs --fleet-member, this "
                                 "cluster's name in the fleet (a DNS label)", param_hint="--fleet-member")
    path, context = kubeconfig_and_context(value)
    if not (path or context):
        raise click.BadParameter(f"{value!r}: expected KUBECONFIG or KUBECONFIG#CONTEXT", param_hint="--fleet-hub")
    return FleetHub(path, context, namespace, member)
