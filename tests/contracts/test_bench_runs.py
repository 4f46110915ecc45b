"""bench/ must keep running: its smallest mode, end to end, and the shape of its last line. No timing is
asserted here (figures live in bench/ only, as ratios against baselines of the same run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

KEYS = {"p50_ms", "p99_ms", "floor_p99_ms", "p99_ratio", "throughput_rps", "noop_throughput_rps",
        "throughput_ratio", "floor_throughput_rps", "floor_throughput_ratio", "cpu_us_per_review",
        "engine_evals_per_s", "index_100k_rss_mb", "index_100k_ready_s", "index_ready_ratio",
        "apiserver_overhead_ratio", "check_objects_per_s", "check_parse_ratio", "peer_check_ratio_kyverno",
        "peer_check_ratio_gator", "peer_admission_ratio_kyverno", "peer_admission_ratio_gatekeeper",
        "fleet_published_kb", "fleet_publish_cpu_ratio", "fleet_read_cpu_ratio",
        "fleet_hub_requests_read", "fleet_hub_requests_publish", "skipped_share"}


def test_bench_smoke_run_ends_with_one_json_line_of_every_figure() -> None:
    result = subprocess.run([sys.executable, "-m", "bench", "--smoke"], cwd=REPO, capture_output=True, text=True,
                            timeout=180, check=True)
    last = result.stdout.strip().splitlines()[-1]
    report = json.loads(last)
    assert set(report) >= KEYS
    for key in KEYS:
        value = report[key]
        assert value is None or (isinstance(value, int | float) and not isinstance(value, bool)), key
        if value is None:  # every null says why, on stderr
            assert f"{key} is null:" in result.stderr
    assert "| figure |" in result.stdout  # the markdown table
