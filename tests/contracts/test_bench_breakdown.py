"""bench/breakdown.py keeps running and keeps filing a profile's time where it belongs (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.breakdown import ORDER, category_of

REPO = Path(__file__).resolve().parents[2]


def test_functions_are_filed_by_where_their_code_lives() -> None:
    site = "/venv/lib/python3.11/site-packages"
    assert category_of(("/repo/operator/tierguard/engine/podspec.py", 1, "_containers")) == "engine"
    assert category_of(("/repo/operator/tierguard/webhook/metrics.py", 1, "count_request")) == "metrics"
    assert category_of((f"{site}/prometheus_client/values.py", 1, "inc")) == "metrics"
    assert category_of(("/repo/operator/tierguard/webhook/admission.py", 1, "answer")) == "service"
    assert category_of((f"{site}/aiohttp/web_protocol.py", 1, "data_received")) == "http_tls"
    assert category_of(("~", 0, "<built-in method orjson.loads>")) == "json"
    assert category_of(("~", 0, "<method 'read' of '_ssl._SSLSocket' objects>")) == "http_tls"
    assert category_of(("~", 0, "<method 'get' of 'dict' objects>")) is None  # its callers decide


def test_breakdown_smoke_run_ends_with_every_category_summing_to_tierguards_cpu() -> None:
    result = subprocess.run([sys.executable, "-m", "bench.breakdown", "--smoke"], cwd=REPO, capture_output=True,
                            text=True, timeout=180, check=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    parts = [figures[f"pod_cpu_us_{category}"] for category in ORDER]
    assert abs(sum(parts) - figures["pod_cpu_us_tierguard"]) < 1.0
    assert figures["pod_cpu_us_engine"] > 0 and figures["pod_cpu_us_http_tls"] > 0
    assert "| engine |" in result.stdout
