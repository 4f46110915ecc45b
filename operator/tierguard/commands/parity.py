"""``tierguard parity``: which tiers' workloads run every required sidecar, from manifests or the cluster."""

from __future__ import annotations

from tierguard.commands.matrix import MatrixSource, matrix_command, read_matrix_input
from tierguard.commands.options import exit_status, write_report
from tierguard.parity import parity_report
from tierguard.render import PARITY_RENDERERS, render_parity


@matrix_command(PARITY_RENDERERS,
                filename="Manifests to compare offline (as for check); without -f, the cluster is listed.",
                policy="The TierPolicy file (required sidecars).",
                output="text: tables and gaps; json: the same matrix as data; html: one self-contained page.")
def parity(*, source: MatrixSource, output: str) -> int:
    """Security-service parity: which tiers' workloads run every required sidecar.

    The matrix is applications x tiers, the reference tier (prod) as the yardstick: an application is a
    workload's app.kubernetes.io/name label, else its app label, else its name.

    Exit status: 0 every tiered workload runs (or will be injected with) every required sidecar, 1 a gap,
    2 unreadable input, no cluster or an invalid policy.
    """
    read = read_matrix_input(source)
    report = parity_report(read.objects, read.policy, namespace_labels=read.namespace_labels,
                           fingerprinter=read.fingerprinter)
    write_report(render_parity(report, output))
    return exit_status(report.complete)
