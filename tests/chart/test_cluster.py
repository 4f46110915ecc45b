"""The chart against a real API server (the `cluster` fixture of tests/e2e): every rendered object is accepted
by server-side dry-run, the RBAC grants exactly what `kubectl auth can-i` should say, and the generated
certificates are kept across upgrades (the chart's `lookup`) and renewed when they near expiry.

Nothing here installs a webhook configuration for real: one whose service has no ready replica would make
the API server refuse writes (failurePolicy Fail) for every other test sharing the cluster.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from cryptography import x509

from tests.e2e.support.kube import Cluster

from .helm import CHART, CI_VALUES, Doc, Helm, all_of, only, parse

pytestmark = pytest.mark.e2e

CRD = CHART / "crds" / "tierpolicies.yaml"
CERT_MANAGER_KINDS = {"Issuer", "Certificate"}
HMAC_SECRET = "tierguard-fingerprint-key"
SCENARIOS = {path.name.removesuffix("-values.yaml"): path for path in CI_VALUES}


def release_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def crd(cluster: Cluster) -> Iterator[None]:
    """The TierPolicy CRD, applied for real (left in place: other tests and the local tierguard use it)."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=tierguard-chart-tests",
                    "-f", str(CRD))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                    "customresourcedefinition/tierpolicies.tierguard.io")
    yield


def manifest(docs: list[Doc]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def serves(cluster: Cluster, group: str) -> bool:
    out = cluster.kubectl("api-resources", f"--api-group={group}", "-o", "name", check=False)
    return out.returncode == 0 and bool(out.stdout.strip())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_server_accepts_every_rendered_object(cluster: Cluster, helm: Helm, namespace: Callable[..., str],
                                              crd: None, scenario: str) -> None:
    # The strictest Pod Security Standard: the Deployment's pod template must pass it without a warning.
    ns = namespace(prefix="tg-chart", labels={"pod-security.kubernetes.io/enforce": "restricted",
                                              "pod-security.kubernetes.io/warn": "restricted"})
    docs = helm.render(values_files=[SCENARIOS[scenario]], namespace=ns, release=release_name("tgdry"))
    if not serves(cluster, "cert-manager.io"):
        docs = [doc for doc in docs if doc["kind"] not in CERT_MANAGER_KINDS]
    proc = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest(docs), check=False)
    assert proc.returncode == 0, f"{scenario}: the API server refused:\n{proc.stderr}"
    assert "PodSecurity" not in proc.stderr, proc.stderr
    accepted = [line for line in proc.stdout.splitlines() if "(server dry run)" in line]
    assert len(accepted) == len(docs), proc.stdout


def test_crd_refuses_what_the_schema_forbids(cluster: Cluster, crd: None) -> None:
    def dry_run(spec: dict[str, Any]) -> str:
        policy = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy",
                  "metadata": {"name": f"tg-chart-{uuid.uuid4().hex[:6]}"}, "spec": spec}
        proc = cluster.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(policy),
                               check=False)
        return proc.stderr if proc.returncode else ""

    assert "Unsupported value" in dry_run({"enforcement": {"default": "block"}})
    assert "perTier" in dry_run({"enforcement": {"perTier": {"staging": "warn"}}})
    assert "pathPatterns" in dry_run({"secrets": {"pathPatterns": {"nope": ["kv/*"]}}})
    assert "Duplicate value" in dry_run({"tiers": ["dev", "dev"]})
    assert dry_run({"sidecars": {"required": [{"image": "x"}]}})  # name is required
    assert dry_run({"tiers": []})
    # The defaults are filled in by the API server.
    policy = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "tg-chart-x"}}
    created = cluster.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(policy))
    spec = json.loads(created.stdout)["spec"]
    assert spec["tiers"] == ["dev", "qa", "stage", "prod"]
    assert spec["exemptions"]["namespaces"] == ["kube-system", "kube-public", "kube-node-lease"]


# ---- RBAC -----------------------------------------------------------------------------------------------------

RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


@pytest.fixture
def installed_rbac(cluster: Cluster, helm: Helm, namespace: Callable[..., str]) -> Iterator[tuple[str, str]]:
    """The chart's ServiceAccount and RBAC applied for real in a fresh namespace; yields (namespace, user)."""
    ns = namespace(prefix="tg-rbac")
    release = release_name("tgrbac")
    docs = [doc for doc in helm.render(namespace=ns, release=release) if doc["kind"] in RBAC_KINDS]
    cluster.kubectl("apply", "-f", "-", input=manifest(docs))
    account = only(docs, "ServiceAccount")["metadata"]["name"]
    try:
        yield ns, f"system:serviceaccount:{ns}:{account}"
    finally:
        for doc in all_of(docs, "ClusterRole") + all_of(docs, "ClusterRoleBinding"):
            cluster.kubectl("delete", doc["kind"].lower(), doc["metadata"]["name"], "--ignore-not-found",
                            check=False)


def can_i(cluster: Cluster, user: str, *args: str) -> bool:
    """``kubectl auth can-i ARGS --as=USER``. For a resource of an API group the cluster does not serve (no
    External Secrets or Sealed Secrets CRDs here) kubectl cannot resolve the name and asks about a resource
    literally named "sealedsecrets.bitnami.com"; a SubjectAccessReview with the group spelled out asks the
    authorizer the real question instead."""
    verb, resource, *rest = args
    plural, _, group = resource.partition("/")[0].partition(".")  # TYPE or TYPE/NAME
    if group and "/" not in resource and not serves(cluster, group):
        return subject_access_review(cluster, user, verb, plural, group, flags=rest)
    proc = cluster.kubectl("auth", "can-i", *args, f"--as={user}", check=False)
    answer = proc.stdout.strip()
    assert answer in {"yes", "no"}, f"kubectl auth can-i {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return answer == "yes"


def subject_access_review(cluster: Cluster, user: str, verb: str, resource: str, group: str, *,
                          flags: list[str]) -> bool:
    attributes = {"verb": verb, "group": group, "resource": resource}
    if "-n" in flags:
        attributes["namespace"] = flags[flags.index("-n") + 1]
    namespace = user.split(":")[2]
    review = {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": user, "resourceAttributes": attributes,
                 # What a ServiceAccount token (and `--as` of one) carries.
                 "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"]},
    }
    out = cluster.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(review))
    return bool(json.loads(out.stdout)["status"].get("allowed", False))


def test_rbac_grants_exactly_what_tierguard_needs(cluster: Cluster, namespace: Callable[..., str],
                                                  installed_rbac: tuple[str, str]) -> None:
    own, user = installed_rbac
    other = namespace(prefix="tg-rbac-other")
    allowed = [
        ("list", "secrets", "--all-namespaces"), ("watch", "secrets", "--all-namespaces"),
        ("get", "secrets", "-n", other),
        ("list", "namespaces"), ("watch", "namespaces"),
        ("list", "persistentvolumes"), ("watch", "persistentvolumeclaims", "--all-namespaces"),
        ("list", "storageclasses.storage.k8s.io"),
        ("watch", "roles.rbac.authorization.k8s.io", "--all-namespaces"),
        ("watch", "clusterroles.rbac.authorization.k8s.io"),
        ("watch", "tierpolicies.tierguard.io"),
        # Every TierPolicy's status (webhook/policy_status.py), the subresource only.
        ("patch", "tierpolicies.tierguard.io", "--subresource=status"),
        ("watch", "secretstores.external-secrets.io", "--all-namespaces"),
        ("watch", "clustersecretstores.external-secrets.io"),
        ("watch", "sealedsecrets.bitnami.com", "--all-namespaces"),
        ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
        ("get", f"secrets/{HMAC_SECRET}", "-n", own),
        ("create", "secrets", "-n", own),
        # Events in its own namespace: the platform's record of shared-value answers (webhook/events.py).
        ("create", "events", "-n", own),
        # The background audit: its Lease (create cannot be limited by name), and what the webhook does not index.
        ("create", "leases.coordination.k8s.io", "-n", own),
        ("update", "leases.coordination.k8s.io/tierguard-audit", "-n", own),
        ("list", "pods", "--all-namespaces"), ("watch", "deployments.apps", "--all-namespaces"),
    ]
    denied = [
        # No write on Secrets outside the release namespace, nor on any but the key inside it.
        *[(verb, "secrets", "-n", other) for verb in ("create", "update", "patch", "delete", "deletecollection")],
        ("update", "secrets/another", "-n", own), ("patch", "secrets", "-n", own),
        ("delete", f"secrets/{HMAC_SECRET}", "-n", own),
        # Nothing rotates the key in place: no update/patch; Events only created, only in its own namespace.
        ("update", f"secrets/{HMAC_SECRET}", "-n", own), ("patch", f"secrets/{HMAC_SECRET}", "-n", own),
        ("update", "events", "-n", own), ("create", "events.events.k8s.io", "-n", own),
        ("create", "events", "-n", other),
        # No workloads, no exec, no privilege escalation paths.
        ("create", "pods", "-n", own), ("create", "pods", "--subresource=exec", "-n", other),
        ("get", "pods", "--subresource=exec", "-n", own), ("create", "deployments.apps", "-n", own),
        ("escalate", "clusterroles.rbac.authorization.k8s.io"), ("bind", "clusterroles.rbac.authorization.k8s.io"),
        ("escalate", "roles.rbac.authorization.k8s.io", "-n", own),
        ("bind", "roles.rbac.authorization.k8s.io", "-n", own),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
        ("create", "rolebindings.rbac.authorization.k8s.io", "-n", own),
        ("impersonate", "users"), ("impersonate", "groups"), ("impersonate", "serviceaccounts", "-n", own),
        ("create", "serviceaccounts/token", "-n", own),
        # Not its own configuration either.
        ("update", "tierpolicies.tierguard.io"), ("patch", "tierpolicies.tierguard.io"),
        ("update", "tierpolicies.tierguard.io", "--subresource=status"),
        ("delete", "validatingwebhookconfigurations.admissionregistration.k8s.io"),
        ("update", "leases.coordination.k8s.io/another", "-n", own),
        ("create", "leases.coordination.k8s.io", "-n", other), ("list", "nodes"),
        ("*", "*"),
    ]
    wrong = [("should be allowed", args) for args in allowed if not can_i(cluster, user, *args)]
    wrong += [("should be denied", args) for args in denied if can_i(cluster, user, *args)]
    assert not wrong, "\n".join(f"{why}: {' '.join(args)}" for why, args in wrong)


# ---- certificates kept across upgrades ----------------------------------------------------------------------------

def webhook_bundles(docs: list[Doc]) -> set[bytes]:
    webhook = only(docs, "ValidatingWebhookConfiguration")
    return {base64.b64decode(entry["clientConfig"]["caBundle"]) for entry in webhook["webhooks"]}


def test_generated_certificates_are_kept_then_renewed(cluster: Cluster, helm: Helm,
                                                      namespace: Callable[..., str]) -> None:
    ns = namespace(prefix="tg-certs")
    release = release_name("tgcerts")
    online = Helm(helm.path, env=cluster.env())

    def upgrade_render() -> list[Doc]:
        """What `helm upgrade` would render now: lookup sees the cluster. --take-ownership: cluster-wide objects
        of another release (the local tierguard's TierPolicy `default`) must not stop this dry run."""
        return parse(online.run(*online.template_args(namespace=ns, release=release,
                                                      extra=["--dry-run=server", "--take-ownership"])).stdout)

    installed = only(helm.render(namespace=ns, release=release), "Secret")
    # As `helm install` would have left it: owned by the release (Helm 4's server dry-run checks ownership).
    installed["metadata"]["annotations"] |= {"meta.helm.sh/release-name": release,
                                             "meta.helm.sh/release-namespace": ns}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(installed))
    name = installed["metadata"]["name"]

    kept = upgrade_render()
    assert only(kept, "Secret")["data"] == installed["data"], "an upgrade must keep valid certificates"
    assert webhook_bundles(kept) == {base64.b64decode(installed["data"]["ca.crt"])}

    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cluster.kubectl("annotate", "secret", name, "-n", ns, f"tierguard.io/certificate-not-after={soon}",
                    "--overwrite")
    renewed = upgrade_render()
    secret = only(renewed, "Secret")
    assert secret["data"]["tls.crt"] != installed["data"]["tls.crt"], "certificates expiring soon must be renewed"
    new_ca = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["ca.crt"]))
    old_ca = x509.load_pem_x509_certificate(base64.b64decode(installed["data"]["ca.crt"]))
    (bundle,) = webhook_bundles(renewed)
    # During the rotation the webhook trusts the new CA and the old one (replicas still serving the old cert).
    assert x509.load_pem_x509_certificates(bundle) == [new_ca, old_ca]


REPORT_CRDS = ("policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io", "reports.openreports.io",
               "clusterreports.openreports.io")


def test_auto_report_crds_are_rendered_when_absent_or_the_release_s_own(cluster: Cluster, helm: Helm,
                                                                         namespace: Callable[..., str]) -> None:
    """Read-only: what `helm upgrade` would render with `installCRDs: auto` against the CRDs this cluster has."""
    online = Helm(helm.path, env=cluster.env())

    def rendered(release: str, ns: str) -> set[str]:
        docs = parse(online.run(*online.template_args(
            namespace=ns, release=release, sets={"audit.reports.api": "both", "audit.reports.installCRDs": "auto"},
            extra=["--dry-run=server", "--take-ownership"])).stdout)
        return {doc["metadata"]["name"] for doc in all_of(docs, "CustomResourceDefinition")}

    owners: dict[str, tuple[str, str] | None] = {}
    for name in REPORT_CRDS:
        got = cluster.kubectl("get", "crd", name, "-o", "json", check=False)
        annotations = json.loads(got.stdout)["metadata"].get("annotations") or {} if got.returncode == 0 else None
        owners[name] = None if annotations is None else (annotations.get("meta.helm.sh/release-name", ""),
                                                         annotations.get("meta.helm.sh/release-namespace", ""))
    # A release that owns none: only the absent ones (another tool's, or another release's, are left alone).
    assert rendered(release_name("tgcrds"), namespace(prefix="tg-crds")) == {n for n, o in owners.items() if o is None}
    # The release that installed one keeps it (left out, Helm would drop it from the release); in another
    # namespace, a release of the same name does not own it.
    for release, ns in {owner for owner in owners.values() if owner is not None and all(owner)}:
        mine = {n for n, o in owners.items() if o is None or o == (release, ns)}
        assert rendered(release, ns) == mine
        assert rendered(release, namespace(prefix="tg-crds")) == {n for n, o in owners.items() if o is None}
