"""The one offline entry point: documents in, decisions out.

``tierguard check`` (manifests), ``tierguard audit`` and ``tierguard parity`` (a cluster listing or manifests)
and the tests' helpers all judge a set of documents the same way: one OfflineContext over every document (so
cross-object rules see them all, as the webhook sees the cluster), then each document judged as if it were
being created (an audit's listing also as it stands: ``standing``). Pure: no I/O, and the fingerprint key lives
only as long as the run unless the caller gives one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tierguard.engine.context import Context, OfflineContext
from tierguard.engine.evaluation import evaluate, sidecar_parity
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.model import Decision, ObjectRef
from tierguard.engine.objects import object_ref
from tierguard.engine.projection import Projected, check_fingerprinter
from tierguard.engine.request import EvaluationRequest
from tierguard.engine.rules.sidecars import SidecarState
from tierguard.policy import TierPolicy


@dataclass(frozen=True)
class Result:
    """One document's decision, with where it came from (``file#document``, or ``cluster``)."""

    ref: ObjectRef
    source: str
    decision: Decision
    cluster: str | None = None
    """The cluster it was listed from, when an audit judges several (``--cluster NAME=...``); None otherwise."""


class OfflineRun:
    """Every document is context; any of them can then be judged (``decide``) or counted for parity."""

    def __init__(self, objects: Iterable[Mapping[str, Any] | Projected], policy: TierPolicy, *,
                 fingerprinter: Fingerprinter | None = None,
                 namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
                 own_namespace: str | None = None, standing: bool = False) -> None:
        self.policy = policy
        self.own_namespace = own_namespace
        self.standing = standing
        self.context: Context = OfflineContext.from_objects(objects, fingerprinter or Fingerprinter.random(),
                                                            namespace_labels)

    @classmethod
    def in_context(cls, context: Context, policy: TierPolicy, *, own_namespace: str | None = None,
                   standing: bool = False) -> OfflineRun:
        """Judge against a context built elsewhere: the background audit of ``tierguard run`` judges listed
        objects against the webhook's live indexes, exactly as ``audit`` judges them against its listing."""
        run = cls.__new__(cls)
        run.policy, run.own_namespace, run.context, run.standing = policy, own_namespace, context, standing
        return run

    def decide(self, obj: Mapping[str, Any] | Projected) -> Decision:
        return evaluate(self._request(obj), self.context, self.policy, own_namespace=self.own_namespace)

    def result(self, obj: Mapping[str, Any] | Projected, source: str) -> Result:
        return Result(object_ref(obj.obj if isinstance(obj, Projected) else obj), source, self.decide(obj))

    def sidecar_states(self, obj: Mapping[str, Any] | Projected) -> tuple[str | None, list[tuple[str, SidecarState]]]:
        """The object's tier and each required sidecar's state (see ``sidecar_parity``)."""
        return sidecar_parity(self._request(obj), self.context, self.policy, own_namespace=self.own_namespace)

    def _request(self, obj: Mapping[str, Any] | Projected) -> EvaluationRequest:
        if not isinstance(obj, Projected):
            return EvaluationRequest.from_manifest(obj, standing=self.standing)
        if obj.secret is None:
            return EvaluationRequest.from_manifest(obj.obj, standing=self.standing)
        check_fingerprinter(obj, self.context.fingerprinter)
        return EvaluationRequest.with_secret_view(obj.obj, self.context.fingerprinter, obj.secret,
                                                  standing=self.standing)


def judge_documents(documents: Iterable[tuple[Mapping[str, Any], str]], policy: TierPolicy, *,
                    fingerprinter: Fingerprinter | None = None,
                    namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
                    own_namespace: str | None = None) -> list[Result]:
    """Every (document, source), in input order, judged with all of them as context."""
    listed = list(documents)
    run = OfflineRun((obj for obj, _ in listed), policy, fingerprinter=fingerprinter,
                     namespace_labels=namespace_labels, own_namespace=own_namespace)
    return [run.result(obj, source) for obj, source in listed]
