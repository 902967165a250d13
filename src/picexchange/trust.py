"""Who is who: the partner registry, our own signing identity, and the certificate policy.

A :class:`TrustStore` lists the participants we exchange with — each a competent authority or a Customs
administration with the Utility Blocks it may send, its endpoint and the certificates its Single Window
signs with (several, for key rollover, each with the period we accept it) — plus, optionally, our own
:class:`Identity` (participant id, loaded private key, certificate). Certificates are *pinned*: a message
from ``MY:DOE`` is only ever checked against the certificates registered for ``MY:DOE``, never against a
public CA.

The registry is a TOML file::

    [me]                                  # optional: who we are when we sign
    id = "AU:DCCEEW"
    key = "AU_DCCEEW.key.pem"             # a path; must not be readable by group or others
    certificate = "AU_DCCEEW.cert.pem"
    issuer = "CA.cert.pem"                # optional, as for a partner's certificate

    [[partner]]
    id = "MY:DOE"                         # CC:AUTHORITY
    name = "Department of Environment Malaysia"
    country = "MY"
    role = "competent-authority"          # or "customs"
    utility_blocks = ["pic", "export"]    # what it may send us
    endpoint = "https://sw.example.my/ub/v1/messages"   # optional (a partner may only pull)

    [[partner.certificate]]
    path = "MY_DOE.cert.pem"              # or: pem = \"\"\"-----BEGIN CERTIFICATE----- ...\"\"\"
    not_before = 2026-01-01T00:00:00Z     # optional; the period we accept it, within its own validity
    not_after = 2027-01-01T00:00:00Z
    issuer = "CA.cert.pem"                # optional: the certificate of its issuing CA (see below)

Paths are relative to the TOML file. :meth:`TrustStore.from_toml_text` is the pure parser (it reads the
files it names through the ``read`` function it is given); :func:`load_trust` and :func:`load_identity`
at the end of this module are the thin file-reading shells.

The certificate policy (DESIGN §6) lives here too, because signxml checks only the validity dates of a
pinned certificate. :func:`certificate_problems` refuses a signing certificate whose

- key is weak: RSA below 2048 bits, EC not on P-256, P-384 or P-521, any other kind;
- basic constraints make it a CA certificate;
- key usage (when present) does not allow digital signatures;
- extended key usage (when present) allows none of :data:`DOCUMENT_SIGNING_USAGES`;
- own signature uses a hash below SHA-256 (SHA-1, MD5, SHA-224) or an algorithm we do not know;
- issuing key is below the minimum (see :func:`issuer_problems` for what the leaf alone tells);
- extensions include a critical one outside :data:`UNDERSTOOD_CRITICAL_EXTENSIONS`.

It runs when a certificate is registered (the partner registry and ``[me]``) and again each time one is
presented (:func:`picexchange.signing.verify`, for messages and receipts alike), because a registry can
also be built in code and a verify policy can raise the minimum key size.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import re
import stat
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeAlias, get_args
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, SignatureAlgorithmOID

from picexchange.codes import code_list
from picexchange.errors import ConfigurationError
from picexchange.models.base import Facets
from picexchange.models.common import ParticipantId
from picexchange.models.envelope import UtilityBlock

__all__ = [
    "DOCUMENT_SIGNING_USAGES",
    "MIN_HASH_BITS",
    "MIN_RSA_BITS",
    "PARTICIPANT_URI_PREFIX",
    "UNDERSTOOD_CRITICAL_EXTENSIONS",
    "FileContent",
    "FileReader",
    "Identity",
    "Partner",
    "ParticipantRole",
    "RegisteredCertificate",
    "SigningKey",
    "TrustStore",
    "certificate_problems",
    "describe_certificate",
    "is_participant_id",
    "issuer_problems",
    "key_problem",
    "load_identity",
    "load_trust",
    "participant_of",
    "read_file",
    "signature_hash_problem",
]

#: Smallest RSA modulus accepted for signing and verifying (DESIGN §6).
MIN_RSA_BITS = 2048
#: Curves accepted for ECDSA: P-256 and stronger (DESIGN §6).
_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
#: A certificate may name its participant in a subjectAltName URI ``urn:picexchange:participant:AU:DCCEEW``.
PARTICIPANT_URI_PREFIX = "urn:picexchange:participant:"

SigningKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

# One source of truth for the id's form: the pattern of the ParticipantIdType simple type.
_PARTICIPANT_ID = re.compile(
    next(meta.pattern for meta in get_args(ParticipantId)[1:] if isinstance(meta, Facets) and meta.pattern)
)


def is_participant_id(value: str) -> bool:
    """Return whether ``value`` has the form of a participant id (``CC:AUTHORITY``, e.g. ``MY:DOE``)."""
    return _PARTICIPANT_ID.fullmatch(value) is not None


class ParticipantRole(enum.StrEnum):
    """What a participant is in the PIC procedure."""

    COMPETENT_AUTHORITY = "competent-authority"
    """A competent authority of export, import or transit (Basel Art. 5)."""
    CUSTOMS = "customs"
    """A Customs administration (export-data Utility Block)."""


# ------------------------------------------------------------------------------------------------ policy


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


# ------------------------------------------------------------------------------------------------ values


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisteredCertificate:
    """A partner's signing certificate and the period in which we accept signatures made with it.

    Attributes:
        certificate: the pinned X.509 certificate.
        not_before: first moment we accept it (aware); accepted only within the certificate's own validity too.
        not_after: last moment we accept it (aware).
        issuer: the certificate of the CA that issued it, when registered: its key is then checked exactly,
            not estimated from the signature (:func:`issuer_problems`).

    """

    certificate: x509.Certificate
    not_before: dt.datetime
    not_after: dt.datetime
    issuer: x509.Certificate | None = None
    der: bytes = field(init=False, repr=False, compare=False)
    """The certificate's DER bytes, to compare with a certificate received without parsing it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "der", self.certificate.public_bytes(serialization.Encoding.DER))

    @classmethod
    def of(
        cls,
        certificate: x509.Certificate,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        issuer: x509.Certificate | None = None,
    ) -> RegisteredCertificate:
        """Register ``certificate``; the period defaults to the certificate's own validity."""
        return cls(
            certificate=certificate,
            not_before=not_before or certificate.not_valid_before_utc,
            not_after=not_after or certificate.not_valid_after_utc,
            issuer=issuer,
        )

    def problems(self, *, min_rsa_bits: int = MIN_RSA_BITS) -> tuple[str, ...]:
        """Return every reason the certificate may not sign, whatever the time (:func:`certificate_problems`)."""
        return certificate_problems(self.certificate, min_rsa_bits=min_rsa_bits, issuer=self.issuer)

    @property
    def start(self) -> dt.datetime:
        """Return the first moment the certificate is both registered and valid."""
        return max(self.not_before, self.certificate.not_valid_before_utc)

    @property
    def end(self) -> dt.datetime:
        """Return the last moment the certificate is both registered and valid."""
        return min(self.not_after, self.certificate.not_valid_after_utc)

    def validity_problem(self, now: dt.datetime) -> str | None:
        """Return why the certificate may not be used at ``now`` (expired, not yet valid), or None."""
        if now < self.start:
            return f"certificate {describe_certificate(self.certificate)} is not valid before {self.start.isoformat()}"
        if now > self.end:
            return f"certificate {describe_certificate(self.certificate)} expired on {self.end.isoformat()}"
        return None

    def valid_at(self, now: dt.datetime) -> bool:
        """Return whether signatures made with this certificate are accepted at ``now``."""
        return self.validity_problem(now) is None


@dataclass(frozen=True, slots=True, kw_only=True)
class Partner:
    """A participant we exchange messages with.

    Attributes:
        id: participant id, ``CC:AUTHORITY`` (``MY:DOE``).
        name: display name (``Department of Environment Malaysia``).
        country: ISO 3166-1 alpha-2 country, the prefix of ``id``.
        role: competent authority or Customs.
        utility_blocks: the Utility Blocks it may send us.
        endpoint: where to POST messages for it, or None if it only pulls.
        certificates: its signing certificates, oldest first (several during a key rollover).

    """

    id: str
    name: str
    country: str
    role: ParticipantRole
    utility_blocks: frozenset[UtilityBlock]
    endpoint: str | None = None
    certificates: tuple[RegisteredCertificate, ...]

    def may_send(self, block: UtilityBlock) -> bool:
        """Return whether the partner may send messages of Utility Block ``block``."""
        return block in self.utility_blocks

    def registered(self, certificate: x509.Certificate | bytes) -> RegisteredCertificate | None:
        """Return the registration of ``certificate`` (an object or DER bytes, compared byte for byte), or None."""
        der = certificate if isinstance(certificate, bytes) else certificate.public_bytes(serialization.Encoding.DER)
        return next((item for item in self.certificates if item.der == der), None)

    def valid_certificates(self, now: dt.datetime) -> tuple[RegisteredCertificate, ...]:
        """Return the certificates accepted at ``now``."""
        return tuple(item for item in self.certificates if item.valid_at(now))


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who we are when we sign: participant id, the loaded private key and its certificate.

    Keys are loaded once (DESIGN §7: loading an RSA-2048 PEM costs about 50 ms). The key never appears in
    ``repr``.

    Attributes:
        participant: our participant id; the Sender of everything we sign.
        private_key: the loaded signing key (RSA or EC).
        certificate: the certificate of that key, put in every signature's KeyInfo.

    """

    participant: str
    private_key: SigningKey = field(repr=False)
    certificate: x509.Certificate

    def __post_init__(self) -> None:
        der = serialization.Encoding.DER
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        if self.private_key.public_key().public_bytes(der, spki) != self.certificate.public_key().public_bytes(
            der, spki
        ):
            raise ConfigurationError(f"the private key of {self.participant} does not belong to its certificate")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustStore:
    """The partner registry: every participant we accept messages from, and optionally our own identity.

    Attributes:
        partners: the partners by participant id (read-only).
        me: our own signing identity, when the registry names one.
        source: where the registry came from, for messages.

    """

    partners: Mapping[str, Partner]
    me: Identity | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        owners: dict[bytes, str] = {}
        for key, partner in self.partners.items():
            if key != partner.id:
                raise ConfigurationError(f"partner {partner.id} is filed under {key}", source=self.source)
            for item in partner.certificates:
                der = item.der
                if der in owners and owners[der] != partner.id:
                    raise ConfigurationError(
                        f"certificate {describe_certificate(item.certificate)} is registered for both "
                        f"{owners[der]} and {partner.id}",
                        source=self.source,
                    )
                owners[der] = partner.id
        object.__setattr__(self, "partners", MappingProxyType(dict(self.partners)))

    @classmethod
    def of(cls, partners: Iterable[Partner], *, me: Identity | None = None, source: str | None = None) -> TrustStore:
        """Build a store from partners (ids must be unique)."""
        by_id: dict[str, Partner] = {}
        for partner in partners:
            if partner.id in by_id:
                raise ConfigurationError(f"partner {partner.id} is listed twice", source=source)
            by_id[partner.id] = partner
        return cls(partners=by_id, me=me, source=source)

    def partner(self, participant: str) -> Partner | None:
        """Return the partner with id ``participant``, or None if it is not registered."""
        return self.partners.get(participant)

    def owner_of(self, certificate: x509.Certificate | bytes) -> Partner | None:
        """Return the partner that registered ``certificate`` (an object or DER bytes), or None."""
        der = certificate if isinstance(certificate, bytes) else certificate.public_bytes(serialization.Encoding.DER)
        return next((p for p in self.partners.values() if p.registered(der) is not None), None)

    def __iter__(self) -> Iterator[Partner]:
        return iter(self.partners.values())

    def __len__(self) -> int:
        return len(self.partners)

    def __contains__(self, participant: object) -> bool:
        return participant in self.partners

    @classmethod
    def from_toml_text(cls, text: str, *, read: FileReader, source: str = "<registry>") -> TrustStore:
        """Parse and validate a registry (see the module docstring for the format).

        Args:
            text: the TOML text.
            read: returns the content of a file named in the registry (path as written there).
            source: the registry's name for error messages (its path).

        Raises:
            ConfigurationError: with the file and the field path of the first problem found — an unknown
                field, a missing or malformed value, an unreadable or weak certificate, a private key others
                can read or that does not match its certificate.

        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"not valid TOML: {exc}", source=source) from exc
        parser = _Parser(source=source, read=read)
        root = _Table(data, "", parser)
        me_table = root.table("me", required=False)
        entries = root.tables("partner")
        root.done()
        me = parser.identity(me_table) if me_table is not None else None
        partners = [parser.partner(entry) for entry in entries]
        seen: dict[str, str] = {}
        for entry, partner in zip(entries, partners, strict=True):
            if partner.id in seen:
                raise ConfigurationError(
                    f"{partner.id} is already listed at {seen[partner.id]}", source=source, field=f"{entry.path}.id"
                )
            seen[partner.id] = entry.path
        return cls.of(partners, me=me, source=source)


# ------------------------------------------------------------------------------------------------ parsing


@dataclass(frozen=True, slots=True, kw_only=True)
class FileContent:
    """A file named in the registry, as read.

    Attributes:
        data: its bytes.
        name: its resolved path, for messages.
        mode: its POSIX permission bits, or None where the platform has none.

    """

    data: bytes
    name: str
    mode: int | None = None


#: Returns the content of a file named in the registry; raises OSError when it cannot.
FileReader: TypeAlias = Callable[[str], FileContent]


class _Table:
    """A TOML table being consumed: every key must be taken, unknown keys are errors with their path."""

    def __init__(self, data: Mapping[str, Any], path: str, parser: _Parser) -> None:
        self.data = data
        self.path = path
        self.parser = parser
        self.taken: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str | None, text: str) -> ConfigurationError:
        return ConfigurationError(text, source=self.parser.source, field=self.where(key) if key else self.path or None)

    def value(self, key: str, kind: type[Any] | tuple[type[Any], ...], *, required: bool = True) -> Any:
        self.taken.add(key)
        if key not in self.data:
            if required:
                raise self.fail(key, "is required")
            return None
        value = self.data[key]
        if not isinstance(value, kind) or (kind is str and not value.strip()):
            names = {str: "a non-empty string", list: "a list", dt.datetime: "a date-time with time zone"}
            wanted = names.get(kind, "a table") if isinstance(kind, type) else "a value of another type"
            raise self.fail(key, f"must be {wanted}")
        return value

    def text(self, key: str, *, required: bool = True) -> str | None:
        value = self.value(key, str, required=required)
        return value.strip() if isinstance(value, str) else None

    def moment(self, key: str) -> dt.datetime | None:
        value = self.value(key, dt.datetime, required=False)
        if value is not None and value.tzinfo is None:
            raise self.fail(key, "needs a time zone (e.g. 2026-01-01T00:00:00Z)")
        return value.astimezone(dt.UTC) if value is not None else None

    def table(self, key: str, *, required: bool = True) -> _Table | None:
        value = self.value(key, dict, required=required)
        return _Table(value, self.where(key), self.parser) if value is not None else None

    def tables(self, key: str) -> list[_Table]:
        value = self.value(key, list)
        if not value:
            raise self.fail(key, "must list at least one entry")
        found = []
        for index, item in enumerate(value, start=1):
            if not isinstance(item, dict):
                raise self.fail(f"{key}[{index}]", "must be a table")
            found.append(_Table(item, self.where(f"{key}[{index}]"), self.parser))
        return found

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.taken)
        if unknown:
            allowed = ", ".join(sorted(self.taken))
            raise self.fail(unknown[0], f"unknown field (allowed here: {allowed})")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Parser:
    source: str
    read: FileReader

    def participant_id(self, table: _Table, key: str = "id") -> str:
        value = table.text(key)
        assert value is not None
        if not is_participant_id(value):
            raise table.fail(key, f"{value!r} is not a participant id (CC:AUTHORITY, e.g. MY:DOE)")
        return value

    def file(self, table: _Table, key: str) -> FileContent:
        reference = table.text(key)
        assert reference is not None
        try:
            return self.read(reference)
        except OSError as exc:
            raise table.fail(key, f"cannot read {reference!r}: {exc.strerror or exc}") from exc

    def certificate_from(self, table: _Table, key: str, data: bytes, name: str) -> x509.Certificate:
        try:
            found = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise table.fail(key, f"{name} is not a PEM certificate ({exc})") from exc
        if len(found) != 1:
            raise table.fail(key, f"{name} holds {len(found)} certificates; give one per entry")
        return found[0]

    def partner(self, table: _Table) -> Partner:
        participant = self.participant_id(table)
        name = table.text("name")
        country = table.text("country")
        assert name is not None and country is not None
        if country not in code_list("iso-3166-1"):
            raise table.fail("country", f"{country!r} is not an ISO 3166-1 alpha-2 country code")
        if not participant.startswith(country + ":"):
            raise table.fail("country", f"{country} is not the country of {participant}")
        role_text = table.text("role")
        try:
            role = ParticipantRole(role_text or "")
        except ValueError:
            allowed = ", ".join(item.value for item in ParticipantRole)
            raise table.fail("role", f"{role_text!r} is not a role ({allowed})") from None
        blocks: set[UtilityBlock] = set()
        raw_blocks = table.value("utility_blocks", list)
        if not raw_blocks:
            raise table.fail("utility_blocks", "must name at least one Utility Block")
        for index, item in enumerate(raw_blocks, start=1):
            try:
                blocks.add(UtilityBlock(item))
            except ValueError:
                allowed = ", ".join(block.value for block in UtilityBlock)
                raise table.fail(f"utility_blocks[{index}]", f"{item!r} is not a Utility Block ({allowed})") from None
        endpoint = table.text("endpoint", required=False)
        if endpoint is not None:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("https", "http") or not parts.hostname:
                raise table.fail("endpoint", f"{endpoint!r} is not an http(s) URL")
        certificates = tuple(self.registered(entry, participant) for entry in table.tables("certificate"))
        table.done()
        return Partner(
            id=participant,
            name=name,
            country=country,
            role=role,
            utility_blocks=frozenset(blocks),
            endpoint=endpoint,
            certificates=certificates,
        )

    def registered(self, table: _Table, participant: str) -> RegisteredCertificate:
        has_path, has_pem = "path" in table.data, "pem" in table.data
        if has_path == has_pem:
            raise table.fail(None, "give exactly one of path or pem")
        if has_path:
            content = self.file(table, "path")
            name = content.name
            certificate = self.certificate_from(table, "path", content.data, name)
        else:
            pem = table.text("pem")
            assert pem is not None
            name = "the inline pem"
            certificate = self.certificate_from(table, "pem", pem.encode("ascii", "replace"), name)
        table.taken.update(("path", "pem"))
        key = "path" if has_path else "pem"
        issuer = self.issuer(table)
        problems = certificate_problems(certificate, issuer=issuer)
        if problems:
            raise table.fail(key, f"{name}: {describe_certificate(certificate)} may not sign: {'; '.join(problems)}")
        named = participant_of(certificate)
        if named is not None and named != participant:
            raise table.fail(key, f"{describe_certificate(certificate)} names participant {named}, not {participant}")
        entry = RegisteredCertificate.of(
            certificate, not_before=table.moment("not_before"), not_after=table.moment("not_after"), issuer=issuer
        )
        if entry.not_before >= entry.not_after:
            raise table.fail("not_after", "must be later than not_before")
        if entry.start >= entry.end:
            raise table.fail(
                key,
                f"the registered period does not overlap the certificate's validity "
                f"({certificate.not_valid_before_utc.isoformat()} to {certificate.not_valid_after_utc.isoformat()})",
            )
        table.done()
        return entry

    def issuer(self, table: _Table) -> x509.Certificate | None:
        if "issuer" not in table.data:
            table.taken.add("issuer")
            return None
        content = self.file(table, "issuer")
        return self.certificate_from(table, "issuer", content.data, content.name)

    def identity(self, table: _Table) -> Identity:
        participant = self.participant_id(table)
        key_file = self.file(table, "key")
        cert_file = self.file(table, "certificate")
        issuer = self.issuer(table)
        table.done()
        certificate = self.certificate_from(table, "certificate", cert_file.data, cert_file.name)
        problems = certificate_problems(certificate, issuer=issuer)
        if problems:
            described = f"{cert_file.name}: {describe_certificate(certificate)}"
            raise table.fail("certificate", f"{described} may not sign: {'; '.join(problems)}")
        try:
            return _identity(participant, key_file, certificate, issuer)
        except ConfigurationError as exc:
            raise ConfigurationError(exc.text, source=self.source, field=table.where("key")) from exc


def _identity(
    participant: str, key_file: FileContent, certificate: x509.Certificate, issuer: x509.Certificate | None = None
) -> Identity:
    # A private key others can read is a leaked key (DESIGN §6); POSIX only, Windows has no mode bits.
    if key_file.mode is not None and key_file.mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            f"private key {key_file.name} can be read by other users (mode {stat.S_IMODE(key_file.mode):o}); "
            f"run: chmod 600 {key_file.name}"
        )
    try:
        key = serialization.load_pem_private_key(key_file.data, password=None)
    except TypeError as exc:  # cryptography: the key is encrypted and no password was given
        raise ConfigurationError(f"private key {key_file.name} is encrypted; give an unencrypted PEM key") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigurationError(f"{key_file.name} is not a PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigurationError(f"private key {key_file.name} is not an RSA or EC key")
    weak = key_problem(key.public_key())
    if weak is not None:
        raise ConfigurationError(f"private key {key_file.name}: {weak}")
    problems = certificate_problems(certificate, issuer=issuer)
    if problems:
        raise ConfigurationError(f"{describe_certificate(certificate)} may not sign: {'; '.join(problems)}")
    named = participant_of(certificate)
    if named is not None and named != participant:
        raise ConfigurationError(f"{describe_certificate(certificate)} names participant {named}, not {participant}")
    return Identity(participant=participant, private_key=key, certificate=certificate)


# ------------------------------------------------------------------------------------------------ file shells
# The only part of this module that touches the file system; everything above takes what it reads.


def read_file(path: Path) -> FileContent:
    """Read a file for the registry, with its permission bits (None on platforms without them).

    Raises:
        OSError: the file cannot be read.

    """
    data = path.read_bytes()
    mode = None if os.name == "nt" else path.stat().st_mode
    return FileContent(data=data, name=str(path), mode=mode)


def load_trust(path: Path | str) -> TrustStore:
    """Read and validate a partner registry file; files it names are relative to its folder.

    Raises:
        ConfigurationError: the file cannot be read, or any problem :meth:`TrustStore.from_toml_text` finds.

    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the partner registry: {exc}", source=str(path)) from exc
    base = path.parent
    return TrustStore.from_toml_text(text, read=lambda name: read_file(base / name), source=str(path))


def load_identity(*, key: Path | str, certificate: Path | str, participant: str | None = None) -> Identity:
    """Load our signing identity from a PEM private key and its PEM certificate.

    Args:
        key: the private key file (unencrypted PEM; must not be readable by group or others).
        certificate: the certificate file (PEM).
        participant: our participant id; by default the one the certificate names.

    Raises:
        ConfigurationError: a file cannot be read, the key is exposed, weak or not the certificate's, or no
            participant id is given or named by the certificate.

    """
    key, certificate = Path(key), Path(certificate)
    try:
        key_file = read_file(key)
        cert_data = certificate.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {exc.filename}: {exc.strerror}") from exc
    try:
        found = x509.load_pem_x509_certificates(cert_data)
    except ValueError as exc:
        raise ConfigurationError(f"{certificate} is not a PEM certificate") from exc
    if len(found) != 1:
        raise ConfigurationError(f"{certificate} holds {len(found)} certificates; give exactly one")
    participant = participant or participant_of(found[0])
    if participant is None:
        raise ConfigurationError(f"{certificate} names no participant; give the participant id")
    if not is_participant_id(participant):
        raise ConfigurationError(f"{participant!r} is not a participant id (CC:AUTHORITY, e.g. MY:DOE)")
    return _identity(participant, key_file, found[0])
