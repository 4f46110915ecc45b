"""Fixtures for end-to-end tests against a real Kubernetes API server.

``cluster`` is the local kind cluster of ``hack/local-cluster.sh`` (started for the session, deleted after it
only if this session started it), or any cluster named by ``TIERGUARD_E2E_KUBECONFIG``. When the cluster
cannot be had, the tests fail under ``CI=true`` (a green CI must mean they ran) and skip elsewhere, with the
reason.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NoReturn

import pytest

from .support.kube import (
    HOST_ADDRESS_ENV,
    Cluster,
    cache_bin_dir,
    find_kubectl,
    host_state,
    local_cluster,
    local_state_dir,
    tail,
)

E2E_DIR = Path(__file__).resolve().parent

UP_TIMEOUT_S = 3 * 60 * 60
"""Seconds `hack/local-cluster.sh up` may take: a cold build of the binaries is tens of minutes on 2 cores."""


SMOKE = (
    "test_control_plane.py::test_server_version",
    "test_install.py::test_two_replicas_of_the_built_image_are_ready",
    "test_install.py::test_webhook_is_called_through_the_service",
    "test_webhook.py",
    "test_sessions.py::test_a_dev_person_may_exec_into_dev_not_into_prod",
    "test_admission_policies.py",
    "test_tier_assignment.py::test_a_dev_person_creating_a_prod_namespace_is_refused_and_a_dev_one_admitted",
    "test_namespace_posture.py::test_a_namespace_without_the_required_pod_security_level_is_refused",
    "test_namespace_posture.py::test_the_last_default_deny_cannot_be_deleted_and_a_namespace_still_deletes",
    "test_static_admission.py::test_static_rules_refuse_unknown_and_changed_tiers_first",
    "test_static_admission.py::test_static_policies_are_not_in_the_api",
    "test_release.py::test_helm_upgrade_from_the_previous_chart_keeps_certificates_and_key",
)
"""The smoke subset (``-m smoke``), run by .ci/run on each tested Kubernetes version but the newest: the version,
the install, a refusal per rule family (an exec into a pod of another tier among them), the
ValidatingAdmissionPolicies (the static ones too: 1.36 is where their gate is alpha), a ``helm upgrade``. A module
or one test."""


def pytest_configure(config: pytest.Config) -> None:
    # Also declared in pyproject.toml; repeated here so tests/e2e works under --strict-markers on its own.
    config.addinivalue_line(
        "markers", "e2e: needs a Kubernetes API server (the local kind cluster or TIERGUARD_E2E_KUBECONFIG)"
    )
    config.addinivalue_line("markers", "smoke: the e2e subset run on every other tested Kubernetes version")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test under tests/e2e is an e2e test, so `pytest -m "not e2e"` never starts a cluster.
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            test_id = f"{item.path.name}::{item.name.split('[')[0]}"
            if item.path.name in SMOKE or test_id in SMOKE:
                item.add_marker(pytest.mark.smoke)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """No cluster: fail under CI, where a skip would pass silently; skip on a developer's machine."""
    if in_ci():
        pytest.fail(f"e2e cluster unavailable under CI=true: {reason}", pytrace=False)
    pytest.skip(f"e2e cluster unavailable: {reason}")


def external_cluster(kubeconfig: Path) -> Cluster:
    if not kubeconfig.is_file():
        unavailable(f"TIERGUARD_E2E_KUBECONFIG={kubeconfig} is not a file")
    kubectl = find_kubectl(external_kubeconfig=True)
    if kubectl is None:
        unavailable("no kubectl: set TIERGUARD_KUBECTL, run hack/build-binaries.sh, or put kubectl on PATH")
    cluster = Cluster(kubeconfig=kubeconfig, kubectl_path=kubectl, bin_dir=kubectl.parent, local=False)
    answer = cluster.kubectl("version", check=False)
    if answer.returncode != 0:
        unavailable(f"the cluster in {kubeconfig} does not answer:\n{tail(answer.stderr)}")
    return cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    if kubeconfig := os.environ.get("TIERGUARD_E2E_KUBECONFIG"):
        yield external_cluster(Path(kubeconfig))
        return

    already_running = local_cluster("status").returncode == 0
    # What the host looked like before this session's `up`: its `down` must leave exactly that.
    before = None if already_running else host_state()
    up = local_cluster("up", timeout=UP_TIMEOUT_S)
    try:
        if up.returncode != 0:
            unavailable(f"hack/local-cluster.sh up failed (exit {up.returncode}):\n{tail(up.stdout)}")
        state = local_state_dir()
        kubectl = find_kubectl(external_kubeconfig=False)
        if kubectl is None:
            unavailable(f"hack/local-cluster.sh up left no kubectl in {cache_bin_dir()}")
        yield Cluster(kubeconfig=state / "kubeconfig", kubectl_path=kubectl, bin_dir=cache_bin_dir(), local=True)
    finally:
        # Also after a failed `up` (say, the tierguard hook failed with the control plane up): leave nothing running.
        if not already_running:
            down = local_cluster("down")
            assert down.returncode == 0, f"hack/local-cluster.sh down failed:\n{tail(down.stdout)}"
            assert before is not None
            left, gone = host_state() - before, before - host_state()
            assert not left and not gone, (
                f"hack/local-cluster.sh down did not leave the host as up found it:\n"
                f"  left behind: {sorted(left)}\n  removed: {sorted(gone)}")


@pytest.fixture(scope="session")
def host_address(cluster: Cluster) -> str:
    """Where the cluster's API server reaches this host: servers the tests start here for it to call (webhooks, a
    second tierguard) listen on this address, and their URLs and certificates name it. The local kind cluster always
    has one (its Docker network's gateway); another cluster only when $TIERGUARD_E2E_HOST_ADDRESS gives it."""
    address = cluster.host_address()
    if address is None:
        assert not cluster.local
        pytest.skip(f"the API server must call a server on this host: set {HOST_ADDRESS_ENV} to the address at which "
                    "this cluster's API server reaches this host")
    return address


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[Callable[..., str]]:
    """Factory: ``namespace(labels={...}, prefix="tg-e2e")`` creates a uniquely named namespace; all are
    deleted (without waiting) after the test."""
    created: list[str] = []

    def make(labels: Mapping[str, str] | None = None, prefix: str = "tg-e2e") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        manifest = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": dict(labels or {})},
        }
        cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))
        created.append(name)
        return name

    yield make
    for name in created:
        cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
