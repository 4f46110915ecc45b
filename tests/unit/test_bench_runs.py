"""bench/ must keep running (it is not run for timings here: no assertion on speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_admission_benchmark_runs_and_reports_ratios() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "admission.py"), "--requests", "30", "--concurrency", "2",
         "--secrets", "20"], capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(result.stdout)
    assert set(report) == {"engine_per_second", "floor_per_second", "tierguard_per_second", "tierguard_to_floor"}
    assert all(value > 0 for value in report.values())
