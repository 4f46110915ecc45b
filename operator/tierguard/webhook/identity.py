"""The identity a replica gives kopf, decided without the password database.

kopf derives its own identity from ``getpass.getuser()``, which raises ``KeyError`` for a uid with no passwd
entry: the image runs as a numeric user that has none, and platforms may assign any uid. So tierguard names
the replica itself: its pod name where the chart provides one, else the login name when it resolves, else
the numeric uid.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Callable, Mapping


def replica_identity(
    environ: Mapping[str, str] | None = None,
    *,
    login: Callable[[], str] = getpass.getuser,
    uid: Callable[[], int] = os.getuid,
    hostname: Callable[[], str] = socket.gethostname,
) -> str:
    env = os.environ if environ is None else environ
    if pod := env.get("POD_NAME") or env.get("POD_ID"):
        return pod
    try:
        user = login()
    except (KeyError, OSError):
        # KeyError: uid without a passwd entry; OSError: getpass finds no way to name the user.
        user = f"uid-{uid()}"
    return f"{user}@{hostname()}"
