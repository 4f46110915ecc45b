"""Fixtures for the chart tests: the helm binary, and (for the e2e ones) the cluster of tests/e2e.

Without helm the tests skip on a developer's machine and fail under CI=true, where hack/ci-prereqs.sh has put
the pinned helm in the cache of hack/build-binaries.sh: a green CI must mean they ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `python -m pytest` from the repository has it; a bare `pytest` may not
    sys.path.insert(0, str(REPO))

# The session fixtures of tests/e2e (the local kind cluster or TIERGUARD_E2E_KUBECONFIG), re-exported for the
# @pytest.mark.e2e tests here.
from tests.e2e.conftest import cluster, namespace  # noqa: E402

from .helm import Helm, find_helm  # noqa: E402

__all__ = ["cluster", "helm", "helm_docs", "namespace"]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def helm() -> Helm:
    path = find_helm()
    if path is None or not os.access(path, os.X_OK):
        reason = ("no helm: set TIERGUARD_HELM, run hack/build-binaries.sh (it caches the pinned helm), or put "
                  "helm on PATH")
        if in_ci():
            pytest.fail(f"{reason} (CI=true)", pytrace=False)
        pytest.skip(reason)
    return Helm(path)


@pytest.fixture(scope="session")
def helm_docs() -> str:
    """The pinned helm-docs that hack/build-tools.sh caches (hack/ci-prereqs.sh builds it; nothing is built here)."""
    tools = REPO / "hack" / "build-tools.sh"
    checked = subprocess.run([str(tools), "--check", "helm-docs"], capture_output=True, timeout=60, check=False)
    if checked.returncode != 0:
        reason = "no helm-docs at its pinned version: run hack/build-tools.sh helm-docs (or hack/chart-docs.sh)"
        if in_ci():
            pytest.fail(f"{reason} (CI=true)", pytrace=False)
        pytest.skip(reason)
    return subprocess.run([str(tools), "--path", "helm-docs"], capture_output=True, text=True, timeout=60,
                          check=True).stdout.strip()
