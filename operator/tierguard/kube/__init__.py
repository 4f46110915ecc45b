"""Kubernetes API access, all of it: the only package that imports the kubernetes client.

- ``config.py``: the one credentials loader (its precedence is documented there);
- ``rest.py``: the one REST client (plain JSON by path, typed HTTP errors, one-line failure descriptions);
- ``discovery.py``: where a kind is served (``resolve_served``);
- ``pager.py``: paged lists with the 410 (Expired) restart, for the CLI listing, the informers and the audit;
- ``transport.py``: the informers' watch transport (``Transport``), and ``fake.py`` a scripted one for tests;
- ``lease.py``: leader election over a Lease.

Nothing here knows what tierguard judges: callers pass kinds (``tierguard.kinds``) and paths.
"""
