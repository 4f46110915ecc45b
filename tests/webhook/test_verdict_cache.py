"""The verdicts on consumed Secrets kept across requests (``engine/verdicts.py``): one context, changed between
two reviews of the same Pod as the watches change the indexes; the second review must see the change.

Each test judges the Pod once before the change (so the cache holds a verdict), then changes one thing the
verdict depends on and asserts the new verdict: a cache that answered from the first judgement fails it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.indexes import FakeIndexes
from tests.webhook.helpers import KEY, b64, fake_indexes
from tierguard.engine import EvaluationRequest, evaluate
from tierguard.engine.candidate import Candidate
from tierguard.engine.evaluation import candidate_for
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.model import Malformed, Rule
from tierguard.engine.podspec import containers
from tierguard.engine.rules import workloads
from tierguard.engine.secrets import SecretView
from tierguard.engine.verdicts import CONSUMED_SECRETS, VerdictCache
from tierguard.policy import DEFAULT_POLICY, TierPolicy, load_policy
from tierguard.webhook.live_context import LiveContext

VALUE = "dev-database-password-long-enough"
OTHER_VALUE = "another-password-that-is-long-enough"
W = Rule.WORKLOAD_SECRET_CROSS_TIER


def secret(namespace: str, name: str, value: str, *, annotations: dict[str, str] | None = None,
           labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = annotations
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "data": {"password": b64(value)}}


def pod(namespace: str = "dev") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": namespace},
            "spec": {"containers": [{"name": "app", "image": "app:1",
                                     "envFrom": [{"secretRef": {"name": "db"}}]}]}}


@pytest.fixture
def indexes() -> FakeIndexes:
    found = fake_indexes()
    for name, tier in (("dev", "dev"), ("dev-b", "dev"), ("prod", "prod")):
        found.add_namespace(name, tier)
    found.add(secret("dev", "db", VALUE))
    return found


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    CONSUMED_SECRETS.clear()
    yield
    CONSUMED_SECRETS.clear()


def rules(indexes: FakeIndexes, policy: TierPolicy = DEFAULT_POLICY, namespace: str = "dev") -> set[Rule]:
    context = LiveContext(Fingerprinter(KEY), indexes.data)  # type: ignore[arg-type]
    decision = evaluate(EvaluationRequest.from_manifest(pod(namespace)), context, policy)
    return {v.rule for v in decision.violations}


def test_the_same_secret_is_judged_once_for_many_pods(indexes: FakeIndexes, monkeypatch: pytest.MonkeyPatch) -> None:
    judged: list[str] = []
    first_crossing = workloads._first_crossing

    def counting(view: SecretView, subject: Any) -> Any:
        judged.append(view.ref)
        return first_crossing(view, subject)

    monkeypatch.setattr(workloads, "_first_crossing", counting)
    for _ in range(3):
        assert rules(indexes) == set()
    assert judged == ["dev/db"]


def test_a_secret_replaced_with_a_replication_annotation_is_judged_again(indexes: FakeIndexes) -> None:
    assert rules(indexes) == set()
    indexes.add(secret("dev", "db", VALUE, annotations={"reflector.v1.k8s.emberstack.com/reflects": "prod/db"}))
    assert rules(indexes) == {W}
    indexes.add(secret("dev", "db", VALUE))
    assert rules(indexes) == set()


def test_a_secret_replaced_with_another_tiers_value_is_judged_again(indexes: FakeIndexes) -> None:
    indexes.add(secret("prod", "db", OTHER_VALUE))
    assert rules(indexes) == set()
    indexes.add(secret("dev", "db", OTHER_VALUE))
    assert rules(indexes) == {W}


def test_another_tier_starting_to_hold_the_value_is_seen(indexes: FakeIndexes) -> None:
    """The consumed Secret's own view is unchanged: only the holders of its value are new."""
    assert rules(indexes) == set()
    indexes.add(secret("prod", "copy", VALUE))
    assert rules(indexes) == {W}
    indexes.remove(secret("prod", "copy", VALUE))
    assert rules(indexes) == set()


def test_a_secret_just_admitted_in_another_tier_is_seen(indexes: FakeIndexes) -> None:
    context = LiveContext(Fingerprinter(KEY), indexes.data)  # type: ignore[arg-type]

    def judged() -> set[Rule]:
        return {v.rule for v in evaluate(EvaluationRequest.from_manifest(pod()), context, DEFAULT_POLICY).violations}

    assert judged() == set()
    context.remember_admitted_secret(SecretView.from_object(secret("prod", "copy", VALUE), Fingerprinter(KEY)))
    assert judged() == {W}


def test_a_secret_relabelled_shareable_is_judged_again(indexes: FakeIndexes) -> None:
    indexes.add(secret("prod", "copy", VALUE))
    assert rules(indexes) == {W}
    indexes.add(secret("dev", "db", VALUE, labels={"tierguard.io/shareable": "true"}))
    assert rules(indexes) == set()


def test_the_namespace_a_secret_reflects_from_relabelled_to_another_tier(indexes: FakeIndexes) -> None:
    indexes.add(secret("dev", "db", VALUE, annotations={"reflector.v1.k8s.emberstack.com/reflects": "dev-b/db"}))
    assert rules(indexes) == set()
    indexes.add_namespace("dev-b", "prod")
    assert rules(indexes) == {W}


def test_the_holders_namespace_relabelled_to_another_tier(indexes: FakeIndexes) -> None:
    indexes.add(secret("dev-b", "copy", VALUE))
    assert rules(indexes) == set()
    indexes.add_namespace("dev-b", "prod")
    assert rules(indexes) == {W}


def test_the_consumers_namespace_relabelled_to_another_tier(indexes: FakeIndexes) -> None:
    indexes.add(secret("dev", "db", VALUE, annotations={"reflector.v1.k8s.emberstack.com/reflects": "prod/db"}))
    assert rules(indexes) == {W}
    indexes.add_namespace("dev", "prod")
    assert rules(indexes) == set()


def test_a_new_policy_object_is_judged_afresh(indexes: FakeIndexes) -> None:
    indexes.add(secret("dev", "db", VALUE, labels={"team": "public"}))
    indexes.add(secret("prod", "copy", VALUE))
    assert rules(indexes) == {W}
    lenient = load_policy({"spec": {"secrets": {"shareable": {"labels": {"team": "public"}}}}})
    assert rules(indexes, lenient) == set()
    assert rules(indexes, dataclasses.replace(lenient)) == set()
    assert rules(indexes) == {W}


def test_a_judgement_over_every_namespace_is_not_kept(indexes: FakeIndexes) -> None:
    """reflection-allowed without a namespace list reaches every namespace the context knows: a namespace added
    later changes the verdict, and no single lookup could say so."""
    annotations = {"reflector.v1.k8s.emberstack.com/reflection-allowed": "true",
                   "reflector.v1.k8s.emberstack.com/reflection-allowed-namespaces": "dev-.*"}
    indexes.add(secret("dev", "db", VALUE, annotations=annotations))
    assert rules(indexes) == set()
    indexes.add_namespace("dev-c", "prod")
    assert rules(indexes) == {W}


def test_the_cache_is_bounded(indexes: FakeIndexes) -> None:
    cache = VerdictCache(capacity=3)
    context = LiveContext(Fingerprinter(KEY), indexes.data)  # type: ignore[arg-type]
    request = EvaluationRequest.from_manifest(pod())
    subject = candidate_for(request, context, DEFAULT_POLICY)
    assert isinstance(subject, Candidate)
    for index in range(10):
        indexes.add(secret("dev", f"s{index}", f"{VALUE}-{index}"))
        view = context.secret("dev", f"s{index}")
        assert view is not None
        cache.judged(view, subject, workloads._first_crossing)
        assert len(cache) <= 3
    assert len(cache) == 3


def _strings(item: object, seen: set[int]) -> Iterator[str | bytes]:
    if id(item) in seen:
        return
    seen.add(id(item))
    if isinstance(item, (str, bytes)):
        yield item
    elif isinstance(item, dict):
        for key, value in item.items():
            yield from _strings(key, seen)
            yield from _strings(value, seen)
    elif isinstance(item, (list, tuple, set, frozenset)):
        for value in item:
            yield from _strings(value, seen)
    elif dataclasses.is_dataclass(item):
        for field in dataclasses.fields(item):
            yield from _strings(getattr(item, field.name), seen)
    elif isinstance(item, BaseException):
        yield from _strings(item.args, seen)


def test_the_cache_holds_no_secret_value(indexes: FakeIndexes) -> None:
    indexes.add(secret("prod", "copy", VALUE))
    assert rules(indexes) == {W}
    held = list(_strings([*CONSUMED_SECRETS._entries.values(), *CONSUMED_SECRETS._sets.values()], set()))
    assert held, "the cache should hold the verdict"
    for text in held:
        raw = text if isinstance(text, bytes) else text.encode()
        assert VALUE.encode() not in raw and b64(VALUE).encode() not in raw, "a cache entry holds a secret value"


def test_the_pod_spec_is_walked_once_per_request() -> None:
    request = EvaluationRequest.from_manifest(pod())
    site = request.pod_site()
    assert site is not None and request.pod_site() is site
    assert containers(site) is containers(site)


def test_a_malformed_pod_spec_is_reported_by_every_asking_rule_the_same() -> None:
    broken = pod()
    broken["spec"]["containers"][0]["name"] = ""
    request = EvaluationRequest.from_manifest(broken)
    site = request.pod_site()
    assert site is not None
    messages = set()
    for _ in range(2):
        with pytest.raises(Malformed) as raised:
            containers(site)
        messages.add(str(raised.value))
    assert messages == {str(Malformed("spec.containers[0].name", "is required"))}


def test_one_live_context_reuses_a_verdict_unasked_until_an_index_changes(
        indexes: FakeIndexes, monkeypatch: pytest.MonkeyPatch) -> None:
    """The live context's generation: between two reviews with no index change the verdict is reused without
    asking the context again; any change (here: another tier starting to hold the value) is asked and seen."""
    from tierguard.engine import verdicts  # noqa: PLC0415

    context = LiveContext(Fingerprinter(KEY), indexes.data)  # type: ignore[arg-type]
    checks: list[bool] = []
    still_holds = verdicts._Entry.still_holds

    def counted(entry: Any, asked: Any) -> bool:
        checks.append(True)
        return still_holds(entry, asked)

    monkeypatch.setattr(verdicts._Entry, "still_holds", counted)

    def judged() -> set[Rule]:
        return {v.rule for v in evaluate(EvaluationRequest.from_manifest(pod()), context, DEFAULT_POLICY).violations}

    assert judged() == set()
    generation = context.generation()
    assert generation is not None
    assert judged() == set() and judged() == set()
    assert checks == [] and context.generation() == generation  # reused at the same generation, unasked
    indexes.add(secret("prod", "copy", VALUE))
    assert context.generation() != generation
    assert judged() == {W} and checks  # asked again, and the new holder seen
    indexes.remove(secret("prod", "copy", VALUE))
    assert judged() == set()


def test_the_generation_follows_the_recently_admitted_secrets(indexes: FakeIndexes,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A Secret this replica admits changes answers (its values have a holder before the watch shows it): a new
    generation; the same Secret admitted again changes nothing; its expiry is a new generation again."""
    from tierguard.webhook import live_context  # noqa: PLC0415

    now = [1000.0]
    monkeypatch.setattr(live_context.time, "monotonic", lambda: now[0])
    context = LiveContext(Fingerprinter(KEY), indexes.data)  # type: ignore[arg-type]
    before = context.generation()
    view = SecretView.from_object(secret("prod", "new", VALUE), Fingerprinter(KEY))
    context.remember_admitted_secret(view)
    remembered = context.generation()
    assert remembered != before
    again = SecretView.from_object(secret("prod", "new", VALUE), Fingerprinter(KEY))
    context.remember_admitted_secret(again)
    assert context.generation() == remembered
    assert context.secret("prod", "new") is view  # the view earlier answers gave, still the answer
    changed = SecretView.from_object(secret("prod", "new", OTHER_VALUE), Fingerprinter(KEY))
    context.remember_admitted_secret(changed)
    assert context.generation() != remembered
    at_change = context.generation()
    now[0] += live_context.RECENT_SECONDS + 1
    assert context.generation() != at_change  # expired: forgotten, and a new generation
    assert context.secret("prod", "new") is None


def test_a_pod_sees_another_tiers_secret_admitted_between_two_reviews(indexes: FakeIndexes) -> None:
    """At one generation the Pod's verdict set is reused; a Secret admitted in another tier with the same value
    (not indexed yet) makes a new generation, and the next review of the Pod sees it."""
    context = LiveContext(Fingerprinter(KEY), indexes.data)  # type: ignore[arg-type]

    def judged() -> set[Rule]:
        return {v.rule for v in evaluate(EvaluationRequest.from_manifest(pod()), context, DEFAULT_POLICY).violations}

    assert judged() == set() and judged() == set()
    context.remember_admitted_secret(SecretView.from_object(secret("prod", "copy", VALUE), Fingerprinter(KEY)))
    assert judged() == {W}


def _uses_volume(namespace: str = "dev") -> dict[str, Any]:
    """The Pod of ``pod()`` consuming the same Secret through a volume instead of envFrom."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-b", "namespace": namespace},
            "spec": {"containers": [{"name": "app", "image": "app:1"}],
                     "volumes": [{"name": "creds", "secret": {"secretName": "db"}}]}}


def test_at_one_generation_a_pods_secrets_are_answered_without_asking_the_context(
        indexes: FakeIndexes, monkeypatch: pytest.MonkeyPatch) -> None:
    """The consumed-Secret set kept per generation: the second review of the same Pod asks the context for no
    Secret, and still reports the crossing with the use's own path; a change to the indexes is seen."""
    indexes.add(secret("prod", "copy", VALUE))
    context = LiveContext(Fingerprinter(KEY), indexes.data)  # type: ignore[arg-type]
    asked: list[tuple[str, str]] = []
    lookup = context.secret

    def counted(namespace: str, name: str) -> SecretView | None:
        asked.append((namespace, name))
        return lookup(namespace, name)

    monkeypatch.setattr(context, "secret", counted)

    def paths(obj: dict[str, Any]) -> list[tuple[Rule, str]]:
        decision = evaluate(EvaluationRequest.from_manifest(obj), context, DEFAULT_POLICY)
        return [(v.rule, v.path) for v in decision.violations]

    first = paths(pod())
    assert first == [(W, "spec.containers[0].envFrom[0].secretRef")]
    assert ("dev", "db") in asked
    asked.clear()
    assert paths(pod()) == first
    assert asked == []  # the set of (dev, [db]) at this generation, not one question per Secret
    # Another Pod naming the same Secret elsewhere shares the verdict but reports its own field.
    assert paths(_uses_volume()) == [(W, "spec.volumes[0].secret")]
    assert asked == []
    indexes.remove(secret("prod", "copy", VALUE))  # the index changes: the next review asks again
    assert paths(pod()) == []
    assert ("dev", "db") in asked


def test_a_set_is_kept_per_names_tier_and_policy(indexes: FakeIndexes) -> None:
    indexes.add(secret("dev", "other", VALUE))
    indexes.add(secret("prod", "copy", OTHER_VALUE))
    context = LiveContext(Fingerprinter(KEY), indexes.data)  # type: ignore[arg-type]

    def rules_of(obj: dict[str, Any], policy: TierPolicy = DEFAULT_POLICY) -> set[Rule]:
        return {v.rule for v in evaluate(EvaluationRequest.from_manifest(obj), context, policy).violations}

    assert rules_of(pod()) == set()
    uses_other = pod()
    uses_other["spec"]["containers"][0]["envFrom"] = [{"secretRef": {"name": "db"}}, {"secretRef": {"name": "x"}}]
    assert rules_of(uses_other) == set()
    indexes_copy = secret("prod", "copy", VALUE)  # the same generation is not reused across an index change
    indexes.add(indexes_copy)
    assert rules_of(pod()) == {W}
    relaxed = load_policy({"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "p"},
                           "spec": {"secrets": {"fingerprints": {"enabled": False}}}})
    assert rules_of(pod(), relaxed) == set()  # another policy object: its own entry
    assert rules_of(pod()) == {W}
