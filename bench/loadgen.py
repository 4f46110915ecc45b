"""The Python load generator, in its own process (the harness pins it to the other core with ``taskset``).

    python -m bench.loadgen closed --url U --bodies DIR --ca CA --concurrency 16 --duration 5
    python -m bench.loadgen open   --url U --bodies DIR --ca CA --rate 200 --duration 10

``closed``: ``concurrency`` workers each send the next review as soon as the last one is answered (max
throughput at fixed concurrency; used when ``wrk`` is not installed). ``open``: request i is due at
``start + i / rate`` whatever happened before it, and its latency counts from that due time, not from when a
busy client got round to sending it (no coordinated omission). Bodies go round robin to /pods, /secrets and
/deployments (``--paths``: others). Prints one JSON line; bounded by ``--duration`` and a hard request cap.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import time
from pathlib import Path

import aiohttp

from bench.bodies import PATHS

MAX_REQUESTS = 200_000
WARMUP_REQUESTS = 30


def _percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


async def run(mode: str, url: str, *, bodies: Path, ca: Path, concurrency: int, rate: float,
              duration: float, paths: tuple[str, ...] = PATHS) -> dict[str, object]:
    payloads = [(f"{url}/{name}", (bodies / f"{name}.json").read_bytes()) for name in paths]
    context = ssl.create_default_context(cafile=str(ca))
    connector = aiohttp.TCPConnector(ssl=context, limit=max(concurrency, 64))
    headers = {"Content-Type": "application/json"}
    errors = 0
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(index: int) -> bool:
            target, body = payloads[index % len(payloads)]
            try:
                async with session.post(target, data=body, headers=headers) as response:
                    await response.read()
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await asyncio.gather(*(one(i) for i in range(WARMUP_REQUESTS)))
        started = time.perf_counter()
        deadline = started + duration
        count = 0
        if mode == "closed":
            async def worker() -> None:
                nonlocal count, errors
                while time.perf_counter() < deadline and count < MAX_REQUESTS:
                    count += 1
                    if not await one(count):
                        errors += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        else:
            async def timed(index: int, due: float) -> None:
                nonlocal errors
                ok = await one(index)
                latencies.append(time.perf_counter() - due)
                if not ok:
                    errors += 1

            tasks = []
            total = min(MAX_REQUESTS, int(rate * duration))
            for index in range(total):
                due = started + index / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(timed(index, due)))
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=duration + 30)
            count = total
        elapsed = time.perf_counter() - started
    latencies.sort()
    p50, p99 = _percentile(latencies, 0.50), _percentile(latencies, 0.99)
    return {"requests": count, "duration_s": elapsed, "errors": errors,
            "p50_ms": None if p50 is None else p50 * 1000, "p99_ms": None if p99 is None else p99 * 1000}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("closed", "open"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", type=Path, required=True)
    parser.add_argument("--ca", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--paths", default=",".join(PATHS), help="comma-separated bodies, sent round robin")
    o = parser.parse_args()
    print(json.dumps(asyncio.run(run(o.mode, o.url, bodies=o.bodies, ca=o.ca, concurrency=o.concurrency, rate=o.rate,
                                        duration=o.duration, paths=tuple(o.paths.split(","))))))
