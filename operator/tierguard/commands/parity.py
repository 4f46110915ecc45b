"""``tierguard parity``: which tiers' workloads run every required sidecar, from manifests or the cluster."""

from __future__ import annotations

import click

from tierguard.audit.parity import parity_report
from tierguard.audit.scan import cluster_policy, connect, list_cluster
from tierguard.commands.options import (
    Failure,
    exit_status,
    filename_option,
    kubeconfig_option,
    load_policy_option,
    namespace_tier_option,
    output_option,
    parse_namespace_tiers,
    policy_name_option,
    policy_option,
    read_input,
    write_report,
)
from tierguard.errors import ClusterUnreadable, PolicyError
from tierguard.policy import load_policy_file
from tierguard.render.parity import render_parity_json, render_parity_text


@click.command()
@filename_option("Manifests to compare offline (as for check); without -f, the cluster is listed.")
@namespace_tier_option("With -f: declare a namespace's tier. Repeatable.")
@kubeconfig_option()
@policy_option("The TierPolicy file (required sidecars).")
@policy_name_option()
@output_option(["text", "json"])
def parity(*, paths: tuple[str, ...], namespace_tiers: tuple[str, ...], kubeconfig: str | None,
           policy_path: str | None, policy_name: str, output: str) -> int:
    """Security-service parity: which tiers' workloads run every required sidecar.

    Exit status: 0 every tiered workload runs (or will be injected with) every required sidecar, 1 a gap,
    2 unreadable input, no cluster or an invalid policy.
    """
    try:
        if paths:
            policy = load_policy_option(policy_path)
            labels = parse_namespace_tiers(namespace_tiers, policy)
            objects = [(o.obj, o.source) for o in read_input(paths)]
        else:
            dynamic_client = connect(kubeconfig)
            policy = load_policy_file(policy_path) if policy_path else cluster_policy(dynamic_client, policy_name)
            labels = {}
            objects = [(o, "cluster") for o in list_cluster(dynamic_client)]
    except PolicyError as error:
        raise Failure(f"policy {policy_path or policy_name}: {error}") from None
    except ClusterUnreadable as error:
        raise Failure(str(error)) from None
    report = parity_report(objects, policy, namespace_labels=labels)
    write_report((render_parity_json(report) if output == "json" else render_parity_text(report)) + "\n")
    return exit_status(report.complete)
