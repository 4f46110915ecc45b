"""Verdicts on consumed Secrets, kept across requests: every Pod of a Deployment consumes the same Secrets, and
judging each of them (replication annotations, shared values) was most of a Pod review's cost.

A verdict is a function of the Secret's view, the consuming object's tier, the policy, and the answers the
context gave while judging (namespace views, fingerprint holders). An entry is found by the identity of the
view and of the policy object (the index and the policy loader replace those objects when they change, never
edit them) and the tier; before it is reused, every lookup the judgement made is asked again and must return
the very same objects. So a Secret re-indexed with another value or annotation (a new view), a namespace
relabelled (a new NamespaceView), a Secret of another tier that starts holding the same value (another holder
list) or a new policy all miss the cache and are judged afresh. Nothing here depends on who fills the context
or on a change counter; a judgement that asked something not recorded here (every namespace, say) is not kept.

A context may also offer ``generation()``: a token that compares equal only while none of its answers can
have changed (the live context: its indexes' change counters and a version of the Secrets it has just admitted,
bumped when one is added, changed or expires), or None when it cannot vouch for one. An entry made at the
generation the context still has is reused without asking again; any other is checked as above. At one
generation, a workload's whole set of consumed Secrets (namespace, names, tier, policy) is also kept as one
entry: the Pods of a Deployment name the same Secrets, and one lookup then answers for all of them.

Entries hold views (metadata and keyed fingerprints, never values), digests and findings; their number is
bounded and the oldest go first.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tierguard.engine.context import Context, NamespaceView
from tierguard.engine.fingerprints import Fingerprint, Fingerprinter
from tierguard.engine.fleet_sets import ForeignHolder
from tierguard.engine.model import Finding, Malformed
from tierguard.engine.secrets import SecretView
from tierguard.policy import TierPolicy

if TYPE_CHECKING:
    from tierguard.engine.candidate import Candidate

Problem = Finding | Malformed | None
"""A judged Secret's first reason to cross tiers; a Malformed when its own annotations cannot be judged."""
Verdict = tuple[SecretView, Problem] | None
"""A consumed Secret's view and its problem; None when the context holds no Secret of that name."""
_UNASKED = object()
"""``judged``'s generation when the caller has not asked the context for it."""

CAPACITY = 4096
"""Entries kept: some thousands of distinct consumed Secrets (namespace, name) in a steady cluster."""
MAX_ANSWERS = 256
"""A judgement that depended on more objects than this (a value held by hundreds of Secrets) is not kept:
checking its answers costs nearly what judging costs, and it would pin all those views."""

class _Recorder:
    """A Context that passes every question on and remembers the answers; ``cacheable`` turns false at the
    first question whose answer it cannot check cheaply later."""

    __slots__ = ("_context", "cacheable", "foreign", "holders", "namespace_views", "secret_views", "size")

    def __init__(self, context: Context) -> None:
        self._context = context
        self.namespace_views: list[tuple[str, NamespaceView | None]] = []
        self.secret_views: list[tuple[tuple[str, str], SecretView | None]] = []
        self.holders: list[tuple[bytes, list[SecretView]]] = []
        self.foreign: list[tuple[Fingerprint, Sequence[ForeignHolder]]] = []
        self.cacheable = True
        self.size = 0

    @property
    def fingerprinter(self) -> Fingerprinter:
        return self._context.fingerprinter

    def namespace(self, name: str) -> NamespaceView | None:
        view = self._context.namespace(name)
        self.namespace_views.append((name, view))
        self.size += 1
        return view

    def secret(self, namespace: str, name: str) -> SecretView | None:
        view = self._context.secret(namespace, name)
        self.secret_views.append(((namespace, name), view))
        self.size += 1
        return view

    def fingerprint_holders(self, digest: bytes) -> Iterable[SecretView]:
        holders = list(self._context.fingerprint_holders(digest))
        self.holders.append((digest, holders))
        self.size += len(holders) or 1
        return holders

    def _unrecorded(self) -> Context:
        self.cacheable = False
        return self._context

    def namespaces(self) -> Iterable[NamespaceView]:
        return self._unrecorded().namespaces()

    def persistent_volume(self, name: str) -> Mapping[str, Any] | None:
        return self._unrecorded().persistent_volume(name)

    def volume_for_claim(self, namespace: str, claim: str) -> Mapping[str, Any] | None:
        return self._unrecorded().volume_for_claim(namespace, claim)

    def volume_claimed_by(self, namespace: str, claim: str) -> Mapping[str, Any] | None:
        return self._unrecorded().volume_claimed_by(namespace, claim)

    def claim(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._unrecorded().claim(namespace, name)

    def storage_class(self, name: str) -> Mapping[str, Any] | None:
        return self._unrecorded().storage_class(name)

    def default_storage_classes(self) -> Iterable[Mapping[str, Any]]:
        return self._unrecorded().default_storage_classes()

    def role_rules(self, kind: str, namespace: str | None, name: str) -> Sequence[Mapping[str, Any]] | None:
        return self._unrecorded().role_rules(kind, namespace, name)

    def secret_store(self, kind: str, namespace: str | None, name: str) -> Mapping[str, Any] | None:
        return self._unrecorded().secret_store(kind, namespace, name)

    def cluster_role_aggregation(self, name: str) -> Sequence[Mapping[str, Any]] | None:
        return self._unrecorded().cluster_role_aggregation(name)

    def cluster_role_labels(self) -> Iterable[tuple[str, Mapping[str, str]]]:
        return self._unrecorded().cluster_role_labels()

    def default_deny_ingress_policies(self, namespace: str) -> Collection[str]:
        return self._unrecorded().default_deny_ingress_policies(namespace)

    def foreign_holders(self, fingerprint: Fingerprint) -> Sequence[ForeignHolder]:
        holders = self._context.foreign_holders(fingerprint)
        self.foreign.append((fingerprint, holders))
        self.size += 1
        return holders


@dataclass(frozen=True, slots=True)
class _Entry:
    view: SecretView
    policy: TierPolicy
    namespace_views: tuple[tuple[str, NamespaceView | None], ...]
    secret_views: tuple[tuple[tuple[str, str], SecretView | None], ...]
    holders: tuple[tuple[bytes, list[SecretView]], ...]
    problem: Problem
    generation: object = None
    foreign: tuple[tuple[Fingerprint, Sequence[ForeignHolder]], ...] = ()

    def still_holds(self, context: Context) -> bool:
        """Whether the context gives the same objects to every question the judgement asked (holder lists
        compare item by item, identity first: an equal view is the same answer)."""
        if self.holders:
            holders_of = context.fingerprint_holders
            for digest, answer in self.holders:
                found = holders_of(digest)
                if found != answer and list(found) != answer:
                    return False
        for name, view in self.namespace_views:
            if context.namespace(name) is not view:
                return False
        for (namespace, secret_name), secret in self.secret_views:
            if context.secret(namespace, secret_name) is not secret:
                return False
        return all(context.foreign_holders(fingerprint) == answer for fingerprint, answer in self.foreign)


def generation_of(context: Context) -> object:
    """The context's generation token, or None (it offers none, or cannot vouch for one now)."""
    generation = getattr(context, "generation", None)
    return generation() if callable(generation) else None


class VerdictCache:
    """Consumed Secrets' verdicts by (view, tier, policy), each checked against the context before reuse."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._entries: dict[tuple[int, str | None, int], _Entry] = {}
        self._sets: dict[tuple[str, tuple[str, ...], str | None, int], tuple[object, TierPolicy,
                                                                               tuple[Verdict, ...]]] = {}
        self._lock = threading.Lock()  # the audit judges in a worker thread while the webhook serves

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._sets.clear()

    def consumed(self, subject: Candidate, namespace: str, names: tuple[str, ...],
                 judge: Callable[[SecretView, Candidate], Problem]) -> tuple[Verdict, ...]:
        """Each named Secret of ``namespace`` with ``judge``'s verdict on it (``judged``), in order. At a
        generation the context vouches for, the same names, tier and policy get the tuple given before."""
        generation = generation_of(subject.context)
        policy = subject.policy
        key = (namespace, names, subject.tier, id(policy))
        if generation is not None:
            found = self._sets.get(key)
            if found is not None and found[1] is policy and found[0] == generation:
                return found[2]
        secret = subject.context.secret
        verdicts: list[Verdict] = []
        for name in names:
            view = secret(namespace, name)
            verdicts.append(None if view is None else (view, self.judged(view, subject, judge, generation)))
        result = tuple(verdicts)
        if generation is not None and self._capacity > 0:
            with self._lock:
                self._sets.pop(key, None)
                while self._sets and len(self._sets) >= self._capacity:
                    del self._sets[next(iter(self._sets))]
                self._sets[key] = (generation, policy, result)
        return result

    def judged(self, view: SecretView, subject: Candidate, judge: Callable[[SecretView, Candidate], Problem],
               generation: object = _UNASKED) -> Problem:
        """``judge(view, subject)``, or the verdict it gave before if nothing it depended on has changed.
        ``generation``: the context's, when the caller has just asked for it."""
        policy = subject.policy
        key = (id(view), subject.tier, id(policy))
        entry = self._entries.get(key)
        if generation is _UNASKED:
            generation = generation_of(subject.context)
        if entry is not None and entry.view is view and entry.policy is policy and (
                (generation is not None and entry.generation == generation) or entry.still_holds(subject.context)):
            if generation is not None and entry.generation != generation:
                self._store(key, dataclasses.replace(entry, generation=generation))
            return entry.problem
        recorder = _Recorder(subject.context)
        try:
            problem: Problem = judge(view, dataclasses.replace(subject, context=recorder))
        except Malformed as error:
            problem = error
        if recorder.cacheable and recorder.size <= MAX_ANSWERS and self._capacity > 0:
            self._store(key, _Entry(view, policy, tuple(recorder.namespace_views), tuple(recorder.secret_views),
                                    tuple(recorder.holders), problem, generation, tuple(recorder.foreign)))
        return problem

    def _store(self, key: tuple[int, str | None, int], entry: _Entry) -> None:
        with self._lock:
            self._entries.pop(key, None)
            while self._entries and len(self._entries) >= self._capacity:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = entry


CONSUMED_SECRETS = VerdictCache()
"""The one cache of consumed Secrets' verdicts (``rules/workloads.py``), shared by every context: an entry
is only ever reused after the context at hand has given the same answers."""
