"""The access page in a real browser, as the parity page is (``test_parity_page_browser.py``: Debian's headless
``chromium``, networking off, skipped on a developer's machine without it, failing under ``CI=true``): the DOM it
built is read back (``--dump-dom``) and checked cell by cell, and a screenshot is kept as an artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.access_page import parse

from .test_access import EXAMPLE, EXAMPLE_ARGS
from .test_parity_page_browser import CHROMIUM, PNG, UNDER_CI, artifacts, chromium

pytestmark = pytest.mark.skipif(CHROMIUM is None and not UNDER_CI,
                                reason="no chromium (hack/ci-prereqs.sh installs it) to render the page")


def test_chromium_renders_the_access_matrix(run: Any, monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.chdir(EXAMPLE)
    status, out, _ = run("access", *EXAMPLE_ARGS, "-f", "drift/", "-o", "html")
    assert status == 1
    page = tmp_path / "access.html"
    page.write_text(out)

    dumped = chromium(tmp_path, page, "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = parse(dumped.stdout)
    assert set(dom.rows) == {"User bob@contractor.example", "User dana@example.com", "Group sre",
                             "Group team-payments-dev", "Group team-payments-oncall", "ServiceAccount payments-dev/ci"}
    assert dom.highlighted == {"User dana@example.com", "ServiceAccount payments-dev/ci"}
    # dana (dev) may exec in prod: the one cell of her row, outlined
    dana = {column: cell for (row, column), cell in dom.cells.items() if row == "User dana@example.com"}
    assert {column for column, cell in dana.items() if cell.paths} == {"prod"}
    assert dana["prod"].paths == ("exec",) and dana["prod"].crosses and "crosses" in dana["prod"].classes
    assert dana["prod"].where == "payments-prod"
    # the dev CI ServiceAccount bound cluster-wide: every column, crossing into the other tiers only
    ci = {column: cell for (row, column), cell in dom.cells.items() if row == "ServiceAccount payments-dev/ci"}
    assert {column for column, cell in ci.items() if cell.crosses} == {"qa", "stage", "prod"}
    assert all(cell.paths == ("read-secrets", "create-pods", "create-workloads") for cell in ci.values())
    assert ci["untiered"].where == "every namespace"
    # the platform group reaches everything and crosses nothing; the contractor is untiered, never crossing
    assert not any(cell.crosses for (row, _), cell in dom.cells.items() if row == "Group sre")
    assert len(dom.cells[("Group sre", "prod")].paths) == 11
    assert dom.cells[("User bob@contractor.example", "qa")].paths == ("exec",)
    assert not dom.cells[("User bob@contractor.example", "qa")].crosses
    assert dom.rows["User bob@contractor.example"]["data-standing"] == "untiered"
    assert [c["data-subject"] for c in dom.crossings] == ["User dana@example.com", "ServiceAccount payments-dev/ci"]

    screenshot = artifacts(tmp_path) / "access.png"
    shot = chromium(tmp_path, page, f"--screenshot={screenshot}")
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.read_bytes().startswith(PNG)
