"""The replica names itself without the password database (the image's uid has no passwd entry)."""

from __future__ import annotations

import getpass
import os

import pytest

from tierguard.webhook.identity import replica_identity


def no_passwd_entry() -> str:
    raise KeyError(f"getpwuid(): uid not found: {os.getuid()}")


def test_pod_name_wins() -> None:
    assert replica_identity({"POD_NAME": "tierguard-abc"}, login=no_passwd_entry) == "tierguard-abc"


def test_uid_without_passwd_entry_is_named_by_number() -> None:
    identity = replica_identity({}, login=no_passwd_entry, uid=lambda: 65532, hostname=lambda: "node-1")
    assert identity == "uid-65532@node-1"


def test_login_name_when_it_resolves() -> None:
    assert replica_identity({}, login=lambda: "alice", hostname=lambda: "laptop") == "alice@laptop"


def test_getpass_raising_key_error_as_it_does_for_an_unknown_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    """getpass.getuser() with no USER/LOGNAME and a uid missing from passwd: pwd raises KeyError."""
    import pwd  # noqa: PLC0415

    for name in ("USER", "LOGNAME", "LNAME", "USERNAME", "POD_NAME", "POD_ID"):
        monkeypatch.delenv(name, raising=False)

    def missing(uid: int) -> pwd.struct_passwd:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", missing)
    try:
        getpass.getuser()
    except KeyError:
        pass
    else:
        raise AssertionError("getpass.getuser() no longer raises for a uid without a passwd entry")
    assert replica_identity().startswith(f"uid-{os.getuid()}@")


def test_getpass_is_what_kopf_would_call() -> None:
    assert replica_identity.__kwdefaults__["login"] is getpass.getuser
