"""``tierguard check``: inputs, outputs, exit codes and error messages, through ``tierguard.commands.root.main``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tierguard.commands.root import main

from .manifests import MIRROR, NAMESPACES

CLEAN = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: dev}
data: {colour: blue}
"""
VOLUME = """\
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv}
spec:
  claimRef: {namespace: dev, name: data}
  csi: {driver: d, volumeHandle: h, nodeStageSecretRef: {name: creds, namespace: prod}}
"""




def write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def docs(*texts: str) -> str:
    return "---\n".join(texts)


# --- exit codes -------------------------------------------------------------------------------------------------

def test_exit_0_when_nothing_is_denied(run: Any, tmp_path: Path) -> None:
    code, out, err = run("check", "-f", write(tmp_path, "ok.yaml", docs(NAMESPACES, CLEAN)))
    assert (code, err) == (0, "")
    assert out == "3 objects checked: 0 denied, 0 warned\n"


def test_exit_1_when_something_is_denied(run: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", docs(NAMESPACES, MIRROR))
    code, out, _ = run("check", "-f", path)
    assert code == 1
    assert out.splitlines()[0].startswith(f"{path}#2 Secret dev/db: [secret-replication-cross-tier] Secret dev/db ")
    assert out.splitlines()[-1] == "3 objects checked: 1 denied, 0 warned"


def test_exit_0_when_violations_only_warn(run: Any, tmp_path: Path) -> None:
    policy = write(tmp_path, "policy.yaml", "spec: {enforcement: {default: warn}}\n")
    code, out, _ = run("check", "--policy", policy, "-f", write(tmp_path, "bad.yaml", docs(NAMESPACES, MIRROR)))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].endswith("(warn)") and "[secret-replication-cross-tier]" in lines[0]
    assert lines[-1] == "3 objects checked: 0 denied, 1 warned"


def test_audit_mode_reports_without_warning(run: Any, tmp_path: Path) -> None:
    policy = write(tmp_path, "policy.yaml", "spec: {enforcement: {perTier: {dev: audit}}}\n")
    code, out, _ = run("check", "--policy", policy, "-f", write(tmp_path, "bad.yaml", docs(NAMESPACES, MIRROR)))
    assert code == 0
    assert out.splitlines()[0].endswith("(audit)")
    assert out.splitlines()[-1] == "3 objects checked: 0 denied, 0 warned"


ERRORS: list[tuple[str, str, str]] = [
    # (file name, content, expected message fragment); "{path}" is replaced by the file's path
    ("broken.yaml", docs(NAMESPACES, "kind: Secret\nmetadata: {name: x\n"), "{path}#2: not valid YAML at line"),
    ("tab.yaml", docs(CLEAN, "apiVersion: v1\nkind: Secret\n\tmetadata: {}\n"), "{path}#1: not valid YAML"),
    ("list.yaml", docs(CLEAN, "- a\n- b\n"), "{path}#1: expected a Kubernetes object (a mapping), got list"),
    ("scalar.yaml", "just a string\n", "{path}#0: expected a Kubernetes object (a mapping), got str"),
    ("nokind.yaml", docs(CLEAN, "apiVersion: v1\nmetadata: {name: x}\n"), "{path}#1: missing or invalid kind"),
    ("noversion.yaml", "kind: Secret\nmetadata: {name: x}\n", "{path}#0: missing or invalid apiVersion"),
    ("numkind.yaml", "apiVersion: v1\nkind: 5\n", "{path}#0: missing or invalid kind"),
    ("items.yaml", "apiVersion: v1\nkind: List\nitems: {a: b}\n", "{path}#0: items of a List must be a list"),
    ("member.yaml", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap}\n- 7\n",
     "{path}#0.items[1]: expected a Kubernetes object (a mapping), got int"),
    ("member-kind.yaml", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1}\n",
     "{path}#0.items[0]: missing or invalid kind"),
]


@pytest.mark.parametrize(("name", "content", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_exit_2_on_unreadable_input(run: Any, tmp_path: Path, name: str, content: str, message: str) -> None:
    path = write(tmp_path, name, content)
    code, out, err = run("check", "-f", path)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message.format(path=path) in err
    assert err.count("\n") == 1


def test_exit_2_message_never_quotes_the_document(run: Any, tmp_path: Path) -> None:
    secret_text = "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\nstringData: {password: hunter2-is-my-password\n"
    code, _, err = run("check", "-f", write(tmp_path, "s.yaml", secret_text))
    assert code == 2 and "hunter2" not in err


@pytest.mark.parametrize(("policy", "fragment"), [
    ("spec: {tierLable: x}\n", "spec.tierLable: unknown field"),
    ("spec:\n  secrets:\n    fingerprints: {minLenght: 3}\n", "spec.secrets.fingerprints.minLenght: unknown field"),
    ("spec: {enforcement: {perTier: {prd: warn}}}\n", "spec.enforcement.perTier.prd: unknown tier 'prd'"),
    ("spec: {enforcement: {default: deny}}\n", "spec.enforcement.default: unknown mode 'deny'"),
    ("spec: [\n", "not valid YAML"),
    ("", "the policy document is empty"),
])
def test_exit_2_on_invalid_policy(run: Any, tmp_path: Path, policy: str, fragment: str) -> None:
    path = write(tmp_path, "policy.yaml", policy)
    code, out, err = run("check", "--policy", path, "-f", write(tmp_path, "ok.yaml", CLEAN))
    assert code == 2 and out == ""
    assert err == f"error: policy {path}: {fragment}" + err.split(fragment, 1)[1]
    assert fragment in err


def test_exit_2_on_missing_policy_file(run: Any, tmp_path: Path) -> None:
    code, _, err = run("check", "--policy", str(tmp_path / "nope.yaml"), "-f", write(tmp_path, "ok.yaml", CLEAN))
    assert code == 2 and "cannot read" in err and "nope.yaml" in err


def test_exit_2_on_nonexistent_path(run: Any, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.yaml")
    code, out, err = run("check", "-f", write(tmp_path, "ok.yaml", CLEAN), "-f", missing)
    assert (code, out, err) == (2, "", f"error: {missing}: no such file or directory\n")


@pytest.mark.parametrize(("value", "fragment"), [
    ("dev", "'dev': expected NS=TIER"),
    ("=prod", "expected NS=TIER"),
    ("dev=", "expected NS=TIER"),
    ("dev=prd", "unknown tier 'prd' (tiers are: dev, qa, stage, prod)"),
])
def test_exit_2_on_bad_namespace_tier(run: Any, value: str, fragment: str) -> None:
    code, out, err = run("check", "--namespace-tier", value, stdin=CLEAN)
    assert code == 2 and out == ""
    assert "--namespace-tier" in err and fragment in err


def test_namespace_tier_is_checked_against_the_policy_tiers(run: Any, tmp_path: Path) -> None:
    policy = write(tmp_path, "policy.yaml", "spec: {tiers: [test, live]}\n")
    assert run("check", "--policy", policy, "--namespace-tier", "a=live", stdin=CLEAN)[0] == 0
    code, _, err = run("check", "--policy", policy, "--namespace-tier", "a=prod", stdin=CLEAN)
    assert code == 2 and "tiers are: test, live" in err


@pytest.mark.parametrize("argv", [
    ("check", "--bogus"),
    ("check", "--output", "yaml"),
    ("check", "-f"),
    ("bogus-command",),
    (),
])
def test_exit_2_on_bad_usage(run: Any, argv: tuple[str, ...]) -> None:
    code, out, err = run(*argv, stdin=CLEAN)
    assert code == 2
    assert "Usage:" in out + err or err.startswith("Error: ")


@pytest.mark.parametrize("argv", [("--help",), ("check", "--help"), ("check", "-h"), ("--version",)])
def test_help_and_version(run: Any, argv: tuple[str, ...]) -> None:
    code, out, _ = run(*argv)
    assert code == 0 and out


def test_check_help_documents_exit_codes(run: Any) -> None:
    _, out, _ = run("check", "--help")
    assert "--namespace-tier" in out and "--policy" in out and "Exit status" in out


# --- inputs ---------------------------------------------------------------------------------------------------------

def sources(run: Any, *argv: str, stdin: str = "") -> list[str]:
    code, out, err = run("check", "-o", "json", *argv, stdin=stdin)
    assert code in (0, 1), err
    return [result["source"] for result in json.loads(out)["results"]]


def test_directory_is_read_recursively_in_sorted_order(run: Any, tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", CLEAN)
    write(tmp_path, "a/one.yml", docs(CLEAN, CLEAN))
    write(tmp_path, "a/deep/two.json", json.dumps(yaml.safe_load(CLEAN)))
    write(tmp_path, "notes.txt", "not a manifest")
    write(tmp_path, "README.md", "# not a manifest")
    write(tmp_path, "c.yaml.bak", "also: ignored")
    found = sources(run, "-f", str(tmp_path))
    root = str(tmp_path)
    assert found == [f"{root}/a/deep/two.json#0", f"{root}/a/one.yml#0", f"{root}/a/one.yml#1", f"{root}/b.yaml#0"]


def test_files_and_directories_in_the_order_given(run: Any, tmp_path: Path) -> None:
    first = write(tmp_path, "x/first.yaml", CLEAN)
    second = write(tmp_path, "second.yaml", CLEAN)
    assert sources(run, "-f", second, "-f", str(tmp_path / "x")) == [f"{second}#0", f"{first}#0"]


def test_stdin_with_dash_and_without_f(run: Any, tmp_path: Path) -> None:
    text = docs(NAMESPACES, MIRROR)
    expected = ["<stdin>#0", "<stdin>#1", "<stdin>#2"]
    assert sources(run, stdin=text) == expected
    assert sources(run, "-f", "-", stdin=text) == expected
    path = write(tmp_path, "ns.yaml", NAMESPACES)
    assert sources(run, "-f", path, "-f", "-", stdin=MIRROR) == [f"{path}#0", f"{path}#1", "<stdin>#0"]


def test_multi_document_with_empty_documents(run: Any) -> None:
    text = "---\n# nothing\n---\n" + CLEAN + "---\n---\n" + CLEAN
    assert sources(run, stdin=text) == ["<stdin>#1", "<stdin>#3"]  # empty documents keep their index


def test_kind_list_and_typed_lists(run: Any) -> None:
    member = yaml.safe_load(CLEAN)
    text = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [member, member]}) + "---\n" + \
        yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMapList", "items": [member]}) + "---\n" + \
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": []})
    assert sources(run, stdin=text) == ["<stdin>#0.items[0]", "<stdin>#0.items[1]", "<stdin>#1.items[0]"]


def test_json_input(run: Any) -> None:
    members = [yaml.safe_load(t) for t in [*NAMESPACES.split("---\n"), MIRROR]]
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": members})
    code, out, _ = run("check", stdin=text)
    assert code == 1 and "<stdin>#0.items[2] Secret dev/db" in out


def test_cross_object_rules_span_files(run: Any, tmp_path: Path) -> None:
    """Namespaces in one file give tiers to objects in another, as the cluster would."""
    write(tmp_path, "namespaces.yaml", NAMESPACES)
    write(tmp_path, "apps/volume.yaml", VOLUME)
    code, out, _ = run("check", "-f", str(tmp_path))
    assert code == 1 and "PersistentVolume pv: [volume-secret-cross-tier]" in out
    code, out, _ = run("check", "-f", str(tmp_path / "apps"))
    assert code == 0  # without the Namespaces, dev and prod are untiered


def test_namespace_tier_option(run: Any) -> None:
    assert run("check", stdin=MIRROR)[0] == 0  # dev is untiered: not enforced
    code, out, _ = run("check", "--namespace-tier", "dev=dev", stdin=MIRROR)
    assert code == 1 and "(untiered)" in out
    code, out, _ = run("check", "--namespace-tier", "dev=dev", "--namespace-tier", "prod=prod", stdin=MIRROR)
    assert code == 1 and "Secret prod/db (tier prod)" in out
    code, out, _ = run("check", "--namespace-tier", "dev=prod", "--namespace-tier", "prod=prod", stdin=MIRROR)
    assert code == 0


def test_namespace_tier_overrides_namespace_objects(run: Any) -> None:
    code, _, _ = run("check", "--namespace-tier", "dev=prod", stdin=docs(NAMESPACES, MIRROR))
    assert code == 0


# --- outputs --------------------------------------------------------------------------------------------------------

def test_text_line_format(run: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "all.yaml", docs(NAMESPACES, MIRROR, VOLUME, CLEAN))
    code, out, _ = run("check", "-f", path)
    lines = out.splitlines()
    assert code == 1 and len(lines) == 3
    assert lines[0].startswith(f"{path}#2 Secret dev/db: [secret-replication-cross-tier] ")
    assert lines[1].startswith(f"{path}#3 PersistentVolume pv: [volume-secret-cross-tier] PersistentVolume pv ")
    assert lines[2] == "5 objects checked: 2 denied, 0 warned"


def test_json_shape(run: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "all.yaml", docs(NAMESPACES, MIRROR, VOLUME, CLEAN))
    code, out, err = run("check", "-f", path, "--output", "json")
    assert code == 1 and err == ""
    document = json.loads(out)
    assert set(document) == {"results", "summary"}
    assert document["summary"] == {"objects": 5, "denied": 2, "warned": 0}
    results = document["results"]
    assert [r["source"] for r in results] == [f"{path}#{i}" for i in range(5)]
    for result in results:
        assert set(result) == {"object", "source", "allowed", "violations"}
        assert set(result["object"]) == {"apiVersion", "kind", "namespace", "name"}
        for violation in result["violations"]:
            assert set(violation) == {"rule", "action", "message", "path"}
    assert results[0] == {"object": {"apiVersion": "v1", "kind": "Namespace", "namespace": None, "name": "dev"},
                          "source": f"{path}#0", "allowed": True, "violations": []}
    mirror = results[2]
    assert mirror["object"] == {"apiVersion": "v1", "kind": "Secret", "namespace": "dev", "name": "db"}
    assert mirror["allowed"] is False
    (violation,) = mirror["violations"]
    assert violation["rule"] == "secret-replication-cross-tier" and violation["action"] == "deny"
    assert violation["path"] == "metadata.annotations[reflector.v1.k8s.emberstack.com/reflects]"
    assert results[3]["object"]["namespace"] is None  # PersistentVolume: cluster-scoped
    assert results[4] == {"object": {"apiVersion": "v1", "kind": "ConfigMap", "namespace": "dev",
                                     "name": "settings"}, "source": f"{path}#4", "allowed": True, "violations": []}


def test_json_counts_warnings(run: Any, tmp_path: Path) -> None:
    policy = write(tmp_path, "policy.yaml", "spec: {enforcement: {perTier: {dev: warn}}}\n")
    code, out, _ = run("check", "-o", "json", "--policy", policy, stdin=docs(NAMESPACES, MIRROR, VOLUME))
    document = json.loads(out)
    assert code == 0
    assert document["summary"] == {"objects": 4, "denied": 0, "warned": 2}
    assert [v["action"] for r in document["results"] for v in r["violations"]] == ["warn", "warn"]


def test_json_object_without_namespace_is_in_default(run: Any) -> None:
    code, out, _ = run("check", "-o", "json", stdin=CLEAN.replace(", namespace: dev", ""))
    assert code == 0 and json.loads(out)["results"][0]["object"]["namespace"] == "default"


def test_policy_invalid_object_is_reported_not_fatal(run: Any) -> None:
    text = docs(NAMESPACES, "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: dev}\ndata: {pw: '!!'}\n",
                CLEAN)
    code, out, _ = run("check", "-o", "json", stdin=text)
    results = json.loads(out)["results"]
    assert code == 1 and len(results) == 4
    assert results[2]["violations"][0]["rule"] == "policy-invalid"
    assert results[2]["violations"][0]["path"] == "data.pw"


def test_json_is_one_document_even_when_empty(run: Any) -> None:
    code, out, _ = run("check", "-o", "json", stdin="")
    assert code == 0 and json.loads(out) == {"results": [], "summary": {"objects": 0, "denied": 0, "warned": 0}}


# --- the installed console script --------------------------------------------------------------------------------

def test_console_script(tmp_path: Path) -> None:
    executable = shutil.which("tierguard") or str(Path(sys.executable).parent / "tierguard")
    assert Path(executable).exists(), "the tierguard console script is not installed (pip install -e .)"
    path = write(tmp_path, "all.yaml", docs(NAMESPACES, MIRROR))
    done = subprocess.run([executable, "check", "-f", path, "-o", "json"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["summary"] == {"objects": 3, "denied": 1, "warned": 0}
    done = subprocess.run([executable, "check", "-f", str(tmp_path / "missing")], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ")


def test_alias_bomb_is_refused_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: x}", "a: &a [x,x,x,x,x,x,x,x,x]"]
    previous = "a"
    for name in "bcdefghij":
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
        previous = name
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert main(["check", "-f", str(path)]) == 2
    assert "bomb.yaml#0: expands to more than" in capsys.readouterr().err


def test_oversized_input_is_refused_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tierguard.manifests.MAX_INPUT_BYTES", 1024)
    path = tmp_path / "big.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {k: " + "v" * 2000 + "}\n")
    assert main(["check", "-f", str(path)]) == 2
    assert "big.yaml: larger than" in capsys.readouterr().err
