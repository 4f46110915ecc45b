"""``tierguard parity -o html``: the page from manifests (offline) and from an API server, parsed as a DOM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fakes.apiserver import FakeApiServer, namespace, serving
from tests.support.parity_page import parse

from .conftest import Run

EXAMPLE = Path(__file__).parents[2] / "examples" / "istio-app"
TIMEOUT_S = 120


def test_the_istio_example_page_highlights_the_drifted_application(run: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(EXAMPLE)
    status, out, err = run("parity", "--policy", "policy.yaml", "-f", "namespaces.yaml", "-f", "good/", "-f", "drift/",
                           "-o", "html")
    assert (status, err) == (1, "")
    assert out.startswith("<!DOCTYPE html>") and out.endswith("</html>\n")
    page = parse(out)
    assert set(page.rows) == {"shop-api", "web"} and page.highlighted == {"shop-api"}
    assert page.states[("shop-api", "dev", "istio-proxy")] == "disabled"
    assert page.states[("shop-api", "prod", "istio-proxy")] == "injected"
    assert page.states[("web", "dev", "istio-proxy")] == "injected"


def test_html_json_and_text_agree(run: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(EXAMPLE)
    argv = ("parity", "--policy", "policy.yaml", "-f", "namespaces.yaml", "-f", "good/", "-f", "drift/")
    outputs: dict[str, Run] = {o: run(*argv, "-o", o) for o in ("text", "json", "html")}
    assert {status for status, _, _ in outputs.values()} == {1}
    document = json.loads(outputs["json"][1])
    assert {a["name"] for a in document["applications"] if a["diverges"]} == parse(outputs["html"][1]).highlighted == {
        "shop-api"}
    assert "shop-api     disabled  -   -      injected          dev lacks istio-proxy" in outputs["text"][1]


def test_html_is_offered_in_help(run: Any) -> None:
    status, out, _ = run("parity", "--help")
    assert status == 0 and "text|json|html" in out.replace(" ", "")


def pod(ns: str, name: str, containers: list[str], **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": c, "image": "x"} for c in containers]}}


def test_the_page_from_an_api_server(tmp_path: Path) -> None:
    api = FakeApiServer(objects={
        "namespaces": [namespace("dev", "dev"), namespace("prod", "prod")],
        "pods": [pod("dev", "debug-7", ["app"], app="debug"),
                 pod("prod", "debug-1", ["app", "istio-proxy"], app="debug"),
                 pod("prod", "<b>odd</b>", ["app", "istio-proxy"])],
    })
    policy = tmp_path / "policy.yaml"
    policy.write_text(json.dumps({"spec": {"sidecars": {"required": [{"name": "istio-proxy"}]}}}))
    with serving(api):
        done = subprocess.run([sys.executable, "-m", "tierguard", "parity", "--kubeconfig",
                               str(api.kubeconfig(tmp_path)), "--policy", str(policy), "-o", "html"],
                              capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
                              env={**os.environ, "KUBECONFIG": ""})
    assert done.returncode == 1, done.stderr
    page = parse(done.stdout)
    assert page.highlighted == {"debug"}
    assert page.states[("debug", "dev", "istio-proxy")] == "missing"
    assert "<b>odd</b>" in page.rows and "<b>" not in done.stdout


AMBIENT_EXAMPLE = Path(__file__).parents[2] / "examples" / "istio-ambient"


def page_state(html: str, application: str) -> str:
    return str(parse(html).states[(application, "dev", "istio-proxy")])


def test_a_service_provided_without_a_container_is_covered_in_every_rendering(run: Any, monkeypatch: Any) -> None:
    """examples/istio-ambient: dev's workloads are served by Istio ambient (``providedBy``), prod's injected; no gap,
    in text, JSON and HTML alike."""
    monkeypatch.chdir(AMBIENT_EXAMPLE)
    argv = ("parity", "--policy", "policy.yaml", "-f", "namespaces.yaml", "-f", "good/")
    outputs: dict[str, Run] = {o: run(*argv, "-o", o) for o in ("text", "json", "html")}
    assert {status for status, _, _ in outputs.values()} == {0}
    assert "web          provided  -   -      injected" in outputs["text"][1]
    document = json.loads(outputs["json"][1])
    assert document["complete"] is True and document["gaps"] == []
    # dev's waypoint (good/waypoint.yaml) runs the proxy itself: present.
    assert document["sidecars"]["istio-proxy"]["dev"] == {"present": 1, "provided": 2, "injected": 0, "missing": 0,
                                                          "disabled": 0}
    assert page_state(outputs["html"][1], "waypoint") == "present"
    page = parse(outputs["html"][1])
    assert page.states[("web", "dev", "istio-proxy")] == "provided"
    assert page.states[("web", "prod", "istio-proxy")] == "injected"
    assert page.highlighted == set()
