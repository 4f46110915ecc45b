"""The parity page in a real browser: headless Chromium (Debian's ``chromium``) opens the page from a file with
networking off, the DOM it built is read back (``--dump-dom``) and checked cell by cell (the sidecar matrix, and
the namespace posture with its weaker tiers), and a screenshot is kept as an artifact (in
``$TIERGUARD_ARTIFACTS_DIR`` when set, else the test's pytest tmp directory).

hack/ci-prereqs.sh installs Chromium, so under ``CI=true`` a missing browser fails these tests (a green CI must
mean they ran); on a developer's machine without it they skip (the DOM checks of tests/parity and
test_parity_page.py run anyway, with html.parser)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.parity_page import parse

from .manifests import POSTURE, POSTURE_POLICY
from .test_parity_page import EXAMPLE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
UNDER_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
pytestmark = pytest.mark.skipif(CHROMIUM is None and not UNDER_CI,
                                reason="no chromium (hack/ci-prereqs.sh installs it) to render the page")
TIMEOUT_S = 120
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--window-size=1280,800")
PNG = b"\x89PNG\r\n\x1a\n"


def chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.fail("no chromium under CI=true: hack/ci-prereqs.sh installs it", pytrace=False)
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
                          env={**os.environ, "HOME": str(tmp_path)})


def artifacts(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("TIERGUARD_ARTIFACTS_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def test_chromium_renders_the_matrix(run: Any, monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.chdir(EXAMPLE)
    status, out, _ = run("parity", "--policy", "policy.yaml", "-f", "namespaces.yaml", "-f", "good/", "-f", "drift/",
                         "-f", "bad/", "-o", "html")
    assert status == 1
    page = tmp_path / "parity.html"
    page.write_text(out)

    dumped = chromium(tmp_path, page, "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = parse(dumped.stdout)
    assert set(dom.rows) == {"nightly-report", "shop-api", "web"}
    assert dom.highlighted == {"shop-api"}
    assert dom.states[("shop-api", "dev", "istio-proxy")] == "disabled"
    assert dom.states[("shop-api", "prod", "istio-proxy")] == "injected"
    assert dom.states[("web", "prod", "istio-proxy")] == "disabled"  # the worst of its two prod workloads
    assert dom.states[("nightly-report", "prod", "istio-proxy")] == "missing"
    assert ("nightly-report", "dev", "istio-proxy") not in dom.states

    screenshot = artifacts(tmp_path) / "parity.png"
    shot = chromium(tmp_path, page, f"--screenshot={screenshot}")
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.read_bytes().startswith(PNG)


def test_chromium_renders_the_namespace_posture(run: Any, tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POSTURE_POLICY)
    (tmp_path / "all.yaml").write_text(POSTURE)
    status, out, _ = run("parity", "--policy", str(tmp_path / "policy.yaml"), "-f", str(tmp_path / "all.yaml"),
                         "-o", "html")
    assert status == 1  # shop-qa keeps no default-deny-ingress policy
    page = tmp_path / "parity-posture.html"
    page.write_text(out)

    dumped = chromium(tmp_path, page, "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = parse(dumped.stdout)
    enforce = "pod-security.kubernetes.io/enforce"
    assert dom.states[("web", "dev", "istio-proxy")] == dom.states[("web", "prod", "istio-proxy")] == "present"
    assert set(dom.checks) == {enforce, "default-deny-ingress", "namespaces"}
    assert dom.drifting == {enforce, "default-deny-ingress"}
    # the posture cells: each tier's levels, prod the reference, the weaker tier outlined
    assert dom.values[(enforce, "dev")] == {"baseline": 1}
    assert dom.values[(enforce, "qa")] == {"restricted": 1}
    assert dom.values[(enforce, "prod")] == {"restricted": 1}
    assert dom.weaker(enforce) == {"dev"}
    assert dom.posture[(enforce, "dev")]["data-weaker"] == "true"
    assert "reference" in (dom.posture[(enforce, "prod")].get("class") or "").split()
    assert dom.values[("default-deny-ingress", "dev")] == {"1/1": 0}
    assert dom.values[("default-deny-ingress", "qa")] == {"0/1": 0}
    assert dom.weaker("default-deny-ingress") == {"qa"}
    assert (enforce, "stage") not in dom.values  # no namespace in stage
    assert "no default-deny-ingress NetworkPolicy" in "".join(dom.text)

    screenshot = artifacts(tmp_path) / "parity-posture.png"
    shot = chromium(tmp_path, page, f"--screenshot={screenshot}")
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.read_bytes().startswith(PNG)
