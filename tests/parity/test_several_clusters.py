"""Several clusters' parity reports as one (``merge_reports``): a column per cluster and tier it has, every
cluster's reference column the yardstick together, the posture merged the same way."""

from __future__ import annotations

import json

from tierguard.parity import ParityReport, merge_reports, parity_report
from tierguard.policy import load_policy
from tierguard.render.parity import render_parity_json

from .test_parity import namespace
from .test_parity_matrix import TWO_SIDECARS, workload

PSA = "pod-security.kubernetes.io/enforce"


def report(*objects: dict[str, object]) -> ParityReport:
    return parity_report([(o, "cluster") for o in objects], TWO_SIDECARS)


def two_prod_clusters() -> ParityReport:
    """eu runs web with the proxy in prod, us with vault-agent in prod; staging runs it with neither in dev."""
    eu = report(namespace("shop", "prod", **{PSA: "restricted"}), workload("shop", "web", ["app", "istio-proxy"]))
    us = report(namespace("shop", "prod", **{PSA: "restricted"}), workload("shop", "web", ["app", "vault-agent"]))
    staging = report(namespace("web-dev", "dev", **{PSA: "baseline"}), workload("web-dev", "web", ["app"]))
    return merge_reports([("eu", eu), ("us", us), ("staging", staging)])


def test_only_the_tiers_a_cluster_has_are_columns() -> None:
    merged = two_prod_clusters()
    assert merged.tiers == ("eu/prod", "us/prod", "staging/dev")
    assert merged.columns["staging/dev"] == ("staging", "dev")
    assert [c for c in merged.tiers if merged.is_reference(c)] == ["eu/prod", "us/prod"]


def test_every_prod_column_is_the_yardstick() -> None:
    merged = two_prod_clusters()
    [web] = merged.rows()
    # Each prod cluster runs a different sidecar: the dev column lacks both; neither prod column lacks anything.
    assert merged.lacks(web, "staging/dev") == ("istio-proxy", "vault-agent")
    assert merged.lacks(web, "eu/prod") == () and merged.lacks(web, "us/prod") == ()
    assert merged.diverges(web)
    # Each column shows its own cluster's workloads.
    assert web.cells["eu/prod"].runs("istio-proxy") and not web.cells["us/prod"].runs("istio-proxy")
    assert merged.counts[("istio-proxy", "eu/prod")] != merged.counts[("istio-proxy", "us/prod")]


def test_the_posture_compares_each_column_with_every_prod_column() -> None:
    merged = two_prod_clusters()
    assert merged.posture.tiers == merged.tiers
    assert merged.posture.weaker("staging/dev") == (PSA,)
    assert merged.posture.weaker("eu/prod") == ()


def test_gaps_are_placed_in_their_column() -> None:
    merged = two_prod_clusters()
    assert {(g.tier, g.sidecar) for g in merged.gaps} == {
        ("eu/prod", "vault-agent"), ("us/prod", "istio-proxy"),
        ("staging/dev", "istio-proxy"), ("staging/dev", "vault-agent")}
    assert not merged.complete


def test_one_clusters_document_has_no_columns() -> None:
    alone = report(namespace("shop", "prod"), workload("shop", "web", ["app", "istio-proxy"]))
    assert "columns" not in json.loads(render_parity_json(alone))
    assert "columns" in json.loads(render_parity_json(merge_reports([("eu", alone)])))


def test_clusters_with_other_policies_show_every_sidecar_required_by_one() -> None:
    only_proxy = load_policy({"spec": {"sidecars": {"required": [{"name": "istio-proxy"}]}}})
    eu = parity_report([(namespace("shop", "prod"), "c"), (workload("shop", "web", ["app", "istio-proxy"]), "c")],
                       only_proxy)
    staging = report(namespace("web-dev", "dev"), workload("web-dev", "web", ["app", "vault-agent"]))
    merged = merge_reports([("eu", eu), ("staging", staging)])
    assert merged.sidecars == ("istio-proxy", "vault-agent")
    [web] = merged.rows()
    assert merged.lacks(web, "staging/dev") == ("istio-proxy",)
