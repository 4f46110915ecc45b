"""What the CLI's ``audit``, ``parity`` and ``check --namespace-tiers-from-cluster`` read of a live cluster, and
the ``audit`` command's judging of it; only ``commands/`` imports this package.

- ``listing.py``: connect, the cluster's TierPolicy, every listed kind in pages, projected as it arrives;
- ``progress.py``: the listing's progress line on stderr;
- ``results.py``: the engine over a listing (pure);
- ``clusters.py``: several clusters' listings judged as one, each with the others' values as a fleet's (pure);
- ``tiers.py``: each namespace's tier label, for ``check``.

The background audit of ``tierguard run`` is the webhook's (``webhook/background_audit/``); the parity model is
``tierguard/parity.py``.
"""
