"""Parts 3 and 4, against a real API server (``hack/local-cluster.sh up`` in host mode, ``--kubeconfig``).

Not measured yet: each figure stays null with the reason on stderr.
"""

from __future__ import annotations

from pathlib import Path

from bench.util import Figures

NOT_YET = "not measured yet by this harness (bench/cluster.py): see bench/README.md, 'What is left'"


def index_scale(kubeconfig: Path, secrets: int, namespaces: int, figures: Figures) -> None:
    del kubeconfig, secrets, namespaces
    for name in ("index_rss_mb", "index_ready_s", "index_ready_ratio"):
        figures.missing(name, NOT_YET)


def apiserver_overhead(kubeconfig: Path, pods: int, figures: Figures) -> None:
    del kubeconfig, pods
    figures.missing("apiserver_overhead_ratio", NOT_YET)
