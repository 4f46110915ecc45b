"""``tierguard audit`` and ``parity`` over several clusters (``--cluster NAME=KUBECONFIG``), each an API server of
``tests/fakes/apiserver.py``: a staging cluster (dev and stage) and a prod cluster (prod and stage), as issue 28's
fleet. A value held in one cluster's prod and the other's dev is a finding in both, naming the other cluster and
tier only; the same value in one tier of both clusters is none; parity has a column per cluster and tier."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.apiserver import FakeApiServer, namespace, secret, serving
from tests.support.parity_page import parse

PROD_PASSWORD = b"the-prod-database-password-0001"
STAGE_TOKEN = b"a-stage-token-both-clusters-hold"
SIDECAR_POLICY = {"spec": {"sidecars": {"required": [{"name": "istio-proxy"}]}}}


def pod(ns: str, name: str, containers: list[str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": c, "image": "x"} for c in containers]}}


def staging() -> FakeApiServer:
    return FakeApiServer(objects={
        "namespaces": [namespace("web-dev", "dev"), namespace("web-stage", "stage")],
        "secrets": [secret("web-dev", "copy", PROD_PASSWORD), secret("web-stage", "token", STAGE_TOKEN),
                    secret("web-dev", "own", b"a-value-only-staging-dev-holds")],
        "pods": [pod("web-dev", "web-1", ["app"])],
    })


def prod() -> FakeApiServer:
    return FakeApiServer(objects={
        "namespaces": [namespace("shop", "prod"), namespace("preview", "stage")],
        "secrets": [secret("shop", "primary", PROD_PASSWORD), secret("preview", "token", STAGE_TOKEN)],
        "pods": [pod("shop", "web-1", ["app", "istio-proxy"])],
    })


@pytest.fixture
def clusters(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``--cluster`` values of the prod cluster (``prod-eu``) and the staging cluster (``staging``), serving."""
    with ExitStack() as stack:
        values = []
        for name, api in (("prod-eu", prod()), ("staging", staging())):
            stack.enter_context(serving(api))
            (tmp_path / name).mkdir()
            values.append(f"{name}={api.kubeconfig(tmp_path / name)}")
        yield values[0], values[1]


@pytest.fixture(autouse=True)
def _no_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "")


def by_object(document: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["cluster"], r["object"]["namespace"], r["object"]["name"]): r for r in document["results"]
            if r["object"]["kind"] == "Secret"}


def test_a_value_of_one_clusters_prod_in_the_others_dev_is_a_finding_in_both(run: Any,
                                                                             clusters: tuple[str, str]) -> None:
    status, out, err = run("audit", "--cluster", clusters[0], "--cluster", clusters[1], "-o", "json")
    assert status == 1, err
    results = by_object(json.loads(out))
    copy = results[("staging", "web-dev", "copy")]
    assert copy["source"] == "cluster staging" and not copy["allowed"]
    [finding] = copy["violations"]
    assert finding["rule"] == "secret-value-shared"
    assert finding["message"].startswith(
        "Secret web-dev/copy (tier dev) holds in key 'value' the same value as a Secret of cluster 'prod-eu' "
        "(tier prod), by the fingerprints that cluster publishes to the fleet")
    assert "primary" not in finding["message"] and "shop" not in finding["message"]  # never the other's Secret
    # Offline there is no "first": the prod holder is told of the dev copy too, as within one cluster.
    [back] = results[("prod-eu", "shop", "primary")]["violations"]
    assert "as a Secret of cluster 'staging' (tier dev)" in back["message"]
    # The same value in one tier of both clusters is no finding; nor is a value only one cluster holds.
    assert results[("staging", "web-stage", "token")]["allowed"]
    assert results[("prod-eu", "preview", "token")]["allowed"]
    assert results[("staging", "web-dev", "own")]["allowed"]
    assert "the-prod-database" not in out + err and "stage-token" not in out + err


def test_each_cluster_alone_sees_nothing(run: Any, clusters: tuple[str, str]) -> None:
    """The findings above come from the other cluster's values, not from either cluster's own listing."""
    for value in clusters:
        status, out, _ = run("audit", "--cluster", value, "-o", "json")
        assert status == 0 and all(r["allowed"] for r in json.loads(out)["results"])


def test_text_prefixes_each_finding_with_its_cluster(run: Any, clusters: tuple[str, str]) -> None:
    status, out, _ = run("audit", "--cluster", clusters[1], "--cluster", clusters[0])
    assert status == 1
    lines = out.splitlines()
    assert lines[0].startswith("cluster staging Secret web-dev/copy: [secret-value-shared] ")
    assert lines[1].startswith("cluster prod-eu Secret shop/primary: [secret-value-shared] ")
    assert lines[-1] == "11 objects checked: 2 denied, 0 warned"


def test_one_cluster_keeps_specs_json(run: Any, clusters: tuple[str, str]) -> None:
    """``--kubeconfig``: SPEC's result keys, no ``cluster``, the source ``cluster``, as before."""
    status, out, _ = run("audit", "--kubeconfig", clusters[1].partition("=")[2], "-o", "json")
    assert status == 0
    results = json.loads(out)["results"]
    assert results and all(list(r) == ["object", "source", "allowed", "violations"] for r in results)
    assert {r["source"] for r in results} == {"cluster"}


def test_parity_has_a_column_per_cluster_and_tier(run: Any, clusters: tuple[str, str], tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(json.dumps(SIDECAR_POLICY))
    common = ("parity", "--cluster", clusters[0], "--cluster", clusters[1], "--policy", str(policy))
    status, page_html, err = run(*common, "-o", "html")
    assert status == 1, err
    page = parse(page_html)
    assert page.states[("web", "prod-eu/prod", "istio-proxy")] == "present"
    assert page.states[("web", "staging/dev", "istio-proxy")] == "missing"
    assert page.highlighted == {"web"}  # staging/dev lacks what the prod column runs
    heads = [t for t, a in page.tags if t == "th" and a.get("class") == "reference"]
    assert heads, "the prod column is the reference"
    assert "Clusters: <code>prod-eu</code>, <code>staging</code>" in page_html

    _, out, _ = run(*common, "-o", "json")
    document = json.loads(out)
    assert document["columns"]["staging/dev"] == {"cluster": "staging", "tier": "dev"}
    # Clusters in the order given, each one's tiers in its policy's order: only the tiers it has.
    assert list(document["columns"]) == ["prod-eu/stage", "prod-eu/prod", "staging/dev", "staging/stage"]
    [row] = document["applications"]
    assert row["tiers"]["staging/dev"]["lacks"] == ["istio-proxy"]
    assert document["posture"]["tiers"].keys() == document["columns"].keys()

    _, text, _ = run(*common)
    assert text.splitlines()[0].split() == ["required", "sidecar", "prod-eu/stage", "prod-eu/prod", "staging/dev",
                                            "staging/stage"]
    assert "prod-eu/prod (reference)" in text
    assert "cluster staging Pod web-dev/web-1: istio-proxy missing (tier staging/dev)" in text


@pytest.mark.parametrize(("args", "says"), [
    (["--cluster", "staging"], "'staging': expected NAME=KUBECONFIG"),
    (["--cluster", "=kubeconfig"], "expected NAME=KUBECONFIG"),
    (["--cluster", "staging="], "expected NAME=KUBECONFIG"),
    (["--cluster", "Prod_EU=kubeconfig"], "the name 'Prod_EU' is not a DNS label"),
    (["--cluster", "a=x", "--cluster", "a=y"], "the name 'a' is given twice"),
    (["--cluster", "a=x", "--kubeconfig", "y"], "--kubeconfig and --cluster exclude each other"),
])
@pytest.mark.parametrize("command", ["audit", "parity"])
def test_bad_cluster_arguments_are_usage_errors(run: Any, command: str, args: list[str], says: str) -> None:
    status, out, err = run(command, *args)
    assert (status, out) == (2, "")
    assert "Error: Invalid value for --cluster: " in err and says in err and "Traceback" not in err


def test_policyreports_are_of_one_cluster(run: Any) -> None:
    status, _, err = run("audit", "--cluster", "a=x", "--cluster", "b=y", "-o", "policyreport")
    assert status == 2 and "PolicyReports describe one cluster" in err and "--output" in err


def test_parity_takes_manifests_or_clusters(run: Any, tmp_path: Path) -> None:
    status, _, err = run("parity", "-f", str(tmp_path), "--cluster", "a=x")
    assert status == 2 and "give one or the other" in err


def test_an_unreachable_cluster_is_one_line_naming_it(run: Any, tmp_path: Path) -> None:
    with serving(FakeApiServer()) as gone:
        unreachable = str(gone.kubeconfig(tmp_path))
    with serving(prod()) as api:
        (tmp_path / "prod").mkdir()
        status, out, err = run("audit", "--cluster", f"prod-eu={api.kubeconfig(tmp_path / 'prod')}",
                               "--cluster", f"staging={unreachable}", "--timeout", "2", "-q")
    assert (status, out) == (2, "")
    assert err.startswith(f"error: cluster staging: cannot read the cluster at {gone.url}: cannot connect: ")
    assert err.count("\n") == 1


def test_a_kubeconfig_context_picks_the_cluster(run: Any, tmp_path: Path) -> None:
    """``NAME=KUBECONFIG#CONTEXT``: one kubeconfig holding both clusters, each picked by its context."""
    with serving(prod()) as prod_api, serving(staging()) as staging_api:
        config: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "current-context": "nowhere",
                                  "clusters": [], "users": [{"name": "u", "user": {"token": "t"}}], "contexts": []}
        for name, api in (("prod", prod_api), ("staging", staging_api), ("nowhere", FakeApiServer(url="http://127.0.0.1:9"))):
            config["clusters"].append({"name": name, "cluster": {"server": api.url}})
            config["contexts"].append({"name": name, "context": {"cluster": name, "user": "u"}})
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(json.dumps(config))
        status, out, err = run("audit", "--cluster", f"prod-eu={kubeconfig}#prod",
                               "--cluster", f"staging={kubeconfig}#staging", "-o", "json")
    assert status == 1, err
    assert ("staging", "web-dev", "copy") in by_object(json.loads(out))
