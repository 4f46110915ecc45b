"""``tierguard access`` as a user runs it: offline from manifests (text, JSON and HTML agree; exit statuses; bad
input named), and from an API server (``tests/fakes/apiserver.py``): only namespaces, roles and bindings are
listed, in pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.apiserver import FakeApiServer, namespace, secret, serving
from tests.support.access_page import parse
from tests.support.pty_capture import run_with_stderr_on_a_terminal

from .conftest import Run

EXAMPLE = Path(__file__).parents[2] / "examples" / "access"
EXAMPLE_ARGS = ("--policy", "policy.yaml", "-f", "namespaces.yaml", "-f", "roles/", "-f", "good/")
TIMEOUT_S = 120


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(EXAMPLE)
    return EXAMPLE


def test_good_bindings_exit_0_and_drift_exits_1(run: Any, example: Path) -> None:
    assert run("access", *EXAMPLE_ARGS)[0] == 0
    status, out, err = run("access", *EXAMPLE_ARGS, "-f", "drift/")
    assert (status, err) == (1, "")
    assert out.splitlines()[-1] == "access: 2 cross-tier reach(es) by 2 subject(s)"


def test_text_json_and_html_agree(run: Any, example: Path) -> None:
    outputs: dict[str, Run] = {o: run("access", *EXAMPLE_ARGS, "-f", "drift/", "-o", o)
                               for o in ("text", "json", "html")}
    assert {status for status, _, _ in outputs.values()} == {1}
    document = json.loads(outputs["json"][1])
    crossing = {f"{s['subject']['kind']} {s['subject']['namespace'] + '/' if s['subject']['namespace'] else ''}"
                f"{s['subject']['name']}" for s in document["subjects"] if s["crosses"]}
    page = parse(outputs["html"][1])
    assert crossing == page.highlighted == {"User dana@example.com", "ServiceAccount payments-dev/ci"}
    assert page.cells[("User dana@example.com", "prod")].paths == ("exec",)
    text = outputs["text"][1]
    assert "User dana@example.com" in text and "!exec" in text
    assert [r["binding"]["name"] for r in document["reaches"] if r["crosses"]] == ["incident-4711",
                                                                                  "ci-reads-secrets"]


def test_the_readme_shows_the_example_as_it_is(run: Any, example: Path) -> None:
    readme = (EXAMPLE.parents[1] / "README.md").read_text()
    command = "$ tierguard access --policy policy.yaml -f namespaces.yaml -f roles/ -f good/ -f drift/\n"
    shown = readme.split(command, 1)[1].split("```", 1)[0]
    status, out, _ = run("access", *EXAMPLE_ARGS, "-f", "drift/")
    assert status == 1 and shown == out


def test_namespace_tier_declares_what_the_input_lacks(run: Any, example: Path) -> None:
    args = ("access", "--policy", "policy.yaml", "-f", "roles/", "-f", "drift/", "-o", "json")
    untiered = json.loads(run(*args)[1])
    assert untiered["clean"] is True  # without namespaces, every binding is in an untiered namespace...
    status, out, _ = run(*args, "--namespace-tier", "payments-prod=prod")
    assert status == 1  # ... until payments-prod is declared prod: dana (dev) reaches it
    assert [r["subject"]["name"] for r in json.loads(out)["reaches"] if r["crosses"]] == ["dana@example.com"]


def test_help(run: Any) -> None:
    status, out, _ = run("access", "--help")
    assert status == 0 and "text|json|html" in out.replace(" ", "")
    assert "Exit status: 0 no reach crosses tiers, 1 one does, 2" in " ".join(out.split())


@pytest.mark.parametrize(("content", "fragment"), [
    ("kind: RoleBinding\n  bad: [", "bad.yaml"),
    ("- just\n- a list\n", "bad.yaml"),
])
def test_unreadable_input_exits_2_naming_the_file(run: Any, tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    status, out, err = run("access", "-f", str(path))
    assert (status, out) == (2, "")
    assert err.startswith("error: ") and fragment in err


def test_a_missing_file_exits_2(run: Any, tmp_path: Path) -> None:
    status, _, err = run("access", "-f", str(tmp_path / "nope.yaml"))
    assert status == 2 and "nope.yaml" in err


def test_an_invalid_policy_exits_2_naming_it(run: Any, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("spec: {subjects: {perTier: {live: {groups: [a]}}}}\n")
    status, out, err = run("access", "--policy", str(policy), "-f", str(EXAMPLE / "good"))
    assert (status, out) == (2, "")
    assert err.startswith(f"error: policy {policy}: spec.subjects.perTier.live")


def test_a_bad_namespace_tier_exits_2(run: Any) -> None:
    status, _, err = run("access", "-f", str(EXAMPLE / "good"), "--namespace-tier", "payments-prod=live")
    assert status == 2 and "--namespace-tier" in err and "unknown tier 'live'" in err


# --- from a cluster ----------------------------------------------------------------------------------------------

def rbac(kind: str, name: str, ns: str | None = None, **fields: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "uid": f"uid-{kind}-{ns}-{name}"}
    if ns is not None:
        metadata["namespace"] = ns
    return {"metadata": metadata, **fields}


def role_ref(kind: str, name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}


def cluster() -> FakeApiServer:
    reader = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]
    return FakeApiServer(objects={
        "namespaces": [namespace("dev", "dev"), namespace("prod", "prod")],
        "secrets": [secret("prod", "db", b"never-listed-by-access")],
        "clusterroles": [rbac("ClusterRole", "reader", rules=reader)],
        "roles": [rbac("Role", "exec", "prod",
                       rules=[{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}])],
        "rolebindings": [
            rbac("RoleBinding", f"b{i}", "prod", roleRef=role_ref("Role", "exec"),
                 subjects=[{"kind": "ServiceAccount", "name": f"sa{i}", "namespace": "dev" if i == 3 else "prod"}])
            for i in range(5)],
        "clusterrolebindings": [rbac("ClusterRoleBinding", "<b>all</b>", roleRef=role_ref("ClusterRole", "reader"),
                                     subjects=[{"kind": "Group", "name": "system:authenticated"}])],
    })


def tierguard(api: FakeApiServer, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tierguard", "access", "--kubeconfig", str(api.kubeconfig(tmp_path)),
                           *args], capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
                          env={**os.environ, "KUBECONFIG": ""})


def test_from_a_cluster_in_pages_without_listing_secrets(tmp_path: Path) -> None:
    with serving(cluster()) as api:
        done = tierguard(api, tmp_path, "--chunk-size", "2", "-o", "json")
    assert (done.returncode, done.stderr) == (1, "")  # not a terminal: no progress line
    document = json.loads(done.stdout)
    crossing = sorted((r["subject"]["name"], r["binding"]["name"], r["crosses"]) for r in document["reaches"]
                      if r["crosses"])
    assert crossing == [("sa3", "b3", ["prod"]), ("system:authenticated", "<b>all</b>", ["dev", "qa", "stage", "prod"])]
    listed = {r.resource for r in api.requests}
    assert listed == {"namespaces", "roles", "clusterroles", "rolebindings", "clusterrolebindings"}
    assert [r.continued for r in api.requests if r.resource == "rolebindings"] == [False, True, True]
    assert {r.limit for r in api.requests} == {2}


def test_progress_on_a_terminal_names_only_the_kinds_it_lists(tmp_path: Path) -> None:
    with serving(cluster()) as api:
        command = [sys.executable, "-m", "tierguard", "access", "--kubeconfig", str(api.kubeconfig(tmp_path))]
        status, stdout, terminal = run_with_stderr_on_a_terminal(command, {**os.environ, "KUBECONFIG": "",
                                                                           "TERM": "xterm"}, TIMEOUT_S)
    assert status == 1, terminal
    assert "listing RoleBinding (kind " in terminal and "listed 10 objects of 5 kinds" in terminal
    assert "Secret" not in terminal
    assert stdout.splitlines()[-1] == "access: 2 cross-tier reach(es) by 2 subject(s)"


def test_the_page_from_a_cluster(tmp_path: Path) -> None:
    with serving(cluster()) as api:
        done = tierguard(api, tmp_path, "-o", "html", "--quiet")
    assert done.returncode == 1, done.stderr
    page = parse(done.stdout)
    assert page.highlighted == {"ServiceAccount dev/sa3", "Group system:authenticated"}
    assert page.cells[("Group system:authenticated", "prod")].paths == ("read-secrets",)
    assert page.cells[("ServiceAccount prod/sa1", "prod")].paths == ("exec",)
    assert not page.cells[("ServiceAccount prod/sa1", "prod")].crosses
    assert "<b>all</b>" not in done.stdout


def test_a_listing_that_fails_exits_2_naming_the_kind(tmp_path: Path) -> None:
    api = cluster()
    api.fail["rolebindings"] = (403, "rolebindings.rbac.authorization.k8s.io is forbidden")
    with serving(api):
        done = tierguard(api, tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(f"error: cannot read the cluster at {api.url}: listing RoleBinding "
                                  f"(rbac.authorization.k8s.io/v1) failed: HTTP 403")
    assert "Traceback" not in done.stderr
