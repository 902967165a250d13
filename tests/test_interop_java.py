"""The JDK's XML signature API (JSR-105) and picexchange agree on the signature profile, both ways.

The Java programs and commands are those of docs/signature-profile.md (section 9), compiled and run as
written: what PicSign.java signs, exchange.accept takes; what picexchange signs, PicVerify.java accepts; and
PicVerify.java refuses a DOCTYPE, another partner's certificate and a changed message.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from picexchange import codec, exchange, signing, testpki
from signature_recipes import SAMPLES, recipes, run_recipe, sample_key
from system_tools import require

NOTIFICATION = SAMPLES / "messages" / "plastic-au-my-01-notification.xml"
RECEIVED = dt.datetime(2026, 1, 20, 23, 15, tzinfo=dt.UTC)  # an hour after the sample's Created
SENDER, RECEIVER = "AU:DCCEEW", "MY:DOE"


@pytest.fixture(autouse=True)
def _jdk() -> None:
    # `java Foo.java` compiles the source in memory: it needs the JDK's compiler, not a JRE alone.
    require("java")
    require("javac")


@pytest.fixture(scope="module", params=[testpki.KeyType.RSA_2048, testpki.KeyType.EC_P256], ids=["rsa", "ec"])
def pki(request: pytest.FixtureRequest) -> testpki.TestPki:
    return testpki.make_test_pki(
        [SENDER, RECEIVER],
        not_before=RECEIVED - dt.timedelta(days=1),
        not_after=RECEIVED + dt.timedelta(days=365),
        key_type=request.param,
    )


def _folder(folder: Path) -> Path:
    for name in ("PicSign.java", "PicVerify.java"):
        (folder / name).write_text(recipes()[name])
    return folder


def test_picexchange_accepts_what_java_signs(tmp_path: Path, pki: testpki.TestPki) -> None:
    """PicSign.java makes an RSA-SHA256 or ECDSA-SHA256 signature that exchange.accept takes."""
    folder = _folder(tmp_path)
    shutil.copyfile(NOTIFICATION, folder / "envelope.xml")
    (folder / "our.key.pem").write_bytes(testpki.private_key_pem(pki[SENDER].private_key))
    (folder / "our.cert.pem").write_bytes(testpki.certificate_pem(pki[SENDER].certificate))
    done = run_recipe("java-sign.sh", folder)
    assert done.returncode == 0, done.stderr
    signed = (folder / "envelope-signed.xml").read_bytes()
    assert b"&#13;" not in signed  # base64 without line breaks

    inbound = exchange.accept(signed, me=pki[RECEIVER].identity, trust=pki.trust(), now=RECEIVED)
    assert inbound.signer.id == SENDER
    assert inbound.envelope == codec.from_xml(NOTIFICATION.read_bytes())
    rsa_key = isinstance(pki[SENDER].private_key, rsa.RSAPrivateKey)
    expected = signing.SignatureAlgorithm.RSA_SHA256 if rsa_key else signing.SignatureAlgorithm.ECDSA_SHA256
    assert signing.verify(signed, trust=pki.trust(), now=RECEIVED).algorithm is expected


def _verify_in_java(folder: Path, signed: bytes, certificate: bytes) -> tuple[int, str]:
    _folder(folder)
    (folder / "envelope-signed.xml").write_bytes(signed)
    (folder / "partner.cert.pem").write_bytes(certificate)
    done = run_recipe("java-verify.sh", folder)
    return done.returncode, done.stdout + done.stderr


def test_java_verifies_what_picexchange_signs(tmp_path: Path, pki: testpki.TestPki) -> None:
    """PicVerify.java accepts a picexchange signature with the sender's registered certificate."""
    signed = signing.sign(NOTIFICATION.read_bytes(), pki[SENDER].identity)
    code, said = _verify_in_java(tmp_path, signed, testpki.certificate_pem(pki[SENDER].certificate))
    assert (code, said.strip()) == (0, "OK")


def test_java_verifies_a_signed_sample(tmp_path: Path) -> None:
    """A committed sample, signed by picexchange with samples/keys, verifies in Java with its Sender's certificate."""
    signed = (SAMPLES / "signed" / NOTIFICATION.name).read_bytes()
    code, said = _verify_in_java(tmp_path, signed, sample_key(SENDER)[1].read_bytes())
    assert (code, said.strip()) == (0, "OK")


def test_java_refuses_another_partners_certificate(tmp_path: Path, pki: testpki.TestPki) -> None:
    """PicVerify.java pins the registered certificate: the receiver's own certificate does not verify the sender."""
    signed = signing.sign(NOTIFICATION.read_bytes(), pki[SENDER].identity)
    code, said = _verify_in_java(tmp_path, signed, testpki.certificate_pem(pki[RECEIVER].certificate))
    assert code == 1 and "REFUSED" in said


def test_java_refuses_a_changed_message(tmp_path: Path, pki: testpki.TestPki) -> None:
    """A value changed after signing does not verify in Java."""
    signed = signing.sign(NOTIFICATION.read_bytes(), pki[SENDER].identity)
    changed = signed.replace(b"<cmn:City>Dandenong South<", b"<cmn:City>Dandenong North<")
    assert changed != signed
    code, said = _verify_in_java(tmp_path, changed, testpki.certificate_pem(pki[SENDER].certificate))
    assert code == 1 and "does not verify" in said


def test_java_refuses_a_doctype(tmp_path: Path, pki: testpki.TestPki) -> None:
    """The Java parser refuses a DOCTYPE before a genuine envelope (disallow-doctype-decl), as picexchange does."""
    signed = signing.sign(NOTIFICATION.read_bytes(), pki[SENDER].identity)
    head, _, rest = signed.partition(b"?>")
    with_doctype = head + b'?>\n<!DOCTYPE env:Envelope [<!ENTITY x "AU:ABF">]>' + rest
    code, said = _verify_in_java(tmp_path, with_doctype, testpki.certificate_pem(pki[SENDER].certificate))
    assert code == 1 and "DOCTYPE is disallowed" in said
