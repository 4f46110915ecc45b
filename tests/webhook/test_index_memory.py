"""What the Secret index holds per Secret, at the scale the chart's memory limit is sized for (100k Secrets):
through the real projection and the real ``LiveIndex``, measured with tracemalloc (allocations, not RSS, so the
figure does not depend on what else this test process has loaded). The chart's limit is the bench's measured
RSS of a fresh ``tierguard run`` at 100k Secrets plus headroom (bench/README.md, docs/reliability.md); this test
keeps the index itself inside the share of it that figure was measured with."""

from __future__ import annotations

import base64
import gc
import tracemalloc

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.webhook import indexes
from tierguard.webhook.informer import owner_of
from tierguard.webhook.store import LiveIndex

from .helpers import KEY

SECRETS = 20_000
"""Indexed here; the structure grows linearly (a value per key, a tuple of keys per object), so the bytes per
Secret are what 100k cost, a fifth of the time (tracemalloc slows every allocation down)."""
SCALE = 100_000
NAMESPACES = 1_000
INDEX_BUDGET_MB = 128
"""The index's share of the chart's 512 MiB limit: the bench measured a fresh ``tierguard run`` at 100k
Secrets, index included, well under the rest (docs/reliability.md)."""


def test_indexed_secrets_at_100k_fit_the_budget_and_keep_no_value() -> None:
    fingerprinter = Fingerprinter(KEY)
    spec = indexes.INDEXES_BY_ID[indexes.SECRETS]
    index = LiveIndex()
    gc.collect()
    tracemalloc.start()
    try:
        for number in range(SECRETS):
            namespace, name = f"team-{number % NAMESPACES:05d}", f"app-{number // NAMESPACES}"
            body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": name, "namespace": namespace, "uid": f"{number:036d}",
                                 "resourceVersion": str(number), "labels": {"app": name}},
                    "data": {key: base64.b64encode(f"{namespace}-{name}-{key}-{number:08d}".encode()).decode()
                             for key in ("password", "token")}}
            index.put(owner_of(body), spec.project(body, fingerprinter))
        del body
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert index.objects == SECRETS and len(index) == 3 * SECRETS  # a name key and two fingerprints each
    at_scale_mb = held / SECRETS * SCALE / 2**20
    assert at_scale_mb <= INDEX_BUDGET_MB, f"{held / SECRETS:.0f} bytes a Secret: {at_scale_mb:.0f} MiB at {SCALE}"
    (view,) = index.get(indexes.secret_key("team-00007", "app-3"))
    assert not hasattr(view, "data") and len(view.fingerprints) == 2
