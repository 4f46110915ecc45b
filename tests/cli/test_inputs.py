"""``tierguard check`` on inputs real users produce: parse errors that never echo a Secret's value, JSON that YAML
cannot read, pipes and ``/dev/stdin``, ``null`` entries in a Secret (issue 10, items 1-4)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from .manifests import MIRROR, NAMESPACES

PLANTED = "Xk9Qz7Wv3Lp2Rt8Ys"
"""A recognisable value; assertions only say whether it appears, never print it."""





def secret_with(field: str, line: str) -> str:
    return f"apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: dev}}\n{field}:\n  {line}\n"


# --- item 1: no parse error quotes a Secret's content -------------------------------------------------------------

LEAKY_LINES = [
    f"password: *{PLANTED}",          # an alias
    f"password: !{PLANTED}",          # a tag
    f"password: !!{PLANTED}",         # a secondary tag handle
    f"password: !x!{PLANTED}",        # an undefined tag handle
    f"password: @{PLANTED}",          # a reserved indicator
    f"password: `{PLANTED}",
    f"password: %{PLANTED}",
    f'password: "\\q{PLANTED}"',      # an unknown escape
    f'password: "\\x{PLANTED}"',      # an incomplete escape
    f"password: &{PLANTED} x\n  other: &{PLANTED} y",  # a duplicate anchor
    f"password: *{PLANTED}\n  token: !{PLANTED}x",
    f"{PLANTED}: [a, *b]",
    f"password: {PLANTED}\n\tpassword2: {PLANTED}",  # a tab
    f"password: {{{PLANTED}: *{PLANTED}}}",
    f"password: [{PLANTED}, *{PLANTED}]",
    f"password: *{PLANTED}%",
    f"password: '{PLANTED}",          # an unterminated quote
    f"password: |0\n  {PLANTED}",     # a bad block scalar indicator
]


@pytest.mark.parametrize("field", ["data", "stringData"])
@pytest.mark.parametrize("output", ["text", "json"])
@pytest.mark.parametrize("line", LEAKY_LINES, ids=range(len(LEAKY_LINES)))
def test_a_parse_error_never_quotes_secret_content(run: Any, tmp_path: Path, field: str, output: str,
                                                    line: str) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text(NAMESPACES + "---\n" + secret_with(field, line))
    code, out, err = run("check", "-f", str(path), "-o", output)
    leaked = PLANTED in out or PLANTED in err
    assert not leaked, "the planted value appears in the output"
    if code == 2:
        assert err.startswith(f"error: {path}#2: not valid YAML")


def test_a_parse_error_names_file_document_line_column_and_problem(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text(NAMESPACES + "---\n" + secret_with("stringData", f"password: *{PLANTED}"))
    code, out, err = run("check", "-f", str(path))
    assert (code, out) == (2, "")
    assert err == (f"error: {path}#2: not valid YAML at line 13, column 13: an unquoted value starts with '*', "
                   f"which YAML reads as an alias; quote the value\n")
    _, _, err = run("check", "-f", str(path), "-o", "json")
    assert "line 13, column 13" in err


def test_a_tagged_value_is_named_as_a_tag(run: Any) -> None:
    code, _, err = run("check", stdin=secret_with("data", f"password: !{PLANTED}"))
    assert code == 2 and "<stdin>#0: not valid YAML at line 5, column 13: an unquoted value starts with '!'" in err


def test_a_tab_is_named_as_a_tab(run: Any) -> None:
    code, _, err = run("check", stdin="apiVersion: v1\nkind: ConfigMap\n\tmetadata: {}\n")
    assert code == 2 and "a tab where YAML expects indentation" in err


def test_json_errors_quote_nothing(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    path.write_text('{"apiVersion": "v1", "kind": "Secret", "stringData": {"password": "\\q' + PLANTED + '"}}')
    code, out, err = run("check", "-f", str(path), "-o", "json")
    leaked = PLANTED in out or PLANTED in err
    assert not leaked, "the planted value appears in the output"
    assert code == 2 and err.startswith(f"error: {path}#0: not valid JSON at line 1, column ")


# --- item 2: JSON that YAML cannot read ---------------------------------------------------------------------------

TABBED_JSON = '{\n\t"apiVersion": "v1",\n\t"kind": "Secret",\n\t"metadata": {\n\t\t"name": "db",\n\t\t"namespace": ' \
    '"dev",\n\t\t"annotations": {"reflector.v1.k8s.emberstack.com/reflects": "prod/db"}\n\t}\n}\n'


def test_a_json_file_with_tab_indentation(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "mirror.json"
    path.write_text(TABBED_JSON)
    code, out, _ = run("check", "-f", str(path), "--namespace-tier", "dev=dev", "--namespace-tier", "prod=prod")
    assert code == 1 and f"{path}#0 Secret dev/db: [secret-replication-cross-tier]" in out


def test_a_json_file_with_several_values(run: Any, tmp_path: Path) -> None:
    namespaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": {"tierguard.io/tier": n}}}
                  for n in ("dev", "prod")]
    path = tmp_path / "all.json"
    path.write_text("\n".join(json.dumps(n) for n in namespaces) + "\n" + TABBED_JSON)
    code, out, _ = run("check", "-f", str(path))
    assert code == 1 and f"{path}#2 Secret dev/db" in out


def test_json_documents_on_stdin_and_in_a_yaml_stream(run: Any) -> None:
    code, out, _ = run("check", "--namespace-tier", "dev=dev", stdin=TABBED_JSON)
    assert code == 1 and "<stdin>#0 Secret dev/db" in out
    code, out, _ = run("check", stdin=NAMESPACES + "---\n" + TABBED_JSON)
    assert code == 1 and "<stdin>#2 Secret dev/db" in out


def test_flow_yaml_that_is_not_json_is_still_yaml(run: Any) -> None:
    flow = ("{apiVersion: v1, kind: Secret, metadata: {name: db, namespace: dev, annotations: "
            "{reflector.v1.k8s.emberstack.com/reflects: prod/db}}}\n")
    code, out, _ = run("check", stdin=NAMESPACES + "---\n" + flow)
    assert code == 1 and "<stdin>#2 Secret dev/db" in out


def test_invalid_json_file_exits_2_naming_line_and_column(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n\t"apiVersion": "v1",\n\t"kind": "ConfigMap",\n}\n')
    code, out, err = run("check", "-f", str(path))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {path}#0: not valid JSON at line 4, column 1: ")


def test_yaml_directives_stay_with_their_document(run: Any) -> None:
    code, out, _ = run("check", "-o", "json", stdin="%YAML 1.1\n---\n" + MIRROR)
    assert code == 0 and [r["source"] for r in json.loads(out)["results"]] == ["<stdin>#0"]


# --- item 3: any readable path ------------------------------------------------------------------------------------

def test_dev_stdin_reads_stdin(run: Any) -> None:
    code, out, _ = run("check", "-f", "/dev/stdin", stdin=NAMESPACES + "---\n" + MIRROR)
    assert code == 1 and "/dev/stdin#2 Secret dev/db" in out


def test_a_file_descriptor_path(run: Any) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, (NAMESPACES + "---\n" + MIRROR).encode())
    os.close(write_end)
    try:
        code, out, _ = run("check", "-f", f"/dev/fd/{read_end}")
    finally:
        os.close(read_end)
    assert code == 1 and f"/dev/fd/{read_end}#2 Secret dev/db" in out


def test_a_named_pipe(run: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "manifests"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "w") as stream:
            stream.write(NAMESPACES + "---\n" + MIRROR)

    writer = threading.Thread(target=feed)
    writer.start()
    code, out, _ = run("check", "-f", str(fifo))
    writer.join(timeout=10)
    assert code == 1 and f"{fifo}#2 Secret dev/db" in out


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for process substitution")
def test_process_substitution(tmp_path: Path) -> None:
    executable = shutil.which("tierguard") or str(Path(sys.executable).parent / "tierguard")
    path = tmp_path / "all.yaml"
    path.write_text(NAMESPACES + "---\n" + MIRROR)
    done = subprocess.run(["bash", "-c", f'"{executable}" check -f <(cat "{path}")'], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert "Secret dev/db: [secret-replication-cross-tier]" in done.stdout


def test_a_missing_path_still_exits_2(run: Any, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert run("check", "-f", str(missing)) == (2, "", f"error: {missing}: no such file or directory\n")
