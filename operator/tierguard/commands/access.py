"""``tierguard access``: who can reach which tier's secret material, and by what path, from manifests or the
cluster."""

from __future__ import annotations

from tierguard.access import LISTED_KINDS, access_report
from tierguard.commands.matrix import MatrixSource, matrix_command, read_matrix_input
from tierguard.commands.options import exit_status, write_report
from tierguard.render import ACCESS_RENDERERS, render_access


@matrix_command(ACCESS_RENDERERS,
                filename="Manifests to read offline (bindings, roles, namespaces); without -f, the cluster is listed.",
                policy="The TierPolicy file (tiers, spec.subjects, exemptions).",
                output="text: the matrix and each cross-tier reach; json: the same as data; "
                       "html: one self-contained page.")
def access(*, source: MatrixSource, output: str) -> int:
    """Who can reach which tier's secrets: subjects x tiers, by binding, role and verb.

    Every RoleBinding and ClusterRoleBinding, read through its role: the paths to a namespace's secret material
    (reading Secrets, creating pods or workloads, exec, attach, port-forward, ephemeral containers, ServiceAccount
    tokens, impersonation, bind, escalate), for each subject with its tiers (spec.subjects for people, the
    namespace for ServiceAccounts). A reach crosses tiers when a tiered subject reaches a tier it does not belong
    to, or a group everyone is in reaches a tier. From a cluster only namespaces, roles and bindings are listed.

    Exit status: 0 no reach crosses tiers, 1 one does, 2 unreadable input, no cluster or an invalid policy.
    """
    read = read_matrix_input(source, kinds=LISTED_KINDS)
    report = access_report(read.objects, read.policy, namespace_labels=read.namespace_labels,
                           fingerprinter=read.fingerprinter)
    write_report(render_access(report, output))
    return exit_status(report.clean)
