"""credentials.py: whether a Secret key holds a credential (for secret-value-shared's advice), from its name and
the shape of its value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tierguard.engine.credentials import Shape, is_credential, shape_of, words


@pytest.mark.parametrize(("name", "expected"), [
    ("password", ["password"]),
    ("DB_PASSWORD", ["db", "password"]),
    ("sshPrivateKey", ["ssh", "private", "key", "sshprivatekey"]),
    ("tls.key", ["tls", "key"]),
    ("HTTPSProxy", ["https", "proxy", "httpsproxy"]),
    (".dockerconfigjson", ["dockerconfigjson"]),
    ("AWS_ACCESS_KEY_ID", ["aws", "access", "key", "id"]),
])
def test_words_of_a_key(name: str, expected: list[str]) -> None:
    assert words(name) == expected


@pytest.mark.parametrize(("value", "shape"), [
    ("https://github.com/argoproj/argocd-example-apps.git", Shape.ADDRESS),
    ("oci://registry-1.docker.io/bitnamicharts", Shape.ADDRESS),
    ("postgres://db.billing.svc:5432/billing?sslmode=require", Shape.ADDRESS),
    ("ssh://git@github.com/org/app.git", Shape.ADDRESS),  # a plain user name
    ("db.billing.example.com:5432", Shape.ADDRESS),
    ("10.96.0.12:5432", Shape.ADDRESS),
    ("https://user:pass@github.com/org/app.git", Shape.SECRET_URL),
    ("https://ghp0123456789abcdefABCDEF@github.com/org/app.git", Shape.SECRET_URL),
    ("https://hooks.slack.com/services/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", Shape.SECRET_URL),
    ("https://example.com/x?access_token=abc", Shape.SECRET_URL),
    ("https://example.com/x#id_token=abc", Shape.SECRET_URL),
    ("https://example.com/x?ref=0123456789abcdefXYZ", Shape.SECRET_URL),  # a generated value
    ("correct-horse-battery-staple", Shape.OPAQUE),
    ("git@github.com:org/app.git", Shape.OPAQUE),
    ("https://:80", Shape.OPAQUE),  # no host
    ("https://host:port/x", Shape.OPAQUE),  # a port that is not a number
    ("https://example.com/a b", Shape.OPAQUE),
    ("{\"auths\": {}}", Shape.OPAQUE),
])
def test_shape_of_a_value(value: str, shape: Shape) -> None:
    assert shape_of(value.encode()) is shape


def test_shape_of_bytes_that_are_not_text() -> None:
    assert shape_of(b"\xff\xfe\x00binary") is Shape.OPAQUE


@given(st.binary(max_size=300))
def test_shape_of_any_bytes_is_one_of_the_three(value: bytes) -> None:
    assert shape_of(value) in set(Shape)


CREDENTIAL, SETTING = True, False


@pytest.mark.parametrize(("key", "shape", "expected"), [
    # Named for a credential: whatever the value.
    ("password", Shape.ADDRESS, CREDENTIAL),
    ("tls.key", None, CREDENTIAL),
    ("client_secret", Shape.OPAQUE, CREDENTIAL),
    # A URL carrying a secret is a credential under any name.
    ("username", Shape.SECRET_URL, CREDENTIAL),
    # Named for a setting: a setting, the value at hand or not.
    ("username", None, SETTING),
    ("host", Shape.OPAQUE, SETTING),
    ("client-id", None, SETTING),
    # Named for an address: only the value tells whether a password is in it.
    ("url", Shape.ADDRESS, SETTING),
    ("DATABASE_URL", Shape.OPAQUE, SETTING),
    ("url", None, CREDENTIAL),
    # A name that says nothing: an address is a setting, anything else a credential.
    ("upstream", Shape.ADDRESS, SETTING),
    ("upstream", Shape.OPAQUE, CREDENTIAL),
    ("upstream", None, CREDENTIAL),
])
def test_is_credential(key: str, shape: Shape | None, expected: bool) -> None:
    assert is_credential(key, shape) is expected
