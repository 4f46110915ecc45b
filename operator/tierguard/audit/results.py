"""The audit's pure part: listed objects in, results out, judged exactly as ``check`` judges manifests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tierguard.engine.context import OfflineContext
from tierguard.engine.evaluation import families_of, judged_kinds
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.objects import object_ref
from tierguard.engine.offline import OfflineRun, Result
from tierguard.engine.projection import Projected
from tierguard.policy import TierPolicy


def audit_objects(objects: Iterable[Mapping[str, Any] | Projected], policy: TierPolicy, *,
                  own_namespace: str | None, namespaces: tuple[str, ...] = (),
                  fingerprinter: Fingerprinter | None = None, context: OfflineContext | None = None,
                  cluster: str | None = None) -> list[Result]:
    """Results for the judged objects (of ``namespaces``, when given), with the whole listing as context: of a
    judged kind, or carrying a field judged whatever the kind (Crossplane's connection Secret).
    Projected Secrets (``audit/listing.py``) need the ``fingerprinter`` they were fingerprinted with.
    ``context``: the listing's context built already (``audit/clusters.py``, with the other clusters' values);
    ``cluster``: the name of the cluster listed, when an audit judges several (each result carries it)."""
    listed = list(objects)
    run = (OfflineRun.in_context(context, policy, own_namespace=own_namespace, standing=True) if context is not None
           else OfflineRun(listed, policy, own_namespace=own_namespace, fingerprinter=fingerprinter, standing=True))
    source = "cluster" if cluster is None else f"cluster {cluster}"
    kinds = judged_kinds()
    results = []
    for item in listed:
        obj = item.obj if isinstance(item, Projected) else item
        ref = object_ref(obj)
        if (ref.kind not in kinds and not families_of(obj)) or (namespaces and ref.namespace not in namespaces):
            continue
        results.append(Result(ref, source, run.decide(item), cluster))
    return results
