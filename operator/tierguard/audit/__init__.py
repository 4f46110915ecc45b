"""``tierguard audit`` and ``tierguard parity`` without their commands: the cluster listing (``scan.py``), the
engine over it (``results.py``) and the parity counts (``parity.py``), so existing violations and gaps surface
before the next change to them is refused."""
