"""What a signing certificate must be: the certificate policy.

signxml checks only the validity dates of a pinned certificate. :func:`certificate_problems` refuses a
signing certificate whose

- key is weak: RSA below 2048 bits, EC not on P-256, P-384 or P-521, any other kind;
- basic constraints make it a CA certificate;
- key usage (when present) does not allow digital signatures;
- extended key usage (when present) allows none of :data:`DOCUMENT_SIGNING_USAGES`;
- own signature uses a hash below SHA-256 (SHA-1, MD5, SHA-224) or an algorithm we do not know;
- issuing key is below the minimum (see :func:`issuer_problems` for what the leaf alone tells);
- extensions include a critical one outside :data:`UNDERSTOOD_CRITICAL_EXTENSIONS`.

It runs when a certificate is registered (the partner registry and ``[[me]]``) and again each time one is
presented (:func:`picexchange.signing.verify`, for messages and receipts alike), because a registry can
also be built in code and a verify policy can raise the minimum key size. Pure: it takes certificates and
keys, never a file.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, SignatureAlgorithmOID

__all__ = [
    "DOCUMENT_SIGNING_USAGES",
    "MIN_HASH_BITS",
    "MIN_RSA_BITS",
    "PARTICIPANT_URI_PREFIX",
    "UNDERSTOOD_CRITICAL_EXTENSIONS",
    "SigningKey",
    "certificate_problems",
    "describe_certificate",
    "issuer_problems",
    "key_problem",
    "participant_of",
    "signature_hash_problem",
]

#: Smallest RSA modulus accepted for signing and verifying (NIST SP 800-131A: RSA below 2048 bits is disallowed).
MIN_RSA_BITS = 2048
#: Curves accepted for ECDSA: P-256 and stronger (128-bit security or more, like RSA-3072).
_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
#: A certificate may name its participant in a subjectAltName URI ``urn:picexchange:participant:AU:DCCEEW``.
PARTICIPANT_URI_PREFIX = "urn:picexchange:participant:"

SigningKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def key_problem(public_key: object, *, min_rsa_bits: int = MIN_RSA_BITS) -> str | None:
    """Return why a public key is too weak or of an unsupported kind for signing, or None if it is fine."""
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < min_rsa_bits:
            return f"RSA key of {public_key.key_size} bits is too small (at least {min_rsa_bits})"
        return None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in _CURVES:
            return f"EC curve {public_key.curve.name} is not allowed (P-256, P-384 or P-521)"
        return None
    return f"{type(public_key).__name__.lstrip('_')} keys are not supported (RSA or ECDSA only)"


#: Extended key usages that allow a certificate to sign envelopes (a certificate without the extension may).
#:
#: - ``documentSigning`` (1.3.6.1.5.5.7.3.36, RFC 9336) says exactly this: signing documents, the act an
#:   envelope signature is;
#: - ``emailProtection`` is what S/MIME signing certificates carry, the kind many governmental and
#:   qualified CAs issue to an organisation for signing its documents and messages;
#: - ``clientAuth`` identifies an organisation's system to another system, which is what a Single
#:   Window's signature on its envelopes does too; one certificate for mTLS and for signing is common in
#:   gateway deployments, and it is pinned per partner anyway;
#: - ``anyExtendedKeyUsage`` is the CA saying it sets no restriction (RFC 5280 §4.2.1.12).
#:
#: Refused: ``serverAuth`` (it names a host, not an organisation acting, and is the easiest certificate to
#: get: any domain holder, automatically), ``codeSigning`` (software, another act), ``timeStamping`` and
#: ``OCSPSigning`` (reserved to time-stamping authorities and OCSP responders) and every usage we do not know.
DOCUMENT_SIGNING_USAGES: frozenset[x509.ObjectIdentifier] = frozenset(
    {
        x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36"),
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    }
)
_USAGE_NAMES = {
    x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36"): "documentSigning",
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}

#: Extensions we act on, or that only identify keys, and so may be critical. RFC 5280 §4.2: a certificate
#: with a critical extension the relying party does not process must be refused — a CA marks an extension
#: critical precisely so that software that ignores it does not accept the certificate. Certificate
#: policies are not here: we pin certificates and do no policy processing.
UNDERSTOOD_CRITICAL_EXTENSIONS: frozenset[x509.ObjectIdentifier] = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    }
)

#: Smallest reference hash of a certificate's own signature, in bits (SHA-1 is 160, SHA-224 224).
MIN_HASH_BITS = 256

_HASH_NAMES = {"sha1": "SHA-1", "md5": "MD5", "sha224": "SHA-224", "sha3-224": "SHA3-224", "sha512-224": "SHA-512/224"}
# Signature algorithms whose strength does not rest on a separate hash.
_HASHLESS = frozenset(
    getattr(SignatureAlgorithmOID, name)
    for name in ("ED25519", "ED448", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87")
    if hasattr(SignatureAlgorithmOID, name)
)
_RSA_SIGNATURES = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_MD5,
        SignatureAlgorithmOID.RSA_WITH_SHA1,
        SignatureAlgorithmOID.RSA_WITH_SHA224,
        SignatureAlgorithmOID.RSA_WITH_SHA256,
        SignatureAlgorithmOID.RSA_WITH_SHA384,
        SignatureAlgorithmOID.RSA_WITH_SHA512,
        SignatureAlgorithmOID.RSA_WITH_SHA3_224,
        SignatureAlgorithmOID.RSA_WITH_SHA3_256,
        SignatureAlgorithmOID.RSA_WITH_SHA3_384,
        SignatureAlgorithmOID.RSA_WITH_SHA3_512,
        SignatureAlgorithmOID.RSASSA_PSS,
    }
)
_ECDSA_SIGNATURES = frozenset(
    {
        SignatureAlgorithmOID.ECDSA_WITH_SHA1,
        SignatureAlgorithmOID.ECDSA_WITH_SHA224,
        SignatureAlgorithmOID.ECDSA_WITH_SHA256,
        SignatureAlgorithmOID.ECDSA_WITH_SHA384,
        SignatureAlgorithmOID.ECDSA_WITH_SHA512,
        SignatureAlgorithmOID.ECDSA_WITH_SHA3_224,
        SignatureAlgorithmOID.ECDSA_WITH_SHA3_256,
        SignatureAlgorithmOID.ECDSA_WITH_SHA3_384,
        SignatureAlgorithmOID.ECDSA_WITH_SHA3_512,
    }
)
# For a P-256 key, r and s are uniform below n ~ 2^256: both below 2^224 happens with probability 2^-64.
_EC_SMALL_CURVE_BITS = 224


def certificate_problems(
    certificate: x509.Certificate, *, min_rsa_bits: int = MIN_RSA_BITS, issuer: x509.Certificate | None = None
) -> tuple[str, ...]:
    """Return every reason ``certificate`` may not be used to sign envelopes (empty if it may).

    Checks the key (RSA >= ``min_rsa_bits``, EC P-256 or stronger), that it is not a CA certificate, that
    its key usage allows digital signatures and its extended key usage signing documents (each when
    present), that its own signature uses SHA-256 or stronger from an issuing key of the minimum strength
    (:func:`issuer_problems`), and that every critical extension is one we understand. Validity dates are
    checked separately (:meth:`RegisteredCertificate.validity_problem`), because they depend on ``now``.

    Args:
        certificate: the signing certificate.
        min_rsa_bits: the smallest RSA key accepted, for the certificate's key and its issuer's.
        issuer: the issuing CA's certificate, when known; then its key is checked exactly.

    """
    # The answer depends on the certificates' bytes alone (validity dates are checked elsewhere), and the same few
    # partner certificates sign every message: decided once per certificate. x509.Certificate compares and hashes
    # by its DER bytes, so the key is the certificate's fingerprint, and its issuer's.
    return _problems_of(certificate, min_rsa_bits, issuer)


@lru_cache(maxsize=1024)
def _problems_of(certificate: x509.Certificate, min_rsa_bits: int, issuer: x509.Certificate | None) -> tuple[str, ...]:
    problems: list[str] = []
    try:
        weak = key_problem(certificate.public_key(), min_rsa_bits=min_rsa_bits)
    except (ValueError, UnsupportedAlgorithm) as exc:
        weak = f"its public key cannot be read ({exc})"
    if weak is not None:
        problems.append(weak)
    try:
        extensions = certificate.extensions
        basic = _extension(extensions, x509.BasicConstraints)
        usage = _extension(extensions, x509.KeyUsage)
        purposes = _extension(extensions, x509.ExtendedKeyUsage)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        problems.append(f"its extensions cannot be read ({exc})")
        return tuple(problems)
    if basic is not None and basic.ca:
        problems.append("it is a CA certificate, not a signing certificate")
    if usage is not None and not usage.digital_signature:
        problems.append("its key usage does not allow digital signatures")
    if purposes is not None and not DOCUMENT_SIGNING_USAGES.intersection(purposes):
        found = ", ".join(_USAGE_NAMES.get(oid, oid.dotted_string) for oid in purposes) or "none"
        allowed = ", ".join(sorted(_USAGE_NAMES[oid] for oid in DOCUMENT_SIGNING_USAGES))
        problems.append(
            f"its extended key usage ({found}) does not allow signing documents (one of {allowed} is needed)"
        )
    hashing = signature_hash_problem(certificate)
    if hashing is not None:
        problems.append(hashing)
    try:
        problems += issuer_problems(certificate, issuer=issuer, min_rsa_bits=min_rsa_bits)
    except (ValueError, UnsupportedAlgorithm) as exc:  # an unreadable name or issuer key: refuse, never crash
        problems.append(f"its issuer cannot be checked ({exc})")
    for extension in extensions:
        if extension.critical and extension.oid not in UNDERSTOOD_CRITICAL_EXTENSIONS:
            problems.append(
                f"it has a critical extension picexchange does not process ({_extension_name(extension)}); "
                "RFC 5280 requires refusing it"
            )
    return tuple(problems)


def _extension_name(extension: x509.Extension[x509.ExtensionType]) -> str:
    if isinstance(extension.value, x509.UnrecognizedExtension):
        return f"unknown extension {extension.oid.dotted_string}"
    return f"{extension.oid._name} {extension.oid.dotted_string}"


def signature_hash_problem(certificate: x509.Certificate) -> str | None:
    """Return why the certificate's own signature is too weak or of a kind we refuse, or None if it is fine.

    Accepted: RSA (PKCS #1 v1.5 or PSS) and ECDSA over SHA-256 or stronger, Ed25519, Ed448 and ML-DSA.

    A certificate signed with SHA-1 (or MD5) can be forged by a chosen-prefix collision (SHAmbles, 2020;
    the Flame malware's MD5 certificate, 2012): the issuer's signature then vouches for a key it never saw.
    """
    oid = certificate.signature_algorithm_oid
    if oid in _HASHLESS:
        return None
    try:
        algorithm = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    # DSA, GOST and the like: rarely used, and nothing tells the strength of their issuing key.
    if algorithm is None or oid not in _RSA_SIGNATURES | _ECDSA_SIGNATURES:
        return f"it is signed with an algorithm picexchange does not accept ({oid._name} {oid.dotted_string})"
    if algorithm.digest_size * 8 < MIN_HASH_BITS:
        name = _HASH_NAMES.get(algorithm.name, algorithm.name.upper())
        return f"it is signed with {name}, a hash below SHA-256 ({oid._name})"
    return None


def issuer_problems(
    certificate: x509.Certificate, *, issuer: x509.Certificate | None = None, min_rsa_bits: int = MIN_RSA_BITS
) -> tuple[str, ...]:
    """Return why the key that issued ``certificate`` is too weak (empty if it is not, or cannot be told).

    With the issuer's certificate, its key is checked exactly (RSA >= ``min_rsa_bits``, EC P-256 or
    stronger, Ed25519 and Ed448 accepted) and so is that it really signed ``certificate``. Without it, the
    leaf alone tells:

    - RSA (PKCS #1 v1.5 or PSS): a signature is exactly as long as the issuer's modulus, so its length in
      bits is the issuer's key size (to the byte). One byte short is still accepted: RFC 8017 wants the
      full length, but some signers drop a leading zero byte, which one signature in 256 starts with;
    - ECDSA: the signature's r and s are numbers below the order of the issuer's curve, but it names no
      curve, and small numbers occur on any curve. A signature whose r and s both fit in 224 bits comes
      from a curve below P-256 (P-224, P-192, ...) — from P-256 that happens once in 2^64 signatures — and
      is refused; a larger r or s proves nothing more (P-256 and P-384 cannot be told apart), so the curve
      of an ECDSA issuer is only known for certain when its certificate is registered (``issuer``);
    - DSA and other algorithms: nothing; they are refused (:func:`signature_hash_problem`).

    A self-signed certificate is its own issuer; its key is checked as the certificate's key.
    """
    if issuer is not None:
        problems: list[str] = []
        weak = _issuing_key_problem(issuer.public_key(), min_rsa_bits=min_rsa_bits)
        if weak is not None:
            problems.append(f"its issuer {describe_certificate(issuer)} has a weak key: {weak}")
        # cryptography verifies no SHA-1 or MD5 signature; such a certificate is refused for its hash anyway.
        if signature_hash_problem(certificate) is None and not _issued_by(certificate, issuer):
            problems.append(f"it was not issued by {describe_certificate(issuer)}, the issuer registered for it")
        return tuple(problems)
    if certificate.issuer == certificate.subject and _issued_by(certificate, certificate):
        return ()
    oid = certificate.signature_algorithm_oid
    if oid in _RSA_SIGNATURES:
        bits = len(certificate.signature) * 8
        if bits + 8 < min_rsa_bits:
            return (
                f"it was issued with an RSA key of {bits} bits (the length of its signature), below {min_rsa_bits}",
            )
    elif oid in _ECDSA_SIGNATURES:
        try:
            r, s = decode_dss_signature(certificate.signature)
        except ValueError:
            return ("its ECDSA signature cannot be read",)
        if max(r, s).bit_length() <= _EC_SMALL_CURVE_BITS:
            return (
                f"it was issued with an EC key on a curve below P-256 (its signature's r and s fit in "
                f"{_EC_SMALL_CURVE_BITS} bits)",
            )
    return ()


def _issuing_key_problem(public_key: object, *, min_rsa_bits: int) -> str | None:
    # An issuer may also be an Ed25519 or Ed448 CA: strong, though XMLDSig via signxml cannot sign with them.
    if isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return None
    return key_problem(public_key, min_rsa_bits=min_rsa_bits)


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _extension(extensions: x509.Extensions, kind: type[Any]) -> Any:
    try:
        return extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def participant_of(certificate: x509.Certificate) -> str | None:
    """Return the participant id a certificate names in its subjectAltName URI, or None."""
    try:
        names = _extension(certificate.extensions, x509.SubjectAlternativeName)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return None
    if names is None:
        return None
    for uri in names.get_values_for_type(x509.UniformResourceIdentifier):
        if isinstance(uri, str) and uri.startswith(PARTICIPANT_URI_PREFIX):
            return uri[len(PARTICIPANT_URI_PREFIX) :]
    return None


def describe_certificate(certificate: x509.Certificate) -> str:
    """Return ``subject (SHA-256 ab12cd34…)`` — enough for a person to tell two certificates apart."""
    try:
        subject = certificate.subject.rfc4514_string()
    except ValueError:
        subject = "<unreadable subject>"
    return f"{subject} (SHA-256 {certificate.fingerprint(hashes.SHA256()).hex()[:16]})"
