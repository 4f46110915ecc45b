"""Secrets this replica just admitted count as held until the watch indexes them (LiveContext's recent set)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.webhook.helpers import KEY, b64, fake_indexes
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.secrets import SecretView
from tierguard.webhook import live_context
from tierguard.webhook.live_context import LiveContext

FINGERPRINTER = Fingerprinter(KEY)


def view(name: str, value: str, namespace: str = "dev") -> SecretView:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                           "data": {"password": b64(value)}}
    return SecretView.from_object(obj, FINGERPRINTER)


def digest(value: str) -> bytes:
    return FINGERPRINTER.digest(value.encode())


def test_recent_secret_is_held_by_name_and_by_value_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    context = LiveContext(FINGERPRINTER, fake_indexes().data)  # type: ignore[arg-type]
    context.remember_admitted_secret(view("a", "a-value-long-enough-to-compare"))
    assert context.secret("dev", "a") is not None
    assert [v.name for v in context.fingerprint_holders(digest("a-value-long-enough-to-compare"))] == ["a"]
    assert list(context.fingerprint_holders(digest("some-other-value-of-length"))) == []
    now = live_context.time.monotonic()
    monkeypatch.setattr(live_context.time, "monotonic", lambda: now + live_context.RECENT_SECONDS + 1)
    assert context.secret("dev", "a") is None
    assert list(context.fingerprint_holders(digest("a-value-long-enough-to-compare"))) == []


def test_readmitted_secret_is_held_by_its_new_value_only() -> None:
    context = LiveContext(FINGERPRINTER, fake_indexes().data)  # type: ignore[arg-type]
    context.remember_admitted_secret(view("a", "first-value-long-enough-to-compare"))
    context.remember_admitted_secret(view("b", "first-value-long-enough-to-compare", namespace="prod"))
    context.remember_admitted_secret(view("a", "second-value-long-enough-to-compare"))
    assert [v.name for v in context.fingerprint_holders(digest("first-value-long-enough-to-compare"))] == ["b"]
    assert [v.name for v in context.fingerprint_holders(digest("second-value-long-enough-to-compare"))] == ["a"]


def test_an_indexed_holder_is_not_listed_twice() -> None:
    indexes = fake_indexes()
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a", "namespace": "dev"},
           "data": {"password": b64("a-value-long-enough-to-compare")}}
    indexes.add_secret(obj)
    context = LiveContext(FINGERPRINTER, indexes.data)  # type: ignore[arg-type]
    context.remember_admitted_secret(view("a", "a-value-long-enough-to-compare"))
    assert [v.name for v in context.fingerprint_holders(digest("a-value-long-enough-to-compare"))] == ["a"]
