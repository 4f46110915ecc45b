"""Shared by the parts of the bench: repeated figures, pinning, ports, notes on stderr."""

from __future__ import annotations

import shutil
import socket
import statistics
import subprocess
import sys
from collections import defaultdict
from contextlib import closing
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


class Figures:
    """name -> one value per repetition; a ratio is taken repetition by repetition (same moment, same load)."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = defaultdict(list)
        self.reasons: dict[str, str] = {}

    def add(self, name: str, value: float) -> None:
        self.values[name].append(value)

    def ratio(self, name: str, numerator: str, denominator: str) -> None:
        pairs = zip(self.values.get(numerator, []), self.values.get(denominator, []), strict=False)
        for top, bottom in pairs:
            if bottom > 0:
                self.add(name, top / bottom)

    def median(self, name: str) -> float | None:
        values = self.values.get(name)
        return statistics.median(values) if values else None

    def span(self, name: str) -> tuple[float, float] | None:
        values = self.values.get(name)
        return (min(values), max(values)) if values else None

    def missing(self, name: str, reason: str) -> None:
        self.reasons.setdefault(name, reason)


def note(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def pin(core: int, command: list[str]) -> list[str]:
    """Run ``command`` on one core when taskset exists and the core does."""
    import os  # noqa: PLC0415

    if shutil.which("taskset") and core < (os.cpu_count() or 1):
        return ["taskset", "-c", str(core), *command]
    return command


def free_port(address: str = "127.0.0.1") -> int:
    with closing(socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds; reaped either way."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
