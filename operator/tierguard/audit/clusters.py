"""Several clusters audited as one (``tierguard audit --cluster NAME=KUBECONFIG ...``): each cluster judged with
its own objects as context and its own policy, and the other clusters' values as a fleet's members would see them
(docs/fleet.md): per cluster and tier, a set of the keyed fingerprints ``secret-value-shared`` compares
(``publishable``), so a value held in another cluster's other tier is the same finding, with the same message, as
the live fleet's. Every cluster was listed with one key; no value, and no digest, leaves memory. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tierguard.audit.results import audit_objects
from tierguard.engine.context import OfflineContext
from tierguard.engine.fingerprint_set import FingerprintSet, key_id
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.fleet_sets import FleetSets, PublishedTier, published_digests
from tierguard.engine.offline import Result
from tierguard.engine.projection import Projected
from tierguard.engine.rules.shared_values import publishable
from tierguard.engine.tiers import tier_from_labels
from tierguard.policy import TierPolicy


@dataclass(frozen=True)
class ClusterObjects:
    """One cluster's listing: its name (as findings name it), objects and policy."""

    name: str
    objects: Sequence[Mapping[str, Any] | Projected]
    policy: TierPolicy


def held_tiers(context: OfflineContext, policy: TierPolicy, key: str) -> dict[str, set[bytes]]:
    """Per tier, the digests of the cluster's values that ``secret-value-shared`` compares: what it would
    publish under ``key`` as a member of a fleet."""
    def tier_of(namespace: str) -> str | None:
        view = context.namespace(namespace)
        return tier_from_labels(view.labels, policy) if view is not None else None

    return published_digests(publishable(context.secret_views(), tier_of, policy), (key,))[key]


def audit_clusters(clusters: Sequence[ClusterObjects], fingerprinter: Fingerprinter, *, own_namespace: str | None,
                   namespaces: tuple[str, ...] = ()) -> list[Result]:
    """Every cluster's results, cluster after cluster, each carrying its cluster's name."""
    contexts = [OfflineContext.from_objects(cluster.objects, fingerprinter) for cluster in clusters]
    key = key_id(fingerprinter)
    # The sets a fleet would publish (the same encoding and false-positive rate), so findings agree with it.
    published = [PublishedTier(cluster.name, tier, key, 0, (FingerprintSet.of(digests),))
                 for cluster, context in zip(clusters, contexts, strict=True)
                 for tier, digests in sorted(held_tiers(context, cluster.policy, key).items())]
    results: list[Result] = []
    for cluster, context in zip(clusters, contexts, strict=True):
        context.fleet = FleetSets(published, key_ids=(key,), own_member=cluster.name)
        results.extend(audit_objects(cluster.objects, cluster.policy, own_namespace=own_namespace,
                                     namespaces=namespaces, context=context, cluster=cluster.name))
    return results
