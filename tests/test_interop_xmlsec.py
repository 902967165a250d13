"""xmlsec1 and picexchange agree on the signature profile, both ways (docs/signature-profile.md, section 9).

xmlsec1 (libxmlsec1, the C implementation many gateways are built on) verifies every signed sample with the
sender's registered certificate and nothing else, and picexchange accepts what xmlsec1 signs with the
page's template and command, for RSA-SHA256 and ECDSA-SHA256. The commands are the page's recipes, run as
written (tests/signature_recipes.py).
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest

from picexchange import codec, exchange, signing, testpki
from signature_recipes import ECDSA_SHA256, RSA_SHA256, SAMPLES, recipes, run_recipe, sample_key
from system_tools import require

SIGNED = sorted((SAMPLES / "signed").glob("*.xml"))
NOTIFICATION = SAMPLES / "messages" / "plastic-au-my-01-notification.xml"
# The sample notification was created 2026-01-21T09:15:00+11:00; it is received an hour later.
RECEIVED = dt.datetime(2026, 1, 20, 23, 15, tzinfo=dt.UTC)
SENDER, RECEIVER = "AU:DCCEEW", "MY:DOE"


@pytest.fixture(autouse=True)
def _xmlsec1() -> None:
    require("xmlsec1")


def _sender(raw: bytes) -> str:
    sender = signing.read_header(codec.parse(raw)).sender
    assert sender is not None
    return sender


def _verify_with(folder: Path, signed: bytes, certificate: Path) -> subprocess.CompletedProcess[str]:
    (folder / "envelope-signed.xml").write_bytes(signed)
    shutil.copyfile(certificate, folder / "partner.cert.pem")
    return run_recipe("xmlsec1-verify.sh", folder)


def _pki(key_type: testpki.KeyType) -> testpki.TestPki:
    return testpki.make_test_pki(
        [SENDER, RECEIVER],
        not_before=RECEIVED - dt.timedelta(days=1),
        not_after=RECEIVED + dt.timedelta(days=365),
        key_type=key_type,
    )


def _write_identity(folder: Path, member: testpki.TestParticipant) -> None:
    (folder / "our.key.pem").write_bytes(testpki.private_key_pem(member.private_key))
    (folder / "our.cert.pem").write_bytes(testpki.certificate_pem(member.certificate))


# ------------------------------------------------------------------------------------------------ xmlsec1 verifies


@pytest.mark.parametrize("path", SIGNED, ids=[p.name for p in SIGNED])
def test_xmlsec1_verifies_every_signed_sample_with_the_senders_certificate(path: Path, tmp_path: Path) -> None:
    """The page's verify command accepts each samples/signed/ file with its Sender's samples/keys certificate."""
    raw = path.read_bytes()
    done = _verify_with(tmp_path, raw, sample_key(_sender(raw))[1])
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stderr.splitlines()


def test_xmlsec1_refuses_a_sample_with_another_partners_certificate(tmp_path: Path) -> None:
    """The command is pinned: the certificate inside the message does not count, only partner.cert.pem."""
    raw = (SAMPLES / "signed" / NOTIFICATION.name).read_bytes()
    assert _sender(raw) == SENDER
    done = _verify_with(tmp_path, raw, sample_key("MY:DOE")[1])
    assert done.returncode != 0
    assert "FAIL" in done.stderr.splitlines()


def test_xmlsec1_refuses_a_changed_sample(tmp_path: Path) -> None:
    """One changed value in the Body and the digest no longer matches."""
    raw = (SAMPLES / "signed" / NOTIFICATION.name).read_bytes()
    changed = raw.replace(b"<cmn:City>Dandenong South<", b"<cmn:City>Dandenong North<")
    assert changed != raw
    done = _verify_with(tmp_path, changed, sample_key(SENDER)[1])
    assert done.returncode != 0


def test_xmlsec1_verifies_what_picexchange_signs_with_ecdsa(tmp_path: Path) -> None:
    """An ECDSA-SHA256 signature by picexchange (r||s, not DER) verifies in xmlsec1 too."""
    pki = _pki(testpki.KeyType.EC_P256)
    signed = signing.sign(NOTIFICATION.read_bytes(), pki[SENDER].identity)
    assert ECDSA_SHA256.encode() in signed
    certificate = tmp_path / "sender.cert.pem"
    certificate.write_bytes(testpki.certificate_pem(pki[SENDER].certificate))
    done = _verify_with(tmp_path, signed, certificate)
    assert done.returncode == 0, done.stderr


def test_xmlsec1_1_2_cannot_verify_rsa_pss_so_sign_does_not_offer_it(tmp_path: Path) -> None:
    """Why `picexchange sign` no longer offers RSA-PSS: xmlsec1 1.2 does not know the algorithm at all."""
    version = subprocess.run(  # noqa: S603
        [require("xmlsec1"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    if not version.startswith("xmlsec1 1.2."):
        pytest.skip(f"the limitation is xmlsec1 1.2's; this is {version.strip()}")
    pki = _pki(testpki.KeyType.RSA_2048)
    signed = signing.sign(
        NOTIFICATION.read_bytes(), pki[SENDER].identity, algorithm=signing.SignatureAlgorithm.RSA_PSS_SHA256
    )
    certificate = tmp_path / "sender.cert.pem"
    certificate.write_bytes(testpki.certificate_pem(pki[SENDER].certificate))
    done = _verify_with(tmp_path, signed, certificate)
    assert done.returncode != 0
    assert "sha256-rsa-MGF1" in done.stderr


# ------------------------------------------------------------------------------------------------ xmlsec1 signs


@pytest.mark.parametrize(
    ("key_type", "method", "algorithm"),
    [
        (testpki.KeyType.RSA_2048, RSA_SHA256, signing.SignatureAlgorithm.RSA_SHA256),
        (testpki.KeyType.EC_P256, ECDSA_SHA256, signing.SignatureAlgorithm.ECDSA_SHA256),
    ],
    ids=["rsa-sha256", "ecdsa-sha256"],
)
def test_picexchange_accepts_what_xmlsec1_signs_with_the_documented_template(
    tmp_path: Path, key_type: testpki.KeyType, method: str, algorithm: signing.SignatureAlgorithm
) -> None:
    """The page's template and sign command, on a sample Notification, make a message exchange.accept takes."""
    pki = _pki(key_type)
    template = recipes()["signature-template.xml"]
    assert RSA_SHA256 in template
    (tmp_path / "signature-template.xml").write_text(template.replace(RSA_SHA256, method))
    shutil.copyfile(NOTIFICATION, tmp_path / "envelope.xml")
    _write_identity(tmp_path, pki[SENDER])
    done = run_recipe("xmlsec1-sign.sh", tmp_path)
    assert done.returncode == 0, done.stderr
    signed = (tmp_path / "envelope-signed.xml").read_bytes()

    inbound = exchange.accept(signed, me=pki[RECEIVER].identity, trust=pki.trust(), now=RECEIVED)
    assert inbound.signer.id == SENDER
    assert inbound.envelope == codec.from_xml(NOTIFICATION.read_bytes())
    verified = signing.verify(signed, trust=pki.trust(), now=RECEIVED, receiver=RECEIVER)
    assert verified.algorithm is algorithm
    assert verified.certificate == pki[SENDER].certificate
