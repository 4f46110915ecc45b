"""The background audit ``tierguard run`` hosts: what already exists, judged against the webhook's live indexes and
written as reports by the one replica holding the audit Lease (``kube/lease.py``).

- ``audit.py``: the passes (full and incremental) and the loop that runs them;
- ``changes.py``: which scopes watch events made dirty (pure bookkeeping);
- ``marks.py``: the watch side: informer changes turned into marks, and the watch-only informers of judged kinds
  no index holds;
- ``report_writer.py``: writing only the reports that changed;
- ``host.py``: what the audit needs of its host replica (readiness, the live context, five metrics), as Protocols.
"""
