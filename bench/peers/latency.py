"""Part 7's arithmetic: percentiles, the latency a server adds over no webhook, per-review CPU.

Every figure is taken within one round (same minute, same load on the machine): a server's latency at the fixed
rate minus the no-webhook arm's at the same percentile in that round, its saturated batch's wall time over the
no-webhook arm's, its CPU over the reviews it answered in that round.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``values``."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile {q} is not in (0, 100]")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def added_ms(server: Sequence[float], none: Sequence[float], q: float) -> float:
    """Milliseconds ``server``'s latencies (seconds) add over the no-webhook arm's at percentile ``q``."""
    return (percentile(server, q) - percentile(none, q)) * 1000


def cpu_us_per_review(busy_ns: int, busy_s: float, idle_ns: int, idle_s: float, reviews: int) -> float:
    """Microseconds of a server's CPU per review: its CPU while it served its arm (``busy_ns`` over ``busy_s``)
    less what it spends anyway (its rate while the other arms ran, ``idle_ns`` over ``idle_s``: informers,
    probes, leader election) over that time, divided by the reviews it answered."""
    if reviews <= 0 or idle_s <= 0:
        raise ValueError("no reviews, or no idle time to compare with")
    return (busy_ns - idle_ns / idle_s * busy_s) / 1000 / reviews


def peer_ratio(peer_added: float, tierguard_added: float) -> float | None:
    """Peer added latency / tierguard's; None where tierguard added nothing measurable (a ratio to noise)."""
    if tierguard_added <= 0:
        return None
    return peer_added / tierguard_added
