"""secret-value-shared: the same value (by keyed fingerprint) in Secrets of different tiers."""

from __future__ import annotations

import pytest

from tierguard.engine.model import Rule
from tierguard.engine.offline import OfflineRun
from tierguard.engine.projection import project
from tierguard.policy import DEFAULT_POLICY, TierPolicy

from .helpers import FINGERPRINTER, Case, decisions, ids, policy, ref_of, secret

S = Rule.SECRET_VALUE_SHARED.value
PASSWORD = "correct-horse-battery-staple"  # 28 bytes, above the default minLength
BOTH = {(S, "prod/db"), (S, "dev/db")}
SA_TOKEN = "kubernetes.io/service-account-token"
SHAREABLE = {"tierguard.io/shareable": "true"}

CASES = [
    Case("same value in data, prod and dev", [secret("prod", "db", {"password": PASSWORD}),
                                              secret("dev", "db", {"password": PASSWORD})], BOTH),
    Case("data against stringData", [secret("prod", "db", {"password": PASSWORD}),
                                     secret("dev", "db", string_data={"password": PASSWORD})], BOTH),
    Case("stringData against data", [secret("prod", "db", string_data={"password": PASSWORD}),
                                     secret("dev", "db", {"password": PASSWORD})], BOTH),
    Case("stringData on both sides", [secret("prod", "db", string_data={"password": PASSWORD}),
                                      secret("dev", "db", string_data={"password": PASSWORD})], BOTH),
    Case("under different keys and names", [secret("prod", "db", {"password": PASSWORD}),
                                            secret("dev", "api", {"token": PASSWORD})],
         {(S, "prod/db"), (S, "dev/api")}),
    Case("different values", [secret("prod", "db", {"password": PASSWORD}),
                              secret("dev", "db", {"password": PASSWORD + "-dev"})]),
    Case("stringData overrides data for the same key",
         [secret("prod", "db", {"password": PASSWORD}),
          secret("dev", "db", {"password": PASSWORD}, string_data={"password": "dev-only-password-value"})]),
    Case("shorter than minLength", [secret("prod", "db", {"user": "application"}),
                                    secret("dev", "db", {"user": "application"})]),
    Case("exactly minLength", [secret("prod", "db", {"pin": "0123456789abcdef"}),
                               secret("dev", "db", {"pin": "0123456789abcdef"})], BOTH),
    Case("minLength lowered", [secret("prod", "db", {"user": "application"}),
                               secret("dev", "db", {"user": "application"})], BOTH,
         policy=policy({"secrets": {"fingerprints": {"minLength": 8}}})),
    Case("minLength raised", [secret("prod", "db", {"password": PASSWORD}),
                              secret("dev", "db", {"password": PASSWORD})],
         policy=policy({"secrets": {"fingerprints": {"minLength": 64}}})),
    Case("public certificate keys are ignored by default",
         [secret("prod", "tls", {"tls.crt": PASSWORD, "ca.crt": PASSWORD * 2}),
          secret("dev", "tls", {"tls.crt": PASSWORD, "ca.crt": PASSWORD * 2})]),
    Case("tls.key is compared", [secret("prod", "tls", {"tls.key": PASSWORD}),
                                 secret("dev", "tls", {"tls.key": PASSWORD})],
         {(S, "prod/tls"), (S, "dev/tls")}),
    Case("an ignored key on one side only is not compared",
         [secret("prod", "tls", {"ca.crt": PASSWORD}), secret("dev", "db", {"password": PASSWORD})]),
    Case("custom ignoreKeys", [secret("prod", "db", {"password": PASSWORD}),
                               secret("dev", "db", {"password": PASSWORD})],
         policy=policy({"secrets": {"fingerprints": {"ignoreKeys": ["password"]}}})),
    Case("custom ignoreKeys replace the defaults", [secret("prod", "tls", {"ca.crt": PASSWORD}),
                                                    secret("dev", "tls", {"ca.crt": PASSWORD})],
         {(S, "prod/tls"), (S, "dev/tls")}, policy=policy({"secrets": {"fingerprints": {"ignoreKeys": []}}})),
    Case("fingerprints disabled", [secret("prod", "db", {"password": PASSWORD}),
                                   secret("dev", "db", {"password": PASSWORD})],
         policy=policy({"secrets": {"fingerprints": {"enabled": False}}})),
    Case("shareable label on both", [secret("prod", "ca", {"bundle": PASSWORD}, labels=SHAREABLE),
                                     secret("dev", "ca", {"bundle": PASSWORD}, labels=SHAREABLE)]),
    Case("shareable label on one side exempts the pair",
         [secret("prod", "ca", {"bundle": PASSWORD}, labels={"tierguard.io/shareable": "true"}),
          secret("dev", "ca", {"bundle": PASSWORD})]),
    Case("shareable label value must match", [
        secret("prod", "ca", {"bundle": PASSWORD}, labels={"tierguard.io/shareable": "yes"}),
        secret("dev", "ca", {"bundle": PASSWORD})], {(S, "prod/ca"), (S, "dev/ca")}),
    Case("custom shareable labels", [secret("prod", "ca", {"bundle": PASSWORD}, labels={"public": "ca"}),
                                     secret("dev", "ca", {"bundle": PASSWORD}, labels={"public": "ca"})],
         policy=policy({"secrets": {"shareable": {"labels": {"public": "ca"}}}})),
    Case("the default shareable label means nothing under custom labels", [
        secret("prod", "ca", {"bundle": PASSWORD}, labels={"tierguard.io/shareable": "true"}),
        secret("dev", "ca", {"bundle": PASSWORD}, labels={"tierguard.io/shareable": "true"})],
        {(S, "prod/ca"), (S, "dev/ca")}, policy=policy({"secrets": {"shareable": {"labels": {"public": "ca"}}}})),
    Case("service-account tokens are ignored", [secret("prod", "sa", {"token": PASSWORD}, type_=SA_TOKEN),
                                                secret("dev", "sa", {"token": PASSWORD}, type_=SA_TOKEN)]),
    Case("a token against an ordinary Secret", [secret("prod", "sa", {"token": PASSWORD}, type_=SA_TOKEN),
                                                secret("dev", "db", {"token": PASSWORD})]),
    Case("same tier, two namespaces", [secret("dev", "db", {"password": PASSWORD}),
                                       secret("dev-b", "db", {"password": PASSWORD})]),
    Case("same value twice in one Secret", [secret("prod", "db", {"a": PASSWORD, "b": PASSWORD})]),
    Case("untiered holder counts as another tier", [secret("prod", "db", {"password": PASSWORD}),
                                                    secret("shared", "db", {"password": PASSWORD})],
         {(S, "prod/db")}),
    Case("value in an unknown namespace (untiered)", [secret("dev", "db", {"password": PASSWORD}),
                                                      secret("elsewhere", "db", {"password": PASSWORD})],
         {(S, "dev/db")}),
    Case("three tiers", [secret("prod", "db", {"password": PASSWORD}), secret("qa", "db", {"password": PASSWORD}),
                         secret("dev", "db", {"password": PASSWORD}), secret("dev-b", "db", {"password": PASSWORD})],
         {(S, "prod/db"), (S, "qa/db"), (S, "dev/db"), (S, "dev-b/db")}),
    Case("base64 folded over lines, as manifests write it (the API server ignores line breaks)", [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls", "namespace": "prod"},
         "data": {"tls.key": "Y29ycmVjdC1ob3Jz\nZS1iYXR0ZXJ5LXN0\r\nYXBsZQ==\n"}},
        secret("dev", "tls", {"tls.key": PASSWORD})], {(S, "prod/tls"), (S, "dev/tls")}),
    Case("binary values", [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "k", "namespace": "prod"},
         "data": {"key.der": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBka"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "k", "namespace": "dev"},
         "data": {"other.der": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBka"}},
    ], {(S, "prod/k"), (S, "dev/k")}),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_shared_values(case: Case) -> None:
    assert case.run() == case.expected


def test_message_names_key_and_other_holder_but_not_the_value() -> None:
    docs = [*Case("", []).docs, secret("prod", "db", {"password": PASSWORD}), secret("dev", "api", {"tok": PASSWORD})]
    found = {ref: [v.message for v in d.violations] for ref, d in decisions(docs) if d.violations}
    (prod_message,) = found["prod/db"]
    (dev_message,) = found["dev/api"]
    assert "'password'" in prod_message and "dev/api" in prod_message and "tier dev" in prod_message
    assert "'tok'" in dev_message and "prod/db" in dev_message and "tier prod" in dev_message
    assert PASSWORD not in prod_message + dev_message


def test_path_is_the_field_that_writes_the_key() -> None:
    """A key written under stringData is found there (SARIF's line), under data otherwise; stringData wins a key
    written in both, as the API server merges it."""
    other = secret("prod", "db", {"password": PASSWORD, "token": PASSWORD + "-t"})
    docs = [*Case("", []).docs, other,
            secret("dev", "string", string_data={"password": PASSWORD}),
            secret("dev", "plain", {"password": PASSWORD}),
            secret("dev", "both", {"token": PASSWORD + "-t"}, string_data={"token": PASSWORD + "-t"}),
            secret("dev", "nulled", {"token": PASSWORD + "-t"}, string_data={"token": None})]
    paths = {ref: [v.path for v in d.violations] for ref, d in decisions(docs) if ref.startswith("dev/")}
    assert paths == {"dev/string": ["stringData.password"], "dev/plain": ["data.password"],
                     "dev/both": ["stringData.token"], "dev/nulled": ["data.token"]}


REPO_URL = "https://github.com/argoproj/argocd-example-apps.git"


def shared_messages(key: str, value: str, pol: TierPolicy = DEFAULT_POLICY, **more: str) -> tuple[str, str]:
    """The dev Secret's message and what its requester reads, when prod holds the same values (dev's in stringData,
    prod's in data)."""
    values = {key: value, **more}
    docs = [*Case("", []).docs, secret("prod", "repo", values), secret("dev", "repo", string_data=values)]
    (violation,) = dict(decisions(docs, pol))["dev/repo"].violations
    assert value not in violation.message + violation.shown_to_requester
    return violation.message, violation.shown_to_requester


def test_a_shared_setting_is_not_told_to_issue_a_new_credential() -> None:
    message, shown = shared_messages("url", REPO_URL)
    assert message == ("Secret dev/repo (tier dev) holds in key 'url' the same value as Secret prod/repo (tier prod); "
                       "key 'url' looks like configuration, not a credential: label the Secret "
                       "tierguard.io/shareable=true if the value is public, or move it to a ConfigMap")
    assert shown == ("Secret dev/repo (tier dev) holds in key 'url' the same value as a Secret of tier prod; key "
                     "'url' looks like configuration, not a credential: label the Secret tierguard.io/shareable=true "
                     "if the value is public, or move it to a ConfigMap")


@pytest.mark.parametrize(("key", "value"), [
    ("username", "billing-service-account@example.com"),
    ("host", "postgres.billing.svc.cluster.local"),
    ("DATABASE_URL", "postgres://postgres.billing.svc:5432/billing?sslmode=require"),
    ("server", "https://kubernetes.default.svc"),
    ("upstream", "https://charts.bitnami.com/bitnami"),  # a name that says nothing, a value that is an address
])
def test_settings_by_key_name_or_value_shape(key: str, value: str) -> None:
    message, _ = shared_messages(key, value)
    assert f"key {key!r} looks like configuration, not a credential" in message
    assert "issue a separate credential" not in message


@pytest.mark.parametrize(("key", "secret_value", "plain_value"), [
    ("url", "https://x-access-token:correct-horse-battery@github.com/org/app.git", REPO_URL),  # a password in it
    ("url", "https://ghp0123456789abcdefABCDEF@github.com/org/app.git", REPO_URL),  # a token as the user name
    ("DATABASE_URL", "postgres://app:correct-horse-battery@postgres.billing.svc/billing",
     "postgres://postgres.billing.svc/billing"),
    ("alerts", "https://hooks.slack.com/services/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",
     "https://hooks.slack.com/services"),  # a token in the path
    ("repo", "https://storage.example.com/charts/index.yaml?X-Amz-Signature=0123456789abcdef",
     "https://storage.example.com/charts/index.yaml"),  # a signature in the query
])
def test_a_url_carrying_a_secret_is_a_credential(key: str, secret_value: str, plain_value: str) -> None:
    message, shown = shared_messages(key, secret_value)
    assert message.endswith("; issue a separate credential for each tier")
    assert shown.endswith("; issue a separate credential for each tier")
    message, _ = shared_messages(key, plain_value)
    assert f"key {key!r} looks like configuration, not a credential" in message


def test_a_key_named_for_a_credential_is_one_whatever_it_holds() -> None:
    for key in ("password", "tls.key", "sshPrivateKey", "api-token", "client_secret", ".dockerconfigjson"):
        message, _ = shared_messages(key, REPO_URL)
        assert message.endswith("; issue a separate credential for each tier"), key
    message, _ = shared_messages("source", REPO_URL)  # the same value under a name that says nothing
    assert "key 'source' looks like configuration" in message


def test_one_credential_among_settings_keeps_the_credential_advice() -> None:
    message, _ = shared_messages("url", REPO_URL, password=PASSWORD)
    assert message.endswith("holds in keys 'url', 'password' the same values as Secret prod/repo (tier prod); issue "
                            "a separate credential for each tier")
    message, _ = shared_messages("url", REPO_URL, username="billing-service-account@example.com")
    assert message.endswith("keys 'url', 'username' look like configuration, not a credential: label the Secret "
                            "tierguard.io/shareable=true if the values are public, or move them to a ConfigMap")


def test_the_advice_names_the_policys_shareable_labels() -> None:
    custom = policy({"secrets": {"shareable": {"labels": {"example.com/public": "yes", "tier-shared": "true"}}}})
    message, _ = shared_messages("url", REPO_URL, custom)
    assert message.endswith("label the Secret example.com/public=yes and tier-shared=true if the value is public, "
                            "or move it to a ConfigMap")
    none = policy({"secrets": {"shareable": {"labels": {}}}})
    message, _ = shared_messages("url", REPO_URL, none)
    assert message.endswith("key 'url' looks like configuration, not a credential: move it to a ConfigMap")


def test_without_the_values_at_hand_only_the_key_name_decides() -> None:
    """An audit's listing drops values as they arrive: a username is still a setting, but an address key may carry
    a password in its URL, so it keeps the credential's advice."""
    user = "billing-service-account@example.com"
    docs = [*Case("", []).docs, secret("prod", "repo", {"url": REPO_URL, "username": user}),
            secret("dev", "repo", {"url": REPO_URL}), secret("dev", "user", {"username": user})]
    run = OfflineRun([project(d, FINGERPRINTER) for d in docs], DEFAULT_POLICY, fingerprinter=FINGERPRINTER,
                     standing=True)
    messages = {ref_of(d): [v.message for v in run.decide(project(d, FINGERPRINTER)).violations] for d in docs[-2:]}
    (url,), (user,) = messages["dev/repo"], messages["dev/user"]
    assert url.endswith("; issue a separate credential for each tier")
    assert user.endswith("key 'username' looks like configuration, not a credential: label the Secret "
                         "tierguard.io/shareable=true if the value is public, or move it to a ConfigMap")


# --- values another cluster of the fleet holds (docs/fleet.md) --------------------------------------------------

def fleet_run(docs: list[dict[str, object]], published: dict[tuple[str, str], list[str]]) -> OfflineRun:
    """``docs`` judged in the member 'staging', the fleet having published ``published`` (member, tier) -> values."""
    from tierguard.engine.context import OfflineContext  # noqa: PLC0415
    from tierguard.engine.fingerprint_set import key_id  # noqa: PLC0415
    from tierguard.engine.fleet_sets import FleetSets  # noqa: PLC0415
    from tierguard.fleet.publication import hub_objects, read_hub_objects  # noqa: PLC0415

    run = OfflineRun(docs, DEFAULT_POLICY, fingerprinter=FINGERPRINTER)
    objects = [obj for (member, tier), values in published.items()
               for obj in hub_objects(member, tier, [FINGERPRINTER.digest(v.encode()) for v in values],
                                      key_id=key_id(FINGERPRINTER), generation=1)]
    tiers, problems = read_hub_objects(objects)
    assert problems == []
    assert isinstance(run.context, OfflineContext)
    run.context.fleet = FleetSets(tiers, key_ids=(key_id(FINGERPRINTER),), own_member="staging")
    return run


def test_a_value_the_prod_cluster_published_is_refused_in_another_tier_naming_only_that_cluster_and_tier() -> None:
    docs = [*Case("", []).docs, secret("dev", "db", {"password": PASSWORD}),
            secret("prod", "db", {"password": PASSWORD + "x"})]
    run = fleet_run(docs, {("prod-eu", "prod"): [PASSWORD, "another-long-enough-value"]})
    dev = run.decide(docs[-2])
    (violation,) = dev.violations
    assert violation.rule == Rule.SECRET_VALUE_SHARED and violation.path == "data.password"
    assert violation.message == ("Secret dev/db (tier dev) holds in key 'password' the same value as a Secret of "
                                 "cluster 'prod-eu' (tier prod), by the fingerprints that cluster publishes to the "
                                 "fleet; issue a separate credential for each tier")
    assert violation.shown_to_requester == violation.message and PASSWORD not in violation.message
    assert not run.decide(docs[-1]).violations  # the same tier in another cluster: one tier's value


def test_the_fleet_leaves_shareable_short_untiered_and_other_key_values_alone() -> None:
    short = "short-value"
    docs = [*Case("", []).docs, secret("dev", "pub", {"ca": PASSWORD}, labels=SHAREABLE),
            secret("dev", "pin", {"pin": short}), secret("untiered-ns", "db", {"password": PASSWORD})]
    run = fleet_run(docs, {("prod-eu", "prod"): [PASSWORD, short]})
    assert [run.decide(doc).violations for doc in docs[-3:]] == [(), (), ()]


def test_a_workload_consuming_such_a_secret_refers_to_its_finding() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "dev"},
           "spec": {"containers": [{"name": "app", "image": "app", "envFrom": [{"secretRef": {"name": "db"}}]}]}}
    docs = [*Case("", []).docs, secret("dev", "db", {"password": PASSWORD}), pod]
    run = fleet_run(docs, {("prod-eu", "prod"): [PASSWORD]})
    rules = [v.rule.value for v in run.decide(pod).violations]
    assert "workload-secret-cross-tier" in rules
