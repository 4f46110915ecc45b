"""Part 7's verdicts: what the API server answered a Pod creation, and whether the server under test gave it.

Before anything is timed every arm is checked: the server's own webhook must refuse a Pod without the
``istio-proxy`` sidecar (its name in the API server's "admission webhook ... denied the request" message, the
sidecar named) and admit one with it; with no webhook, and with the floor, the Pod without the sidecar must be
admitted (which also proves every other server's webhook is narrowed away from the namespace).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

SIDECAR = "istio-proxy"
WEBHOOKS = {"tierguard": "tierguard", "kyverno": "kyverno", "gatekeeper": "gatekeeper.sh"}
"""A fragment of the refusing webhook's name per server (their entries' names: ``pods.tierguard.io``-like,
``validate.kyverno.svc-fail``, ``validation.gatekeeper.sh``)."""
_DENIED = re.compile(r'admission webhook "([^"]+)" denied the request')


class Mismatch(RuntimeError):
    """A server does not judge the bench's Pods as the policy says: nothing is timed."""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    webhook: str | None
    """The webhook that refused (from the message), or None."""
    message: str


def parse(status: int, body: bytes) -> Verdict:
    """The API server's answer to a (dry-run) creation: 201 admitted, a Status refusal otherwise."""
    if status in (200, 201):
        return Verdict(True, None, "")
    try:
        message = str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        message = body[:300].decode(errors="replace")
    found = _DENIED.search(message)
    return Verdict(False, found.group(1) if found else None, message)


def check(server: str, without_sidecar: Verdict, with_sidecar: Verdict) -> None:
    """Raise ``Mismatch`` unless ``server`` judges the two Pods as the policy says."""
    if not with_sidecar.allowed:
        raise Mismatch(f"{server}: the Pod with the {SIDECAR} sidecar was refused: {with_sidecar.message[:300]}")
    fragment = WEBHOOKS.get(server)
    if fragment is None:  # no webhook, or the floor: nothing may refuse
        if not without_sidecar.allowed:
            raise Mismatch(f"{server}: the Pod without the sidecar was refused, so something still judges the "
                           "namespace (another server's webhook not narrowed away, or tierguard's "
                           "ValidatingAdmissionPolicies: install it with validatingAdmissionPolicy.enabled=false): "
                           f"{without_sidecar.message[:300]}")
        return
    if without_sidecar.allowed:
        raise Mismatch(f"{server}: the Pod without the {SIDECAR} sidecar was admitted")
    if fragment not in (without_sidecar.webhook or "") or SIDECAR not in without_sidecar.message:
        raise Mismatch(f"{server}: the Pod without the sidecar was refused, but not by {server}'s webhook for the "
                       f"sidecar: {without_sidecar.message[:300]}")
