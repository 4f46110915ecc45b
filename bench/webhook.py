"""Part 1: the webhook server side, each server in its own process on core 0, the load on core 1.

Per repetition, interleaved (floor, kopf, tierguard, then again): max throughput at fixed concurrency (wrk with
``wrk.lua``, or ``bench.loadgen closed`` without wrk), the server's CPU time per review from /proc over that
run, and p50/p99 at a fixed rate, open loop (``bench.loadgen open``: latency from the scheduled send time).
Then each review of people's access (``bodies.PEOPLE_PATHS``: a RoleBinding, a CONNECT) alone, to the floor and
to tierguard: CPU per review (the no-op kopf server has no handler for them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import bodies
from bench.util import REPO, Figures, free_port, note, pin, stop

SERVERS = ("floor", "kopf", "tierguard")
SERVER_CORE, LOAD_CORE = 0, 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class WebhookPlan:
    repetitions: int
    throughput_seconds: float
    latency_seconds: float
    rate: float = 200.0
    concurrency: int = 16
    namespaces: int = 1000
    secrets: int = 10000


@dataclass
class Server:
    kind: str
    port: int
    process: subprocess.Popen[str]
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"https://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _start(kind: str, certs: Path, plan: WebhookPlan, *extra: str) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "bench.serve", kind, "--port", str(port), "--certs", str(certs),
               "--namespaces", str(plan.namespaces), "--secrets", str(plan.secrets), *extra]
    process = subprocess.Popen(pin(SERVER_CORE, command), cwd=REPO, stdout=subprocess.PIPE, text=True)
    return Server(kind, port, process)


def _wait_ready(server: Server) -> None:
    assert server.process.stdout is not None
    line = server.process.stdout.readline()  # the server prints "ready <port>" or exits
    if not line.startswith("ready"):
        raise RuntimeError(f"{server.kind} server did not start (exit {server.process.poll()})")


def _stop(server: Server) -> None:
    stop(server.process)


def _check_answers(server: Server, certs: Path, reviews: dict[str, bytes]) -> None:
    """One request per body before timing: each server must answer 200 with the request's uid; tierguard must
    allow every one (the bench measures the admitted path, the common one). The no-op kopf server gets the mix
    only."""
    import ssl  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    for name, body in reviews.items():
        if server.kind == "kopf" and name not in bodies.PATHS:
            continue
        request = urllib.request.Request(f"{server.url}/{name}", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            answer = json.loads(response.read())
        uid = json.loads(body)["request"]["uid"]
        if answer["response"]["uid"] != uid or answer["response"]["allowed"] is not True:
            raise RuntimeError(f"{server.kind} /{name}: unexpected answer {answer['response']}")


@contextmanager
def running(kinds: Sequence[str], certs: Path, plan: WebhookPlan, reviews: dict[str, bytes],
            *extra: str) -> Iterator[list[Server]]:
    """Servers of ``kinds`` started (``extra``: more ``bench.serve`` arguments), ready and each checked on
    ``reviews``; stopped on leaving."""
    servers = [_start(kind, certs, plan, *extra) for kind in kinds]
    try:
        for server in servers:
            _wait_ready(server)
            _check_answers(server, certs, reviews)
        yield servers
    finally:
        for server in servers:
            _stop(server)


def _use_wrk() -> bool:
    """wrk when installed, unless BENCH_LOAD=python asks for the Python generator (as on a machine without it)."""
    return shutil.which("wrk") is not None and os.environ.get("BENCH_LOAD") != "python"


def _throughput(server: Server, plan: WebhookPlan, body_dir: Path, certs: Path,
                paths: tuple[str, ...] = bodies.PATHS) -> tuple[float, float] | None:
    """(reviews/s, server CPU us per review) at fixed concurrency over ``paths`` round robin, or None with the
    reason on stderr."""
    before = server.cpu_seconds()
    if _use_wrk():
        command = ["wrk", "-t1", f"-c{plan.concurrency}", f"-d{max(1, round(plan.throughput_seconds))}s",
                   "-s", str(REPO / "bench" / "wrk.lua"), server.url]
        env = dict(os.environ, BENCH_BODIES=str(body_dir), BENCH_PATHS=",".join(paths))
    else:
        command = [sys.executable, "-m", "bench.loadgen", "closed", "--url", server.url, "--bodies", str(body_dir),
                   "--ca", str(certs / "ca.crt"), "--concurrency", str(plan.concurrency),
                   "--duration", str(plan.throughput_seconds), "--paths", ",".join(paths)]
        env = dict(os.environ)
    result = subprocess.run(pin(LOAD_CORE, command), cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=plan.throughput_seconds + 60, check=False)
    cpu = server.cpu_seconds() - before
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        note(f"{server.kind}: load generator failed: {result.stderr.strip()[-300:]}")
        return None
    summary = json.loads(lines[-1])
    seconds = summary["duration_us"] / 1e6 if "duration_us" in summary else summary["duration_s"]
    failures = summary.get("errors", 0) + summary.get("status_errors", 0)
    if failures:
        note(f"{server.kind}: {failures} of {summary['requests']} requests failed under load")
    requests = summary["requests"]
    if not requests:
        note(f"{server.kind}: the load generator completed no request")
        return None
    # wrk counts requests answered; CPU covers warm-up-free steady state since the server was already warm.
    return requests / seconds, cpu * 1e6 / requests


def _latency(server: Server, plan: WebhookPlan, body_dir: Path, certs: Path) -> tuple[float, float] | None:
    command = [sys.executable, "-m", "bench.loadgen", "open", "--url", server.url, "--bodies", str(body_dir),
               "--ca", str(certs / "ca.crt"), "--rate", str(plan.rate), "--duration", str(plan.latency_seconds)]
    result = subprocess.run(pin(LOAD_CORE, command), cwd=REPO, capture_output=True, text=True,
                            timeout=plan.latency_seconds + 60, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        note(f"{server.kind}: open-loop generator failed: {result.stderr.strip()[-300:]}")
        return None
    summary = json.loads(lines[-1])
    if summary["errors"]:
        note(f"{server.kind}: {summary['errors']} of {summary['requests']} open-loop requests failed")
    if summary["p50_ms"] is None:
        return None
    return summary["p50_ms"], summary["p99_ms"]


def run(plan: WebhookPlan, figures: Figures) -> None:
    if not _use_wrk():
        note("wrk is not installed (apt-get install -y wrk) or BENCH_LOAD=python: max throughput uses the Python "
             "generator, which saturates earlier than wrk, so the floor's figure is a lower bound")
    with tempfile.TemporaryDirectory(prefix="tierguard-bench-") as tmp:
        from tierguard.webhook.certs import write_certificates  # noqa: PLC0415

        certs = Path(tmp) / "certs"
        write_certificates(certs, ["127.0.0.1"])
        body_dir = Path(tmp) / "bodies"
        paths = bodies.write_bodies(body_dir, plan.namespaces)
        reviews = {name: path.read_bytes() for name, path in paths.items()}
        with running(SERVERS, certs, plan, reviews) as servers:
            for _ in range(plan.repetitions):
                for server in servers:
                    measured = _throughput(server, plan, body_dir, certs)
                    if measured is not None:
                        figures.add(f"{server.kind}_rps", measured[0])
                        figures.add(f"{server.kind}_cpu_us", measured[1])
                for server in servers:
                    latency = _latency(server, plan, body_dir, certs)
                    if latency is not None:
                        figures.add(f"{server.kind}_p50_ms", latency[0])
                        figures.add(f"{server.kind}_p99_ms", latency[1])
                for path in bodies.PEOPLE_PATHS:
                    for server in servers:
                        if server.kind == "kopf":
                            continue
                        measured = _throughput(server, plan, body_dir, certs, (path,))
                        if measured is not None:
                            figures.add(f"{server.kind}_cpu_us_{path}", measured[1])

