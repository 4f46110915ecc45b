"""The audit's pure part: listed objects in, results out, judged exactly as ``check`` judges manifests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tierguard.engine.evaluation import judged_kinds
from tierguard.engine.objects import object_ref
from tierguard.engine.offline import OfflineRun, Result
from tierguard.policy import TierPolicy


def audit_objects(objects: Iterable[Mapping[str, Any]], policy: TierPolicy, *, own_namespace: str | None,
                  namespaces: tuple[str, ...] = ()) -> list[Result]:
    """Results for the judged objects (of ``namespaces``, when given), with the whole listing as context."""
    listed = list(objects)
    run = OfflineRun(listed, policy, own_namespace=own_namespace)
    kinds = judged_kinds()
    results = []
    for obj in listed:
        ref = object_ref(obj)
        if ref.kind not in kinds or (namespaces and ref.namespace not in namespaces):
            continue
        results.append(Result(ref, "cluster", run.decide(obj)))
    return results
