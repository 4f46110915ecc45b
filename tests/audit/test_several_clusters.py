"""Several clusters audited as one (``audit/clusters.py``), pure: each cluster judged with its own objects, its own
policy, and the other clusters' values as a fleet's sets."""

from __future__ import annotations

from tierguard.audit.clusters import ClusterObjects, audit_clusters
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.offline import Result
from tierguard.policy import DEFAULT_POLICY, load_policy

from .test_audit_objects import NAMESPACES, secret


def messages(results: list[Result], cluster: str, namespace: str) -> list[str]:
    return [v.message for r in results if r.cluster == cluster and r.ref.namespace == namespace
            for v in r.decision.violations]


def test_a_value_across_tiers_within_one_cluster_is_not_also_a_fleet_finding() -> None:
    """A cluster's own set is not another's holding: the in-cluster finding (naming the Secret) only, once."""
    both = ClusterObjects("eu", [*NAMESPACES, secret("dev"), secret("prod")], DEFAULT_POLICY)
    other = ClusterObjects("us", NAMESPACES, DEFAULT_POLICY)
    results = audit_clusters([both, other], Fingerprinter.random(), own_namespace=None)
    [dev] = messages(results, "eu", "dev")
    assert "as Secret prod/db (tier prod)" in dev and "cluster" not in dev
    assert {r.cluster for r in results} == {"eu", "us"} and all(r.source == f"cluster {r.cluster}" for r in results)


def test_each_cluster_compares_what_its_own_policy_compares() -> None:
    """The prod cluster ignores the key ``password`` (its policy): it publishes nothing of it and is told nothing
    of it, while the dev cluster, whose policy compares it, is told nothing either since nothing was published."""
    ignoring = load_policy({"spec": {"secrets": {"fingerprints": {"ignoreKeys": ["password"]}}}})
    prod = ClusterObjects("eu", [NAMESPACES[1], secret("prod")], ignoring)
    dev = ClusterObjects("staging", [NAMESPACES[0], secret("dev")], DEFAULT_POLICY)
    results = audit_clusters([prod, dev], Fingerprinter.random(), own_namespace=None)
    assert all(r.decision.allowed for r in results)
    compared = audit_clusters([ClusterObjects("eu", prod.objects, DEFAULT_POLICY), dev], Fingerprinter.random(),
                              own_namespace=None)
    [finding] = messages(compared, "staging", "dev")
    assert "as a Secret of cluster 'eu' (tier prod)" in finding


def test_the_namespace_filter_applies_to_every_cluster() -> None:
    clusters = [ClusterObjects("eu", [NAMESPACES[1], secret("prod")], DEFAULT_POLICY),
                ClusterObjects("staging", [NAMESPACES[0], secret("dev")], DEFAULT_POLICY)]
    results = audit_clusters(clusters, Fingerprinter.random(), own_namespace=None, namespaces=("dev",))
    assert [(r.cluster, r.ref.kind, r.ref.namespace) for r in results] == [("staging", "Secret", "dev")]
    assert not results[0].decision.allowed  # the context is still every cluster's whole listing
