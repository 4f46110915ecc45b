"""cert-manager mode's certificate rotation under load (reliability issue, item 2), cert-manager played by the test.

cert-manager cannot run here (its images come from a container registry), so this module installs its CRDs
(``tests/fixtures/cert-manager/``, unchanged from cert-manager v1.21.1) and does what its controller and its
cainjector do, as their source (github.com/cert-manager/cert-manager, tag v1.21.1) says:

- The issuing controller server-side applies the Certificate's Secret (``spec.secretName``; field manager
  ``cert-manager-certificates-issuing``): type ``kubernetes.io/tls``; ``tls.crt`` the leaf (a CA Issuer whose CA is
  a root sends no chain); ``tls.key`` a new key on every issuance (the chart's ``rotationPolicy: Always``), in
  PKCS#1/SEC1 PEM (the default encoding); ``ca.crt`` the issuing CA; the annotations
  ``cert-manager.io/certificate-name``, ``issuer-name``, ``issuer-kind``, ``issuer-group``, ``common-name``,
  ``alt-names``, ``ip-sans``, ``uri-sans`` and the label ``controller.cert-manager.io/fao: "true"``
  (``pkg/controller/certificates/issuing/internal/secret.go``, ``internal/controller/certificates/secrets.go``).
- cainjector, for ``cert-manager.io/inject-ca-from: <namespace>/<certificate>`` on the webhook configuration,
  reads that Certificate's Secret, only if its ``cert-manager.io/certificate-name`` names the Certificate, and
  applies its ``ca.crt`` to every webhook's ``caBundle`` (``pkg/controller/cainjector/sources.go``,
  ``injectables.go``; field manager ``cert-manager-cainjector``). Since cert-manager 1.19 (feature gate
  ``CAInjectorMerging``, on by default, GA in 1.21) it merges: the new CA is appended and the CAs already in the
  bundle stay until they expire (``internal/cainjector/bundle/bundle.go``). Before 1.19 it replaced the bundle.

Nothing here assumes the local cluster: the served certificates are read inside the pods; figures go to ``record``
as in ``test_reliability``. The release is returned to its values from before the module at the end.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .support.kube import REPO, Cluster, wait_until
from .support.tierguard import NAMESPACE
from .test_install import RELEASE, deployment, helm, pods, wait_rolled_out
from .test_reliability import (
    assert_answered,
    load,
    load_namespaces,
    record,
    secret_certificate,
    serves,
)

__all__ = ["deployment", "load_namespaces"]  # fixtures, shared with test_install and test_reliability

CRDS = REPO / "tests" / "fixtures" / "cert-manager"
CHART = REPO / "charts" / "tierguard"
SERVED_TIMEOUT_S = 180
"""Every replica serves a new Secret within this: the kubelet's refresh of the Secret volume (its pod sync, about a
minute) plus tierguard's 10 s file check."""
TAIL_S = 5.0
"""Load kept on after the last replica switched, so reviews right after the switch count too."""
MAX_LOAD_S = 300.0
ISSUING = "cert-manager-certificates-issuing"
CAINJECTOR = "cert-manager-cainjector"


# --- what cert-manager's issuing controller writes ------------------------------------------------------------

@dataclass(frozen=True)
class Authority:
    """A CA as cert-manager's CA Issuer holds it: ECDSA P-256 (the chart's CA Certificate), self-signed."""

    name: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_authority(common_name: str, key: ec.EllipticCurvePrivateKey | None = None) -> Authority:
    """A CA certificate; with ``key``, the renewal of a CA with that key (the chart's ``rotationPolicy: Never``):
    same subject and key, a new serial and validity."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now() - dt.timedelta(minutes=1)).not_valid_after(now() + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=True,
                                         content_commitment=False, data_encipherment=False, key_agreement=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Authority(common_name, key, cert)


def serving_pair(ca: Authority, dns_names: list[str]) -> tuple[str, str]:
    """(tls.crt, tls.key) for the chart's serving Certificate: a new key, its dnsNames, its usages, no subject
    (the Certificate sets no commonName, so the SANs are critical), 90 days (cert-manager's default duration)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(ca.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now() - dt.timedelta(minutes=1)).not_valid_after(now() + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=True)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False,
                                         content_commitment=False, data_encipherment=False, key_agreement=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- the stand-in ---------------------------------------------------------------------------------------------

@dataclass
class CertManager:
    """The chart's cert-manager objects as the cluster holds them, and what cert-manager would write for them."""

    cluster: Cluster
    certificate: dict[str, Any]
    ca: Authority
    served: str = ""
    """The tls.crt last written (public)."""

    @property
    def secret_name(self) -> str:
        name: str = self.certificate["spec"]["secretName"]
        return name

    def issue(self, ca: Authority) -> str:
        """Server-side applies the Secret as the issuing controller does, signed by ``ca``; returns tls.crt."""
        spec = self.certificate["spec"]
        crt, key = serving_pair(ca, spec["dnsNames"])
        issuer = spec["issuerRef"]
        secret = {
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {
                "name": self.secret_name, "namespace": NAMESPACE,
                "labels": {"controller.cert-manager.io/fao": "true"},
                "annotations": {
                    "cert-manager.io/certificate-name": self.certificate["metadata"]["name"],
                    "cert-manager.io/issuer-name": issuer["name"], "cert-manager.io/issuer-kind": issuer["kind"],
                    "cert-manager.io/issuer-group": issuer["group"], "cert-manager.io/common-name": "",
                    "cert-manager.io/alt-names": ",".join(spec["dnsNames"]), "cert-manager.io/ip-sans": "",
                    "cert-manager.io/uri-sans": ""}},
            "data": {"tls.crt": b64(crt), "tls.key": b64(key), "ca.crt": b64(ca.pem)},
        }
        self.cluster.kubectl("apply", "--server-side", "--force-conflicts", f"--field-manager={ISSUING}", "-f", "-",
                             input=json.dumps(secret))
        self.ca, self.served = ca, crt
        return crt

    def inject(self, *, merge: bool = True) -> str:
        """What cainjector does for the webhook configuration's ``inject-ca-from``: the named Certificate's Secret's
        ``ca.crt`` into every ``caBundle``, merged into the bundle (cert-manager 1.19+) or replacing it (before).
        Returns the bundle written."""
        config = webhook_configuration(self.cluster)
        namespace, name = config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].split("/", 1)
        certificate = self.cluster.get_json("certificates.cert-manager.io", name, "-n", namespace)
        secret = self.cluster.get_json("secret", certificate["spec"]["secretName"], "-n", namespace)
        assert secret["metadata"]["annotations"]["cert-manager.io/certificate-name"] == name, \
            "cainjector takes the CA only from a Secret its Certificate wrote"
        ca = base64.b64decode(secret["data"]["ca.crt"]).decode()
        return self.write_bundle(config, lambda current: merged(current, ca) if merge else ca)

    def write_bundle(self, config: dict[str, Any], make: Callable[[str], str]) -> str:
        webhooks = []
        bundle = ""
        for entry in config["webhooks"]:
            current = base64.b64decode(entry["clientConfig"].get("caBundle", "")).decode()
            bundle = make(current)
            webhooks.append({"name": entry["name"], "clientConfig": {"caBundle": b64(bundle)}})
        patch = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                 "metadata": {"name": config["metadata"]["name"]}, "webhooks": webhooks}
        self.cluster.kubectl("apply", "--server-side", "--force-conflicts", f"--field-manager={CAINJECTOR}",
                             "-f", "-", input=json.dumps(patch))
        return bundle

    def trust_only(self, *authorities: Authority) -> None:
        """The bundle reduced to these CAs: what the merging cainjector's bundle becomes once the others expire."""
        self.write_bundle(webhook_configuration(self.cluster), lambda _: "".join(a.pem for a in authorities))


def merged(bundle: str, additional: str) -> str:
    """cainjector's AppendCertificatesToBundle: the bundle's certificates then the new ones, each once, none
    expired."""
    seen: list[x509.Certificate] = []
    for text in (bundle, additional):
        for cert in x509.load_pem_x509_certificates(text.encode()) if text.strip() else []:
            if cert not in seen and cert.not_valid_after_utc > now():
                seen.append(cert)
    return "".join(cert.public_bytes(serialization.Encoding.PEM).decode() for cert in seen)


def bundle_of(cluster: Cluster) -> set[bytes]:
    """The DER certificates every webhook entry trusts (the same in all of them, as cainjector writes)."""
    bundles = {entry["clientConfig"].get("caBundle", "") for entry in webhook_configuration(cluster)["webhooks"]}
    assert len(bundles) == 1, "the webhook entries trust different CAs"
    text = base64.b64decode(bundles.pop()).decode()
    return {cert.public_bytes(serialization.Encoding.DER) for cert in x509.load_pem_x509_certificates(text.encode())}


def der(authority: Authority) -> bytes:
    return authority.cert.public_bytes(serialization.Encoding.DER)


def webhook_configuration(cluster: Cluster) -> dict[str, Any]:
    config: dict[str, Any] = cluster.get_json("validatingwebhookconfiguration", RELEASE)
    return config


def wait_served(cluster: Cluster, crt: str, started: float) -> float:
    """Seconds from ``started`` until every replica serves ``crt``."""
    wait_until(lambda: all(serves(cluster, pod, crt) for pod in pods(cluster)),
               timeout=SERVED_TIMEOUT_S, interval=1, what="every replica serving the new certificate")
    return round(time.monotonic() - started, 1)


def upgrade(cluster: Cluster, *args: str) -> None:
    done = helm(cluster, "upgrade", RELEASE, str(CHART), "-n", NAMESPACE, "--wait", "--timeout=180s", *args)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def cert_manager(cluster: Cluster, deployment: dict[str, Any]) -> Iterator[CertManager]:
    """The release upgraded to ``certManager.enabled=true``, its Certificate issued by the stand-in, every replica
    serving it; afterwards the release's own values again, serving a chart-generated certificate."""
    if not (cluster.bin_dir / "helm").is_file():
        pytest.skip(f"no helm next to kubectl in {cluster.bin_dir}")
    if cluster.kubectl("get", "crd", "certificates.cert-manager.io", check=False).returncode == 0:
        pytest.skip("cert-manager's CRDs are installed already: a real cert-manager would contend with this stand-in")
    values = json.loads(helm(cluster, "get", "values", RELEASE, "-n", NAMESPACE, "-o", "json").stdout or "{}") or {}
    if (values.get("certManager") or {}).get("enabled"):
        pytest.skip("the release runs in cert-manager mode already")
    generated_ca = base64.b64decode(cluster.get_json("secret", secret_name(deployment), "-n", NAMESPACE)
                                    ["data"]["ca.crt"]).decode()
    with tempfile.TemporaryDirectory() as scratch:
        original = Path(scratch) / "values.json"
        original.write_text(json.dumps(values))
        cluster.kubectl("apply", "--server-side", "-f", str(CRDS))
        try:
            wait_until(lambda: all(established(cluster, crd) for crd in ("certificates", "issuers")), timeout=60,
                       what="cert-manager's CRDs established")
            upgrade(cluster, "--reuse-values", "--set", "certManager.enabled=true")
            # The chart's wiring: cainjector's Certificate is the one whose Secret the pods mount.
            injected_from = webhook_configuration(cluster)["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
            certificate = cluster.get_json("certificates.cert-manager.io", injected_from.split("/", 1)[1], "-n",
                                           injected_from.split("/", 1)[0])
            assert certificate["spec"]["secretName"] == secret_name(deployment), \
                "the pods mount another Secret than the one cert-manager writes for the injected Certificate"
            issuer = cluster.get_json("issuers.cert-manager.io", certificate["spec"]["issuerRef"]["name"], "-n",
                                      NAMESPACE)
            ca_certificate = cluster.get_json("certificates.cert-manager.io", "-n", NAMESPACE,
                                              issuer["spec"]["ca"]["secretName"])
            stand_in = CertManager(cluster, certificate, new_authority(ca_certificate["spec"]["commonName"]))
            # The switch itself (helm removed the generated Secret and caBundle) is not what is measured: while the
            # replicas still serve the generated certificate, its CA stays trusted.
            started = time.monotonic()
            crt = stand_in.issue(stand_in.ca)
            stand_in.write_bundle(webhook_configuration(cluster), lambda _: stand_in.ca.pem + generated_ca)
            wait_served(cluster, crt, started)
            stand_in.inject(merge=False)
            yield stand_in
        finally:
            restore(cluster, deployment, original)


def established(cluster: Cluster, plural: str) -> bool:
    # Not `kubectl wait`: right after the create the CRD has no conditions yet, and kubectl fails on that.
    crd = cluster.get_json("crd", f"{plural}.cert-manager.io")
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def secret_name(deployment: dict[str, Any]) -> str:
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    name: str = next(v["secret"]["secretName"] for v in volumes if "secret" in v)
    return name


def restore(cluster: Cluster, deployment: dict[str, Any], original: Path) -> None:
    """Back to the chart-generated certificates, the way docs/helm.md tells users to switch back: helm
    adopts cert-manager's Secret (else it refuses to overwrite an object it does not own), so the generated
    caBundle trusts the old CA too while the replicas move to the new certificate; ``--force-conflicts`` takes
    the caBundle and Secret fields over from cert-manager's field managers."""
    name = secret_name(deployment)
    if cluster.kubectl("get", "secret", name, "-n", NAMESPACE, check=False).returncode == 0:
        cluster.kubectl("annotate", "--overwrite", "secret", name, "-n", NAMESPACE,
                        f"meta.helm.sh/release-name={RELEASE}", f"meta.helm.sh/release-namespace={NAMESPACE}")
        cluster.kubectl("label", "--overwrite", "secret", name, "-n", NAMESPACE, "app.kubernetes.io/managed-by=Helm")
    started = time.monotonic()
    upgrade(cluster, "--reset-values", "-f", str(original), "--force-conflicts")
    # The Secret as the chart alone would have it, for the tests after this module.
    cluster.kubectl("annotate", "secret", name, "-n", NAMESPACE, *(f"cert-manager.io/{key}-" for key in (
        "certificate-name", "issuer-name", "issuer-kind", "issuer-group", "common-name", "alt-names", "ip-sans",
        "uri-sans")), check=False)
    cluster.kubectl("label", "secret", name, "-n", NAMESPACE, "controller.cert-manager.io/fao-", check=False)
    wait_rolled_out(cluster)
    wait_served(cluster, secret_certificate(cluster, deployment), started)
    cluster.kubectl("delete", "-f", str(CRDS), "--ignore-not-found", "--wait=true", check=False)


# --- the rotations ----------------------------------------------------------------------------------------------

def counts(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in ("attempted", "right", "wrong", "failed", "rate")}


def test_renewal_under_load(cluster: Cluster, cert_manager: CertManager, load_namespaces: tuple[str, str]) -> None:
    """cert-manager renews the serving certificate (same CA, new key: ``rotationPolicy: Always``) while reviews
    flow: cainjector's bundle does not change, the replicas pick the new files up, no review fails."""
    target, source = load_namespaces
    before = bundle_of(cluster)
    with load(cluster, target, source, seconds=MAX_LOAD_S, until_block_ends=True) as result:
        started = time.monotonic()
        crt = cert_manager.issue(cert_manager.ca)
        cert_manager.inject()
        assert bundle_of(cluster) == before
        served_s = wait_served(cluster, crt, started)
        time.sleep(TAIL_S)
    record("cert-manager-renewal", served_new_after_s=served_s, **counts(result))
    assert_answered(result, "cert-manager renewal")


def test_ca_rotation_under_load(cluster: Cluster, cert_manager: CertManager,
                                load_namespaces: tuple[str, str]) -> None:
    """A new CA (a new key) signs the renewed serving certificate, in the order cert-manager 1.19+ gives it: the
    Secret first (new tls.crt, new ca.crt), then cainjector merges the new CA into the bundle, which keeps the old
    one (until it expires: dropped here once every replica serves the new certificate, as its expiry would).

    The chart's generated mode puts the caBundle (old and new CA) first, the Secret second. cert-manager cannot:
    the new CA reaches cainjector only through the renewed Secret. What tierguard must survive is the moment
    between the Secret's write and cainjector's merge, when the bundle trusts only the old CA: it does, because a
    replica serves the old certificate until the kubelet refreshes its volume (a pod sync, tens of seconds),
    long after the merge (cainjector watches the Secret). Before 1.19 cainjector replaced the bundle with the
    new CA at that moment, and the replicas still serving the old certificate would fail every review until
    they switch; see ``test_ca_renewal_with_a_replacing_cainjector_under_load`` for why that does not happen with
    the chart's CA."""
    target, source = load_namespaces
    old = cert_manager.ca
    new = new_authority(old.name)
    with load(cluster, target, source, seconds=MAX_LOAD_S, until_block_ends=True) as result:
        started = time.monotonic()
        crt = cert_manager.issue(new)
        cert_manager.inject(merge=True)
        assert bundle_of(cluster) == {der(old), der(new)}
        served_s = wait_served(cluster, crt, started)
        cert_manager.trust_only(new)
        assert bundle_of(cluster) == {der(new)}
        time.sleep(TAIL_S)
    record("cert-manager-ca-rotation", served_new_after_s=served_s, **counts(result))
    assert_answered(result, "cert-manager CA rotation")


def test_ca_renewal_with_a_replacing_cainjector_under_load(cluster: Cluster, cert_manager: CertManager,
                                                           load_namespaces: tuple[str, str]) -> None:
    """The chart's CA Certificate renewed (``rotationPolicy: Never``: the same key and subject, a new certificate)
    and the serving certificate re-issued by it, with cainjector as before cert-manager 1.19: the bundle replaced
    by the renewed CA alone as soon as the Secret changes. Replicas still serving the previous certificate stay
    trusted, because it verifies under the renewed CA (same issuer name, same key)."""
    target, source = load_namespaces
    old = cert_manager.ca
    renewed = new_authority(old.name, key=old.key)
    previous = cert_manager.served
    with load(cluster, target, source, seconds=MAX_LOAD_S, until_block_ends=True) as result:
        started = time.monotonic()
        crt = cert_manager.issue(renewed)
        cert_manager.inject(merge=False)
        assert bundle_of(cluster) == {der(renewed)}
        assert verifies(previous, renewed), "the certificate still served does not verify under the renewed CA"
        served_s = wait_served(cluster, crt, started)
        time.sleep(TAIL_S)
    record("cert-manager-ca-renewal-replacing-cainjector", served_new_after_s=served_s, **counts(result))
    assert_answered(result, "cert-manager CA renewal, bundle replaced")


def verifies(crt: str, ca: Authority) -> bool:
    """Whether ``crt`` verifies under ``ca`` alone (the check the API server makes with its caBundle)."""
    leaf = x509.load_pem_x509_certificate(crt.encode())
    try:
        leaf.verify_directly_issued_by(ca.cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
