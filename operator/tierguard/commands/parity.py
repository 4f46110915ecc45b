"""``tierguard parity``: which tiers' workloads run every required sidecar, and each tier's namespace posture,
from manifests or the cluster."""

from __future__ import annotations

from tierguard.audit.listing import listed_kinds
from tierguard.commands.matrix import (
    MatrixInput,
    MatrixSource,
    matrix_command,
    read_cluster_inputs,
    read_matrix_input,
)
from tierguard.commands.options import exit_status, write_report
from tierguard.parity import ParityReport, merge_reports, parity_report
from tierguard.render import PARITY_RENDERERS, render_parity

NETWORK_POLICY = "NetworkPolicy"


@matrix_command(PARITY_RENDERERS,
                filename="Manifests to compare offline (as for check); without -f, the cluster is listed.",
                policy="The TierPolicy file (required sidecars, spec.namespaces).",
                output="text: tables and gaps; json: the same matrix as data; html: one self-contained page.",
                several_clusters=True)
def parity(*, source: MatrixSource, output: str) -> int:
    """Security-service parity: which tiers' workloads run every required sidecar.

    The matrix is applications x tiers, the reference tier (prod) as the yardstick: an application is a
    workload's app.kubernetes.io/name label, else its app label, else its name. Beside it, each tier's namespace
    posture: the Pod Security labels and spec.namespaces.requiredLabels its namespaces carry, and how many keep a
    default-deny-ingress NetworkPolicy; a tier weaker than prod is highlighted.

    With --cluster (repeatable), several clusters as one matrix: a column per cluster and tier (prod-eu/prod,
    staging/dev), each cluster read with its own policy; every cluster's prod column is the yardstick.

    Exit status: 0 every tiered workload runs (or will be injected with) every required sidecar and every tiered
    namespace keeps spec.namespaces, 1 a gap, 2 unreadable input, no cluster or an invalid policy.
    """
    # From a cluster, NetworkPolicies are listed only when the kinds table has their row; without it, their
    # absence from the listing says nothing about the namespaces.
    listed = bool(source.paths) or bool(listed_kinds((NETWORK_POLICY,)))
    if source.clusters:
        report = merge_reports([(name, _report(read, listed)) for name, read in read_cluster_inputs(source)])
    else:
        report = _report(read_matrix_input(source), listed)
    write_report(render_parity(report, output))
    return exit_status(report.complete)


def _report(read: MatrixInput, network_policies_read: bool) -> ParityReport:
    return parity_report(read.objects, read.policy, namespace_labels=read.namespace_labels,
                         fingerprinter=read.fingerprinter, network_policies_read=network_policies_read)
