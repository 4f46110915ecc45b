"""``tierguard admission-policies``: the policies tierguard keeps printed, and ``--static DIR`` writing the
namespace rules where the API server reads its static manifests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tierguard.policy import DEFAULT_POLICY, load_policy_file
from tierguard.vap import Options, generate, generate_static
from tierguard.vap.static import FILE_NAME

POLICY = """\
apiVersion: tierguard.io/v1alpha1
kind: TierPolicy
metadata: {name: default}
spec:
  enforcement: {default: enforce, perTier: {qa: warn}}
  sidecars: {required: [{name: istio-proxy}]}
"""


def test_static_dir_gets_one_file_the_api_server_reads(run: Any, tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    target = tmp_path / "admission" / "static"
    code, out, err = run("admission-policies", "--policy", str(tmp_path / "policy.yaml"), "--static", str(target))
    assert (code, out) == (0, "")
    assert err == (f"wrote {target / FILE_NAME}: tierguard-namespaces-deny.static.k8s.io, "
                   "tierguard-namespaces-warn.static.k8s.io\n")
    assert os.listdir(target) == [FILE_NAME]  # no temporary file left behind
    text = (target / FILE_NAME).read_text()
    assert text.startswith("# The namespace rules of ")
    written = list(yaml.safe_load_all(text))
    expected = generate_static(load_policy_file(tmp_path / "policy.yaml"),
                               Options(own_namespace="tierguard-system", failure_policy="Fail"))
    assert written == expected


def test_rewriting_replaces_the_file(run: Any, tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    assert run("admission-policies", "--policy", str(tmp_path / "policy.yaml"), "--static", str(tmp_path))[0] == 0
    assert run("admission-policies", "--static", str(tmp_path), "--failure-policy", "Ignore")[0] == 0
    written = list(yaml.safe_load_all((tmp_path / FILE_NAME).read_text()))
    assert [m["metadata"]["name"] for m in written] == ["tierguard-namespaces-deny.static.k8s.io"] * 2
    assert written[0]["spec"]["failurePolicy"] == "Ignore"


def test_static_to_stdout(run: Any) -> None:
    code, out, _ = run("admission-policies", "--static", "-", "--prefix", "rel", "--namespace", "tg")
    assert code == 0
    assert list(yaml.safe_load_all(out)) == generate_static(DEFAULT_POLICY, Options(prefix="rel", own_namespace="tg",
                                                                                    failure_policy="Fail"))


def test_without_static_prints_what_tierguard_keeps_in_the_cluster(run: Any, tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    code, out, _ = run("admission-policies", "--policy", str(tmp_path / "policy.yaml"))
    assert code == 0
    assert list(yaml.safe_load_all(out)) == generate(load_policy_file(tmp_path / "policy.yaml"),
                                                     Options(own_namespace="tierguard-system"))


@pytest.mark.parametrize("argv", [["--prefix", "Tierguard"], ["--policy", "/no/such/policy.yaml"],
                                  ["--failure-policy", "Maybe"]])
def test_refusals_exit_2_and_write_nothing(run: Any, tmp_path: Path, argv: list[str]) -> None:
    code, _, err = run("admission-policies", "--static", str(tmp_path / "out"), *argv)
    assert code == 2 and err
    assert not (tmp_path / "out").exists()


def test_unwritable_dir_is_an_error_not_a_traceback(run: Any, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    code, _, err = run("admission-policies", "--static", str(tmp_path / "file" / "sub"))
    assert code == 2 and err.startswith(f"error: cannot write {tmp_path / 'file' / 'sub' / FILE_NAME}: ")
