"""What ``helm template`` renders for the value combinations users run: HA and security defaults, the webhook
entries, least-privilege RBAC, both certificate modes, local mode, NetworkPolicy and ServiceMonitor, and the
values the chart refuses. No cluster needed.
"""

from __future__ import annotations

import base64
import datetime as dt
import socket
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tierguard.policy import DEFAULT_POLICY, load_policy
from tierguard.vap import managed_names
from tierguard.vap.skip import CONDITION_NAME
from tierguard.webhook.probes import DRAIN_SECONDS

from .helm import CHART, NAMESPACE, RELEASE, Doc, Helm, all_of, kinds, only, render_cached

LOCAL = {"local.enabled": "true", "webhook.url": "https://127.0.0.1:9443", "webhook.caBundle": "Y2E="}
HMAC_SECRET = "tierguard-fingerprint-key"
FULLNAME = "tg-tierguard"
"""The chart's fullname for the release the tests render (`tg`)."""
EXEMPT = ["kube-system", "kube-public", "kube-node-lease", NAMESPACE]


def default(helm: Helm) -> list[Doc]:
    return render_cached(helm)


def container(docs: list[Doc]) -> dict[str, Any]:
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    return dict(pod["containers"][0])


# ---- HA and pod security ------------------------------------------------------------------------------------

def test_default_is_highly_available(helm: Helm) -> None:
    docs = default(helm)
    deployment = only(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    pdb = only(docs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1 and "maxUnavailable" not in pdb["spec"]
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["topologySpreadConstraints"] == [{
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": deployment["spec"]["selector"],
    }]
    preferred = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert preferred[0]["podAffinityTerm"]["labelSelector"] == deployment["spec"]["selector"]
    assert "priorityClassName" not in pod


def test_anti_affinity_choices(helm: Helm) -> None:
    hard = only(render_cached(helm, sets={"podAntiAffinity": "hard"}), "Deployment")["spec"]["template"]["spec"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in hard["affinity"]["podAntiAffinity"]
    none = only(render_cached(helm, sets={"podAntiAffinity": "none", "topologySpreadConstraints": "null"}),
                "Deployment")["spec"]["template"]["spec"]
    assert "affinity" not in none and "topologySpreadConstraints" not in none


def test_pdb_max_unavailable_and_percentages(helm: Helm) -> None:
    pdb = only(render_cached(helm, sets={"podDisruptionBudget.minAvailable": "null",
                                         "podDisruptionBudget.maxUnavailable": "1"}), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    pdb = only(render_cached(helm, sets={"podDisruptionBudget.minAvailable": "50%"}), "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == "50%"
    off = render_cached(helm, sets={"podDisruptionBudget.enabled": "false"})
    assert "PodDisruptionBudget" not in kinds(off)


def test_priority_class_is_passed(helm: Helm) -> None:
    pod = only(render_cached(helm, sets={"priorityClassName": "system-cluster-critical"}),
               "Deployment")["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "system-cluster-critical"


def test_pod_and_container_security(helm: Helm) -> None:
    docs = default(helm)
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is True
    assert "hostNetwork" not in pod and "hostPID" not in pod
    security = container(docs)["securityContext"]
    assert security["runAsNonRoot"] is True
    assert isinstance(security["runAsUser"], int) and security["runAsUser"] == 65532
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    resources = container(docs)["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"} and "memory" in resources["limits"]


def test_container_runs_tierguard_with_the_agreed_flags(helm: Helm) -> None:
    main = container(default(helm))
    assert main["command"] == ["tierguard", "run"]
    assert main["args"] == [
        f"--namespace={NAMESPACE}",
        "--policy-name=default",
        "--webhook-port=8443",
        "--tls-cert=/certs/tls.crt",
        "--tls-key=/certs/tls.key",
        "--metrics-port=8080",
        f"--hmac-secret={HMAC_SECRET}",
        "--admission-policies",
        f"--admission-policy-prefix={FULLNAME}",
        f"--admission-policy-owner={FULLNAME}",
        "--log-format=json",
        "--log-level=info",
        "--shutdown-linger=95",
        "--shared-value-answers=10",
        "--shared-value-window=3600",
        "--shared-value-exempt-group=system:masters",
        "--audit-interval=600",
        "--audit-reports-api=wgpolicyk8s",
        "--audit-max-results=100",
        "--audit-lease-duration=15",
    ]
    env = {item["name"]: item for item in main["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert {p["name"]: p["containerPort"] for p in main["ports"]} == {"webhook": 8443, "metrics": 8080}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert {m["mountPath"] for m in main["volumeMounts"]} == {"/certs", "/tmp"}
    # The tag is the chart's appVersion (the one version source: tests/chart/test_release_metadata.py).
    assert main["image"] == f"tierguard:{yaml.safe_load((CHART / 'Chart.yaml').read_text())['appVersion']}"


def test_the_grace_period_covers_the_drain_the_linger_and_a_review(helm: Helm) -> None:
    """SIGKILL must not come before the API server has closed its idle connections (90 s after their last
    use): the kernel closing them would race the API server reusing one, as a replica closing them would."""
    # null: values without the key, as `helm upgrade --reuse-values` from chart 0.2.0 or earlier gives.
    cases = ((95, {}), (200, {"connectionLingerSeconds": "200"}), (95, {"connectionLingerSeconds": "null"}))
    for linger, sets in cases:
        docs = render_cached(helm, sets=sets)
        pod = only(docs, "Deployment")["spec"]["template"]["spec"]
        assert linger >= 90
        assert f"--shutdown-linger={linger}" in container(docs)["args"]
        timeout = max(entry["timeoutSeconds"] for entry in entries(docs).values())
        # DRAIN_SECONDS: held by the preStop hook before SIGTERM.
        assert pod["terminationGracePeriodSeconds"] >= DRAIN_SECONDS + linger + timeout, \
            pod["terminationGracePeriodSeconds"]


def test_run_flags_exist_in_tierguard_run(helm: Helm) -> None:
    """Every flag the chart passes is an option of `tierguard run` (the webhook's command)."""
    from tierguard.commands.run import run  # noqa: PLC0415 - a broken `run` must fail here, not skip

    options = {opt for param in run.params for opt in param.opts}
    for arg in container(default(helm))["args"]:
        assert arg.split("=", 1)[0] in options, arg


def test_service_ports(helm: Helm) -> None:
    service = only(default(helm), "Service")
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert ports == {"webhook": (443, "webhook"), "metrics": (8080, "metrics")}
    assert service["spec"]["selector"] == only(default(helm), "Deployment")["spec"]["selector"]["matchLabels"]


# ---- the webhook configuration ------------------------------------------------------------------------------

def entries(docs: list[Doc]) -> dict[str, dict[str, Any]]:
    webhook = only(docs, "ValidatingWebhookConfiguration")
    return {entry["name"].removesuffix(".tierguard.io"): entry for entry in webhook["webhooks"]}


def test_webhook_entry_settings(helm: Helm) -> None:
    for name, entry in entries(default(helm)).items():
        expected_policy = "Ignore" if name == "tierpolicies" else "Fail"
        assert entry["failurePolicy"] == expected_policy, name
        assert 1 <= entry["timeoutSeconds"] <= 5
        assert entry["sideEffects"] == "None"
        assert entry["matchPolicy"] == "Equivalent"
        assert entry["admissionReviewVersions"] == ["v1"]
        assert "objectSelector" not in entry


def test_namespace_selectors(helm: Helm) -> None:
    not_exempt = {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": EXEMPT}
    tiered = {"key": "tierguard.io/tier", "operator": "Exists"}
    for name, entry in entries(default(helm)).items():
        scope = entry["rules"][0]["scope"]
        if name == "namespaces":
            # Judged even when an UPDATE removes the tier label, but never for exempt namespaces.
            assert entry["namespaceSelector"] == {"matchExpressions": [not_exempt]}
        elif scope in ("Namespaced", "*"):
            # "*" (the Crossplane entry, either scope): the API server applies it to namespaced objects only.
            assert entry["namespaceSelector"] == {"matchExpressions": [tiered, not_exempt]}, name
        else:
            assert "namespaceSelector" not in entry, name


def test_sessions_into_pods_are_sent_to_tierguard(helm: Helm) -> None:
    """session-cross-tier: kubectl exec, attach and port-forward reach tierguard as CONNECTs of the pod's
    subresource, for tiered, non-exempt namespaces only, fail-closed like the pods entry."""
    rendered = entries(default(helm))
    for verb in ("exec", "attach", "portforward"):
        entry = rendered[f"pods-{verb}"]
        assert entry["rules"] == [{"apiGroups": [""], "apiVersions": ["v1"], "resources": [f"pods/{verb}"],
                                   "operations": ["CONNECT"], "scope": "Namespaced"}]
        assert entry["clientConfig"]["service"]["path"] == f"/pods-{verb}"
        for same in ("namespaceSelector", "failurePolicy", "timeoutSeconds", "sideEffects", "matchPolicy"):
            assert entry[same] == rendered["pods"][same], (verb, same)
    assert [name for name, entry in rendered.items()
            if "CONNECT" in entry["rules"][0]["operations"]] == ["pods-exec", "pods-attach", "pods-portforward"]


def test_namespace_selector_follows_the_policy(helm: Helm) -> None:
    docs = render_cached(helm, sets={"policy.tierLabel": "example.com/tier",
                                     "policy.exemptions.namespaces": "{istio-system,team-*}"},
                         namespace="security")
    selector = entries(docs)["secrets"]["namespaceSelector"]["matchExpressions"]
    assert selector[0] == {"key": "example.com/tier", "operator": "Exists"}
    # Globs cannot be label-selector values: tierguard itself exempts them.
    assert selector[1]["values"] == ["istio-system", "security"]


def test_failure_policy_and_timeout_values(helm: Helm) -> None:
    docs = render_cached(helm, sets={"webhook.failurePolicy": "Ignore", "webhook.timeoutSeconds": "3",
                                     "webhook.tierPolicyFailurePolicy": "Fail"})
    for name, entry in entries(docs).items():
        assert entry["failurePolicy"] == ("Fail" if name == "tierpolicies" else "Ignore")
        assert entry["timeoutSeconds"] == 3


# ---- certificates -------------------------------------------------------------------------------------------

def load_pem_chain(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem)


def verify_signed_by(cert: x509.Certificate, ca: x509.Certificate) -> None:
    key = ca.public_key()
    assert cert.issuer == ca.subject
    if isinstance(key, rsa.RSAPublicKey):
        assert cert.signature_hash_algorithm is not None
        key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey) and cert.signature_hash_algorithm is not None
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))


def tls_handshake(cert: bytes, key: bytes, *, ca_bundle: bytes, server_name: str) -> None:
    """A TLS handshake over a socket pair: the server loads the pair as tierguard does (Python's ssl), the
    client verifies it as the API server does (the caBundle as the only trust root, the Service DNS name)."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "tls.crt").write_bytes(cert)
        Path(tmp, "tls.key").write_bytes(key)
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(Path(tmp, "tls.crt"), Path(tmp, "tls.key"))
    client_context = ssl.create_default_context(cadata=ca_bundle.decode())
    left, right = socket.socketpair()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            with server_context.wrap_socket(right, server_side=True) as tls:
                tls.sendall(b"ok")
        except (OSError, ssl.SSLError) as error:
            errors.append(error)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_context.wrap_socket(left, server_hostname=server_name) as tls:
            assert tls.recv(2) == b"ok"
    finally:
        left.close()  # unblocks the server when the client gave up
        thread.join(timeout=10)
    assert not errors, errors


def test_generated_certificates_match_the_service(helm: Helm) -> None:
    docs = default(helm)
    secret = only(docs, "Secret", "tg-tierguard-tls")
    assert secret["type"] == "kubernetes.io/tls"
    data = {key: base64.b64decode(value) for key, value in secret["data"].items()}
    (ca,) = load_pem_chain(data["ca.crt"])
    (leaf,) = load_pem_chain(data["tls.crt"])
    verify_signed_by(leaf, ca)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)
    assert f"tg-tierguard.{NAMESPACE}.svc" in names
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    # Long-lived by default (certs.validityDays), and the annotation read back on upgrade says when it expires.
    not_after = leaf.not_valid_after_utc
    assert not_after > dt.datetime.now(dt.UTC) + dt.timedelta(days=3000)
    annotated = dt.datetime.fromisoformat(secret["metadata"]["annotations"]["tierguard.io/certificate-not-after"])
    assert abs((annotated - not_after).total_seconds()) < 3600
    # The webhook trusts exactly that CA, and the pod mounts that Secret.
    for entry in entries(docs).values():
        assert base64.b64decode(entry["clientConfig"]["caBundle"]) == data["ca.crt"]
    service_name = f"tg-tierguard.{NAMESPACE}.svc"
    tls_handshake(data["tls.crt"], data["tls.key"], ca_bundle=data["ca.crt"], server_name=service_name)
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_handshake(data["tls.crt"], data["tls.key"], ca_bundle=data["ca.crt"], server_name="tg.other.svc")
    volumes = only(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "certs", "secret": {"secretName": "tg-tierguard-tls", "defaultMode": 0o440, "items": [
        {"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}]}} in volumes


def test_cert_manager_mode(helm: Helm) -> None:
    docs = render_cached(helm, sets={"certManager.enabled": "true"})
    issuers = {doc["metadata"]["name"]: doc["spec"] for doc in all_of(docs, "Issuer")}
    assert issuers == {"tg-tierguard-selfsigned": {"selfSigned": {}},
                       "tg-tierguard-ca": {"ca": {"secretName": "tg-tierguard-ca"}}}
    certificates = {doc["metadata"]["name"]: doc["spec"] for doc in all_of(docs, "Certificate")}
    assert certificates["tg-tierguard-ca"]["isCA"] is True
    assert certificates["tg-tierguard-ca"]["issuerRef"]["name"] == "tg-tierguard-selfsigned"
    serving = certificates["tg-tierguard-tls"]
    assert serving["secretName"] == "tg-tierguard-tls"
    assert serving["issuerRef"]["name"] == "tg-tierguard-ca"
    assert f"tg-tierguard.{NAMESPACE}.svc" in serving["dnsNames"]
    webhook = only(docs, "ValidatingWebhookConfiguration")
    assert webhook["metadata"]["annotations"] == {"cert-manager.io/inject-ca-from": f"{NAMESPACE}/tg-tierguard-tls"}
    for entry in webhook["webhooks"]:
        assert "caBundle" not in entry["clientConfig"]
    # cert-manager writes the Secret; the chart does not.
    assert not all_of(docs, "Secret")
    assert "Deployment" in kinds(docs)


CERT_MANAGER_CRDS = Path(__file__).resolve().parents[1] / "fixtures" / "cert-manager"


def cert_manager_schema(kind: str) -> dict[str, Any]:
    """The openAPIV3Schema of cert-manager's own CRD for ``kind`` (v1), vendored from cert-manager v1.21.1."""
    for path in CERT_MANAGER_CRDS.glob("*.yaml"):
        for crd in yaml.safe_load_all(path.read_text()):
            if crd and crd["spec"]["names"]["kind"] == kind:
                version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
                schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
                return schema
    raise AssertionError(f"no CRD of kind {kind} in {CERT_MANAGER_CRDS}")


def test_cert_manager_objects_match_cert_managers_crds(helm: Helm) -> None:
    """The Issuers and Certificates validate against cert-manager's schemas (what its API server would refuse
    fails here), and the CA keeps its key when renewed: cainjector before cert-manager 1.19 replaces the caBundle
    with the renewed CA while the pods still serve the old certificate, which then verifies only if the key is
    the same (``tests/e2e/test_certmanager_rotation.py`` plays that renewal under load)."""
    docs = render_cached(helm, sets={"certManager.enabled": "true"})
    for kind in ("Issuer", "Certificate"):
        schema = cert_manager_schema(kind)
        for doc in all_of(docs, kind):
            assert doc["apiVersion"] == "cert-manager.io/v1"
            jsonschema.validate(doc, schema)
    certificates = {doc["metadata"]["name"]: doc["spec"] for doc in all_of(docs, "Certificate")}
    assert certificates[f"{FULLNAME}-ca"]["privateKey"]["rotationPolicy"] == "Never"
    assert certificates[f"{FULLNAME}-tls"]["privateKey"]["rotationPolicy"] == "Always"
    # The schema is strict enough to catch a wrong value: the check above can fail.
    broken = {**only([d for d in docs if d["metadata"]["name"] == f"{FULLNAME}-ca"], "Certificate")}
    broken["spec"] = {**broken["spec"], "privateKey": {"rotationPolicy": "Sometimes"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, cert_manager_schema("Certificate"))


def test_generated_mode_has_no_cert_manager_objects(helm: Helm) -> None:
    docs = default(helm)
    assert "Issuer" not in kinds(docs) and "Certificate" not in kinds(docs)
    assert "annotations" not in only(docs, "ValidatingWebhookConfiguration")["metadata"]


# ---- local mode ---------------------------------------------------------------------------------------------

def test_local_mode_renders_only_cluster_objects(helm: Helm) -> None:
    docs = render_cached(helm, sets=LOCAL)
    rbac = ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
    # The webhook's read-only RBAC, and the background audit's beside it (audit.enabled, on by default).
    assert sorted(kinds(docs)) == sorted(["ServiceAccount", *rbac, *rbac, "ValidatingWebhookConfiguration",
                                          "TierPolicy"])
    without_audit = render_cached(helm, sets={**LOCAL, "audit.enabled": "false"})
    assert sorted(kinds(without_audit)) == sorted(["ServiceAccount", *rbac, "ValidatingWebhookConfiguration",
                                                   "TierPolicy"])
    for entry in entries(docs).values():
        assert set(entry["clientConfig"]) == {"url", "caBundle"}
        assert entry["clientConfig"]["url"].startswith("https://127.0.0.1:9443/")
    without_rbac = render_cached(helm, sets={**LOCAL, "local.rbac": "false"})
    assert sorted(kinds(without_rbac)) == ["TierPolicy", "ValidatingWebhookConfiguration"]


# ---- RBAC ---------------------------------------------------------------------------------------------------

def rbac_rules(docs: list[Doc]) -> list[tuple[str, dict[str, Any]]]:
    return [(doc["kind"], rule) for doc in docs if doc["kind"] in ("Role", "ClusterRole") for rule in doc["rules"]]


SECRET_WRITES = {"create", "update", "patch", "delete", "deletecollection"}
REPORT_RESOURCES = {"policyreports", "clusterpolicyreports", "reports", "clusterreports"}
REPORT_WRITES = {"get", "list", "create", "update", "delete"}


@pytest.mark.parametrize("sets", [{}, LOCAL], ids=["in-cluster", "local"])
def test_rbac_is_least_privilege(helm: Helm, sets: dict[str, str]) -> None:
    docs = render_cached(helm, sets=sets)
    rules = rbac_rules(docs)
    assert rules
    for kind, rule in rules:
        for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
            assert not any("*" in item for item in rule.get(field, [])), (kind, rule)
        assert not set(rule["verbs"]) & {"escalate", "bind", "impersonate", "approve", "sign"}, rule
        assert not any(resource.startswith("pods/") for resource in rule["resources"]), rule  # no exec, no logs
        assert "nonResourceURLs" not in rule
        if kind == "ClusterRole" and rule["apiGroups"] == ["admissionregistration.k8s.io"]:
            # tierguard's own ValidatingAdmissionPolicies, by name.
            assert rule["resources"] == ["validatingadmissionpolicies", "validatingadmissionpolicybindings"]
            assert rule["resourceNames"] == list(managed_names(FULLNAME)), rule
            assert set(rule["verbs"]) <= {"create", "patch", "delete"}, rule
        elif kind == "ClusterRole" and rule["apiGroups"] == ["tierguard.io"] and rule["verbs"] == ["patch"]:
            # TierPolicy statuses (webhook/policy_status.py): the subresource only, never the spec.
            assert rule["resources"] == ["tierpolicies/status"], rule
        elif kind == "ClusterRole" and set(rule["verbs"]) - {"get", "list", "watch"}:
            # The background audit's reports.
            assert set(rule["resources"]) <= REPORT_RESOURCES and set(rule["verbs"]) <= REPORT_WRITES, rule
        elif "pods" in rule["resources"]:
            assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule
        if "secrets" in rule["resources"] and set(rule["verbs"]) & SECRET_WRITES:
            assert kind == "Role", rule
            if set(rule["verbs"]) - {"create"}:
                raise AssertionError(f"nothing writes an existing Secret (the key is read or created): {rule}")
        if "events" in rule["resources"]:  # the platform's record of shared-value answers, in its own namespace
            assert kind == "Role" and rule["apiGroups"] == [""] and rule["verbs"] == ["create"], rule
    for role in all_of(docs, "Role"):
        assert role["metadata"]["namespace"] == NAMESPACE
    cluster_reads = {(group, resource) for doc in docs if doc["kind"] == "ClusterRole"
                     and not doc["metadata"]["name"].endswith("-audit")
                     for rule in doc["rules"] if "resourceNames" not in rule
                     and set(rule["verbs"]) <= {"get", "list", "watch"}
                     for group in rule["apiGroups"] for resource in rule["resources"]}
    assert cluster_reads == {
        ("", "namespaces"), ("", "secrets"), ("", "persistentvolumes"), ("", "persistentvolumeclaims"),
        ("storage.k8s.io", "storageclasses"), ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "clusterroles"), ("tierguard.io", "tierpolicies"),
        ("networking.k8s.io", "networkpolicies"),
        ("external-secrets.io", "secretstores"), ("external-secrets.io", "clustersecretstores"),
        ("bitnami.com", "sealedsecrets"), ("apiextensions.k8s.io", "customresourcedefinitions"),
    }
    service_account = only(docs, "ServiceAccount")
    for binding in all_of(docs, "ClusterRoleBinding") + all_of(docs, "RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": service_account["metadata"]["name"],
                                        "namespace": NAMESPACE}]


def test_tierguard_writes_tierpolicy_statuses_only(helm: Helm) -> None:
    writes = [rule for kind, rule in rbac_rules(default(helm)) if rule["apiGroups"] == ["tierguard.io"]
              and set(rule["verbs"]) - {"get", "list", "watch"}]
    assert writes == [{"apiGroups": ["tierguard.io"], "resources": ["tierpolicies/status"], "verbs": ["patch"]}]


def test_admission_policies_off_keeps_only_their_deletion(helm: Helm) -> None:
    docs = render_cached(helm, sets={"validatingAdmissionPolicy.enabled": "false"})
    assert "--no-admission-policies" in container(docs)["args"]
    (rule,) = [r for kind, r in rbac_rules(docs) if r["apiGroups"] == ["admissionregistration.k8s.io"]]
    assert rule["verbs"] == ["delete"] and rule["resourceNames"] == list(managed_names(FULLNAME))


def test_hmac_secret_name_reaches_flag_and_rbac(helm: Helm) -> None:
    docs = render_cached(helm, sets={"hmacSecretName": "tg-key"})
    assert "--hmac-secret=tg-key" in container(docs)["args"]
    named = [rule for kind, rule in rbac_rules(docs) if rule.get("resourceNames") and "secrets" in rule["resources"]]
    assert [rule["resourceNames"] for rule in named] == [["tg-key"]]


# ---- NetworkPolicy, ServiceMonitor --------------------------------------------------------------------------

def test_network_policy(helm: Helm) -> None:
    assert "NetworkPolicy" not in kinds(render_cached(helm, sets={"networkPolicy.enabled": "false"}))
    assert "NetworkPolicy" not in kinds(render_cached(helm, values_files=[CHART / "ci" / "local-values.yaml"]))
    docs = render_cached(helm, values_files=[CHART / "ci" / "networkpolicy-values.yaml"])
    policy = only(docs, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    assert policy["podSelector"] == only(docs, "Deployment")["spec"]["selector"]
    webhook_rule, metrics_rule = policy["ingress"]
    assert webhook_rule["ports"] == [{"port": "webhook", "protocol": "TCP"}]
    assert webhook_rule["from"] == [{"ipBlock": {"cidr": "10.0.0.0/24"}}, {"ipBlock": {"cidr": "192.168.10.5/32"}}]
    assert metrics_rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert metrics_rule["from"] == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    }]
    # On by default, and unable to break the install: the webhook port is open to every address until narrowed.
    open_default = only(default(helm), "NetworkPolicy")
    assert open_default["spec"]["ingress"][0]["from"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}},
                                                          {"ipBlock": {"cidr": "::/0"}}]
    assert open_default["spec"]["ingress"][1]["from"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}


def test_service_monitor_needs_the_api(helm: Helm) -> None:
    sets = {"metrics.serviceMonitor.enabled": "true", "metrics.serviceMonitor.labels.release": "prom"}
    assert "ServiceMonitor" not in kinds(render_cached(helm, sets=sets))
    docs = render_cached(helm, sets=sets, extra=["--api-versions", "monitoring.coreos.com/v1"])
    monitor = only(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "scheme": "http",
                                             "interval": "30s"}]
    assert "ServiceMonitor" not in kinds(render_cached(helm, extra=["--api-versions", "monitoring.coreos.com/v1"]))


# ---- the TierPolicy -----------------------------------------------------------------------------------------

def test_default_values_policy_is_specs_default(helm: Helm) -> None:
    document = only(default(helm), "TierPolicy")
    assert document["apiVersion"] == "tierguard.io/v1alpha1" and document["metadata"]["name"] == "default"
    assert load_policy(document) == DEFAULT_POLICY


def test_ci_policy_loads(helm: Helm) -> None:
    document = only(render_cached(helm, values_files=[CHART / "ci" / "networkpolicy-values.yaml"]), "TierPolicy")
    policy = load_policy(document)
    assert [sidecar.name for sidecar in policy.required_sidecars] == ["istio-proxy"]


def crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load((CHART / "crds" / "tierpolicies.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def crd_defaults(schema: dict[str, Any]) -> Any:
    """The object the API server's defaulting makes of an empty one."""
    if schema.get("type") != "object" or "properties" not in schema:
        return schema.get("default")
    result = dict(schema.get("default", {}))
    for name, sub in schema["properties"].items():
        value = crd_defaults(sub)
        if value is not None and name not in result:
            result[name] = value
    return result


def test_crd_defaults_are_specs_defaults() -> None:
    spec = crd_defaults(crd_schema()["properties"]["spec"])
    assert load_policy({"spec": spec}) == DEFAULT_POLICY


def test_crd_has_a_status_that_kubectl_get_shows() -> None:
    """SPEC: each TierPolicy has a status (InForce, Valid, observedGeneration); `kubectl get` shows it."""
    crd = yaml.safe_load((CHART / "crds" / "tierpolicies.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    assert version["subresources"] == {"status": {}}  # users' writes cannot set it; tierguard's cannot touch spec
    columns = {column["name"]: column for column in version["additionalPrinterColumns"]}
    assert columns["In-Force"]["jsonPath"] == '.status.conditions[?(@.type=="InForce")].status'
    assert columns["Valid"]["jsonPath"] == '.status.conditions[?(@.type=="Valid")].status'
    assert columns["Reason"]["jsonPath"] == '.status.conditions[?(@.type=="InForce")].reason'
    assert [c["name"] for c in version["additionalPrinterColumns"]][:3] == ["In-Force", "Valid", "Reason"]
    assert "priority" not in columns["In-Force"] and columns["Message"]["priority"] == 1  # -o wide
    status = crd_schema()["properties"]["status"]["properties"]
    assert status["observedGeneration"]["type"] == "integer"
    condition = status["conditions"]["items"]
    assert set(condition["required"]) == {"type", "status", "lastTransitionTime", "reason", "message"}
    assert condition["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert status["conditions"]["x-kubernetes-list-map-keys"] == ["type"]


def test_crd_is_structural_and_matches_values_schema() -> None:
    """Same fields in the CRD and in values.schema.json's `policy`; no preserve-unknown-fields anywhere."""
    values_schema = yaml.safe_load((CHART / "values.schema.json").read_text())

    def fields(schema: dict[str, Any], path: str = "") -> set[str]:
        assert "x-kubernetes-preserve-unknown-fields" not in schema, path
        found = {path} if path else set()
        for name, sub in schema.get("properties", {}).items():
            found |= fields(sub, f"{path}.{name}")
        if isinstance(schema.get("items"), dict):
            found |= fields(schema["items"], f"{path}[]")
        return found

    crd = crd_schema()
    assert "x-kubernetes-preserve-unknown-fields" not in crd
    assert fields(crd["properties"]["spec"]) == fields(values_schema["properties"]["policy"])

    def accepted(schema: dict[str, Any], path: str) -> None:
        # kube-apiserver refuses such a CRD: "additionalProperties and properties are mutual exclusive" (it prunes
        # unknown fields of a structural schema instead; tierguard's webhook refuses them, naming the field).
        assert not ("properties" in schema and "additionalProperties" in schema), path
        for name, sub in schema.get("properties", {}).items():
            accepted(sub, f"{path}.{name}")
        for key, suffix in (("items", "[]"), ("additionalProperties", ".*")):
            if isinstance(schema.get(key), dict):
                accepted(schema[key], path + suffix)

    accepted(crd, "openAPIV3Schema")

    def closed(schema: dict[str, Any], path: str) -> None:
        if schema.get("type") == "object" and "properties" in schema:
            assert schema.get("additionalProperties") is False, path
            for name, sub in schema["properties"].items():
                closed(sub, f"{path}.{name}")
        if isinstance(schema.get("items"), dict):
            closed(schema["items"], f"{path}[]")

    closed(values_schema, "values")


# ---- refused values -----------------------------------------------------------------------------------------

REFUSED: dict[str, tuple[dict[str, str], dict[str, str], str]] = {
    # id: (--set, --set-string, text expected in helm's error)
    "replicas-zero": ({"replicaCount": "0"}, {}, "replicaCount"),
    "typo-top-level": ({"replicaCuont": "2"}, {}, "replicaCuont"),
    "typo-nested": ({"webhook.failurePolicyy": "Fail"}, {}, "failurePolicyy"),
    "typo-in-policy": ({"policy.secrets.fingerprint.enabled": "false"}, {}, "fingerprint"),
    "wrong-type-replicas": ({}, {"replicaCount": "two"}, "replicaCount"),
    "wrong-type-bool": ({}, {"podDisruptionBudget.enabled": "yes"}, "enabled"),
    "failure-policy-enum": ({"webhook.failurePolicy": "Never"}, {}, "failurePolicy"),
    "timeout-too-long": ({"webhook.timeoutSeconds": "31"}, {}, "timeoutSeconds"),
    "timeout-zero": ({"webhook.timeoutSeconds": "0"}, {}, "timeoutSeconds"),
    "enforcement-enum": ({"policy.enforcement.default": "block"}, {}, "default"),
    "per-tier-enum": ({"policy.enforcement.perTier.dev": "off"}, {}, "perTier"),
    "pdb-both": ({"podDisruptionBudget.maxUnavailable": "1"}, {}, "not both"),
    "local-without-url": ({"local.enabled": "true", "webhook.caBundle": "Y2E="}, {}, "webhook.url"),
    "local-without-ca": ({"local.enabled": "true", "webhook.url": "https://127.0.0.1:9443"}, {}, "caBundle"),
    "local-and-cert-manager": ({**LOCAL, "certManager.enabled": "true"}, {}, "contradict"),
    "url-without-local": ({"webhook.url": "https://127.0.0.1:9443"}, {}, "local.enabled"),
    "url-not-https": ({**LOCAL, "webhook.url": "http://127.0.0.1:9443"}, {}, "url"),
    "renew-before-validity": ({"certs.renewBeforeDays": "400", "certs.validityDays": "365"}, {}, "renewBeforeDays"),
    "log-format-enum": ({"logFormat": "xml"}, {}, "logFormat"),
    "no-allowed-cidrs": ({"webhook.allowedCIDRs": "{}"}, {}, "allowedCIDRs"),
    # The selectors share one definition (a $ref in the generated schema): it is still enforced.
    "selector-typo": ({"networkPolicy.metricsPodSelector.matchLabel.app": "x"}, {}, "matchLabel"),
    "selector-operator-enum": ({"networkPolicy.metricsNamespaceSelector.matchExpressions[0].key": "a",
                                "networkPolicy.metricsNamespaceSelector.matchExpressions[0].operator": "Is"}, {},
                               "operator"),
    "spread-selector-typo": ({"topologySpreadConstraints[0].labelSelector.matchLabelz.a": "b"}, {}, "matchLabelz"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_refused_values(helm: Helm, case: str) -> None:
    sets, set_strings, message = REFUSED[case]
    proc = helm.template(sets=sets, set_strings=set_strings)
    assert proc.returncode != 0, f"{case}: rendered although it should be refused:\n{proc.stdout[:400]}"
    assert message in proc.stderr, proc.stderr


@pytest.mark.parametrize("sets", [{"replicaCount": "0"}, {"replicaCount": "-1"}])
def test_templates_refuse_zero_replicas_without_the_schema(helm: Helm, sets: dict[str, str]) -> None:
    """The template's own check, for installs that skip schema validation (--skip-schema-validation)."""
    proc = helm.template(sets=sets, extra=["--skip-schema-validation"])
    assert proc.returncode != 0
    assert "replicaCount must be at least 1" in proc.stderr, proc.stderr



def test_security_contexts_come_from_values(helm: Helm) -> None:
    """Platforms that assign uids (OpenShift's restricted SCC) drop the fixed user; a typo is refused."""
    unset = {f"{ctx}.{field}": "null" for ctx, field in (
        ("podSecurityContext", "runAsUser"), ("podSecurityContext", "runAsGroup"), ("podSecurityContext", "fsGroup"),
        ("securityContext", "runAsUser"), ("securityContext", "runAsGroup"))}
    docs = render_cached(helm, sets=unset)
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert "runAsUser" not in pod["securityContext"] and pod["securityContext"]["runAsNonRoot"] is True
    assert "runAsUser" not in container(docs)["securityContext"]
    assert container(docs)["securityContext"]["readOnlyRootFilesystem"] is True
    pod = only(render_cached(helm, sets={"podSecurityContext.runAsUser": "4242"}),
               "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 4242
    refused = helm.template(sets={"securityContext.readOnlyRootFS": "true"})
    assert refused.returncode != 0 and "readOnlyRootFS" in refused.stderr


def test_the_release_own_binding_is_never_sent_to_the_webhook(helm: Helm) -> None:
    """helm upgrade must work while no replica runs: the release's ClusterRoleBinding, its only judged object
    outside the release namespace, is excluded by exact name (and nothing else is)."""
    docs = default(helm)
    binding, audit_binding = sorted(b["metadata"]["name"] for b in all_of(docs, "ClusterRoleBinding"))
    assert audit_binding == f"{binding}-audit"
    webhooks = only(docs, "ValidatingWebhookConfiguration")["webhooks"]
    # (The Crossplane entry's condition selects objects carrying a field: tests/chart/test_routes.py; the pod
    # kinds' skip the objects tierguard is certain to admit: tests/chart/test_skip_conditions.py.)
    conditioned = [w for w in webhooks if w.get("matchConditions")
                   and w["matchConditions"][0]["name"] != CONDITION_NAME]
    assert [w["name"] for w in conditioned] == ["clusterrolebindings.tierguard.io", "networkpolicies.tierguard.io",
                                                "crossplane-connection-secrets.tierguard.io"]
    assert conditioned[0]["matchConditions"] == [
        {"name": "not-the-release-own-binding",
         "expression": f"request.name != '{binding}' && request.name != '{audit_binding}'"}]
    judged_outside = [d for d in docs if d.get("metadata", {}).get("namespace") not in (NAMESPACE, None)]
    assert judged_outside == []


def test_the_namespace_controller_deletes_network_policies_without_the_webhook(helm: Helm) -> None:
    """Deleting a namespace deletes its NetworkPolicies (the webhook judges their DELETEs for
    namespace-security-missing): the controller's DELETEs are not sent, so a namespace is deleted to the end while
    no replica runs; nothing else is left out."""
    webhooks = only(default(helm), "ValidatingWebhookConfiguration")["webhooks"]
    (entry,) = [w for w in webhooks if w["name"] == "networkpolicies.tierguard.io"]
    assert entry["rules"][0]["operations"] == ["CREATE", "UPDATE", "DELETE"]
    assert entry["matchConditions"] == [{"name": "not-the-namespace-controller", "expression": (
        "!(request.operation == 'DELETE' && request.userInfo.username in "
        "['system:serviceaccount:kube-system:namespace-controller', 'system:kube-controller-manager'])")}]


# ---- the background audit -------------------------------------------------------------------------------------

def test_audit_role_reads_exactly_the_judged_kinds_the_webhook_does_not_index(helm: Helm) -> None:
    from tierguard.webhook.background_audit.audit import audited_kinds  # noqa: PLC0415

    role = only(default(helm), "ClusterRole", f"{RELEASE}-tierguard-audit")
    reads = {(group, resource) for rule in role["rules"] if "watch" in rule["verbs"]
             for group in rule["apiGroups"] for resource in rule["resources"]}
    assert reads == {(info.group, info.resource) for info in audited_kinds() if info.index is None}
    writes = {(group, resource) for rule in role["rules"] if "create" in rule["verbs"]
              for group in rule["apiGroups"] for resource in rule["resources"]}
    assert writes == {("wgpolicyk8s.io", "policyreports"), ("wgpolicyk8s.io", "clusterpolicyreports")}


@pytest.mark.parametrize(("api", "groups"), [("openreports", {"openreports.io"}),
                                             ("both", {"openreports.io", "wgpolicyk8s.io"})])
def test_audit_report_api_choice_reaches_flag_rbac_and_crds(helm: Helm, api: str, groups: set[str]) -> None:
    docs = render_cached(helm, sets={"audit.reports.api": api, "audit.reports.installCRDs": "true"})
    assert f"--audit-reports-api={api}" in container(docs)["args"]
    role = only(docs, "ClusterRole", f"{RELEASE}-tierguard-audit")
    assert {g for rule in role["rules"] if "create" in rule["verbs"] for g in rule["apiGroups"]} == groups
    crds = all_of(docs, "CustomResourceDefinition")
    assert {crd["spec"]["group"] for crd in crds} == groups
    assert len(crds) == 2 * len(groups)
    for crd in crds:
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        served = [v["name"] for v in crd["spec"]["versions"] if v["served"] and v["storage"]]
        assert served == (["v1alpha2"] if crd["spec"]["group"] == "wgpolicyk8s.io" else ["v1alpha1"])


def test_audit_off_renders_no_audit_rbac_nor_crds(helm: Helm) -> None:
    docs = render_cached(helm, sets={"audit.enabled": "false", "audit.reports.installCRDs": "true"})
    assert "--no-audit" in container(docs)["args"]
    assert not [d for d in docs if d["metadata"]["name"].endswith("-audit")]
    assert not all_of(docs, "CustomResourceDefinition")
    assert not any(arg.startswith("--audit-") for arg in container(docs)["args"])


def test_report_crds_by_default_are_not_rendered_without_a_cluster_to_ask(helm: Helm) -> None:
    # `auto`: lookup answers nothing in `helm template`, for CRDs that may exist as for kube-system (test_cluster.py
    # renders it against a real API server).
    assert not all_of(default(helm), "CustomResourceDefinition")


@pytest.mark.parametrize(("value", "crds"), [("auto", 0), ("true", 2), ("false", 0)])
def test_install_crds_is_auto_true_or_false(helm: Helm, value: str, crds: int) -> None:
    docs = render_cached(helm, sets={"audit.reports.installCRDs": value})
    assert len(all_of(docs, "CustomResourceDefinition")) == crds


@pytest.mark.parametrize("value", ["yes", "\"\"", "1"])
def test_install_crds_refuses_other_values(helm: Helm, value: str) -> None:
    proc = helm.template(sets={"audit.reports.installCRDs": value})
    assert proc.returncode != 0 and "installCRDs" in proc.stderr, proc.stderr


# ---- webhook client certificates ----------------------------------------------------------------------------

CLIENT_CA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


def test_client_ca_is_mounted_and_required_only_when_given(helm: Helm, tmp_path: Path) -> None:
    plain = only(default(helm), "Deployment")["spec"]["template"]["spec"]
    assert not any(a.startswith("--client-ca") for a in plain["containers"][0]["args"])
    assert "client-ca" not in {v["name"] for v in plain["volumes"]}
    values = tmp_path / "client-ca.yaml"
    values.write_text(yaml.safe_dump({"webhook": {"clientCA": CLIENT_CA}}))
    docs = render_cached(helm, values_files=[values])
    spec = only(docs, "Deployment")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert "--client-ca=/client-ca/ca.crt" in container["args"]
    assert {"name": "client-ca", "mountPath": "/client-ca", "readOnly": True} in container["volumeMounts"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == "client-ca"]
    config_map = only(docs, "ConfigMap", volume["configMap"]["name"])
    assert config_map["data"]["ca.crt"].strip() == CLIENT_CA.strip()


def test_client_ca_must_be_pem(helm: Helm, tmp_path: Path) -> None:
    values = tmp_path / "bad.yaml"
    values.write_text(yaml.safe_dump({"webhook": {"clientCA": "not a certificate"}}))
    with pytest.raises(Exception, match="clientCA"):
        helm.render(values_files=[values])


def test_audit_reads_crossplane_groups_only_where_the_values_name_them(helm: Helm) -> None:
    """No group by default (the background audit skips a Crossplane kind it may not read); each group named in
    crossplane.auditGroups is read whole (its kinds are found by category, their plurals are not known here)."""
    default_role = only(default(helm), "ClusterRole", f"{RELEASE}-tierguard-audit")
    assert not [rule for rule in default_role["rules"] if "*" in rule["resources"]]
    docs = render_cached(helm, sets={"crossplane.auditGroups": "{rds.aws.upbound.io,kubernetes.crossplane.io}"})
    role = only(docs, "ClusterRole", f"{RELEASE}-tierguard-audit")
    assert [rule for rule in role["rules"] if "*" in rule["resources"]] == [
        {"apiGroups": ["rds.aws.upbound.io", "kubernetes.crossplane.io"], "resources": ["*"],
         "verbs": ["get", "list", "watch"]}]
    assert not any("secrets" in rule["resources"] and "" in rule["apiGroups"] for rule in role["rules"])
