"""secret-replication-cross-tier: reflector, kubernetes-replicator, kubed/config-syncer, Sealed Secrets."""

from __future__ import annotations

import pytest

from tierguard.engine.model import Rule

from .helpers import Case, Doc, decisions, ids, namespace, secret, violations

REFLECTOR = "reflector.v1.k8s.emberstack.com/"
REPLICATOR = "replicator.v1.mittwald.de/"
SHAREABLE = {"tierguard.io/shareable": "true"}
R = Rule.SECRET_REPLICATION_CROSS_TIER.value


def synced(selector: str) -> Doc:
    return secret("prod", "db", {"user": "app"}, annotations={"kubed.appscode.com/sync": selector})


def reflector(ns: str = "prod", **annotations: str) -> Doc:
    return secret(ns, "db", {"user": "app"}, annotations={REFLECTOR + k: v for k, v in annotations.items()})


def replicator(ns: str = "prod", **annotations: str) -> Doc:
    return secret(ns, "db", {"user": "app"}, annotations={REPLICATOR + k: v for k, v in annotations.items()})


ALLOWED, AUTO = "reflection-allowed", "reflection-auto-enabled"
ALLOWED_NS, AUTO_NS = "reflection-allowed-namespaces", "reflection-auto-namespaces"


def _reflect(**notes: str) -> Doc:
    return reflector("prod", **{k.replace("_", "-"): v for k, v in notes.items()})


REFLECTOR_CASES = [
    Case("mirror in dev reflects a prod secret", [reflector("dev", reflects="prod/db")], {(R, "dev/db")}),
    Case("mirror reflects a secret of its own tier", [reflector("dev", reflects="dev-b/db")]),
    Case("mirror reflects an untiered secret", [reflector("dev", reflects="shared/db")], {(R, "dev/db")}),
    Case("mirror reflects from an unknown namespace", [reflector("dev", reflects="elsewhere/db")],
         {(R, "dev/db")}),
    Case("mirror without namespace reflects its own namespace", [reflector("dev", reflects="db-source")]),
    Case("allowed, no namespace list: every namespace", [_reflect(reflection_allowed="true")], {(R, "prod/db")}),
    Case("allowed, empty namespace list: every namespace",
         [_reflect(reflection_allowed="true", reflection_allowed_namespaces="")], {(R, "prod/db")}),
    Case("allowed into a prod namespace",
         [_reflect(reflection_allowed="true", reflection_allowed_namespaces="prod-b")]),
    Case("allowed into prod namespaces by regex",
         [_reflect(reflection_allowed="true", reflection_allowed_namespaces="prod-.*")]),
    Case("allowed into a dev namespace",
         [_reflect(reflection_allowed="true", reflection_allowed_namespaces="prod-b, dev")], {(R, "prod/db")}),
    Case("allowed by regex into dev-b and prod-b",
         [_reflect(reflection_allowed="true", reflection_allowed_namespaces=".*-b")], {(R, "prod/db")}),
    Case("regexes are anchored: 'prod' does not reach 'prod-b' nor others",
         [_reflect(reflection_allowed="true", reflection_allowed_namespaces="prod")]),
    Case("allowed into a namespace that does not exist yet",
         [_reflect(reflection_allowed="true", reflection_allowed_namespaces="prod-new")], {(R, "prod/db")}),
    Case("namespace list without reflection-allowed is inert",
         [_reflect(reflection_allowed="false", reflection_allowed_namespaces="dev")]),
    Case("allowed by label selector into dev",
         [_reflect(reflection_allowed="true", reflection_allowed_namespaces_selector="tierguard.io/tier=dev")],
         {(R, "prod/db")}),
    Case("allowed by label selector into prod",
         [_reflect(reflection_allowed="true", reflection_allowed_namespaces_selector="tierguard.io/tier=prod")]),
    Case("names and selector add up",
         [_reflect(reflection_allowed="true", reflection_allowed_namespaces="prod-b",
                   reflection_allowed_namespaces_selector="tierguard.io/tier in (qa)")], {(R, "prod/db")}),
    Case("auto-reflection stays within the allowed namespaces",
         [_reflect(reflection_allowed="true", reflection_allowed_namespaces="prod-b",
                   reflection_auto_enabled="true", reflection_auto_namespaces=".*")]),
    Case("auto-reflection everywhere that is allowed everywhere",
         [_reflect(reflection_allowed="true", reflection_auto_enabled="true")], {(R, "prod/db")}),
    Case("auto-reflection into prod only",
         [_reflect(reflection_allowed="true", reflection_allowed_namespaces="prod-b,dev",
                   reflection_auto_enabled="true", reflection_auto_namespaces="prod-b")],
         {(R, "prod/db")}),  # still reported: reflector lets dev pull it
    Case("auto without allowed does nothing",
         [_reflect(reflection_auto_enabled="true", reflection_auto_namespaces="dev")]),
    Case("shareable source may be reflected anywhere",
         [secret("prod", "ca", {"ca": "x"}, labels=SHAREABLE,
                 annotations={REFLECTOR + ALLOWED: "true", REFLECTOR + AUTO: "true"})]),
    Case("shareable mirror may reflect another tier",
         [secret("dev", "ca", {"ca": "x"}, labels=SHAREABLE, annotations={REFLECTOR + "reflects": "prod/ca"})]),
    Case("'True' is true, as reflector parses it",
         [_reflect(reflection_allowed="True", reflection_allowed_namespaces="dev")], {(R, "prod/db")}),
]

REPLICATOR_CASES = [
    Case("pull from prod into dev", [replicator("dev", **{"replicate-from": "prod/db"})], {(R, "dev/db")}),
    Case("pull within dev", [replicator("dev", **{"replicate-from": "dev-b/db"})]),
    Case("pull from untiered", [replicator("prod", **{"replicate-from": "shared/db"})], {(R, "prod/db")}),
    Case("consent for dev", [replicator(**{"replication-allowed": "true", "replication-allowed-namespaces": "dev"})],
         {(R, "prod/db")}),
    Case("consent for prod-b",
         [replicator(**{"replication-allowed": "true", "replication-allowed-namespaces": "prod-b"})]),
    Case("consent for a regex of prod namespaces",
         [replicator(**{"replication-allowed": "true", "replication-allowed-namespaces": "prod-[a-z]+"})]),
    Case("consent for every namespace by regex",
         [replicator(**{"replication-allowed": "true", "replication-allowed-namespaces": ".*"})], {(R, "prod/db")}),
    Case("consent without a namespace list: every namespace (older replicators)",
         [replicator(**{"replication-allowed": "true"})], {(R, "prod/db")}),
    Case("consent refused", [replicator(**{"replication-allowed": "false", "replication-allowed-namespaces": "dev"})]),
    Case("push to dev", [replicator(**{"replicate-to": "dev"})], {(R, "prod/db")}),
    Case("push to prod-b", [replicator(**{"replicate-to": "prod-b"})]),
    Case("push to names, one in qa", [replicator(**{"replicate-to": "prod-b,qa"})], {(R, "prod/db")}),
    Case("push by regex to prod", [replicator(**{"replicate-to": "prod-.*"})]),
    Case("push by regex reaching dev-b", [replicator(**{"replicate-to": ".*-b"})], {(R, "prod/db")}),
    Case("push to a namespace that does not exist yet", [replicator(**{"replicate-to": "prod-c"})],
         {(R, "prod/db")}),
    Case("push to nothing", [replicator(**{"replicate-to": ""})]),
    Case("push to matching prod namespaces",
         [replicator(**{"replicate-to-matching": "tierguard.io/tier=prod"})]),
    Case("push to matching dev namespaces",
         [replicator(**{"replicate-to-matching": "tierguard.io/tier=dev"})], {(R, "prod/db")}),
    Case("push by set selector",
         [replicator(**{"replicate-to-matching": "tierguard.io/tier in (prod, stage)"})], {(R, "prod/db")}),
    Case("push by notin selector reaching untiered",
         [replicator(**{"replicate-to-matching": "tierguard.io/tier notin (dev,qa,stage)"})], {(R, "prod/db")}),
    Case("push to namespaces without a tier",
         [replicator(**{"replicate-to-matching": "!tierguard.io/tier"})], {(R, "prod/db")}),
    Case("push by empty selector: everything",
         [replicator(**{"replicate-to-matching": ""})], {(R, "prod/db")}),
    Case("push by selector matching nothing", [replicator(**{"replicate-to-matching": "team=none"})]),
    Case("shareable may be pushed anywhere",
         [secret("prod", "ca", {"ca": "x"}, labels=SHAREABLE, annotations={REPLICATOR + "replicate-to": ".*"})]),
]

KUBED_SEALED_CASES = [
    Case("kubed sync everywhere", [synced("")], {(R, "prod/db")}),
    Case("kubed sync to prod namespaces", [synced("tierguard.io/tier=prod")]),
    Case("kubed sync to namespaces labelled for an app",
         [namespace("web-dev", "dev", labels={"app": "web"}), synced("app=web")],
         {(R, "prod/db")}),
    Case("kubed sync to a label no namespace has", [synced("app=web")]),
    Case("sealed cluster-wide", [secret("prod", "db", kind="SealedSecret",
                                        annotations={"sealedsecrets.bitnami.com/cluster-wide": "true"})],
         {(R, "prod/db")}),
    Case("sealed cluster-wide in the template", [
        {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {"name": "db", "namespace": "dev"},
         "spec": {"encryptedData": {"password": "AgBy3i4OJSWK+PiTySYZZA=="},
                  "template": {"metadata": {"annotations": {"sealedsecrets.bitnami.com/cluster-wide": "true"}}}}},
    ], {(R, "dev/db")}),
    Case("unsealed Secret carrying the cluster-wide scope",
         [secret("prod", "db", {"a": "b"}, annotations={"sealedsecrets.bitnami.com/cluster-wide": "true"})],
         {(R, "prod/db")}),
    Case("sealed namespace-wide", [secret("prod", "db", kind="SealedSecret",
                                          annotations={"sealedsecrets.bitnami.com/namespace-wide": "true"})]),
    Case("sealed strict (the default)", [secret("prod", "db", kind="SealedSecret")]),
    Case("cluster-wide false", [secret("prod", "db", kind="SealedSecret",
                                       annotations={"sealedsecrets.bitnami.com/cluster-wide": "false"})]),
]

CASES = REFLECTOR_CASES + REPLICATOR_CASES + KUBED_SEALED_CASES


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_replication(case: Case) -> None:
    assert case.run() == case.expected


def test_untiered_namespace_is_not_enforced_but_counts_as_a_target() -> None:
    """The copy in an untiered namespace is not judged; the prod source that consents to it is."""
    docs = [*Case("", []).docs, reflector("shared", reflects="prod/db"),
            secret("prod", "db", annotations={REFLECTOR + ALLOWED: "true", REFLECTOR + ALLOWED_NS: "shared"})]
    assert violations(docs) == {(R, "prod/db")}


def test_bad_selector_is_policy_invalid() -> None:
    docs = [*Case("", []).docs, replicator(**{"replicate-to-matching": "tier in (dev"})]
    assert violations(docs) == {("policy-invalid", "prod/db")}


def test_message_names_tiers_and_targets() -> None:
    docs = [*Case("", []).docs, replicator(**{"replicate-to": "dev,prod-b"})]
    messages = [v.message for _, d in decisions(docs) for v in d.violations]
    assert len(messages) == 1
    assert "Secret prod/db (tier prod)" in messages[0]
    assert "dev (tier dev)" in messages[0]
    assert "prod-b" not in messages[0]


def test_namespaces_reached_by_pattern_are_shown_to_the_requester_by_tier_only() -> None:
    """A pattern reaches namespaces the requester did not name: naming them would list other tiers' namespaces to
    someone who may not list namespaces (docs/security.md). The platform's message names them."""
    docs = [namespace("dev", "dev"), namespace("payments-prod", "prod"), namespace("payroll-qa", "qa"),
            namespace("pay-dev", "dev"),
            reflector("dev", **{ALLOWED: "true", ALLOWED_NS: "pay.*, staging-x"})]
    (violation,) = [v for _, d in decisions(docs) for v in d.violations]
    assert "payments-prod (tier prod)" in violation.message and "payroll-qa (tier qa)" in violation.message
    requester = violation.shown_to_requester
    assert "payments-prod" not in requester and "payroll-qa" not in requester, requester
    assert "2 namespaces (tier prod, tier qa) by pattern or selector" in requester
    assert "staging-x (not known, so untiered)" in requester  # written by the requester: named


def test_namespaces_the_requester_named_stay_named() -> None:
    docs = [namespace("dev", "dev"), namespace("payments-prod", "prod"),
            reflector("dev", **{ALLOWED: "true", ALLOWED_NS: "payments-prod"})]
    (violation,) = [v for _, d in decisions(docs) for v in d.violations]
    assert violation.requester_message is None
    assert "payments-prod (tier prod)" in violation.shown_to_requester
