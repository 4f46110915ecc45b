"""``tierguard audit --fleet-hub``: one member cluster judged against what the fleet's other members published to
its hub (docs/fleet.md), read once, with the member's own fingerprint keys (its key Secret: the sets are keyed, so
only that key looks its values up). Nothing is written to the hub; no value, nor any digest, leaves memory.

Read once, the hub cannot tell a member gone from one that beats (the live reader's rule needs its own clock
to see a heartbeat unchanged): every member with a heartbeat Lease counts, as the hub holds its sets now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tierguard.audit.listing import connect
from tierguard.engine.fingerprint_set import key_ids
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.fleet_sets import FleetSets
from tierguard.errors import ClusterUnreadable
from tierguard.fleet.publication import API_PATH, MEMBER_LABEL
from tierguard.fleet.reader import Reader
from tierguard.kube.config import server_of
from tierguard.kube.hub import KubernetesHub
from tierguard.kube.rest import describe
from tierguard.webhook.keys import read_fingerprinter


@dataclass(frozen=True)
class FleetHub:
    """Where the hub is and who we are in the fleet."""

    kubeconfig: str | None
    context: str | None
    namespace: str
    """The hub's namespace holding the members' heartbeat Leases (its tierguard release's)."""
    member: str
    """The audited cluster's member name: its own sets on the hub are left out."""


def member_keys(client: Any, namespace: str, name: str) -> Fingerprinter:
    """The audited member's fingerprint keys (its tierguard's key Secret); raises ClusterUnreadable naming it."""
    try:
        found = read_fingerprinter(client, namespace, name)
    except RuntimeError as error:
        raise ClusterUnreadable(f"the fleet's fingerprint key: {error}") from None
    except Exception as error:
        raise ClusterUnreadable(f"cannot read the fingerprint key Secret {namespace}/{name} at {server_of(client)}: "
                                f"{describe(error, None)}") from None
    if found is None:
        raise ClusterUnreadable(f"no fingerprint key Secret {namespace}/{name}: a fleet member's tierguard keeps it "
                                "there (--tierguard-namespace, --hmac-secret)")
    return found


def read_fleet(hub: FleetHub, keys: Fingerprinter, timeout: float) -> FleetSets:
    """The other members' sets under ``keys``; raises ClusterUnreadable naming the hub."""
    try:
        client = connect(hub.kubeconfig, timeout, context=hub.context)
    except ClusterUnreadable as error:
        raise ClusterUnreadable(f"the fleet's hub: {error}") from None
    reader = Reader(KubernetesHub(client, API_PATH, hub.namespace, MEMBER_LABEL, timeout=timeout), key_ids(keys),
                    hub.member)
    try:
        return reader.refresh()
    except Exception as error:
        raise ClusterUnreadable(f"cannot read the fleet's hub at {server_of(client)}: {describe(error, timeout)}"
                                ) from None
