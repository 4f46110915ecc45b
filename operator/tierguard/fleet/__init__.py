"""Tiers in separate clusters (docs/fleet.md): what a member publishes to the fleet's hub and reads back.

- ``publication.py``: a member's tiers as ``FleetFingerprintSet`` objects of the hub, and back (strict reading).

The sets themselves and their lookup are the engine's (``engine/fingerprint_set.py``, ``engine/fleet_sets.py``).
"""
