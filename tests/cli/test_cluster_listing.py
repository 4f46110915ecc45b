"""``tierguard audit`` and ``parity`` against an API server (``tests/fakes/apiserver.py``), as processes: the progress
line on a terminal only (a pseudo-terminal as stderr), silent when stderr is not one and with --quiet, stdout the
same either way, and one-line errors (exit 2, no traceback) naming the kind and the API server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.apiserver import FakeApiServer, namespace, secret, serving
from tests.support.pty_capture import run_with_stderr_on_a_terminal

SHARED = b"a-long-shared-credential-value"
TIMEOUT_S = 120


def cluster() -> FakeApiServer:
    return FakeApiServer(objects={
        "namespaces": [namespace("dev", "dev"), namespace("prod", "prod")],
        "secrets": [secret("dev", "copy", SHARED), secret("prod", "db", SHARED),
                    *(secret("dev", f"s{i:02d}", f"other-value-{i:04d}".encode()) for i in range(9))],
    })


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with serving(cluster()) as running:
        yield running


def tierguard(*args: str, stderr_tty: bool = False) -> tuple[int, str, str]:
    """Run ``python -m tierguard``; stdout is a pipe, stderr a pipe or a pseudo-terminal."""
    command = [sys.executable, "-m", "tierguard", *args]
    env = {**os.environ, "KUBECONFIG": "", "TERM": "xterm"}
    if not stderr_tty:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False, env=env)
        return done.returncode, done.stdout, done.stderr
    return run_with_stderr_on_a_terminal(command, env, TIMEOUT_S)


def test_progress_on_a_terminal_and_the_same_report(api: FakeApiServer, tmp_path: Path) -> None:
    kubeconfig = str(api.kubeconfig(tmp_path))
    status, stdout, terminal = tierguard("audit", "--kubeconfig", kubeconfig, "--chunk-size", "2", "-o", "json",
                                         stderr_tty=True)
    assert status == 1, terminal
    assert "listing Namespace (kind 1/" in terminal and "listing Secret (kind " in terminal
    assert " objects, " in terminal and "objects/s" in terminal
    assert "\r\x1b[K" in terminal  # redrawn in place
    assert "listed 13 objects of " in terminal  # the summary line: 2 namespaces, 11 secrets
    assert "Traceback" not in terminal and "other-value" not in terminal

    piped = tierguard("audit", "--kubeconfig", kubeconfig, "--chunk-size", "2", "-o", "json")
    assert piped == (1, stdout, "")  # not a terminal: no progress, nothing on stderr; stdout unchanged
    assert json.loads(stdout)["summary"] == {"objects": 13, "denied": 2, "warned": 0}


def test_quiet_silences_the_terminal(api: FakeApiServer, tmp_path: Path) -> None:
    status, stdout, terminal = tierguard("audit", "--kubeconfig", str(api.kubeconfig(tmp_path)), "--quiet",
                                         stderr_tty=True)
    assert status == 1 and terminal == ""
    assert "13 objects checked: 2 denied, 0 warned" in stdout


def test_parity_lists_the_cluster_the_same_way(api: FakeApiServer, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(json.dumps({"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy",
                                  "metadata": {"name": "default"},
                                  "spec": {"sidecars": {"required": [{"name": "istio-proxy"}]}}}))
    status, stdout, terminal = tierguard("parity", "--kubeconfig", str(api.kubeconfig(tmp_path)), "--policy",
                                         str(policy), "--chunk-size", "3", stderr_tty=True)
    assert status == 0, stdout + terminal
    assert "listing Secret (kind " in terminal
    assert {r.limit for r in api.requests} == {3}
    assert [r.continued for r in api.requests if r.resource == "secrets"] == [False, True, True, True]


def test_an_expired_token_is_noted_even_without_a_terminal(tmp_path: Path) -> None:
    api = cluster()
    api.expire = {"secrets": [1]}
    with serving(api):
        status, stdout, stderr = tierguard("audit", "--kubeconfig", str(api.kubeconfig(tmp_path)), "--chunk-size",
                                           "4")
        quiet = tierguard("audit", "--kubeconfig", str(api.kubeconfig(tmp_path)), "--chunk-size", "4", "-q")
    assert status == 1 and "13 objects checked: 2 denied" in stdout
    assert stderr.count("\n") == 1 and stderr.startswith("note: listing Secret (v1) again from the start")
    assert quiet[0] == 1 and quiet[2] == ""  # --quiet: no notes either


def test_a_timeout_is_one_line_naming_the_kind_and_the_server(tmp_path: Path) -> None:
    api = cluster()
    api.delay_s = {"secrets": 5.0}
    with serving(api):
        status, stdout, stderr = tierguard("audit", "--kubeconfig", str(api.kubeconfig(tmp_path)),
                                           "--timeout", "0.5")
    assert (status, stdout) == (2, "")
    assert stderr == (f"error: cannot read the cluster at {api.url}: listing Secret (v1) failed: "
                      "no answer within 0.5s (--timeout)\n")


def test_a_refused_listing_is_one_line_on_a_terminal_too(tmp_path: Path) -> None:
    api = cluster()
    api.fail = {"secrets": (403, 'secrets is forbidden: User "auditor" cannot list resource "secrets"')}
    with serving(api):
        status, stdout, terminal = tierguard("parity", "--kubeconfig", str(api.kubeconfig(tmp_path)),
                                             stderr_tty=True)
    assert (status, stdout) == (2, "")
    last = terminal.replace("\r\x1b[K", "\n").strip().splitlines()[-1]
    assert last == (f"error: cannot read the cluster at {api.url}: listing Secret (v1) failed: HTTP 403 "
                    'Forbidden: secrets is forbidden: User "auditor" cannot list resource "secrets"')
    assert "Traceback" not in terminal


def test_no_server_is_one_line(tmp_path: Path) -> None:
    with serving(FakeApiServer()) as gone:
        kubeconfig = str(gone.kubeconfig(tmp_path))
    status, _, stderr = tierguard("audit", "--kubeconfig", kubeconfig, "--timeout", "2")
    assert status == 2 and stderr.startswith(f"error: cannot read the cluster at {gone.url}: cannot connect: ")
    assert stderr.count("\n") == 1 and "Traceback" not in stderr


def test_discovery_is_private_to_the_run(api: FakeApiServer, tmp_path: Path) -> None:
    """A discovery cache in the shared temp dir (the kubernetes client's default) would outlive the run and decide,
    for the next run against the same URL, which kinds get listed. Each run discovers anew and leaves none."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    kubeconfig = str(api.kubeconfig(tmp_path))
    env_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(scratch)
    try:
        status, stdout, _ = tierguard("audit", "--kubeconfig", kubeconfig, "-o", "json")
    finally:
        if env_tmp is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = env_tmp
    assert status == 1 and json.loads(stdout)["summary"]["objects"] == 13
    assert list(scratch.iterdir()) == []
