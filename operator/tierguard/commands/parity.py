"""``tierguard parity``: which tiers' workloads run every required sidecar, from manifests or the cluster."""

from __future__ import annotations

import click

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
from tierguard.parity import parity_report
from tierguard.render import PARITY_RENDERERS, render_parity


@click.command()
@filename_option("Manifests to compare offline (as for check); without -f, the cluster is listed.")
@namespace_tier_option("With -f: declare a namespace's tier. Repeatable.")
@kubeconfig_option()
@policy_option("The TierPolicy file (required sidecars).")
@policy_name_option()
@output_option(list(PARITY_RENDERERS),
               "text: tables and gaps; json: the same matrix as data; html: one self-contained page.")
@listing_options()
def parity(*, paths: tuple[str, ...], namespace_tiers: tuple[str, ...], kubeconfig: str | None,
           policy_path: str | None, policy_name: str, output: str, chunk_size: int, timeout: float,
           quiet: bool) -> int:
    """Security-service parity: which tiers' workloads run every required sidecar.

    The matrix is applications x tiers, the reference tier (prod) as the yardstick: an application is a
    workload's app.kubernetes.io/name label, else its app label, else its name.

    Exit status: 0 every tiered workload runs (or will be injected with) every required sidecar, 1 a gap,
    2 unreadable input, no cluster or an invalid policy.
    """
    if paths:
        policy = load_policy_option(policy_path)
        labels = parse_namespace_tiers(namespace_tiers, policy)
        report = parity_report([(o.obj, o.source) for o in read_input(paths)], policy, namespace_labels=labels)
    else:
        listing = read_cluster(kubeconfig=kubeconfig, policy_path=policy_path, policy_name=policy_name,
                               chunk_size=chunk_size, timeout=timeout, quiet=quiet)
        report = parity_report([(o, "cluster") for o in listing.objects], listing.policy,
                               fingerprinter=listing.fingerprinter)
    write_report(render_parity(report, output))
    return exit_status(report.complete)

