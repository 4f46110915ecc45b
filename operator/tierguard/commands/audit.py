"""``tierguard audit``: the engine over what already runs in a cluster, rendered like ``check``."""

from __future__ import annotations

import click

from tierguard.audit.results import audit_objects
from tierguard.audit.scan import cluster_policy, connect, list_cluster
from tierguard.commands.options import (
    Failure,
    exit_status,
    kubeconfig_option,
    output_option,
    policy_name_option,
    policy_option,
    write_report,
)
from tierguard.errors import ClusterUnreadable, PolicyError
from tierguard.policy import load_policy_file
from tierguard.render import render_results


@click.command()
@kubeconfig_option()
@policy_option("Judge with this TierPolicy file instead of the cluster's.")
@policy_name_option()
@click.option("--namespace", "-n", "namespaces", multiple=True, metavar="NS",
              help="Report only objects in these namespaces (repeatable); the whole cluster is still the context.")
@click.option("--tierguard-namespace", default="tierguard-system", show_default=True,
              help="tierguard's own namespace, always exempt.")
@output_option(["text", "json", "policyreport"], "policyreport: wgpolicyk8s.io PolicyReports, one per namespace.")
def audit(*, kubeconfig: str | None, policy_path: str | None, policy_name: str, namespaces: tuple[str, ...],
          tierguard_namespace: str, output: str) -> int:
    """Audit what already runs: every object the webhook would judge, as if it were applied now.

    Exit status: 0 nothing would be denied, 1 something would be, 2 no cluster or an invalid policy.
    """
    try:
        dynamic_client = connect(kubeconfig)
        policy = load_policy_file(policy_path) if policy_path else cluster_policy(dynamic_client, policy_name)
        results = audit_objects(list_cluster(dynamic_client), policy, own_namespace=tierguard_namespace,
                                namespaces=namespaces)
    except PolicyError as error:
        raise Failure(f"policy {policy_path or policy_name}: {error}") from None
    except ClusterUnreadable as error:
        raise Failure(str(error)) from None
    write_report(render_results(results, output))
    return exit_status(all(r.decision.allowed for r in results))
