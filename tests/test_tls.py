"""Mutual TLS between a client and a gateway on loopback: uvicorn enforces client certificates."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from picexchange import codec, exchange
from picexchange.client import Client, ClientConfig, RetryPolicy, TlsConfig
from picexchange.errors import DeliveryError
from picexchange.gateway import BackofficeConfig, Credentials, GatewayConfig, PartnerConfig, ServerTls, build
from picexchange.models.envelope import Envelope
from picexchange.testing import free_port, serve_in_thread
from picexchange.testpki import make_test_pki
from picexchange.trust import TrustStore

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "messages" / "plastic-au-my-01-notification.xml"
NOW = dt.datetime.now(dt.UTC)


def _write(path: Path, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> tuple[Path, Path]:
    cert_path, key_path = path.with_suffix(".cert.pem"), path.with_suffix(".key.pem")
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _issue(
    ca_key: ec.EllipticCurvePrivateKey, ca_name: x509.Name, name: str, usage: x509.ObjectIdentifier
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} TEST ONLY")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=2))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    )
    return key, builder.sign(ca_key, hashes.SHA256())


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TLS test CA TEST ONLY")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, _ = _write(folder / "ca", ca_key, ca)
    server = _write(folder / "server", *_issue(ca_key, ca_name, "gateway", ExtendedKeyUsageOID.SERVER_AUTH))
    client = _write(folder / "client", *_issue(ca_key, ca_name, "AU:DCCEEW", ExtendedKeyUsageOID.CLIENT_AUTH))
    return {
        "ca": ca_path,
        "server_cert": server[0],
        "server_key": server[1],
        "client_cert": client[0],
        "client_key": client[1],
    }


def test_a_gateway_requiring_client_certificates_receipts_mtls_and_refuses_plain_tls(
    tmp_path: Path, tls_files: dict[str, Path]
) -> None:
    pki = make_test_pki(
        ["AU:DCCEEW", "MY:DOE"], not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=2)
    )
    port = free_port()
    config = GatewayConfig(
        partners=tmp_path / "unused.toml",
        store=f"sqlite:///{tmp_path / 'my.db'}",
        partner=PartnerConfig(
            port=port,
            tls=ServerTls(
                certificate=tls_files["server_cert"],
                key=tls_files["server_key"],
                client_ca=tls_files["ca"],
                require_client_certificate=True,
            ),
        ),
        backoffice=BackofficeConfig(port=0),
    )
    running = build(
        config,
        trust=TrustStore.of([p.partner for p in pki.participants], me=pki["MY:DOE"].identity),
        credentials=Credentials(),
    )
    document = codec.from_xml(SAMPLE.read_bytes(), Envelope).document
    sealed = exchange.seal(document, me=pki["AU:DCCEEW"].identity, to="MY:DOE", now=NOW)  # type: ignore[arg-type]
    url = f"https://127.0.0.1:{port}/ub/v1/messages"
    trust = pki.trust()
    with serve_in_thread(running):
        with_certificate = ClientConfig(
            tls=TlsConfig(
                ca_bundle=tls_files["ca"],
                client_certificate=tls_files["client_cert"],
                client_key=tls_files["client_key"],
            ),
        )
        with Client(me=pki["AU:DCCEEW"].identity, trust=trust, config=with_certificate) as client:
            receipted = client.send(sealed, endpoint=url)
        assert receipted.receipt.received_digest.value == sealed.digest

        without = ClientConfig(tls=TlsConfig(ca_bundle=tls_files["ca"]), retry=RetryPolicy(max_attempts=1))
        with Client(me=pki["AU:DCCEEW"].identity, trust=trust, config=without) as client, pytest.raises(DeliveryError):
            client.send(sealed, endpoint=url)

        untrusting = ClientConfig(retry=RetryPolicy(max_attempts=1))  # system CAs do not know the test CA
        with (
            Client(me=pki["AU:DCCEEW"].identity, trust=trust, config=untrusting) as client,
            pytest.raises(DeliveryError),
        ):
            client.send(sealed, endpoint=url)


def test_client_tls_is_read_from_the_gateway_configuration(tmp_path: Path) -> None:
    text = """
[gateway]
partners = "partners.toml"
store = "sqlite:gw.db"
[backoffice]
tokens = "tokens.toml"
[client_tls]
ca_bundle = "ca.pem"
certificate = "client.cert.pem"
key = "client.key.pem"
"""
    config = GatewayConfig.from_toml_text(text, base=tmp_path)
    assert config.client_tls is not None
    assert config.client_tls.client_certificate == tmp_path / "client.cert.pem"
    assert config.store == f"sqlite:///{(tmp_path / 'gw.db').resolve().as_posix().lstrip('/')}"


def test_a_back_office_client_authenticates_with_its_registered_certificate(
    tmp_path: Path, tls_files: dict[str, Path]
) -> None:
    """mTLS instead of a token: the certificate's fingerprint is bound to a client and its participants."""
    import hashlib
    import ssl

    import httpx

    from picexchange.gateway import Grant

    pki = make_test_pki(["MY:DOE"], not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=2))
    der = ssl.PEM_cert_to_DER_cert(tls_files["client_cert"].read_text())
    grant = Grant(client="erp", participants=frozenset({"MY:DOE"}), sha256=hashlib.sha256(der).hexdigest())
    config = GatewayConfig(
        partners=tmp_path / "unused.toml",
        store=f"sqlite:///{tmp_path / 'my.db'}",
        partner=PartnerConfig(port=0),
        backoffice=BackofficeConfig(
            host="127.0.0.2",
            port=0,
            tls=ServerTls(certificate=tls_files["server_cert"], key=tls_files["server_key"], client_ca=tls_files["ca"]),
        ),
    )
    trust = TrustStore.of([p.partner for p in pki.participants], me=pki["MY:DOE"].identity)
    running = build(config, trust=trust, credentials=Credentials(certificates=(grant,)))
    with serve_in_thread(running) as server:
        with_certificate = ssl.create_default_context(cafile=str(tls_files["ca"]))
        with_certificate.check_hostname = False  # the test server certificate names no address
        with_certificate.load_cert_chain(str(tls_files["client_cert"]), str(tls_files["client_key"]))
        without = ssl.create_default_context(cafile=str(tls_files["ca"]))
        without.check_hostname = False
        with httpx.Client(base_url=server.backoffice_url, verify=with_certificate, timeout=30) as http:
            assert http.get("/api/v1/inbox").status_code == 200
            audit = http.get("/api/v1/audit").json()["actions"]
            assert audit[0]["client"] == "erp" and audit[0]["action"] == "inbox.read"
        with httpx.Client(base_url=server.backoffice_url, verify=without, timeout=30) as http:
            refused = http.get("/api/v1/inbox")
            assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
