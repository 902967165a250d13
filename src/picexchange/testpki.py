"""A throw-away test PKI: a test CA, a key and certificate per participant, and a partner registry.

Everything made here is for demos, samples and integration tests, and says ``TEST ONLY`` in every
certificate subject. ``picexchange keys init`` writes it to a folder; tests use :func:`make_test_pki`
directly. Pure: the caller passes the validity period (no clock is read here) and writes the files.

File names replace the ``:`` of a participant id by ``_`` (``AU_DCCEEW.key.pem``): a colon is not allowed
in Windows file names, and the registry names every file anyway.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from picexchange.errors import ConfigurationError
from picexchange.models.envelope import UtilityBlock
from picexchange.trust import (
    PARTICIPANT_URI_PREFIX,
    Identity,
    ParticipantRole,
    Partner,
    RegisteredCertificate,
    SigningKey,
    TrustStore,
    is_participant_id,
)

__all__ = [
    "KNOWN_PARTICIPANTS",
    "CaKey",
    "KeyType",
    "TestParticipant",
    "TestPki",
    "certificate_pem",
    "file_stem",
    "make_ca",
    "make_certificate",
    "make_key",
    "make_test_pki",
    "partners_toml",
    "private_key_pem",
]

TEST_ONLY = "TEST ONLY"

#: A key a test CA signs with: what a participant signs with, of any size (an RSA-1024 CA is a test case).
CaKey: TypeAlias = SigningKey

#: Display name and role of the participants the samples use; any other id gets a generic name.
KNOWN_PARTICIPANTS: dict[str, tuple[str, ParticipantRole]] = {
    "AU:DCCEEW": (
        "Department of Climate Change, Energy, the Environment and Water",
        ParticipantRole.COMPETENT_AUTHORITY,
    ),
    "AU:ABF": ("Australian Border Force", ParticipantRole.CUSTOMS),
    "MY:DOE": ("Department of Environment Malaysia", ParticipantRole.COMPETENT_AUTHORITY),
    "MY:RMCD": ("Royal Malaysian Customs Department", ParticipantRole.CUSTOMS),
    "JP:MOE": ("Ministry of the Environment, Japan", ParticipantRole.COMPETENT_AUTHORITY),
    "SG:NEA": ("National Environment Agency, Singapore", ParticipantRole.COMPETENT_AUTHORITY),
    "JP:CUSTOMS": ("Japan Customs", ParticipantRole.CUSTOMS),
    "NL:ILT": ("Human Environment and Transport Inspectorate, Netherlands", ParticipantRole.COMPETENT_AUTHORITY),
    "NL:DOUANE": ("Netherlands Customs (Douane)", ParticipantRole.CUSTOMS),
    "CH:BAFU": ("Federal Office for the Environment, Switzerland", ParticipantRole.COMPETENT_AUTHORITY),
    "CH:BAZG": ("Federal Office for Customs and Border Security, Switzerland", ParticipantRole.CUSTOMS),
    "DE:UBA": ("German Environment Agency (Umweltbundesamt)", ParticipantRole.COMPETENT_AUTHORITY),
    "TH:DIW": ("Department of Industrial Works, Thailand", ParticipantRole.COMPETENT_AUTHORITY),
    "TH:CUSTOMS": ("Thai Customs Department", ParticipantRole.CUSTOMS),
    "KR:ME": ("Ministry of Environment, Republic of Korea", ParticipantRole.COMPETENT_AUTHORITY),
}
_CUSTOMS_HINTS = ("CUSTOMS", "DOUANE", "ZOLL", "ADUANA", "ABF", "RMCD", "BAZG", "CBP")


class KeyType(enum.StrEnum):
    """Key types the test PKI can make."""

    RSA_2048 = "rsa2048"
    RSA_3072 = "rsa3072"
    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"


def make_key(key_type: KeyType) -> SigningKey:
    """Generate a new private key of ``key_type``."""
    if key_type is KeyType.RSA_2048:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type is KeyType.RSA_3072:
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    curve: ec.EllipticCurve = ec.SECP256R1() if key_type is KeyType.EC_P256 else ec.SECP384R1()
    return ec.generate_private_key(curve)


def file_stem(participant: str) -> str:
    """Return the file name stem of a participant's key and certificate (``AU:DCCEEW`` -> ``AU_DCCEEW``)."""
    return participant.replace(":", "_")


@dataclass(frozen=True, slots=True, kw_only=True)
class TestParticipant:
    """One participant of the test PKI, with its key (TEST ONLY).

    Attributes:
        partner: the registry entry.
        private_key: its signing key.
        certificate: its certificate, issued by the test CA.

    """

    __test__ = False  # not a pytest test class

    partner: Partner
    private_key: SigningKey = field(repr=False)
    certificate: x509.Certificate

    @property
    def id(self) -> str:
        """Return the participant id."""
        return self.partner.id

    @property
    def identity(self) -> Identity:
        """Return the signing identity of this participant."""
        return Identity(participant=self.partner.id, private_key=self.private_key, certificate=self.certificate)


@dataclass(frozen=True, slots=True, kw_only=True)
class TestPki:
    """A test CA and its participants (TEST ONLY).

    Attributes:
        ca_key: the CA's private key.
        ca_certificate: the CA's self-signed certificate.
        participants: the participants, in the order given.

    """

    __test__ = False

    ca_key: SigningKey = field(repr=False)
    ca_certificate: x509.Certificate
    participants: tuple[TestParticipant, ...]

    def __getitem__(self, participant: str) -> TestParticipant:
        for item in self.participants:
            if item.id == participant:
                return item
        raise KeyError(participant)

    def trust(self) -> TrustStore:
        """Return a registry listing every participant."""
        return TrustStore.of(item.partner for item in self.participants)


def _signature_hash(key: CaKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def make_ca(
    *,
    key: CaKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    signature_hash: hashes.HashAlgorithm | None = None,
) -> tuple[CaKey, x509.Certificate]:
    """Make a self-signed test CA certificate for ``key`` (TEST ONLY); return the key and the certificate.

    Args:
        key: the CA's key; any size, so that a test can make the RSA-1024 CA a real attacker might use.
        not_before: start of its validity (aware).
        not_after: end of its validity (aware).
        signature_hash: the hash of its self-signature; by default one matching the key.

    """
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"picexchange {TEST_ONLY}"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"picexchange test CA - {TEST_ONLY}"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return key, _sign(builder, key, signature_hash)


def make_certificate(
    participant: str,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    *,
    ca_key: CaKey,
    ca_certificate: x509.Certificate,
    not_before: dt.datetime,
    not_after: dt.datetime,
    name: str | None = None,
    digital_signature: bool = True,
    ca: bool = False,
    extended_key_usage: Iterable[x509.ObjectIdentifier] | None = None,
    signature_hash: hashes.HashAlgorithm | None = None,
    critical_extension: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    """Issue a participant's signing certificate from the test CA (TEST ONLY); the options make bad ones.

    By default the certificate passes the certificate policy of :mod:`picexchange.trust`. Each option
    breaks one rule, so that tests and ``samples/hostile/certificates`` can show each refusal.

    Args:
        participant: the participant id, named in the subject and in a subjectAltName URI.
        public_key: the participant's public key.
        ca_key: the issuing key (an RSA-1024 key makes a certificate from a too-weak issuer).
        ca_certificate: the issuing CA's certificate (its subject becomes the issuer name).
        not_before: start of the validity (aware).
        not_after: end of the validity (aware).
        name: the organisational unit; by default the participant's display name.
        digital_signature: the key usage's digitalSignature bit.
        ca: mark it a CA certificate (basicConstraints cA).
        extended_key_usage: add an extendedKeyUsage with these purposes (e.g. serverAuth only).
        signature_hash: the hash of the CA's signature; SHA-1 and MD5 (which cryptography no longer signs
            certificates with) are made by re-signing the certificate's bytes with that hash.
        critical_extension: add an extension with this OID, that no software knows, marked critical.

    """
    if name is None:
        name = KNOWN_PARTICIPANTS.get(participant, (f"{participant} (test participant)", None))[0]
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, participant[:2]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"picexchange {TEST_ONLY}"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, name[:64]),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{participant} - {TEST_ONLY}"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            _key_usage(digital_signature=digital_signature, content_commitment=digital_signature), critical=True
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(PARTICIPANT_URI_PREFIX + participant)]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if extended_key_usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(extended_key_usage)), critical=False)
    if critical_extension is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(critical_extension, b"\x05\x00"), critical=True)
    return _sign(builder, ca_key, signature_hash)


def _key_usage(
    *, digital_signature: bool = False, content_commitment: bool = False, key_cert_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _sign(
    builder: x509.CertificateBuilder, key: CaKey, signature_hash: hashes.HashAlgorithm | None
) -> x509.Certificate:
    chosen = signature_hash or _signature_hash(key)
    if isinstance(chosen, hashes.SHA1 | hashes.MD5):
        # cryptography refuses to sign certificates with these; sign with SHA-256, then re-sign the bytes.
        return _resign(builder.sign(key, hashes.SHA256()), key, chosen)
    if not isinstance(chosen, hashes.SHA224 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512):
        raise ConfigurationError(f"the test PKI cannot sign certificates with {chosen.name}")
    return builder.sign(key, chosen)


# DER, just enough to re-sign a certificate: TLV with definite lengths, OIDs, AlgorithmIdentifier.
def _tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _contents(der: bytes) -> bytes:
    first = der[1]
    if first < 0x80:
        return der[2 : 2 + first]
    count = first & 0x7F
    size = int.from_bytes(der[2 : 2 + count], "big")
    return der[2 + count : 2 + count + size]


def _oid(oid: x509.ObjectIdentifier) -> bytes:
    arcs = [int(arc) for arc in oid.dotted_string.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _algorithm_identifier(oid: x509.ObjectIdentifier, *, rsa_key: bool) -> bytes:
    # RFC 4055 / RFC 3279: RSA PKCS #1 v1.5 identifiers carry NULL parameters, ECDSA ones none.
    return _tlv(0x30, _oid(oid) + (b"\x05\x00" if rsa_key else b""))


_WEAK_SIGNATURES = {
    ("rsa", "sha1"): SignatureAlgorithmOID.RSA_WITH_SHA1,
    ("rsa", "md5"): SignatureAlgorithmOID.RSA_WITH_MD5,
    ("ec", "sha1"): SignatureAlgorithmOID.ECDSA_WITH_SHA1,
}


def _resign(certificate: x509.Certificate, key: CaKey, chosen: hashes.HashAlgorithm) -> x509.Certificate:
    rsa_key = isinstance(key, rsa.RSAPrivateKey)
    weak = _WEAK_SIGNATURES.get(("rsa" if rsa_key else "ec", chosen.name))
    if weak is None or not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigurationError(f"the test PKI cannot sign with {chosen.name} and a {type(key).__name__}")
    old = _algorithm_identifier(certificate.signature_algorithm_oid, rsa_key=rsa_key)
    new = _algorithm_identifier(weak, rsa_key=rsa_key)
    content = _contents(certificate.tbs_certificate_bytes)
    assert content.count(old) == 1, "the TBSCertificate names its signature algorithm once"
    tbs = _tlv(0x30, content.replace(old, new))
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(tbs, padding.PKCS1v15(), chosen)
    else:
        signature = key.sign(tbs, ec.ECDSA(chosen))
    return x509.load_der_x509_certificate(_tlv(0x30, tbs + new + _tlv(0x03, b"\x00" + signature)))


def _role(participant: str) -> ParticipantRole:
    known = KNOWN_PARTICIPANTS.get(participant)
    if known is not None:
        return known[1]
    authority = participant.split(":", 1)[1]
    return ParticipantRole.CUSTOMS if authority in _CUSTOMS_HINTS else ParticipantRole.COMPETENT_AUTHORITY


def make_test_pki(
    participants: Iterable[str],
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    key_type: KeyType = KeyType.RSA_2048,
    endpoint: str = "https://{stem}.sw.test/ub/v1/messages",
) -> TestPki:
    """Make a test CA and a key and certificate for each participant (every subject says TEST ONLY).

    Args:
        participants: participant ids (``AU:DCCEEW``); each gets a certificate naming it in its subject
            and in a ``urn:picexchange:participant:`` subjectAltName URI.
        not_before: start of every certificate's validity (aware).
        not_after: end of every certificate's validity (aware).
        key_type: the kind of key for the CA and the participants.
        endpoint: endpoint template; ``{stem}`` becomes ``au-dcceew`` (``.test`` is a reserved domain).

    Raises:
        ConfigurationError: an id is malformed or repeated, or the period is empty or naive.

    """
    ids = list(participants)
    if not ids:
        raise ConfigurationError("name at least one participant")
    if len(set(ids)) != len(ids):
        raise ConfigurationError("a participant is named twice")
    if not_before.tzinfo is None or not_after.tzinfo is None or not_before >= not_after:
        raise ConfigurationError("the validity period must be aware and not empty")
    ca_key, ca_certificate = make_ca(key=make_key(key_type), not_before=not_before, not_after=not_after)
    made = []
    for participant in ids:
        made.append(
            _participant(
                participant,
                ca_key=ca_key,
                ca_certificate=ca_certificate,
                not_before=not_before,
                not_after=not_after,
                key_type=key_type,
                endpoint=endpoint.format(stem=file_stem(participant).lower().replace("_", "-")),
            )
        )
    return TestPki(ca_key=ca_key, ca_certificate=ca_certificate, participants=tuple(made))


def _participant(
    participant: str,
    *,
    ca_key: SigningKey,
    ca_certificate: x509.Certificate,
    not_before: dt.datetime,
    not_after: dt.datetime,
    key_type: KeyType,
    endpoint: str,
) -> TestParticipant:
    if not is_participant_id(participant):
        raise ConfigurationError(f"{participant!r} is not a participant id (CC:AUTHORITY, e.g. MY:DOE)")
    country = participant[:2]
    name, role = KNOWN_PARTICIPANTS.get(participant, (f"{participant} (test participant)", _role(participant)))
    key = make_key(key_type)
    certificate = make_certificate(
        participant,
        key.public_key(),
        ca_key=ca_key,
        ca_certificate=ca_certificate,
        not_before=not_before,
        not_after=not_after,
        name=name,
    )
    blocks = (
        frozenset({UtilityBlock.EXPORT})
        if role is ParticipantRole.CUSTOMS
        else frozenset({UtilityBlock.PIC, UtilityBlock.EXPORT})
    )
    partner = Partner(
        id=participant,
        name=name,
        country=country,
        role=role,
        utility_blocks=blocks,
        endpoint=endpoint,
        certificates=(RegisteredCertificate.of(certificate),),
    )
    return TestParticipant(partner=partner, private_key=key, certificate=certificate)


def private_key_pem(key: SigningKey) -> bytes:
    """Return ``key`` as unencrypted PKCS#8 PEM, after a comment line saying it is a test key."""
    header = b"# TEST ONLY: a picexchange test key, published with the samples. Never use it for real messages.\n"
    return header + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def certificate_pem(certificate: x509.Certificate) -> bytes:
    """Return ``certificate`` as PEM."""
    return certificate.public_bytes(serialization.Encoding.PEM)


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def partners_toml(pki: TestPki, *, me: str | None = None, hosts: Sequence[str] = ()) -> str:
    """Return a partner registry listing every participant of ``pki``, with certificate paths beside it.

    Args:
        pki: the test PKI.
        me: a participant whose key and certificate make the ``[me]`` table (the older form of a Single
            Window hosting one participant); by default none.
        hosts: the participants a Single Window hosts, one ``[[me]]`` entry each (all of one country); by
            default none (the registry is shared, and each Single Window adds its own).

    """
    if me is not None and hosts:
        raise ConfigurationError("give me (one [me] table) or hosts ([[me]] entries), not both")
    lines = [
        "# Partner registry of a picexchange TEST PKI (TEST ONLY: the keys beside it are published).",
        "# Made by `picexchange keys init`; paths are relative to this file.",
        "",
    ]
    for participant in [me] if me is not None else hosts:
        pki[participant]  # noqa: B018 - raises KeyError for an unknown participant
        stem = file_stem(participant)
        lines += [
            "[me]" if me is not None else "[[me]]",
            f"id = {_toml_string(participant)}",
            f'key = "{stem}.key.pem"',
            f'certificate = "{stem}.cert.pem"',
            "",
        ]
    if me is None and not hosts:
        lines += [
            "# The participants a Single Window hosts and signs as, one [[me]] each (all of one country):",
            "# [[me]]",
            '# id = "AU:DCCEEW"',
            '# key = "AU_DCCEEW.key.pem"',
            '# certificate = "AU_DCCEEW.cert.pem"',
            "",
        ]
    for item in pki.participants:
        partner = item.partner
        blocks = ", ".join(_toml_string(block.value) for block in sorted(partner.utility_blocks))
        lines += [
            "[[partner]]",
            f"id = {_toml_string(partner.id)}",
            f"name = {_toml_string(partner.name)}",
            f"country = {_toml_string(partner.country)}",
            f"role = {_toml_string(partner.role.value)}",
            f"utility_blocks = [{blocks}]",
        ]
        if partner.endpoint is not None:
            lines.append(f"endpoint = {_toml_string(partner.endpoint)}")
        lines += ["", "[[partner.certificate]]", f'path = "{file_stem(partner.id)}.cert.pem"', ""]
    return "\n".join(lines)
