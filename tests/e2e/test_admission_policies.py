"""The second line of defence: the ValidatingAdmissionPolicies tierguard keeps, evaluated by the API server itself.

Every refusal is compared with the engine's own decision for the same object, policy and namespaces: the API
server must refuse with exactly the webhook's text (``[rule-id] message``, joined with ``"; "``). Requests go
through ``kubectl create --dry-run=server``: the API server runs its admission policies (before any webhook)
and stores nothing. Then tierguard is stopped (the Deployment scaled to 0) and the same rules still refuse; with
the webhook's failurePolicy set to Ignore, Warn tiers still warn. On the local kind cluster the Audit action's
annotation is also looked up in the API server's audit log (``<state dir>/audit/audit.log``).
"""

from __future__ import annotations

import copy
import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tierguard.engine import EvaluationRequest, evaluate
from tierguard.engine.context import OfflineContext
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.policy import load_policy
from tierguard.vap import Options, generate

from .support.kube import Cluster, local_state_dir, wait_until
from .support.tierguard import NAMESPACE, SELECTOR, TIER_LABEL, current_policy, policy
from .test_install import RELEASE, pods, stop_replicas, wait_rolled_out

ISTIO = {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:*",
         "injection": {"namespaceLabels": {"istio-injection": "enabled"},
                       "podLabels": {"sidecar.istio.io/inject": "true"},
                       "disabledBy": {"podLabels": {"sidecar.istio.io/inject": "false"},
                                      "podAnnotations": {"sidecar.istio.io/inject": "false"}}}}
SPEC: dict[str, Any] = {
    "enforcement": {"default": "enforce", "perTier": {"qa": "warn", "stage": "audit"}},
    "secrets": {"pathPatterns": {"prod": ["secret/data/prod/*"], "dev": ["/secret/data/dev/*"]}},
    "sidecars": {"required": [ISTIO]},
}
SYNC_TIMEOUT_S = 45.0
PROXY = {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24"}


def stored_policy(cluster: Cluster) -> Any:
    """The TierPolicy as tierguard reads it: from the API server (whose JSON orders map keys, pathPatterns'
    tiers too, and so the order messages list tiers in)."""
    stored = current_policy(cluster)
    assert stored is not None, "no TierPolicy default"
    return load_policy(stored)


def cluster_policies(cluster: Cluster) -> dict[str, dict[str, Any]]:
    items = cluster.get_json("validatingadmissionpolicies", "-l", "app.kubernetes.io/managed-by=tierguard")["items"]
    return {item["metadata"]["name"]: item for item in items}


def prefix_of(names: Iterator[str] | list[str]) -> str:
    return next(name.removesuffix("-namespaces-deny") for name in names if name.endswith("-namespaces-deny"))


def wait_in_step(cluster: Cluster) -> str:
    """Wait until the cluster's policies are those generated for its TierPolicy; return their name prefix."""
    expected = generate(stored_policy(cluster), Options(own_namespace=NAMESPACE))
    wanted = {m["metadata"]["name"].removeprefix("tierguard-"): m["spec"]["variables"] for m in expected
              if m["kind"] == "ValidatingAdmissionPolicy"}

    def in_step() -> str | None:
        found = cluster_policies(cluster)
        if not found:
            return None
        prefix = prefix_of(list(found))
        have = {name.removeprefix(f"{prefix}-"): item["spec"].get("variables") for name, item in found.items()}
        return prefix if have == wanted else None

    return wait_until(in_step, timeout=SYNC_TIMEOUT_S, what="ValidatingAdmissionPolicies in step with the TierPolicy")


@pytest.fixture(scope="module")
def tiers(cluster: Cluster) -> Iterator[dict[str, str]]:
    """Namespaces of a Deny tier (dev, prod), a Warn tier (qa) and an Audit tier (stage), and a dev namespace
    whose label asks Istio to inject its proxy; with SPEC enforced and the admission policies in step."""
    suffix = uuid.uuid4().hex[:6]
    names: dict[str, str] = {}
    try:
        for key, labels in {"dev": {TIER_LABEL: "dev"}, "prod": {TIER_LABEL: "prod"}, "qa": {TIER_LABEL: "qa"},
                            "stage": {TIER_LABEL: "stage"},
                            "injected": {TIER_LABEL: "dev", "istio-injection": "enabled"}}.items():
            names[key] = f"tg-vap-{key}-{suffix}"
            cluster.kubectl("create", "-f", "-", input=json.dumps(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": names[key], "labels": labels}}))
        with policy(cluster, SPEC):
            names["prefix"] = wait_in_step(cluster)
            yield names
    finally:
        for name in names.values():
            if name.startswith("tg-vap-"):
                cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def expected_message(cluster: Cluster, obj: dict[str, Any], namespace: str | None, *,
                     old: dict[str, Any] | None = None) -> str:
    """What the webhook would answer: the engine's violations for the object in the cluster's namespaces."""
    known = cluster.get_json("namespaces")["items"]
    context = OfflineContext.from_objects(known, Fingerprinter.random())
    decision = evaluate(EvaluationRequest(obj=obj, old=old, operation="UPDATE" if old else "CREATE",
                                          namespace=namespace), context, stored_policy(cluster),
                        own_namespace=NAMESPACE)
    return "; ".join(f"[{v.rule}] {v.message}" for v in decision.violations)


def dry_run(cluster: Cluster, obj: dict[str, Any], namespace: str | None) -> subprocess.CompletedProcess[str]:
    scope = ["-n", namespace] if namespace else []
    return cluster.kubectl("create", "--dry-run=server", *scope, "-f", "-", input=json.dumps(obj), check=False)


def pod(name: str, *, annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None,
        containers: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": annotations or {}, "labels": labels or {}},
            "spec": {"containers": containers or [{"name": "app", "image": "registry.local/app:1"}], **spec}}


def deployment(name: str, template_labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    labels = {"app": name, **(template_labels or {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "registry.local/app:1"}], **spec}}}}


def cronjob(name: str, containers: list[dict[str, Any]], init: list[dict[str, Any]] | None = None
            ) -> dict[str, Any]:
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": containers, "initContainers": init or []}
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": spec}}}}}


VAULT = "vault.hashicorp.com/"
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "pod-without-sidecar": ("dev", pod("web")),
    "pod-sidecar-as-plain-init-container": ("dev", pod("web", initContainers=[PROXY])),
    "pod-sidecar-of-another-image": ("dev", pod("web", containers=[{"name": "istio-proxy", "image": "other/p:1"}])),
    "pod-injection-switched-off": ("dev", pod("web", annotations={"sidecar.istio.io/inject": "false"},
                                              containers=[PROXY])),
    "pod-prod-paths": ("dev", pod("web", annotations={
        f"{VAULT}agent-inject-secret-db": "secret/data/prod/db",
        f"{VAULT}agent-inject-secret-a": "/secret/data/dev/own",
        f"{VAULT}agent-inject-template-t": '{{ with secret "secret/data/prod/t" }}{{ end }}',
        "vault.security.banzaicloud.io/vault-env-from-path": "secret/data/dev/ok, secret/data/prod/z"},
        containers=[PROXY, {"name": "app", "image": "registry.local/app:1",
                            "env": [{"name": "A", "value": ">>vault:secret/data/prod/e#key"},
                                    {"name": "B", "value": "plain"}]}])),
    "pod-own-paths": ("dev", pod("web", annotations={f"{VAULT}agent-inject-secret-db": "secret/data/dev/db"},
                                 containers=[PROXY])),
    "prod-pod-dev-path": ("prod", pod("web", annotations={f"{VAULT}role": "secret/data/dev/role"},
                                      containers=[PROXY])),
    "deployment-not-injected": ("dev", deployment("web")),
    "deployment-injected-by-namespace": ("injected", deployment("web")),
    "deployment-injected-by-label": ("dev", deployment("web", {"sidecar.istio.io/inject": "true"})),
    "deployment-host-network": ("injected", deployment("web", hostNetwork=True)),
    "deployment-injection-label-off": ("injected", deployment("web", {"sidecar.istio.io/inject": "false"})),
    "cronjob-other-image": ("dev", cronjob("nightly", [{"name": "istio-proxy", "image": "other/p:1"}])),
    "cronjob-native-sidecar": ("dev", cronjob("nightly", [{"name": "app", "image": "registry.local/app:1"}],
                                              [{**PROXY, "restartPolicy": "Always"}])),
    # Large, and judged within the API server's CEL cost limit: the policy (not the webhook) must refuse it.
    "deployment-large": ("dev", deployment("big") | {"spec": {"selector": {"matchLabels": {"app": "big"}}, "template": {
        "metadata": {"labels": {"app": "big"}, "annotations": {
            **{f"{VAULT}agent-inject-secret-s{i}": f"secret/data/dev/{i}" for i in range(60)},
            **{f"example.com/a{i}": "v" * 100 for i in range(200)}, f"{VAULT}role": "secret/data/prod/role"}},
        "spec": {"containers": [PROXY, *({"name": f"c{i}", "image": "registry.local/app:1", "env": [
            {"name": f"E{j}", "value": f"vault:secret/data/dev/{j}#k"} for j in range(30)]} for i in range(100))]}}}}),
    "warn-tier-pod-without-sidecar": ("qa", pod("web")),
    "audit-tier-pod-without-sidecar": ("stage", pod("web")),
}


def assert_policy_answer(result: subprocess.CompletedProcess[str], action: str, prefix: str, family: str,
                         expected: str) -> None:
    name = f"{prefix}-{family}-{action}"
    if action == "deny":
        assert result.returncode != 0, f"admitted; expected a refusal: {expected}"
        assert f"ValidatingAdmissionPolicy '{name}' with binding '{name}' denied request: {expected}\n" in \
            result.stderr + "\n", result.stderr
    elif action == "warn":
        assert result.returncode == 0, result.stderr
        assert f"Validation failed for ValidatingAdmissionPolicy '{name}' with binding '{name}': {expected}\n" in \
            result.stderr + "\n", result.stderr
    else:  # audit: admitted, silently; the annotation goes to the API server's audit log (``audited``)
        assert result.returncode == 0, result.stderr
        assert "ValidatingAdmissionPolicy" not in result.stderr, result.stderr


VALIDATION_FAILURE = "validation.policy.admission.k8s.io/validation_failure"
"""The audit annotation the API server records for a policy binding with the Audit action."""


AUDIT_LOG_IN_NODE = "/etc/kubernetes/tierguard-audit/audit.log"
"""Where the local cluster's API server writes it, inside the control-plane node (mounted from the state dir)."""


def audit_log(cluster: Cluster) -> Callable[[], str] | None:
    """Reads the local kind cluster's API server audit log (hack/local-cluster.sh configures one, written to
    ``<state dir>/audit/audit.log``); None for another cluster. The API server writes it as root, mode 0600: a test
    run by another user reads it inside the control-plane node."""
    if not cluster.local:
        return None
    path = local_state_dir() / "audit" / "audit.log"
    assert path.is_file(), f"the local cluster's API server keeps no audit log at {path}"

    def read() -> str:
        try:
            return path.read_text(errors="replace")
        except PermissionError:
            return cluster.node_exec("control-plane", "cat", AUDIT_LOG_IN_NODE, timeout=60).stdout

    return read


def audited(log: Callable[[], str], namespace: str, name: str, policy_name: str, expected: str) -> bool:
    """Whether the audit log holds the Audit action's annotation for this object, from this policy, with this
    message (the webhook's own ``[rule-id] ...`` text)."""
    for line in log().splitlines():
        if f'"namespace":"{namespace}"' not in line or VALIDATION_FAILURE not in line:
            continue
        event = json.loads(line)
        reference = event.get("objectRef") or {}
        if reference.get("namespace") != namespace or reference.get("name") != name:
            continue
        for failure in json.loads((event.get("annotations") or {}).get(VALIDATION_FAILURE, "[]")):
            if failure.get("policy") == policy_name and failure.get("message") == expected and \
                    "Audit" in failure.get("validationActions", []):
                return True
    return False


ACTION_OF_TIER = {"dev": "deny", "prod": "deny", "injected": "deny", "qa": "warn", "stage": "audit"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_api_server_judges_workloads_as_the_engine_does(cluster: Cluster, tiers: dict[str, str], case: str) -> None:
    tier, template = CASES[case]
    namespace = tiers[tier]
    obj = copy.deepcopy(template)
    obj["metadata"]["namespace"] = namespace
    expected = expected_message(cluster, obj, namespace)
    result = dry_run(cluster, obj, namespace)
    if not expected:
        assert result.returncode == 0, result.stderr
        assert "ValidatingAdmissionPolicy" not in result.stderr, result.stderr
        return
    assert_policy_answer(result, ACTION_OF_TIER[tier], tiers["prefix"], "workloads", expected)
    log = audit_log(cluster) if ACTION_OF_TIER[tier] == "audit" else None
    if log is not None:
        name = f"{tiers['prefix']}-workloads-audit"

        def recorded() -> bool:
            # Asked again until it is recorded: an Audit answer looks the same whether or not the binding is in
            # step with the TierPolicy yet (this is the first case to run).
            dry_run(cluster, obj, namespace)
            return audited(log, namespace, obj["metadata"]["name"], name, expected)

        wait_until(recorded, timeout=60, interval=2, what=f"the audit log's {VALIDATION_FAILURE} from {name}")


def test_api_server_judges_namespace_tiers_as_the_engine_does(cluster: Cluster, tiers: dict[str, str]) -> None:
    prefix = tiers["prefix"]
    typo = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tg-vap-typo", "labels": {TIER_LABEL: "prd"}}}
    expected = expected_message(cluster, typo, None)
    assert expected.startswith("[namespace-tier-unknown] ")
    assert_policy_answer(dry_run(cluster, typo, None), "deny", prefix, "namespaces", expected)
    for tier, new in (("dev", "prod"), ("dev", None), ("qa", "prod"), ("stage", "pdr")):
        old = cluster.get_json("namespace", tiers[tier])
        changed = copy.deepcopy(old)
        if new is None:
            del changed["metadata"]["labels"][TIER_LABEL]
        else:
            changed["metadata"]["labels"][TIER_LABEL] = new
        expected = expected_message(cluster, changed, None, old=old)
        assert "[namespace-tier-changed] " in expected
        change = f"{TIER_LABEL}-" if new is None else f"{TIER_LABEL}={new}"
        result = cluster.kubectl("label", "namespace", tiers[tier], change, "--overwrite", "--dry-run=server",
                                 check=False)
        assert_policy_answer(result, ACTION_OF_TIER[tier], prefix, "namespaces", expected)


def test_policies_follow_the_tierpolicy(cluster: Cluster, tiers: dict[str, str]) -> None:
    with policy(cluster, {"enforcement": {"perTier": {"prod": "warn"}}}):
        prefix = wait_in_step(cluster)
        # No sidecars and no path patterns: no workload policies are left behind.
        assert sorted(cluster_policies(cluster)) == [f"{prefix}-namespaces-deny", f"{prefix}-namespaces-warn"]
        bindings = cluster.get_json("validatingadmissionpolicybindings", "-l",
                                    "app.kubernetes.io/managed-by=tierguard")["items"]
        assert sorted(b["metadata"]["name"] for b in bindings) == sorted(cluster_policies(cluster))
    assert wait_in_step(cluster) == tiers["prefix"]  # back in step with SPEC


def test_installed_policies_are_owned_by_the_release(cluster: Cluster, tiers: dict[str, str]) -> None:
    """So `helm uninstall` (which deletes the ClusterRole) has the garbage collector remove them."""
    found = cluster.kubectl("get", "deployment", RELEASE, "-n", NAMESPACE, check=False)
    assert found.returncode == 0, f"no Deployment {NAMESPACE}/{RELEASE}: install the chart first\n{found.stderr}"
    role = cluster.get_json("clusterrole", tiers["prefix"])
    for kind in ("validatingadmissionpolicies", "validatingadmissionpolicybindings"):
        for item in cluster.get_json(kind, "-l", "app.kubernetes.io/managed-by=tierguard")["items"]:
            (owner,) = item["metadata"]["ownerReferences"]
            assert (owner["kind"], owner["name"], owner["uid"]) == ("ClusterRole", role["metadata"]["name"],
                                                                    role["metadata"]["uid"]), item["metadata"]


# ---- with tierguard gone ---------------------------------------------------------------------------------


@contextmanager
def tierguard_stopped(cluster: Cluster) -> Iterator[None]:
    """No tierguard serving: the Deployment scaled to 0; brought back afterwards whatever happened."""
    found = cluster.kubectl("get", "deployment", RELEASE, "-n", NAMESPACE, check=False)
    assert found.returncode == 0, f"no Deployment {NAMESPACE}/{RELEASE}: install the chart first\n{found.stderr}"
    try:
        stop_replicas(cluster)
        yield
    finally:
        if len(pods(cluster)) < 2:
            cluster.kubectl("scale", f"deployment/{RELEASE}", "-n", NAMESPACE, "--replicas=2", check=False)
        wait_rolled_out(cluster)


@contextmanager
def webhook_failure_policy(cluster: Cluster, value: str) -> Iterator[None]:
    """Every entry of tierguard's webhook configuration with ``failurePolicy: value``, restored afterwards."""
    (config,) = cluster.get_json("validatingwebhookconfigurations", "-l", SELECTOR)["items"]
    name, original = config["metadata"]["name"], [w["failurePolicy"] for w in config["webhooks"]]

    def patch(values: list[str]) -> None:
        operations = [{"op": "replace", "path": f"/webhooks/{i}/failurePolicy", "value": v}
                      for i, v in enumerate(values)]
        cluster.kubectl("patch", "validatingwebhookconfiguration", name, "--type=json", "-p", json.dumps(operations))

    patch([value] * len(original))
    try:
        yield
    finally:
        patch(original)


def test_rules_hold_in_the_api_server_with_tierguard_gone(cluster: Cluster, tiers: dict[str, str]) -> None:
    prefix = wait_in_step(cluster)
    missing = pod("web") | {"metadata": {"name": "web", "namespace": tiers["dev"]}}
    compliant = pod("ok", containers=[PROXY]) | {"metadata": {"name": "ok", "namespace": tiers["dev"]}}
    reads_secret = pod("reads", containers=[PROXY, {"name": "app", "image": "registry.local/app:1",
                                                    "envFrom": [{"secretRef": {"name": "app-env"}}]}]) | {
        "metadata": {"name": "reads", "namespace": tiers["dev"]}}
    warned = pod("web") | {"metadata": {"name": "web", "namespace": tiers["qa"]}}
    expected = {key: expected_message(cluster, obj, obj["metadata"]["namespace"])
                for key, obj in (("missing", missing), ("warned", warned))}
    with tierguard_stopped(cluster):
        assert_policy_answer(dry_run(cluster, missing, tiers["dev"]), "deny", prefix, "workloads", expected["missing"])
        result = cluster.kubectl("label", "namespace", tiers["prod"], f"{TIER_LABEL}=dev", "--overwrite",
                                 "--dry-run=server", check=False)
        assert result.returncode != 0 and f"'{prefix}-namespaces-deny'" in result.stderr, result.stderr
        assert "[namespace-tier-changed] " in result.stderr
        # tierguard is really gone: what the policies admit and reads a Secret reaches the webhook, which no one
        # serves (Fail); what references nothing tierguard reads is never sent (webhook.skipCertain): admitted.
        gone = dry_run(cluster, reads_secret, tiers["dev"])
        assert gone.returncode != 0 and "failed calling webhook" in gone.stderr, gone.stderr
        skipped = dry_run(cluster, compliant, tiers["dev"])
        assert skipped.returncode == 0, skipped.stderr
        with webhook_failure_policy(cluster, "Ignore"):
            # failurePolicy Ignore: the policies' rules still refuse and warn; the rest is admitted unjudged.
            assert_policy_answer(dry_run(cluster, missing, tiers["dev"]), "deny", prefix, "workloads",
                                 expected["missing"])
            assert_policy_answer(dry_run(cluster, warned, tiers["qa"]), "warn", prefix, "workloads",
                                 expected["warned"])
            admitted = dry_run(cluster, reads_secret, tiers["dev"])
            assert admitted.returncode == 0, admitted.stderr
