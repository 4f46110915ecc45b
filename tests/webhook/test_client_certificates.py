"""``--client-ca``: only a client whose certificate chains to the given CA (the API server, configured with a client
certificate for webhooks) completes the TLS handshake; any other client, a pod posting reviews of its own making
among them, is refused before a byte of its review is read (docs/security.md, Known gaps)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tierguard.commands.root import cli
from tierguard.webhook.admission import AdmissionService
from tierguard.webhook.certs import CertificatePaths, write_certificates
from tierguard.webhook.server import AdmissionServer

from .helpers import free_port, review

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "dev"},
       "spec": {"containers": [{"name": "app", "image": "nginx"}]}}


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def client_pki(directory: Path, ca_name: str) -> tuple[Path, Path, Path]:
    """A CA and a client certificate it signed (clientAuth), as the API server's webhook kubeconfig holds:
    (ca.crt, client.crt, client.key)."""
    directory.mkdir(parents=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name(ca_name)).issuer_name(_name(ca_name))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("kube-apiserver")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.crt", directory / "client.crt", directory / "client.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class Served:
    def __init__(self, url: str, serving: CertificatePaths, client_ca: Path) -> None:
        self.url, self.serving, self.client_ca = url, serving, client_ca

    def post(self, client: tuple[Path, Path] | None) -> dict[str, Any]:
        context = ssl.create_default_context(cafile=str(self.serving.ca))
        if client is not None:
            context.load_cert_chain(str(client[0]), str(client[1]))
        request = urllib.request.Request(self.url + "/pods", data=json.dumps(review(POD)).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer


@pytest.fixture
def served(service: AdmissionService, tmp_path: Path) -> Iterator[Served]:
    serving = write_certificates(tmp_path / "serving", ["127.0.0.1"])
    client_ca, _, _ = client_pki(tmp_path / "apiserver", "apiserver-client-ca")
    port = free_port()
    server = AdmissionServer(service, addr="127.0.0.1", port=port, certfile=str(serving.cert),
                             keyfile=str(serving.key), client_ca=str(client_ca), file_check_interval=0.2)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    reloading = asyncio.run_coroutine_threadsafe(server.serve_reloads(), loop)
    yield Served(f"https://127.0.0.1:{port}", serving, client_ca)
    reloading.cancel()
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_the_api_servers_client_certificate_is_answered(served: Served) -> None:
    client = served.client_ca.parent / "client.crt", served.client_ca.parent / "client.key"
    assert served.post(client)["response"]["allowed"] is True


def test_a_client_without_a_certificate_is_refused_at_the_handshake(served: Served) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError, urllib.error.URLError)):
        served.post(None)
    client = served.client_ca.parent / "client.crt", served.client_ca.parent / "client.key"
    assert served.post(client)["response"]["allowed"] is True  # still serving


def test_a_certificate_of_another_ca_is_refused(served: Served, tmp_path: Path) -> None:
    _, cert, key = client_pki(tmp_path / "pod", "some-other-ca")
    with pytest.raises((ssl.SSLError, ConnectionError, urllib.error.URLError)):
        served.post((cert, key))


def test_a_new_client_ca_is_trusted_without_restart(served: Served, tmp_path: Path) -> None:
    """The CA a ConfigMap holds is rotated by adding the new one: trusted once the file changes."""
    new_ca, cert, key = client_pki(tmp_path / "rotated", "apiserver-client-ca-2")
    with pytest.raises((ssl.SSLError, ConnectionError, urllib.error.URLError)):
        served.post((cert, key))
    served.client_ca.write_bytes(served.client_ca.read_bytes() + new_ca.read_bytes())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            assert served.post((cert, key))["response"]["allowed"] is True
            return
        except (ssl.SSLError, ConnectionError, urllib.error.URLError):
            time.sleep(0.1)
    raise AssertionError("the added client CA was not trusted within 5 s")


def test_run_takes_the_client_ca_as_an_option() -> None:
    result = CliRunner().invoke(cli, ["run", "--help"])
    assert result.exit_code == 0 and "--client-ca" in result.output
