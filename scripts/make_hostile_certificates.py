"""Write the hostile certificates of samples/hostile/certificates/ (TEST ONLY), one broken rule per file.

Run from the repository root with the project's virtual environment:

    .venv/bin/python scripts/make_hostile_certificates.py

Each certificate names the participant ``MY:DOE`` and is valid 2026-01-01 to 2046-01-01, so the only reason
to refuse it is the rule it breaks. Keys are new on every run (and thrown away: no private key is written),
so the files change each time; the refusal messages do not. ``tests/test_certificate_policy.py`` loads
every file into a partner registry and expects the message its README row names.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from picexchange.testpki import CaKey, KeyType, certificate_pem, make_ca, make_certificate, make_key

FOLDER = Path(__file__).resolve().parent.parent / "samples" / "hostile" / "certificates"
PARTICIPANT = "MY:DOE"
NOT_BEFORE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2046, 1, 1, tzinfo=dt.UTC)
#: An OID no software knows: 2.25 is the arc of UUID-derived OIDs (ITU-T X.667), free for anyone to mint.
UNKNOWN_OID = x509.ObjectIdentifier("2.25.238432748193651394843981873469120938311")


def _ca(key: CaKey) -> tuple[CaKey, x509.Certificate]:
    return make_ca(key=key, not_before=NOT_BEFORE, not_after=NOT_AFTER)


def _policies_critical(ca: tuple[CaKey, x509.Certificate], leaf: rsa.RSAPrivateKey) -> x509.Certificate:
    """Return a certificate whose certificatePolicies (an extension cryptography knows) is critical."""
    good = make_certificate(
        PARTICIPANT, leaf.public_key(), ca_key=ca[0], ca_certificate=ca[1], not_before=NOT_BEFORE, not_after=NOT_AFTER
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(good.subject)
        .issuer_name(good.issuer)
        .public_key(leaf.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
    )
    for extension in good.extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    # 2.23.140.1.2.2: the CA/Browser Forum's organisation-validated policy, a common real-world value.
    policy = x509.PolicyInformation(x509.ObjectIdentifier("2.23.140.1.2.2"), None)
    builder = builder.add_extension(x509.CertificatePolicies([policy]), critical=True)
    return builder.sign(ca[0], hashes.SHA256())


def make_all() -> dict[str, x509.Certificate]:
    """Return every hostile certificate by file name."""
    ca = _ca(make_key(KeyType.RSA_2048))
    ec_ca = _ca(make_key(KeyType.EC_P256))
    weak_ca = _ca(rsa.generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505 - the attack
    p224_ca = _ca(ec.generate_private_key(ec.SECP224R1()))
    leaf = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def issue(issuer: tuple[CaKey, x509.Certificate] = ca, **options: object) -> x509.Certificate:
        return make_certificate(
            PARTICIPANT,
            leaf.public_key(),
            ca_key=issuer[0],
            ca_certificate=issuer[1],
            not_before=NOT_BEFORE,
            not_after=NOT_AFTER,
            **options,  # type: ignore[arg-type]
        )

    return {
        "eku-server-auth-only.cert.pem": issue(extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH]),
        "eku-code-signing-only.cert.pem": issue(extended_key_usage=[ExtendedKeyUsageOID.CODE_SIGNING]),
        "sha1-signed.cert.pem": issue(signature_hash=hashes.SHA1()),  # noqa: S303 - the attack itself
        "md5-signed.cert.pem": issue(signature_hash=hashes.MD5()),  # noqa: S303 - the attack itself
        "ecdsa-sha1-signed.cert.pem": issue(ec_ca, signature_hash=hashes.SHA1()),  # noqa: S303
        "rsa1024-issuer.cert.pem": issue(weak_ca),
        "rsa1024-ca.cert.pem": weak_ca[1],
        "p224-issuer.cert.pem": issue(p224_ca),
        "unknown-critical-extension.cert.pem": issue(critical_extension=UNKNOWN_OID),
        "critical-certificate-policies.cert.pem": _policies_critical(ca, leaf),
    }


def main() -> int:
    """Write the files; return the exit code."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    for name, certificate in make_all().items():
        (FOLDER / name).write_bytes(certificate_pem(certificate))
        print(f"wrote {FOLDER / name}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
