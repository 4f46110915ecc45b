"""tierguard at the admission boundary of a real API server, driven by real `kubectl apply`.

Every rule id has a refused and an admitted object; then warnings, hot reload, break-glass, dry-run, an
unknown webhook path, and finally that no planted secret value reached tierguard's logs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tierguard.webhook.value_oracle import LIMITED_MESSAGE

from .support.kube import Cluster
from .support.tierguard import (
    NAMESPACE,
    SELECTOR,
    TIER_LABEL,
    apply,
    assert_admitted,
    assert_refused,
    current_policy,
    eventually,
    policy,
    registered_webhook,
    secret,
    secret_value,
    tierguard_logs,
    webhook_client_config,
)

PLANTED: list[str] = []
NamespaceFactory = Callable[..., str]


def planted() -> str:
    value = secret_value()
    PLANTED.append(value)
    return value


def tiered(namespace: NamespaceFactory, tier: str, **labels: str) -> str:
    return namespace(labels={TIER_LABEL: tier, **labels})


def pod(ns: str, name: str = "web", **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, **metadata},
            "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}}


def deployment(ns: str, name: str = "web", pod_labels: dict[str, str] | None = None,
               containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    labels = {"app": name, **(pod_labels or {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": containers or [
                                      {"name": "app", "image": "registry.k8s.io/pause:3.10"}]}}}}


# --- namespaces -------------------------------------------------------------------------------------------

def test_namespace_tier_unknown(cluster: Cluster, namespace: NamespaceFactory) -> None:
    name = f"tg-e2e-{uuid.uuid4().hex[:8]}"
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {TIER_LABEL: "prd"}}}
    assert_refused(apply(cluster, manifest), "namespace-tier-unknown")
    assert tiered(namespace, "prod")  # a known tier is admitted


def test_namespace_tier_change_and_removal_refused(cluster: Cluster, namespace: NamespaceFactory) -> None:
    ns = tiered(namespace, "prod")
    changed = cluster.kubectl("label", "namespace", ns, f"{TIER_LABEL}=dev", "--overwrite", check=False)
    assert_refused(changed, "namespace-tier-changed")
    removed = cluster.kubectl("label", "namespace", ns, f"{TIER_LABEL}-", check=False)
    assert_refused(removed, "namespace-tier-changed")
    other = cluster.kubectl("label", "namespace", ns, "team=payments", check=False)
    assert_admitted(other)
    untiered = namespace()
    assert_admitted(cluster.kubectl("label", "namespace", untiered, f"{TIER_LABEL}=dev", check=False))


# --- secrets ----------------------------------------------------------------------------------------------

def test_secret_replication_cross_tier(cluster: Cluster, namespace: NamespaceFactory) -> None:
    dev, dev2, prod = tiered(namespace, "dev"), tiered(namespace, "dev"), tiered(namespace, "prod")
    mirror = secret(dev, "db", planted(), **{"reflector.v1.k8s.emberstack.com/reflects": f"{prod}/db"})
    assert_refused(apply(cluster, mirror), "secret-replication-cross-tier")
    same_tier = secret(dev, "db", planted(), **{"reflector.v1.k8s.emberstack.com/reflects": f"{dev2}/db"})
    assert_admitted(apply(cluster, same_tier))


def test_secret_value_shared_refused_only_in_second_tier(cluster: Cluster, namespace: NamespaceFactory) -> None:
    value = planted()
    prod, prod2, dev = tiered(namespace, "prod"), tiered(namespace, "prod"), tiered(namespace, "dev")
    assert_admitted(apply(cluster, secret(prod, "db", value)))
    assert_admitted(apply(cluster, secret(prod2, "db", value)))  # same tier: fine
    result = eventually(lambda: _refused_shared(cluster, secret(dev, "db", value)))
    # SPEC: the requester learns that a Secret of another tier holds the value, never which one (a guess of a
    # prod credential must not be confirmed with its location); tierguard's own log names it for the platform.
    assert "a Secret of tier prod" in result.stderr, result.stderr
    assert f"{prod}/db" not in result.stderr and f"{prod2}/db" not in result.stderr, result.stderr
    assert value not in result.stderr

    def holder_logged() -> None:
        lines = [line for line in tierguard_logs(cluster).splitlines()
                 if "secret-value-shared" in line and f"{dev}/db" in line]
        assert any(f"{prod}/db" in line or f"{prod2}/db" in line for line in lines), lines[-3:]
        assert not any(value in line for line in lines)

    eventually(holder_logged)


def test_secret_value_shared_within_one_apply(cluster: Cluster, namespace: NamespaceFactory) -> None:
    """Both Secrets in one `kubectl apply -f`: the second must be refused although the watch is not that fast."""
    value = planted()
    prod, dev = tiered(namespace, "prod"), tiered(namespace, "dev")
    documents = "\n---\n".join(json.dumps(secret(ns, "db", value)) for ns in (prod, dev))
    result = cluster.kubectl("apply", "-f", "-", input=documents, check=False)
    assert "secret/db created" in result.stdout  # the first one
    assert_refused(result, "secret-value-shared")
    assert cluster.kubectl("get", "secret", "db", "-n", dev, check=False).returncode != 0


def shared_value_budget(cluster: Cluster) -> tuple[int, int]:
    """(answers per user and replica, replicas) of the installed chart."""
    (deployment,) = cluster.get_json("deployments", "-n", NAMESPACE, "-l", SELECTOR)["items"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    limit = next((int(a.split("=", 1)[1]) for a in args if a.startswith("--shared-value-answers=")), 10)
    return limit, int(deployment["spec"]["replicas"])


def test_shared_value_guesses_are_bounded_per_user_and_recorded(cluster: Cluster,
                                                                 namespace: NamespaceFactory) -> None:
    """A dev user guessing a prod credential (issue 27, the value oracle): each answer names the other tier only,
    after the limit every Secret write of theirs is refused alike, match or miss, and the platform's Events in
    tierguard's namespace name the user and the prod Secret."""
    value = planted()
    prod, dev = tiered(namespace, "prod"), tiered(namespace, "dev")
    assert_admitted(apply(cluster, secret(prod, "db", value)))
    eventually(lambda: _refused_shared(cluster, secret(dev, "probe", value)))  # indexed (one of the admin's answers)
    user = f"tg-e2e-guesser-{uuid.uuid4().hex[:6]}"
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "secret-writer", "namespace": dev},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "secret-writer", "namespace": dev},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secret-writer"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}
    assert_admitted(apply(cluster, role))
    assert_admitted(apply(cluster, binding))

    def guess(name: str, guessed: str) -> Any:
        return cluster.kubectl("--as", user, "create", "-f", "-", input=json.dumps(secret(dev, name, guessed)),
                               check=False)

    limit, replicas = shared_value_budget(cluster)

    def answered(result: Any) -> bool:
        """True for an answer that another tier holds the value; False for the refusal beyond the limit."""
        assert result.returncode != 0, result.stdout
        assert value not in result.stderr and f"{prod}/" not in result.stderr, result.stderr
        if "[secret-value-shared]" in result.stderr:
            assert "a Secret of tier prod" in result.stderr, result.stderr
            return True
        assert LIMITED_MESSAGE in result.stderr, result.stderr
        return False

    # The budget is a replica's: the API server's pooled connection usually keeps one replica answering, so the
    # first refusal beyond the limit comes after `limit` answers, and never more than replicas x limit in all.
    answers = 0
    while answered(guess(f"guess-{answers}", value)):
        answers += 1
        assert answers <= replicas * limit, f"{answers} answers: no limit"
    assert answers >= limit, f"cut off after {answers} answers, the limit is {limit}"
    # A miss is refused like a hit once the replica it reaches has given its answers; hits in between spend
    # whatever budget another replica has left, so this ends.
    for attempt in range(replicas * limit + 20):
        miss = cluster.kubectl("--as", user, "create", "-f", "-", check=False,
                               input=json.dumps(secret(dev, f"miss-{attempt}", planted())))
        if miss.returncode != 0:
            assert LIMITED_MESSAGE in miss.stderr, miss.stderr
            break
        answers += answered(guess(f"hit-{attempt}", value))
        assert answers <= replicas * limit, f"{answers} answers: no limit"
    else:
        raise AssertionError("a Secret write that matches nothing was never refused beyond the limit")

    def recorded() -> None:
        events = [e for e in cluster.get_json("events", "-n", NAMESPACE)["items"]
                  if (e["metadata"].get("annotations") or {}).get("tierguard.io/user") == user]
        assert {"SharedValueFound", "SharedValueLimited"} <= {e["reason"] for e in events}, events[-3:]
        assert any(f"{prod}/db" in e["message"] for e in events if e["reason"] == "SharedValueFound")
        assert not any(value in e["message"] for e in events)

    eventually(recorded)


def _refused_shared(cluster: Cluster, manifest: dict[str, Any]) -> Any:
    result = apply(cluster, manifest)
    assert_refused(result, "secret-value-shared")
    return result


# --- workloads ------------------------------------------------------------------------------------------

def test_workload_secret_cross_tier(cluster: Cluster, namespace: NamespaceFactory) -> None:
    dev = tiered(namespace, "dev")
    spec = {"secrets": {"pathPatterns": {"prod": ["secret/data/prod/*"], "dev": ["secret/data/dev/*"]}}}
    with policy(cluster, spec):
        bad = pod(dev, annotations={"vault.hashicorp.com/agent-inject": "true",
                                    "vault.hashicorp.com/agent-inject-secret-db": "secret/data/prod/db"})
        eventually(lambda: assert_refused(apply(cluster, bad), "workload-secret-cross-tier"))
        good = pod(dev, annotations={"vault.hashicorp.com/agent-inject": "true",
                                     "vault.hashicorp.com/agent-inject-secret-db": "secret/data/dev/db"})
        assert_admitted(apply(cluster, good))


def test_workload_consuming_a_flagged_secret(cluster: Cluster, namespace: NamespaceFactory) -> None:
    dev, prod = tiered(namespace, "dev"), tiered(namespace, "prod")
    copied = secret(dev, "copied", planted(), **{"replicator.v1.mittwald.de/replicate-from": f"{prod}/db"})
    with policy(cluster, {"enforcement": {"perTier": {"dev": "audit"}}}):
        # Admitted only because dev is in audit mode, as a secret created before tierguard would be.
        eventually(lambda: assert_admitted(apply(cluster, copied)))
    consumer = pod(dev, "consumer")
    consumer["spec"]["containers"][0]["envFrom"] = [{"secretRef": {"name": "copied"}}]
    eventually(lambda: assert_refused(apply(cluster, consumer), "workload-secret-cross-tier"))
    clean = pod(dev, "clean")
    assert_admitted(apply(cluster, clean))


# --- storage ----------------------------------------------------------------------------------------------

def test_volume_secret_cross_tier(cluster: Cluster, namespace: NamespaceFactory) -> None:
    prod = tiered(namespace, "prod")
    name = f"tg-e2e-{uuid.uuid4().hex[:8]}"

    def storage_class(secret_namespace: str) -> dict[str, Any]:
        return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
                "provisioner": "csi.example.com",
                "parameters": {"csi.storage.k8s.io/node-publish-secret-name": "creds",
                               "csi.storage.k8s.io/node-publish-secret-namespace": secret_namespace}}

    try:
        assert_refused(apply(cluster, storage_class(prod)), "volume-secret-cross-tier")
        assert_admitted(apply(cluster, storage_class("${pvc.namespace}")))
    finally:
        cluster.kubectl("delete", "storageclass", name, "--ignore-not-found", check=False)


# --- gateway ----------------------------------------------------------------------------------------------

REFERENCE_GRANT_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "referencegrants.gateway.networking.k8s.io",
                 # *.k8s.io groups are protected; Gateway API's own CRDs carry this approval annotation.
                 "annotations": {"api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api/pull/1538"}},
    "spec": {"group": "gateway.networking.k8s.io", "scope": "Namespaced",
             "names": {"plural": "referencegrants", "singular": "referencegrant", "kind": "ReferenceGrant"},
             "versions": [{"name": "v1beta1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]},
}


@pytest.fixture
def reference_grants(cluster: Cluster) -> Iterator[None]:
    """Gateway API's ReferenceGrant CRD (a minimal stand-in when the cluster has none)."""
    exists = cluster.kubectl("get", "crd", "referencegrants.gateway.networking.k8s.io", check=False).returncode == 0
    if not exists:
        cluster.kubectl("apply", "-f", "-", input=json.dumps(REFERENCE_GRANT_CRD))
        cluster.kubectl("wait", "--for=condition=Established", "crd/referencegrants.gateway.networking.k8s.io")
    yield
    if not exists:
        cluster.kubectl("delete", "crd", "referencegrants.gateway.networking.k8s.io", "--wait=false", check=False)


def test_reference_grant_cross_tier(cluster: Cluster, namespace: NamespaceFactory, reference_grants: None) -> None:
    prod, prod2, dev = tiered(namespace, "prod"), tiered(namespace, "prod"), tiered(namespace, "dev")

    def grant(from_namespace: str) -> dict[str, Any]:
        return {"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
                "metadata": {"name": "tls", "namespace": prod},
                "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                   "namespace": from_namespace}],
                         "to": [{"group": "", "kind": "Secret"}]}}

    eventually(lambda: assert_refused(apply(cluster, grant(dev)), "reference-grant-cross-tier"))
    assert_admitted(apply(cluster, grant(prod2)))


# --- rbac -------------------------------------------------------------------------------------------------

def test_rbac_cross_tier_subject(cluster: Cluster, namespace: NamespaceFactory) -> None:
    prod, dev = tiered(namespace, "prod"), tiered(namespace, "dev")

    def binding(role: str) -> dict[str, Any]:
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": f"ci-{role}", "namespace": prod},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": dev}]}

    assert_refused(apply(cluster, binding("edit")), "rbac-cross-tier-subject")
    assert_admitted(apply(cluster, binding("view")))


# --- sidecars ---------------------------------------------------------------------------------------------

SIDECAR_POLICY = {"sidecars": {"required": [{
    "name": "istio-proxy",
    "injection": {"namespaceLabels": {"istio-injection": "enabled"},
                  "podLabels": {"sidecar.istio.io/inject": "true"},
                  "disabledBy": {"podLabels": {"sidecar.istio.io/inject": "false"}}},
}]}}


def test_sidecar_rules(cluster: Cluster, namespace: NamespaceFactory) -> None:
    plain, injected = tiered(namespace, "qa"), tiered(namespace, "qa", **{"istio-injection": "enabled"})
    with policy(cluster, SIDECAR_POLICY):
        # A dry run until the policy is in force everywhere: a Deployment referencing nothing is judged by the
        # admission policies alone (webhook.skipCertain), which the API server compiles a moment after tierguard
        # writes them; a real apply meanwhile would create it, and an unchanged template is not judged again.
        eventually(lambda: assert_refused(apply(cluster, deployment(plain), "--dry-run=server"), "sidecar-missing"))
        assert_refused(apply(cluster, deployment(plain)), "sidecar-missing")
        assert_admitted(apply(cluster, deployment(injected)))
        opted_out = deployment(injected, "opt-out", pod_labels={"sidecar.istio.io/inject": "false"})
        assert_refused(apply(cluster, opted_out), "sidecar-injection-disabled")
        with_proxy = deployment(plain, "meshed", containers=[
            {"name": "app", "image": "registry.k8s.io/pause:3.10"},
            {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.0"}])
        assert_admitted(apply(cluster, with_proxy))


# --- policy -----------------------------------------------------------------------------------------------

def test_invalid_tierpolicy_refused(cluster: Cluster) -> None:
    broken = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "default"},
              "spec": {"secrets": {"pathPatterns": {"prod": ["secret/data/[prod/*"]}}}}
    other = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy",
             "metadata": {"name": f"tg-e2e-{uuid.uuid4().hex[:6]}"},
             "spec": {"exemptions": {"namespaces": ["team-[a"]}}}
    previous = current_policy(cluster)
    try:
        # The CRD's schema already refuses wrong types and duplicates; tierguard refuses what a schema cannot see.
        result = apply(cluster, broken)
        assert_refused(result, "policy-invalid")
        assert "spec.secrets.pathPatterns.prod[0]" in result.stderr
        result = apply(cluster, other)
        assert_refused(result, "policy-invalid")
        assert "spec.exemptions.namespaces[0]" in result.stderr
    finally:
        # Had one been admitted (no replica ready: the tierpolicies entry fails open), a replica starting later
        # would find no valid policy and stay unready: put the previous one back so later tests are not hit.
        if previous is not None:
            cluster.kubectl("replace", "-f", "-", input=json.dumps(previous), check=False)
        cluster.kubectl("delete", "tierpolicies.tierguard.io", other["metadata"]["name"], "--ignore-not-found",
                        check=False)


def test_hot_reload_enforce_warn_enforce_with_visible_warnings(cluster: Cluster, namespace: NamespaceFactory
                                                               ) -> None:
    dev, prod = tiered(namespace, "dev"), tiered(namespace, "prod")

    def mirror(name: str) -> dict[str, Any]:
        return secret(dev, name, planted(), **{"reflector.v1.k8s.emberstack.com/reflects": f"{prod}/db"})

    assert_refused(apply(cluster, mirror("a")), "secret-replication-cross-tier")
    with policy(cluster, {"enforcement": {"perTier": {"dev": "warn"}}}):
        def warned() -> Any:
            result = apply(cluster, mirror("b"))
            assert_admitted(result)
            assert "Warning: [secret-replication-cross-tier]" in result.stderr
            return result
        eventually(warned)
    eventually(lambda: assert_refused(apply(cluster, mirror("c")), "secret-replication-cross-tier"))


def test_break_glass(cluster: Cluster, namespace: NamespaceFactory) -> None:
    dev, prod = tiered(namespace, "dev"), tiered(namespace, "prod")
    obj = secret(dev, "db", planted(), **{"reflector.v1.k8s.emberstack.com/reflects": f"{prod}/db",
                                          "tierguard.io/break-glass": "INC-1234 restore prod data"})
    as_user = ["--as=tg-e2e-oncall", "--as-group=system:masters"]
    with policy(cluster, {"exemptions": {"breakGlass": {"groups": ["tg-e2e-sre"]}}}):
        def admitted_with_warning() -> None:
            result = apply(cluster, obj, *as_user, "--as-group=tg-e2e-sre")
            assert_admitted(result)
            assert "break-glass" in result.stderr and "Warning:" in result.stderr
        eventually(lambda: assert_refused(apply(cluster, obj, *as_user), "secret-replication-cross-tier"))
        eventually(admitted_with_warning)


def test_dry_run_gets_the_same_decision(cluster: Cluster, namespace: NamespaceFactory) -> None:
    dev, prod = tiered(namespace, "dev"), tiered(namespace, "prod")
    obj = secret(dev, "db", planted(), **{"reflector.v1.k8s.emberstack.com/reflects": f"{prod}/db"})
    assert_refused(apply(cluster, obj, "--dry-run=server"), "secret-replication-cross-tier")
    ok = secret(dev, "ok", planted())
    assert_admitted(apply(cluster, ok, "--dry-run=server"))
    assert cluster.kubectl("get", "secret", "ok", "-n", dev, check=False).returncode != 0  # nothing stored


def test_unknown_webhook_path_is_denied(cluster: Cluster, namespace: NamespaceFactory) -> None:
    marker = f"tg-e2e-misrouted-{uuid.uuid4().hex[:6]}"
    ns = namespace(labels={marker: "yes"})
    client = webhook_client_config(cluster)
    if "url" in client:
        client["url"] = client["url"].rsplit("/", 1)[0] + "/no-such-handler"
    else:
        client["service"]["path"] = "/no-such-handler"
    with registered_webhook(cluster, marker, client, "configmaps"):
        configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": ns}}

        def denied() -> None:
            result = apply(cluster, configmap)
            assert result.returncode != 0 and "no admission handler at path /no-such-handler" in result.stderr, \
                result.stderr
        eventually(denied, timeout=20)


def test_zz_no_planted_secret_value_in_logs(cluster: Cluster) -> None:
    assert PLANTED, "the tests above planted no values"
    logs = tierguard_logs(cluster)
    assert "violation" in logs  # the log really holds this run's decisions
    leaked = [i for i, value in enumerate(PLANTED) if value in logs]
    assert not leaked, f"{len(leaked)} planted secret values appear in tierguard's logs (indexes {leaked})"
    encoded = [i for i, value in enumerate(PLANTED) if secret(" ", " ", value)["data"]["password"] in logs]
    assert not encoded, f"{len(encoded)} planted values appear base64-encoded in tierguard's logs"


def test_readme_demo_manifest_is_refused(cluster: Cluster) -> None:
    """What hack/demo.sh (the README's first command) shows: examples/bad-pod.yaml refused after namespaces.yaml."""
    from .support.kube import REPO  # noqa: PLC0415

    created = cluster.kubectl("apply", "-f", str(REPO / "examples" / "namespaces.yaml"))
    try:
        def refused_demo() -> None:
            result = cluster.kubectl("apply", "-f", str(REPO / "examples" / "bad-pod.yaml"), check=False)
            assert result.returncode != 0, result.stdout
            assert "Error from server (Forbidden)" in result.stderr
            assert "[secret-replication-cross-tier]" in result.stderr

        eventually(refused_demo, timeout=20)
    finally:
        if "created" in created.stdout:
            cluster.kubectl("delete", "-f", str(REPO / "examples" / "namespaces.yaml"), "--wait=false", check=False)
