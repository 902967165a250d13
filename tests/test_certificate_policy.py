"""The certificate policy refuses what it should, when a certificate is registered and when it is presented.

Each rule (DESIGN §6, issue 7) has a certificate the test PKI makes with one keyword option, and is shown three
ways: :func:`certificate_problems` names it; loading it into a partner registry (a partner's certificate and
``[me]``) is refused with the file and field; a message and a receipt signed with it are refused at ``now``
with a TrustError. The files in ``samples/hostile/certificates/`` are each refused with their README's message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from picexchange import codec, exchange, signing, testpki
from picexchange.errors import ConfigurationError, TrustError
from picexchange.files.registry import load_trust
from picexchange.models.envelope import Envelope
from picexchange.models.pic import Notification
from picexchange.testpki import CaKey, TestPki
from picexchange.trust import (
    DOCUMENT_SIGNING_USAGES,
    Identity,
    RegisteredCertificate,
    TrustStore,
    certificate_problems,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "messages"
HOSTILE = ROOT / "samples" / "hostile" / "certificates"
VALID_FROM = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
VALID_TO = dt.datetime(2028, 1, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
EXPORTER, IMPORTER = "AU:DCCEEW", "MY:DOE"
UNKNOWN_OID = x509.ObjectIdentifier("2.25.238432748193651394843981873469120938311")
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")

Ca = tuple[CaKey, x509.Certificate]


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return testpki.make_test_pki([EXPORTER, IMPORTER], not_before=VALID_FROM, not_after=VALID_TO)


@pytest.fixture(scope="module")
def cas(pki: TestPki) -> dict[str, Ca]:
    """Issuing CAs: the test PKI's (RSA-2048), an EC P-256 one, and two below the minimum."""
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the attack
    return {
        "rsa2048": (pki.ca_key, pki.ca_certificate),
        "p256": testpki.make_ca(key=ec.generate_private_key(ec.SECP256R1()), not_before=VALID_FROM, not_after=VALID_TO),
        "rsa1024": testpki.make_ca(key=weak, not_before=VALID_FROM, not_after=VALID_TO),
        "p224": testpki.make_ca(key=ec.generate_private_key(ec.SECP224R1()), not_before=VALID_FROM, not_after=VALID_TO),
    }


@pytest.fixture(scope="module")
def notification() -> Notification:
    document = codec.from_xml((SAMPLES / "plastic-au-my-01-notification.xml").read_bytes(), Envelope).document
    assert isinstance(document, Notification)
    return document


#: One bad certificate per rule: the issuing CA, the options of testpki.make_certificate, the expected message.
RULES: dict[str, tuple[str, dict[str, Any], str]] = {
    "eku-server-auth-only": (
        "rsa2048",
        {"extended_key_usage": [ExtendedKeyUsageOID.SERVER_AUTH]},
        "its extended key usage (serverAuth) does not allow signing documents (one of anyExtendedKeyUsage, "
        "clientAuth, documentSigning, emailProtection is needed)",
    ),
    "eku-server-auth-and-time-stamping": (
        "rsa2048",
        {"extended_key_usage": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.TIME_STAMPING]},
        "its extended key usage (serverAuth, timeStamping) does not allow signing documents",
    ),
    "sha1-signed": (
        "rsa2048",
        {"signature_hash": hashes.SHA1()},  # noqa: S303 - the attack
        "it is signed with SHA-1, a hash below SHA-256 (sha1WithRSAEncryption)",
    ),
    "md5-signed": (
        "rsa2048",
        {"signature_hash": hashes.MD5()},  # noqa: S303 - the attack
        "it is signed with MD5, a hash below SHA-256 (md5WithRSAEncryption)",
    ),
    "sha224-signed": (
        "rsa2048",
        {"signature_hash": hashes.SHA224()},
        "it is signed with SHA-224, a hash below SHA-256",
    ),
    "ecdsa-sha1-signed": (
        "p256",
        {"signature_hash": hashes.SHA1()},  # noqa: S303 - the attack
        "it is signed with SHA-1, a hash below SHA-256 (ecdsa-with-SHA1)",
    ),
    "rsa1024-issuer": (
        "rsa1024",
        {},
        "it was issued with an RSA key of 1024 bits (the length of its signature), below 2048",
    ),
    "p224-issuer": (
        "p224",
        {},
        "it was issued with an EC key on a curve below P-256 (its signature's r and s fit in 224 bits)",
    ),
    "unknown-critical-extension": (
        "rsa2048",
        {"critical_extension": UNKNOWN_OID},
        f"it has a critical extension picexchange does not process (unknown extension {UNKNOWN_OID.dotted_string})",
    ),
}


def _issue(cas: dict[str, Ca], key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, rule: str) -> x509.Certificate:
    ca, options, _ = RULES[rule]
    return testpki.make_certificate(
        IMPORTER,
        key.public_key(),
        ca_key=cas[ca][0],
        ca_certificate=cas[ca][1],
        not_before=VALID_FROM,
        not_after=VALID_TO,
        **options,
    )


@pytest.fixture(scope="module")
def bad(pki: TestPki, cas: dict[str, Ca]) -> dict[str, x509.Certificate]:
    """MY:DOE's own key, certified by each bad certificate (so the key pair is real and can sign)."""
    key = pki[IMPORTER].private_key
    assert isinstance(key, rsa.RSAPrivateKey)
    return {rule: _issue(cas, key, rule) for rule in RULES}


# ------------------------------------------------------------------------------------------------ the rules


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rule_names_what_is_wrong(bad: dict[str, x509.Certificate], rule: str) -> None:
    """A certificate that breaks one rule gets exactly that rule's message."""
    [problem] = certificate_problems(bad[rule])
    assert problem.startswith(RULES[rule][2])


def test_the_test_pki_certificates_pass(pki: TestPki, cas: dict[str, Ca]) -> None:
    """Without options the test PKI makes certificates the policy accepts, from RSA and EC CAs alike."""
    assert certificate_problems(pki[IMPORTER].certificate) == ()
    key = pki[IMPORTER].private_key
    assert isinstance(key, rsa.RSAPrivateKey)
    for _ in range(16):  # the r and s of a P-256 signature are never both below 2^224 (chance 2^-64 each)
        from_ec = testpki.make_certificate(
            IMPORTER, key.public_key(), ca_key=cas["p256"][0], ca_certificate=cas["p256"][1],
            not_before=VALID_FROM, not_after=VALID_TO,
        )  # fmt: skip
        assert certificate_problems(from_ec) == ()
        assert certificate_problems(from_ec, issuer=cas["p256"][1]) == ()


@pytest.mark.parametrize(
    "usages",
    [
        [DOCUMENT_SIGNING],
        [ExtendedKeyUsageOID.EMAIL_PROTECTION],
        [ExtendedKeyUsageOID.CLIENT_AUTH],
        [ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE],
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    ],
    ids=["documentSigning", "emailProtection", "clientAuth", "any", "serverAuth-and-clientAuth"],
)
def test_an_extended_key_usage_that_allows_signing_documents_passes(
    pki: TestPki, usages: list[x509.ObjectIdentifier]
) -> None:
    """RFC 9336 documentSigning, emailProtection, clientAuth or anyExtendedKeyUsage is enough."""
    certificate = testpki.make_certificate(
        IMPORTER, pki[IMPORTER].certificate.public_key(), ca_key=pki.ca_key, ca_certificate=pki.ca_certificate,
        not_before=VALID_FROM, not_after=VALID_TO, extended_key_usage=usages,
    )  # fmt: skip
    assert certificate_problems(certificate) == ()
    assert set(usages) & DOCUMENT_SIGNING_USAGES


def test_critical_extensions_we_process_and_unknown_non_critical_ones_pass(pki: TestPki) -> None:
    """basicConstraints and keyUsage are critical in every test certificate; an unknown non-critical one is fine."""
    certificate = pki[IMPORTER].certificate
    assert {e.oid for e in certificate.extensions if e.critical} == {
        x509.ExtensionOID.BASIC_CONSTRAINTS,
        x509.ExtensionOID.KEY_USAGE,
    }
    builder = (
        x509.CertificateBuilder()
        .subject_name(certificate.subject)
        .issuer_name(certificate.issuer)
        .public_key(certificate.public_key())
        .serial_number(1)
        .not_valid_before(VALID_FROM)
        .not_valid_after(VALID_TO)
        .add_extension(x509.UnrecognizedExtension(UNKNOWN_OID, b"\x05\x00"), critical=False)
    )
    assert certificate_problems(builder.sign(pki.ca_key, hashes.SHA256())) == ()


def test_a_critical_extension_cryptography_knows_but_we_do_not_process_is_refused(pki: TestPki) -> None:
    """The allow-list is ours: a critical certificatePolicies is refused although cryptography parses it."""
    certificate = pki[IMPORTER].certificate
    policy = x509.PolicyInformation(x509.ObjectIdentifier("2.23.140.1.2.2"), None)
    builder = (
        x509.CertificateBuilder()
        .subject_name(certificate.subject)
        .issuer_name(certificate.issuer)
        .public_key(certificate.public_key())
        .serial_number(1)
        .not_valid_before(VALID_FROM)
        .not_valid_after(VALID_TO)
        .add_extension(x509.CertificatePolicies([policy]), critical=True)
    )
    assert certificate_problems(builder.sign(pki.ca_key, hashes.SHA256())) == (
        "it has a critical extension picexchange does not process (certificatePolicies 2.5.29.32); "
        "RFC 5280 requires refusing it",
    )


def test_an_rsa_signature_one_byte_short_is_not_taken_for_a_weak_issuer(pki: TestPki) -> None:
    """Some signers drop a leading zero byte of the signature (1 in 256); 255 bytes is still a 2048-bit issuer."""
    certificate = pki[IMPORTER].certificate
    der = certificate.public_bytes(serialization.Encoding.DER)
    bit_string = b"\x03\x82\x01\x01\x00" + certificate.signature  # BIT STRING of 257 bytes: 0 unused bits + 256
    assert der.endswith(bit_string) and der[:4] == b"\x30\x82" + (len(der) - 4).to_bytes(2, "big")
    short = der[4 : -len(bit_string)] + b"\x03\x82\x01\x00\x00" + certificate.signature[1:]
    stripped = x509.load_der_x509_certificate(b"\x30\x82" + len(short).to_bytes(2, "big") + short)
    assert len(stripped.signature) == 255
    assert certificate_problems(stripped) == ()
    shorter = der[4 : -len(bit_string)] + b"\x03\x81\xff\x00" + certificate.signature[2:]
    two_short = x509.load_der_x509_certificate(b"\x30\x82" + len(shorter).to_bytes(2, "big") + shorter)
    assert certificate_problems(two_short) == (
        "it was issued with an RSA key of 2032 bits (the length of its signature), below 2048",
    )


def test_with_the_issuer_certificate_its_key_is_checked_exactly(
    bad: dict[str, x509.Certificate], cas: dict[str, Ca], pki: TestPki
) -> None:
    """A registered issuer replaces the estimate: its own key is checked, and that it really signed the leaf."""
    rsa1024, p224 = cas["rsa1024"][1], cas["p224"][1]
    [weak_rsa] = certificate_problems(bad["rsa1024-issuer"], issuer=rsa1024)
    assert "has a weak key: RSA key of 1024 bits is too small (at least 2048)" in weak_rsa
    [weak_ec] = certificate_problems(bad["p224-issuer"], issuer=p224)
    assert "has a weak key: EC curve secp224r1 is not allowed (P-256, P-384 or P-521)" in weak_ec
    [impostor] = certificate_problems(pki[IMPORTER].certificate, issuer=cas["p256"][1])
    assert impostor.startswith("it was not issued by CN=picexchange test CA - TEST ONLY")
    assert certificate_problems(pki[IMPORTER].certificate, issuer=pki.ca_certificate) == ()


def test_an_issuer_whose_key_cannot_be_read_is_refused_not_a_crash(pki: TestPki) -> None:
    """An issuer certificate with a key algorithm nobody knows gives a problem, not a cryptography exception."""
    rsa_encryption = bytes.fromhex("06092a864886f70d010101")  # OID 1.2.840.113549.1.1.1 in the key info
    der = pki.ca_certificate.public_bytes(serialization.Encoding.DER)
    assert der.count(rsa_encryption) == 1
    unknown_key = x509.load_der_x509_certificate(der.replace(rsa_encryption, rsa_encryption[:-1] + b"\x63"))
    [problem] = certificate_problems(pki[IMPORTER].certificate, issuer=unknown_key)
    assert problem.startswith("its issuer cannot be checked (")


def test_a_dsa_signed_certificate_is_refused(pki: TestPki) -> None:
    """DSA: nothing tells the strength of the issuing key, and XMLDSig peers do not use it; refused."""
    ca_key = dsa.generate_private_key(key_size=2048)
    leaf = (
        x509.CertificateBuilder().subject_name(pki[IMPORTER].certificate.subject).issuer_name(pki.ca_certificate.subject)
        .public_key(pki[IMPORTER].certificate.public_key()).serial_number(2)
        .not_valid_before(VALID_FROM).not_valid_after(VALID_TO).sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    assert certificate_problems(leaf) == (
        "it is signed with an algorithm picexchange does not accept (dsa-with-sha256 2.16.840.1.101.3.4.3.2)",
    )


def test_an_ed25519_issuer_is_strong_enough(pki: TestPki) -> None:
    """An Ed25519 CA may issue signing certificates: no hash to weigh, a key of fixed strength."""
    ca_key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Ed25519 CA - TEST ONLY")])
    ca = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
        .serial_number(1).not_valid_before(VALID_FROM).not_valid_after(VALID_TO)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, None)
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(pki[IMPORTER].certificate.subject).issuer_name(name)
        .public_key(pki[IMPORTER].certificate.public_key()).serial_number(2)
        .not_valid_before(VALID_FROM).not_valid_after(VALID_TO).sign(ca_key, None)
    )  # fmt: skip
    assert certificate_problems(leaf) == ()
    assert certificate_problems(leaf, issuer=ca) == ()


# ------------------------------------------------------------------------------------------------ registration


def _folder(tmp_path: Path, pki: TestPki, files: dict[str, x509.Certificate]) -> Path:
    """Write the certificates and MY:DOE's key (0600) into a registry folder."""
    for name, certificate in files.items():
        (tmp_path / name).write_bytes(testpki.certificate_pem(certificate))
    key = tmp_path / "MY_DOE.key.pem"
    key.write_bytes(testpki.private_key_pem(pki[IMPORTER].private_key))
    key.chmod(0o600)
    return tmp_path


def _partner_toml(path: str, *, issuer: str | None = None) -> str:
    issuer_line = f'issuer = "{issuer}"\n' if issuer else ""
    return (
        '[[partner]]\nid = "AU:DCCEEW"\nname = "Exporter"\ncountry = "AU"\nrole = "competent-authority"\n'
        'utility_blocks = ["pic"]\n\n[[partner.certificate]]\npath = "AU_DCCEEW.cert.pem"\n\n'
        '[[partner]]\nid = "MY:DOE"\nname = "Department of Environment Malaysia"\ncountry = "MY"\n'
        f'role = "competent-authority"\nutility_blocks = ["pic"]\n\n[[partner.certificate]]\npath = "{path}"\n'
        + issuer_line
    )


def _refused(folder: Path, text: str) -> ConfigurationError:
    registry = folder / "partners.toml"
    registry.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        load_trust(registry)
    assert caught.value.source == str(registry)
    return caught.value


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rule_refuses_a_partner_certificate_at_registration(
    tmp_path: Path, pki: TestPki, bad: dict[str, x509.Certificate], rule: str
) -> None:
    """Loading partners.toml names the file, the field of the certificate and the rule it breaks."""
    folder = _folder(tmp_path, pki, {"AU_DCCEEW.cert.pem": pki[EXPORTER].certificate, "bad.pem": bad[rule]})
    error = _refused(folder, _partner_toml("bad.pem"))
    assert error.field == "partner[2].certificate[1].path"
    assert error.text.startswith(f"{folder / 'bad.pem'}: CN=MY:DOE - TEST ONLY,")
    assert "CN=MY:DOE - TEST ONLY" in error.text and "may not sign: " + RULES[rule][2] in error.text
    assert str(error).startswith(f"{folder / 'partners.toml'}: partner[2].certificate[1].path: ")


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rule_refuses_our_own_certificate_at_registration(
    tmp_path: Path, pki: TestPki, bad: dict[str, x509.Certificate], rule: str
) -> None:
    """[me] with a certificate that breaks a rule is refused on me.certificate, before the key is used."""
    folder = _folder(tmp_path, pki, {"AU_DCCEEW.cert.pem": pki[EXPORTER].certificate, "bad.pem": bad[rule]})
    me = '[me]\nid = "MY:DOE"\nkey = "MY_DOE.key.pem"\ncertificate = "bad.pem"\n\n'
    error = _refused(folder, me + _partner_toml("AU_DCCEEW.cert.pem").split("\n\n[[partner]]")[0])
    assert error.field == "me.certificate"
    assert error.text.startswith(f"{folder / 'bad.pem'}: ")
    assert "may not sign: " + RULES[rule][2] in error.text


def test_a_registered_issuer_is_checked_at_registration(
    tmp_path: Path, pki: TestPki, bad: dict[str, x509.Certificate], cas: dict[str, Ca]
) -> None:
    """issuer = "..." names the CA certificate: its weak key, or not having issued the leaf, is refused."""
    files = {
        "AU_DCCEEW.cert.pem": pki[EXPORTER].certificate,
        "MY_DOE.cert.pem": pki[IMPORTER].certificate,
        "weak-issued.pem": bad["rsa1024-issuer"],
        "weak-ca.pem": cas["rsa1024"][1],
        "ec-ca.pem": cas["p256"][1],
        "ca.pem": pki.ca_certificate,
    }
    folder = _folder(tmp_path, pki, files)
    error = _refused(folder, _partner_toml("weak-issued.pem", issuer="weak-ca.pem"))
    assert error.field == "partner[2].certificate[1].path"
    assert "has a weak key: RSA key of 1024 bits is too small" in error.text
    error = _refused(folder, _partner_toml("MY_DOE.cert.pem", issuer="ec-ca.pem"))
    assert "it was not issued by" in error.text and "the issuer registered for it" in error.text
    error = _refused(folder, _partner_toml("MY_DOE.cert.pem", issuer="missing.pem"))
    assert error.field == "partner[2].certificate[1].issuer" and "cannot read" in error.text
    registry = folder / "partners.toml"
    registry.write_text(_partner_toml("MY_DOE.cert.pem", issuer="ca.pem"))
    doe = load_trust(registry).partner(IMPORTER)
    assert doe is not None and doe.certificates[0].issuer == pki.ca_certificate


# ------------------------------------------------------------------------------------------------ presentation


def _registering(pki: TestPki, certificate: x509.Certificate, *, issuer: x509.Certificate | None = None) -> TrustStore:
    """Return a registry built in code (never loaded, so never checked) with MY:DOE on ``certificate``."""
    doe = dataclasses.replace(
        pki[IMPORTER].partner, certificates=(RegisteredCertificate.of(certificate, issuer=issuer),)
    )
    return TrustStore.of([pki[EXPORTER].partner, doe])


def _doe_signing_with(pki: TestPki, certificate: x509.Certificate) -> Identity:
    return Identity(participant=IMPORTER, private_key=pki[IMPORTER].private_key, certificate=certificate)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rule_refuses_a_message_that_presents_the_certificate(
    pki: TestPki, bad: dict[str, x509.Certificate], notification: Notification, rule: str
) -> None:
    """A message signed with a registered (in code) but bad certificate is refused at now with a TrustError."""
    sealed = exchange.seal(notification, me=_doe_signing_with(pki, bad[rule]), to=EXPORTER, now=NOW)
    with pytest.raises(TrustError) as caught:
        exchange.accept(sealed.raw, me=pki[EXPORTER].identity, trust=_registering(pki, bad[rule]), now=NOW)
    assert caught.value.text.startswith(f"{IMPORTER}: certificate CN=MY:DOE - TEST ONLY")
    assert "may not sign: " + RULES[rule][2] in caught.value.text
    assert caught.value.message_id == str(sealed.message_id)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rule_refuses_a_receipt_that_presents_the_certificate(
    pki: TestPki, bad: dict[str, x509.Certificate], notification: Notification, rule: str
) -> None:
    """The partner's receipt is verified with the same policy: signed with a bad certificate, it proves nothing."""
    exporter_trust = _registering(pki, bad[rule])
    sealed = exchange.seal(notification, me=pki[EXPORTER].identity, to=IMPORTER, now=NOW)
    inbound = exchange.accept(sealed.raw, me=pki[IMPORTER].identity, trust=pki.trust(), now=NOW)
    receipt = exchange.receipt_for(inbound, me=_doe_signing_with(pki, bad[rule]), now=NOW)
    with pytest.raises(TrustError) as caught:
        exchange.read_reply(receipt.raw, sent=sealed, me=pki[EXPORTER].identity, trust=exporter_trust, now=NOW)
    assert "may not sign: " + RULES[rule][2] in caught.value.text


def test_a_registered_issuer_is_checked_at_presentation(
    pki: TestPki, cas: dict[str, Ca], notification: Notification
) -> None:
    """An issuer set in code is used when a message presents the certificate: the CA that did not issue it fails."""
    sealed = exchange.seal(notification, me=pki[IMPORTER].identity, to=EXPORTER, now=NOW)
    wrong = _registering(pki, pki[IMPORTER].certificate, issuer=cas["p256"][1])
    with pytest.raises(TrustError, match="it was not issued by"):
        signing.verify(sealed.raw, trust=wrong, now=NOW)
    right = _registering(pki, pki[IMPORTER].certificate, issuer=pki.ca_certificate)
    assert signing.verify(sealed.raw, trust=right, now=NOW).signer.id == IMPORTER


def test_presentation_uses_the_verify_policys_minimum(pki: TestPki, notification: Notification) -> None:
    """A policy that raises the RSA minimum refuses a 2048-bit issuer the registry accepted."""
    sealed = exchange.seal(notification, me=pki[IMPORTER].identity, to=EXPORTER, now=NOW)
    with pytest.raises(TrustError, match="it was issued with an RSA key of 2048 bits"):
        signing.verify(sealed.raw, trust=pki.trust(), now=NOW, policy=signing.VerifyPolicy(min_rsa_bits=3072))


# ------------------------------------------------------------------------------------------------ samples

README_ROW = re.compile(r'^\| `(?P<file>[^`]+)` \| (?P<tries>.+) \| "(?P<message>[^"]+)" \|$', re.MULTILINE)


def _readme_rows() -> dict[str, str]:
    return {m["file"]: m["message"] for m in README_ROW.finditer((HOSTILE / "README.md").read_text())}


def test_every_hostile_certificate_is_in_the_readme() -> None:
    """Each file is described, with the message its refusal must carry, and each row has its file."""
    files = {path.name for path in HOSTILE.iterdir() if path.name != "README.md"}
    assert len(files) >= 10
    assert set(_readme_rows()) == files


@pytest.mark.parametrize("name", sorted(_readme_rows()))
def test_each_hostile_certificate_is_refused_at_registration(tmp_path: Path, pki: TestPki, name: str) -> None:
    """Registered as MY:DOE's certificate, each sample file is refused with its README message."""
    (tmp_path / "AU_DCCEEW.cert.pem").write_bytes(testpki.certificate_pem(pki[EXPORTER].certificate))
    (tmp_path / name).write_bytes((HOSTILE / name).read_bytes())
    error = _refused(tmp_path, _partner_toml(name))
    assert error.field == "partner[2].certificate[1].path"
    assert _readme_rows()[name] in error.text
    assert "TEST ONLY" in error.text


def test_the_weak_sample_ca_is_refused_as_an_issuer(tmp_path: Path, pki: TestPki) -> None:
    """rsa1024-ca.cert.pem named as the issuer of rsa1024-issuer.cert.pem: its key is checked exactly."""
    (tmp_path / "AU_DCCEEW.cert.pem").write_bytes(testpki.certificate_pem(pki[EXPORTER].certificate))
    for name in ("rsa1024-issuer.cert.pem", "rsa1024-ca.cert.pem"):
        (tmp_path / name).write_bytes((HOSTILE / name).read_bytes())
    error = _refused(tmp_path, _partner_toml("rsa1024-issuer.cert.pem", issuer="rsa1024-ca.cert.pem"))
    assert "has a weak key: RSA key of 1024 bits is too small" in error.text


def test_no_private_key_is_kept_with_the_hostile_certificates() -> None:
    """Only certificates: the keys that made them were thrown away."""
    for path in HOSTILE.glob("*.pem"):
        data = path.read_bytes()
        assert b"PRIVATE KEY" not in data
        assert len(x509.load_pem_x509_certificates(data)) == 1
