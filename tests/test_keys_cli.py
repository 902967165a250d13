"""The ``keys init``, ``sign`` and ``verify`` commands, run as a user runs them."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from picexchange import codec, signing
from picexchange.cli import app
from picexchange.files.registry import load_trust
from picexchange.models.envelope import Envelope
from picexchange.models.pic import Acknowledgement
from picexchange.trust import participant_of

PARTICIPANTS = ["AU:DCCEEW", "MY:DOE", "MY:RMCD"]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki") / "keys"
    result = CliRunner().invoke(
        app, ["keys", "init", str(folder), *(arg for p in PARTICIPANTS for arg in ("--participant", p))]
    )
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def message(tmp_path: Path) -> Path:
    acknowledgement = Acknowledgement(
        notification_number="AU2026-0042",
        country="MY",
        competent_authority="MY:DOE",
        notification_received_on=dt.date(2026, 3, 2),
        acknowledged_on=dt.date(2026, 3, 3),
        complete=True,
    )
    envelope = Envelope.wrap(
        acknowledgement,
        message_id=uuid.UUID("6f1c2a47-52a4-4a8b-9d0e-3c1f5e2b7a10"),
        conversation_id="AU2026-0042",
        sender="MY:DOE",
        receiver="AU:DCCEEW",
        created=dt.datetime(2026, 3, 3, 9, 30, tzinfo=dt.UTC),
    )
    path = tmp_path / "acknowledgement.xml"
    path.write_bytes(codec.to_xml(envelope))
    return path


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    return result.exit_code, result.stdout, result.stderr


def sign(message: Path, keys: Path, output: Path) -> None:
    code, _, err = run(
        "sign", message, "--key", keys / "MY_DOE.key.pem", "--cert", keys / "MY_DOE.cert.pem", "-o", output
    )
    assert code == 0, err


# ------------------------------------------------------------------------------------------------ keys init


def test_keys_init_writes_a_ca_a_key_and_certificate_per_participant_and_a_registry(keys: Path) -> None:
    """The folder holds ca.*, one key and certificate per participant, partners.toml and a README."""
    names = sorted(path.name for path in keys.iterdir())
    assert names == sorted(
        [
            "ca.key.pem",
            "ca.cert.pem",
            "partners.toml",
            "README.md",
            *(f"{p.replace(':', '_')}.{kind}.pem" for p in PARTICIPANTS for kind in ("key", "cert")),
        ]
    )
    trust = load_trust(keys / "partners.toml")
    assert sorted(partner.id for partner in trust) == PARTICIPANTS


def test_everything_keys_init_writes_says_test_only(keys: Path) -> None:
    """Certificate subjects, key files and the README say TEST ONLY; certificates name their participant."""
    for participant in PARTICIPANTS:
        stem = participant.replace(":", "_")
        certificate = x509.load_pem_x509_certificate((keys / f"{stem}.cert.pem").read_bytes())
        assert "TEST ONLY" in certificate.subject.rfc4514_string()
        assert participant in certificate.subject.rfc4514_string()
        assert participant_of(certificate) == participant
        assert (keys / f"{stem}.key.pem").read_text().startswith("# TEST ONLY")
    ca = x509.load_pem_x509_certificate((keys / "ca.cert.pem").read_bytes())
    assert "TEST ONLY" in ca.subject.rfc4514_string()
    assert (keys / "ca.key.pem").read_text().startswith("# TEST ONLY")
    assert "TEST ONLY" in (keys / "README.md").read_text()


@pytest.mark.skipif(os.name == "nt", reason="no POSIX permissions")
def test_keys_init_writes_private_keys_readable_by_the_owner_only(keys: Path) -> None:
    """Private keys are 0600 from the start."""
    for path in keys.glob("*.key.pem"):
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_keys_init_refuses_to_overwrite_without_force(keys: Path) -> None:
    """An existing PKI is not replaced by accident (exit 2)."""
    code, _, err = run("keys", "init", keys, "--participant", "MY:DOE")
    assert code == 2 and "exists; use --force" in err


def test_keys_init_refuses_a_malformed_participant(tmp_path: Path) -> None:
    """A participant id must be CC:AUTHORITY (exit 2)."""
    code, _, err = run("keys", "init", tmp_path / "k", "--participant", "malaysia")
    assert code == 2 and "not a participant id" in err
    assert not (tmp_path / "k").exists()


def test_keys_init_since_and_until_set_the_validity_and_ec_keys_work(tmp_path: Path) -> None:
    """--since and --until give committed samples a long, fixed validity; --key-type picks the key."""
    code, out, err = run(
        "keys",
        "init",
        tmp_path,
        "-p",
        "JP:MOE",
        "--since",
        "2026-01-01",
        "--until",
        "2036-12-31",
        "--key-type",
        "ec-p256",
    )
    assert code == 0, err
    certificate = x509.load_pem_x509_certificate((tmp_path / "JP_MOE.cert.pem").read_bytes())
    assert certificate.not_valid_before_utc == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert certificate.not_valid_after_utc == dt.datetime(2036, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    assert "valid until 2036-12-31" in out


# ------------------------------------------------------------------------------------------------ sign, verify


def test_sign_then_verify_prints_the_signer_and_message_id(keys: Path, message: Path, tmp_path: Path) -> None:
    """A message signed with MY:DOE's key verifies against the registry (exit 0)."""
    signed = tmp_path / "signed.xml"
    sign(message, keys, signed)
    code, out, _ = run("verify", signed, "--partners", keys / "partners.toml", "--as", "AU:DCCEEW")
    assert code == 0, out
    assert "genuine Acknowledgement 6f1c2a47-52a4-4a8b-9d0e-3c1f5e2b7a10 from MY:DOE to AU:DCCEEW" in out
    assert "signed by MY:DOE (Department of Environment Malaysia)" in out


def test_sign_writes_to_stdout_without_output(keys: Path, message: Path) -> None:
    """Without -o the signed envelope goes to standard output."""
    code, out, err = run("sign", message, "--key", keys / "MY_DOE.key.pem", "--cert", keys / "MY_DOE.cert.pem")
    assert code == 0, err
    assert out.startswith("<?xml") and "<ds:Signature" in out


def test_verify_says_why_a_tampered_message_is_not_genuine(keys: Path, message: Path, tmp_path: Path) -> None:
    """A changed message exits 1 and names the failed check."""
    signed = tmp_path / "signed.xml"
    sign(message, keys, signed)
    signed.write_bytes(signed.read_bytes().replace(b"<pic:Complete>true<", b"<pic:Complete>false<"))
    code, out, _ = run("verify", signed, "--partners", keys / "partners.toml")
    assert code == 1
    assert "NOT genuine [signature]" in out and "changed after signing" in out


def test_verify_as_another_receiver_is_not_genuine(keys: Path, message: Path, tmp_path: Path) -> None:
    """--as checks the header's Receiver (exit 1)."""
    signed = tmp_path / "signed.xml"
    sign(message, keys, signed)
    code, out, _ = run("verify", signed, "--partners", keys / "partners.toml", "--as", "MY:RMCD")
    assert code == 1 and "NOT genuine [trust]" in out and "not to MY:RMCD" in out


def test_verify_at_a_time_after_the_certificates_expire_is_not_genuine(
    keys: Path, message: Path, tmp_path: Path
) -> None:
    """--at checks the certificates at another time."""
    signed = tmp_path / "signed.xml"
    sign(message, keys, signed)
    code, out, _ = run("verify", signed, "--partners", keys / "partners.toml", "--at", "2100-01-01T00:00:00Z")
    assert code == 1 and "expired" in out


def test_verify_an_unsigned_message_is_not_genuine(keys: Path, message: Path) -> None:
    """An unsigned envelope exits 1."""
    code, out, _ = run("verify", message, "--partners", keys / "partners.toml")
    assert code == 1 and "not signed" in out


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "missing.xml", "--partners", "{keys}/partners.toml"],
        ["verify", "{message}", "--partners", "{keys}/missing.toml"],
        ["verify", "{message}"],
        ["verify", "{message}", "--partners", "{keys}/partners.toml", "--as", "nobody"],
        ["verify", "{message}", "--partners", "{keys}/partners.toml", "--at", "2030-01-01"],
        ["sign", "{message}", "--key", "{keys}/missing.pem", "--cert", "{keys}/MY_DOE.cert.pem"],
        ["sign", "{message}", "--key", "{keys}/MY_DOE.key.pem", "--cert", "{keys}/AU_DCCEEW.cert.pem"],
    ],
    ids=["no-file", "no-registry", "no-partners-option", "bad-as", "naive-at", "no-key", "key-cert-mismatch"],
)
def test_usage_and_setup_errors_exit_2(keys: Path, message: Path, args: list[str]) -> None:
    """Missing files, bad options and a broken setup are usage errors, not verdicts."""
    code, _, _ = run(*(arg.format(keys=keys, message=message) for arg in args))
    assert code == 2


def test_sign_refuses_an_envelope_from_someone_else(keys: Path, message: Path) -> None:
    """AU:DCCEEW's key cannot sign a message whose Sender is MY:DOE (exit 1)."""
    code, _, err = run("sign", message, "--key", keys / "AU_DCCEEW.key.pem", "--cert", keys / "AU_DCCEEW.cert.pem")
    assert code == 1 and "we sign as AU:DCCEEW" in err


@pytest.mark.skipif(os.name == "nt", reason="no POSIX permissions")
def test_sign_refuses_a_key_others_can_read(keys: Path, message: Path, tmp_path: Path) -> None:
    """The key must be 0600; the error says how to fix it (exit 2)."""
    exposed = tmp_path / "exposed.key.pem"
    exposed.write_bytes((keys / "MY_DOE.key.pem").read_bytes())
    exposed.chmod(0o644)
    code, _, err = run("sign", message, "--key", exposed, "--cert", keys / "MY_DOE.cert.pem")
    assert code == 2 and "chmod 600" in err


def test_a_signed_file_verifies_with_the_library_too(keys: Path, message: Path, tmp_path: Path) -> None:
    """What the CLI writes is what signing.verify accepts, byte for byte."""
    signed = tmp_path / "signed.xml"
    sign(message, keys, signed)
    verified = signing.verify(
        signed.read_bytes(), trust=load_trust(keys / "partners.toml"), now=dt.datetime.now(dt.UTC)
    )
    assert verified.envelope == codec.from_xml(message.read_bytes())


# ------------------------------------------------------------------------------------------------ RSA-PSS


@pytest.mark.parametrize("name", ["rsa-pss-sha256", "rsa-pss-sha384", "RSA-PSS-SHA512"])
def test_sign_does_not_offer_rsa_pss_and_says_why(keys: Path, message: Path, tmp_path: Path, name: str) -> None:
    """--algorithm rsa-pss-* is a usage error (exit 2) naming the verifiers that cannot check it; nothing is written."""
    output = tmp_path / "signed.xml"
    code, _, err = run(
        "sign", message, "--key", keys / "MY_DOE.key.pem", "--cert", keys / "MY_DOE.cert.pem", "--algorithm", name,
        "-o", output,
    )  # fmt: skip
    assert code == 2
    said = " ".join(err.translate(str.maketrans("│╭╮╰╯─", "      ")).split())  # the words, without rich's box
    assert "not offered for new signatures" in said and "xmlsec1 1.2" in said and "Santuario 2.1" in said
    assert "Use rsa-sha256" in said
    assert not output.exists()


def test_sign_help_lists_the_offered_algorithms_without_rsa_pss() -> None:
    """--help lists rsa-sha256 ... ecdsa-sha512 and no rsa-pss choice."""
    code, out, _ = run("sign", "--help")
    assert code == 0
    assert "rsa-sha256" in out and "ecdsa-sha256" in out
    assert "rsa-pss-sha" not in out


def test_sign_with_an_offered_algorithm_uses_it(keys: Path, message: Path, tmp_path: Path) -> None:
    """--algorithm rsa-sha384 gives an RSA-SHA384 signature that verifies."""
    output = tmp_path / "signed.xml"
    code, _, err = run(
        "sign", message, "--key", keys / "MY_DOE.key.pem", "--cert", keys / "MY_DOE.cert.pem",
        "--algorithm", "rsa-sha384", "-o", output,
    )  # fmt: skip
    assert code == 0, err
    verified = signing.verify(
        output.read_bytes(), trust=load_trust(keys / "partners.toml"), now=dt.datetime.now(dt.UTC)
    )
    assert verified.algorithm is signing.SignatureAlgorithm.RSA_SHA384


def test_verify_still_accepts_an_rsa_pss_signature(keys: Path, message: Path, tmp_path: Path) -> None:
    """A partner's RSA-PSS signature (made here through the library) is still genuine to `picexchange verify`."""
    from picexchange.files.registry import load_identity

    identity = load_identity(key=keys / "MY_DOE.key.pem", certificate=keys / "MY_DOE.cert.pem")
    signed = tmp_path / "pss.xml"
    signed.write_bytes(
        signing.sign(message.read_bytes(), identity, algorithm=signing.SignatureAlgorithm.RSA_PSS_SHA256)
    )
    code, out, _ = run("verify", signed, "--partners", keys / "partners.toml", "--as", "AU:DCCEEW")
    assert code == 0, out
    assert "genuine Acknowledgement" in out
