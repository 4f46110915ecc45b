"""Part 8: the fleet offline (issue 28, item 4): what a member publishes and reads, against an in-memory hub
that counts requests and bytes (``kube/hub.MemoryHub``), for one tier of N values (100,000 in the full plan).

- ``fleet_published_kb``, ``fleet_objects``: the JSON bytes of the FleetFingerprintSet objects a publication
  writes, and how many (chunks of at most 512 KB of data each).
- ``fleet_publish_cpu_ratio``, ``fleet_read_cpu_ratio``: CPU of one publication (the Golomb-coded set built and
  encoded, the heartbeat, the list) and of another member's first read (list, get, decode), each against
  fingerprinting the same N values once (HMAC-SHA256: what indexing them cost that member anyway), measured in
  the same repetition.
- ``fleet_hub_requests_read``, ``fleet_hub_requests_publish``: requests a member makes on the hub per read
  interval and per publication interval once nothing changes (steady state): its load on the hub.
- ``fleet_lookup_us``: one lookup of a digest in the sets read (what a Secret review adds per value).
- ``fleet_rotation_published_kb``, ``fleet_rotation_lookup_us``: the same during a key rotation (docs/fleet.md),
  the member publishing under two keys and the reader, on two keys too, looking each value up in both sets.
- ``fleet_seen_within_s``: at the chart's default intervals, a value is refused in another member within about
  one publication interval plus one read interval plus the two CPU times above (an upper bound, not a timing).
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from bench.util import Figures
from tierguard.engine.fingerprint_set import key_id, key_ids
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.fleet_sets import FleetSets
from tierguard.fleet.publisher import Publisher
from tierguard.fleet.reader import Reader
from tierguard.kube.hub import MemoryHub
from tierguard.webhook.settings import FleetSettings


def _found(sets: FleetSets, probes: list[bytes]) -> int:
    return sum(1 for probe in probes if sets.holders(probe))


def _cpu(action: Any) -> tuple[float, Any]:
    started = time.process_time()
    result = action()
    return time.process_time() - started, result


def run(values: int, repetitions: int, figures: Figures) -> None:
    fingerprinter = Fingerprinter(b"bench-fleet-key-" * 2)
    ours = key_id(fingerprinter)
    settings = FleetSettings(member="prod-eu")
    secrets = [f"bench-value-{n:08d}-{n * 7919 % 100003:06d}".encode() for n in range(values)]
    for _ in range(repetitions):
        baseline, digests = _cpu(lambda: {fingerprinter.digest(value) for value in secrets})
        hub = MemoryHub()
        publisher = Publisher(hub, "prod-eu", namespace=settings.hub_namespace, heartbeat_s=settings.heartbeat_s)
        publish_cpu, _ = _cpu(partial(publisher.publish, {ours: {"prod": digests}}))
        figures.add("fleet_published_kb", hub.written_bytes / 1024)
        figures.add("fleet_objects", hub.applies)
        reader = Reader(hub, (ours,), "staging")
        read_cpu, sets = _cpu(reader.refresh)
        if len(sets) != 1:
            raise RuntimeError(f"the reader found {len(sets)} tiers, not the one published")
        figures.add("fleet_publish_cpu_ratio", publish_cpu / baseline)
        figures.add("fleet_read_cpu_ratio", read_cpu / baseline)
        before = hub.requests
        reader.refresh()
        figures.add("fleet_hub_requests_read", hub.requests - before)
        before = hub.requests
        publisher.publish({ours: {"prod": digests}})
        figures.add("fleet_hub_requests_publish", hub.requests - before)
        probes = [fingerprinter.digest(value) for value in secrets[:2000]]
        lookup_cpu, found = _cpu(partial(_found, sets, probes))
        if found != len(probes):
            raise RuntimeError(f"{len(probes) - found} published values not found in the sets read")
        figures.add("fleet_lookup_us", lookup_cpu * 1e6 / len(probes))
        figures.add("fleet_seen_within_s", settings.publish_interval_s + settings.read_interval_s
                    + publish_cpu + read_cpu)
        _rotation(secrets, digests, probes, figures)


def _rotation(secrets: list[bytes], digests: set[bytes], probes: list[bytes], figures: Figures) -> None:
    """One tier published under both keys of a rotation, read and looked up by a member holding both."""
    rotating = Fingerprinter(b"bench-fleet-key-" * 2, b"bench-fleet-new-" * 2)
    assert rotating.secondary is not None
    ids = key_ids(rotating)
    secondary = {rotating.secondary.digest(value) for value in secrets}
    hub = MemoryHub()
    Publisher(hub, "prod-eu", namespace="tierguard-system", heartbeat_s=30).publish(
        {ids[0]: {"prod": digests}, ids[1]: {"prod": secondary}})
    figures.add("fleet_rotation_published_kb", hub.written_bytes / 1024)
    sets = Reader(hub, ids, "staging").refresh()
    pairs = [(probe, rotating.secondary.digest(value)) for probe, value in zip(probes, secrets, strict=False)]
    started = time.process_time()
    found = sum(1 for digest, other in pairs if sets.holders(digest, other))
    lookup_cpu = time.process_time() - started
    if found != len(pairs):
        raise RuntimeError(f"{len(pairs) - found} values published under both keys not found")
    figures.add("fleet_rotation_lookup_us", lookup_cpu * 1e6 / len(pairs))
