"""The kinds table is the one list of kinds: the lists derived from it agree with it and with the engine."""

from __future__ import annotations

from collections import Counter

from tierguard.audit.listing import listed_kinds
from tierguard.engine import judged_kinds
from tierguard.engine.objects import (
    _UNTABLED_NAMESPACED_KINDS,
    CLUSTER_SCOPED_KINDS,
    NAMESPACED_KINDS,
    is_cluster_scoped,
    object_ref,
)
from tierguard.engine.podspec import WORKLOAD_KINDS
from tierguard.kinds import (
    AMBIGUOUS_KINDS,
    BY_FIELD,
    BY_KEY,
    CONNECTS,
    INDEXED,
    JUDGED,
    KINDS,
    GroupKind,
    Scope,
    connect_of,
    group_kinds,
    listed,
)
from tierguard.webhook.routes import ROUTES, ROUTES_BY_ID


def test_rows_are_unique_by_group_and_kind_and_by_group_and_resource() -> None:
    assert len(BY_KEY) == len(KINDS)
    assert not [key for key, n in Counter((i.group, i.resource) for i in KINDS).items() if n > 1]
    assert not [index for index, n in Counter(i.index for i in INDEXED).items() if n > 1]


def test_judged_rows_are_what_the_rule_families_judge() -> None:
    assert {info.kind for info in JUDGED} == judged_kinds()
    assert {info.kind for info in JUDGED} >= WORKLOAD_KINDS


def test_routes_are_the_judged_rows_and_their_subresources() -> None:
    assert len(ROUTES_BY_ID) == len(ROUTES)
    assert [r.id for r in ROUTES if "/" not in r.resource and r.field is None] == [info.route_id for info in JUDGED]
    # Then one route per field judged whatever the kind (Crossplane's connection Secrets), on every resource.
    assert [(r.id, r.field, r.resource, r.kind, r.scope) for r in ROUTES if r.field is not None] == [
        (field.id, field, "*", "*", "*") for field in BY_FIELD]
    assert ROUTES[-len(BY_FIELD):] == tuple(r for r in ROUTES if r.field is not None)
    # Two groups judge a "vaultdynamicsecrets" (Vault Secrets Operator's, External Secrets' generator): two routes.
    assert {(r.id, r.group) for r in ROUTES if r.resource == "vaultdynamicsecrets"} == {
        ("vaultdynamicsecrets", "secrets.hashicorp.com"),
        ("generators-vaultdynamicsecrets", "generators.external-secrets.io")}
    assert ROUTES_BY_ID["pods-ephemeralcontainers"].operations == ("UPDATE",)
    # DELETE only for the TierPolicy (deleting the one in force switches people's tiers off:
    # namespace-tier-assignment) and the NetworkPolicy (a namespace's last default-deny: namespace-security-missing).
    deleted = ("tierpolicies", "networkpolicies")
    for route_id in deleted:
        assert ROUTES_BY_ID[route_id].operations == ("CREATE", "UPDATE", "DELETE")
    assert all(route.operations == ("CREATE", "UPDATE") for route in ROUTES
               if "/" not in route.resource and route.id not in deleted)


def test_sessions_are_connect_routes_of_the_options_kinds() -> None:
    """The API server sends ``kubectl exec`` as a CONNECT of ``pods/exec`` whose ``request.kind`` is
    ``PodExecOptions`` (k8s.io/apiserver's installer registers the options' kind for the subresource)."""
    sessions = {(r.id, r.resource, r.kind, r.operations) for r in ROUTES if "CONNECT" in r.operations}
    assert sessions == {
        ("pods-exec", "pods/exec", "PodExecOptions", ("CONNECT",)),
        ("pods-attach", "pods/attach", "PodAttachOptions", ("CONNECT",)),
        ("pods-portforward", "pods/portforward", "PodPortForwardOptions", ("CONNECT",)),
    }
    assert {key: (info.kind, connect.subresource) for key, (info, connect) in CONNECTS.items()} == {
        GroupKind("", "PodExecOptions"): ("Pod", "exec"),
        GroupKind("", "PodAttachOptions"): ("Pod", "attach"),
        GroupKind("", "PodPortForwardOptions"): ("Pod", "portforward"),
    }
    assert connect_of("v1", "PodExecOptions") == CONNECTS[GroupKind("", "PodExecOptions")]
    assert connect_of(None, "PodAttachOptions") == CONNECTS[GroupKind("", "PodAttachOptions")]
    assert connect_of("example.com/v1", "PodExecOptions") is None and connect_of("v1", "Pod") is None
    # Options are judged, never stored: not a kind the audit lists or reports.
    assert "PodExecOptions" not in judged_kinds() and not set(CONNECTS) & set(BY_KEY)


def test_the_audit_lists_judged_and_indexed_rows_namespaces_first() -> None:
    assert set(listed_kinds()) == set(JUDGED) | set(INDEXED)
    assert listed_kinds() == listed() and listed_kinds()[0].kind == "Namespace"


def test_cluster_scoped_kinds_come_from_the_table() -> None:
    assert {info.kind for info in KINDS if info.scope is Scope.CLUSTER} - AMBIGUOUS_KINDS == CLUSTER_SCOPED_KINDS
    assert is_cluster_scoped("ClusterRoleBinding") and not is_cluster_scoped("RoleBinding")
    assert object_ref({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}).namespace is None
    assert object_ref({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}).namespace == "default"


def test_namespaced_kinds_are_the_tables_and_only_the_built_in_kinds_it_lacks() -> None:
    """Each kind's scope is stated once: the extra list in engine/objects.py names no kind of the table."""
    assert not _UNTABLED_NAMESPACED_KINDS & {info.kind for info in KINDS}
    assert {info.kind for info in KINDS if info.scope is Scope.NAMESPACED} - AMBIGUOUS_KINDS <= NAMESPACED_KINDS
    assert not NAMESPACED_KINDS & CLUSTER_SCOPED_KINDS


def test_a_kind_name_of_both_scopes_keeps_the_objects_own_namespace_or_none() -> None:
    """provider-kubernetes serves Object cluster-scoped (kubernetes.crossplane.io) and namespaced
    (kubernetes.m.crossplane.io): neither scope is assumed from the name."""
    assert "Object" in AMBIGUOUS_KINDS
    cluster = {"apiVersion": "kubernetes.crossplane.io/v1alpha2", "kind": "Object", "metadata": {"name": "o"}}
    namespaced = {"apiVersion": "kubernetes.m.crossplane.io/v1alpha1", "kind": "Object",
                  "metadata": {"name": "o", "namespace": "dev"}}
    assert object_ref(cluster).namespace is None and object_ref(namespaced).namespace == "dev"


def test_group_kinds_are_judged_rows() -> None:
    assert group_kinds("Job") == {GroupKind("batch", "Job")}
    try:
        group_kinds("Node")
    except LookupError as error:
        assert "Node" in str(error)
    else:
        raise AssertionError("Node is not judged")
