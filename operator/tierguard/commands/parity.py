"""``tierguard parity``: which tiers' workloads run every required sidecar, and each tier's namespace posture,
from manifests or the cluster."""

from __future__ import annotations

from tierguard.audit.listing import listed_kinds
from tierguard.commands.matrix import MatrixSource, matrix_command, read_matrix_input
from tierguard.commands.options import exit_status, write_report
from tierguard.parity import parity_report
from tierguard.render import PARITY_RENDERERS, render_parity

NETWORK_POLICY = "NetworkPolicy"


@matrix_command(PARITY_RENDERERS,
                filename="Manifests to compare offline (as for check); without -f, the cluster is listed.",
                policy="The TierPolicy file (required sidecars, spec.namespaces).",
                output="text: tables and gaps; json: the same matrix as data; html: one self-contained page.")
def parity(*, source: MatrixSource, output: str) -> int:
    """Security-service parity: which tiers' workloads run every required sidecar.

    The matrix is applications x tiers, the reference tier (prod) as the yardstick: an application is a
    workload's app.kubernetes.io/name label, else its app label, else its name. Beside it, each tier's namespace
    posture: the Pod Security labels and spec.namespaces.requiredLabels its namespaces carry, and how many keep a
    default-deny-ingress NetworkPolicy; a tier weaker than prod is highlighted.

    Exit status: 0 every tiered workload runs (or will be injected with) every required sidecar and every tiered
    namespace keeps spec.namespaces, 1 a gap, 2 unreadable input, no cluster or an invalid policy.
    """
    read = read_matrix_input(source)
    # From a cluster, NetworkPolicies are listed only when the kinds table has their row; without it, their
    # absence from the listing says nothing about the namespaces.
    listed = bool(source.paths) or bool(listed_kinds((NETWORK_POLICY,)))
    report = parity_report(read.objects, read.policy, namespace_labels=read.namespace_labels,
                           fingerprinter=read.fingerprinter, network_policies_read=listed)
    write_report(render_parity(report, output))
    return exit_status(report.complete)
