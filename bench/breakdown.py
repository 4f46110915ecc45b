"""Where a Pod review's CPU goes beyond the floor (issue 29, item 4): ``python -m bench.breakdown [--quick]``.

1. The floor and tierguard (part 1's servers: each in its own process on core 0, the load on core 1), Pod reviews
   only, in interleaved repetitions: the server's CPU microseconds per review, without a profiler.
2. tierguard again under cProfile (``bench.serve --profile``), the same load: each function's own time goes to
   the category of the code it belongs to, a C function's to its callers' categories (by the time of each call).
3. The categories are scaled to the unprofiled CPU per review: cProfile inflates code of many small calls (the
   engine) more than code of few large ones (TLS), so the split is an estimate of shares, not a measurement.

Prints a table, then as its last line one JSON object (bench/README.md, "Where the rest of the floor goes").
"""

from __future__ import annotations

import argparse
import json
import pstats
import statistics
import tempfile
from pathlib import Path

from bench import bodies
from bench.webhook import WebhookPlan, _throughput, running

PATH = "pods"
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("engine", ("/tierguard/engine/", "/tierguard/policy", "/tierguard/kinds.py", "/tierguard/vap/")),
    ("metrics", ("/prometheus_client/", "/tierguard/webhook/metrics.py")),
    ("logging", ("/logging/", "/tierguard/webhook/logs.py")),
    # The rest of tierguard: the request's checks, the route, the review's parts, the answer.
    ("service", ("/tierguard/",)),
    ("http_tls", ("/aiohttp/", "/asyncio/", "/ssl.py", "/multidict/", "/yarl/", "/selectors.py", "/socket.py")),
)
"""First match wins: a file under tierguard/webhook/metrics.py is metrics, not service."""
JSON_NAMES = ("orjson", "json.", "_json")
TLS_NAMES = ("_ssl.", "SSLObject", "SSLSocket", "select.", "socket")
ORDER = ("engine", "service", "json", "metrics", "logging", "http_tls", "other")
Key = tuple[str, int, str]


def category_of(key: Key) -> str | None:
    """The category of a Python function by its file; None for a C function (its callers decide)."""
    filename, _, name = key
    if filename == "~":
        if any(part in name for part in JSON_NAMES):
            return "json"
        if any(part in name for part in TLS_NAMES):
            return "http_tls"
        return None
    for category, markers in CATEGORIES:
        if any(marker in filename for marker in markers):
            return category
    return "other"


def add(top: dict[str, dict[str, float]], category: str, name: str, own: float) -> None:
    functions = top.setdefault(category, {})
    functions[name] = functions.get(name, 0.0) + own


def split(stats: pstats.Stats, top: dict[str, dict[str, float]] | None = None) -> dict[str, float]:
    """Seconds of own time per category; with ``top``, each category's functions and their seconds too."""
    table: dict[Key, tuple[int, int, float, float, dict[Key, tuple[int, int, float, float]]]] = (
        stats.stats)  # type: ignore[attr-defined]
    seconds: dict[str, float] = dict.fromkeys(ORDER, 0.0)
    for key, (_, _, own, _, callers) in table.items():
        category = category_of(key)
        if category is not None:
            seconds[category] += own
            if top is not None:
                add(top, category, f"{Path(key[0]).name}:{key[2]}", own)
            continue
        edges = {caller: edge[2] for caller, edge in callers.items()}
        total = sum(edges.values())
        if not total:
            seconds["other"] += own
            continue
        for caller, edge_own in edges.items():
            seconds[category_of(caller) or "other"] += own * edge_own / total
            if top is not None:
                add(top, category_of(caller) or "other", key[2], own * edge_own / total)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="2 repetitions of 3 s instead of 3 of 8")
    parser.add_argument("--smoke", action="store_true", help="1 repetition of 1 s on a small index (that it runs)")
    parser.add_argument("--top", type=int, default=0, metavar="N", help="also list each category's N costliest "
                        "functions (own time, microseconds per review as profiled, before scaling)")
    options = parser.parse_args()
    if options.smoke:
        plan = WebhookPlan(repetitions=1, throughput_seconds=1, latency_seconds=0, namespaces=40, secrets=400)
    else:
        plan = WebhookPlan(repetitions=2 if options.quick else 3, throughput_seconds=3 if options.quick else 8,
                           latency_seconds=0)
    cpu: dict[str, list[float]] = {"floor": [], "tierguard": []}
    with tempfile.TemporaryDirectory(prefix="tierguard-breakdown-") as tmp:
        from tierguard.webhook.certs import write_certificates  # noqa: PLC0415

        certs, body_dir, profile = Path(tmp) / "certs", Path(tmp) / "bodies", Path(tmp) / "tierguard.prof"
        write_certificates(certs, ["127.0.0.1"])
        paths = bodies.write_bodies(body_dir, plan.namespaces)
        reviews = {PATH: paths[PATH].read_bytes()}
        with running(tuple(cpu), certs, plan, reviews) as servers:
            for _ in range(plan.repetitions):
                for server in servers:
                    measured = _throughput(server, plan, body_dir, certs, (PATH,))
                    if measured is not None:
                        cpu[server.kind].append(measured[1])
        with running(("tierguard",), certs, plan, reviews, "--profile", str(profile)) as (profiled,):
            _throughput(profiled, plan, body_dir, certs, (PATH,))
        # Stopped on leaving (SIGTERM), the server has written its profile.
        top: dict[str, dict[str, float]] = {}
        stats = pstats.Stats(str(profile))
        seconds = split(stats, top)
        reviewed = sum(calls for (_, _, name), (_, calls, *_) in stats.stats.items()  # type: ignore[attr-defined]
                       if name == "answer") or 1
    floor, tierguard = statistics.median(cpu["floor"]), statistics.median(cpu["tierguard"])
    total = sum(seconds.values())
    per_review = {category: tierguard * seconds[category] / total for category in ORDER}
    figures = {"pod_cpu_us_floor": round(floor, 1), "pod_cpu_us_tierguard": round(tierguard, 1),
               "pod_cpu_us_beyond_floor": round(tierguard - floor, 1),
               "floor_cpu_ratio": round(floor / tierguard, 3),
               **{f"pod_cpu_us_{category}": round(value, 1) for category, value in per_review.items()}}
    print(f"Pod review CPU per review (median of {plan.repetitions}): floor {floor:.0f} us, tierguard "
          f"{tierguard:.0f} us, beyond the floor {tierguard - floor:.0f} us")
    print("| part of tierguard's review | us | share |\n|---|---|---|")
    for category in ORDER:
        print(f"| {category} | {per_review[category]:.0f} | {seconds[category] / total:.0%} |")
    for category in ORDER if options.top else ():
        for name, own in sorted(top.get(category, {}).items(), key=lambda item: -item[1])[:options.top]:
            print(f"  {category:9} {own * 1e6 / reviewed:7.1f} us  {name}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
