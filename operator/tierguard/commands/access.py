"""``tierguard access``: who can reach which tier's secret material, and by what path, from manifests or the
cluster."""

from __future__ import annotations

import click

from tierguard.access import LISTED_KINDS, access_report
from tierguard.commands.cluster import read_cluster
from tierguard.commands.options import (
    exit_status,
    filename_option,
    kubeconfig_option,
    listing_options,
    load_policy_option,
    namespace_tier_option,
    output_option,
    parse_namespace_tiers,
    policy_name_option,
    policy_option,
    read_input,
    write_report,
)
from tierguard.render import ACCESS_RENDERERS, render_access


@click.command()
@filename_option("Manifests to read offline (bindings, roles, namespaces); without -f, the cluster is listed.")
@namespace_tier_option("With -f: declare a namespace's tier. Repeatable.")
@kubeconfig_option()
@policy_option("The TierPolicy file (tiers, spec.subjects, exemptions).")
@policy_name_option()
@output_option(list(ACCESS_RENDERERS),
               "text: the matrix and each cross-tier reach; json: the same as data; html: one self-contained page.")
@listing_options()
def access(*, paths: tuple[str, ...], namespace_tiers: tuple[str, ...], kubeconfig: str | None,
           policy_path: str | None, policy_name: str, output: str, chunk_size: int, timeout: float,
           quiet: bool) -> int:
    """Who can reach which tier's secrets: subjects x tiers, by binding, role and verb.

    Every RoleBinding and ClusterRoleBinding, read through its role: the paths to a namespace's secret material
    (reading Secrets, creating pods or workloads, exec, attach, port-forward, ephemeral containers, ServiceAccount
    tokens, impersonation, bind, escalate), for each subject with its tiers (spec.subjects for people, the
    namespace for ServiceAccounts). A reach crosses tiers when a tiered subject reaches a tier it does not belong
    to, or a group everyone is in reaches a tier. From a cluster only namespaces, roles and bindings are listed.

    Exit status: 0 no reach crosses tiers, 1 one does, 2 unreadable input, no cluster or an invalid policy.
    """
    if paths:
        policy = load_policy_option(policy_path)
        labels = parse_namespace_tiers(namespace_tiers, policy)
        report = access_report([(o.obj, o.source) for o in read_input(paths)], policy, namespace_labels=labels)
    else:
        listing = read_cluster(kubeconfig=kubeconfig, policy_path=policy_path, policy_name=policy_name,
                               chunk_size=chunk_size, timeout=timeout, quiet=quiet, kinds=LISTED_KINDS)
        report = access_report([(o, "cluster") for o in listing.objects], listing.policy,
                               fingerprinter=listing.fingerprinter)
    write_report(render_access(report, output))
    return exit_status(report.clean)
