"""Read the partner registry (``partners.toml``) and the key and certificate files it names.

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
    issuer = "CA.cert.pem"                # optional: the certificate of its issuing CA

Paths are relative to the TOML file. The file's shape is :class:`RegistryFile` (pydantic, every key
declared); :func:`parse_registry` validates it and then reads the files it names only through the
``read`` function it is given, checks each certificate against the policy of
:mod:`picexchange.trust.policy` and builds the :class:`~picexchange.trust.TrustStore`. :func:`load_trust`,
:func:`load_identity` and :func:`read_file` are the parts that touch the file system.
"""

from __future__ import annotations

import enum
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Self, TypeAlias
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from picexchange.codes import code_list
from picexchange.errors import ConfigurationError
from picexchange.files.document import Moment, NonEmpty, Table, Text, problem, read_toml
from picexchange.models.envelope import UtilityBlock
from picexchange.trust.policy import certificate_problems, describe_certificate, key_problem, participant_of
from picexchange.trust.registry import (
    Identity,
    ParticipantRole,
    Partner,
    RegisteredCertificate,
    TrustStore,
    is_participant_id,
)

__all__ = [
    "CertificateTable",
    "FileContent",
    "FileReader",
    "MeTable",
    "PartnerTable",
    "RegistryFile",
    "load_identity",
    "load_trust",
    "parse_registry",
    "read_file",
]


# ------------------------------------------------------------------------------------------------ the file's shape


def _participant_id(value: str) -> str:
    if not is_participant_id(value):
        raise problem(f"{value!r} is not a participant id (CC:AUTHORITY, e.g. MY:DOE)")
    return value


def _country_code(value: str) -> str:
    if value not in code_list("iso-3166-1"):
        raise problem(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return value


def _endpoint(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise problem(f"{value!r} is not an http(s) URL")
    return value


_ParticipantIdText = Annotated[Text, AfterValidator(_participant_id)]
# An enum is named by its value in the file ("customs"), not by a Python object: lax for these fields only.
_Role = Annotated[ParticipantRole, Field(strict=False)]
_Block = Annotated[UtilityBlock, Field(strict=False)]

# What a value of each enum is called in an error: "'ministry' is not a role (competent-authority, customs)".
_NOUNS: dict[type[enum.Enum], str] = {ParticipantRole: "a role", UtilityBlock: "a Utility Block"}


class CertificateTable(Table):
    """One ``[[partner.certificate]]``: a partner's signing certificate and the period we accept it."""

    path: Text | None = None
    """The certificate's PEM file, relative to the registry (or give ``pem``)."""
    pem: Text | None = None
    """The certificate itself, PEM text (or give ``path``)."""
    not_before: Moment | None = None
    """First moment we accept it; by default the start of its own validity."""
    not_after: Moment | None = None
    """Last moment we accept it; by default the end of its own validity."""
    issuer: Text | None = None
    """The PEM file of the CA certificate that issued it, so its key is checked exactly, not estimated."""

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.path is None) == (self.pem is None):
            raise problem("give exactly one of path or pem")
        return self


class PartnerTable(Table):
    """One ``[[partner]]``: a participant we exchange messages with."""

    id: _ParticipantIdText
    """Participant id, ``CC:AUTHORITY`` (``MY:DOE``)."""
    name: Text
    """Display name."""
    country: Annotated[Text, AfterValidator(_country_code)]
    """ISO 3166-1 alpha-2 country, the prefix of ``id``."""
    role: _Role
    """``competent-authority`` or ``customs``."""
    utility_blocks: NonEmpty[_Block]
    """The Utility Blocks it may send us."""
    endpoint: Annotated[Text, AfterValidator(_endpoint)] | None = None
    """Where to POST messages for it; absent if it only pulls."""
    certificate: NonEmpty[CertificateTable]
    """Its signing certificates, oldest first (several during a key rollover)."""

    @field_validator("country")
    @classmethod
    def _country_of_id(cls, country: str, info: ValidationInfo) -> str:
        participant = info.data.get("id")  # absent when the id itself was refused: that error is enough
        if participant is not None and not participant.startswith(country + ":"):
            raise problem(f"{country} is not the country of {participant}")
        return country


class MeTable(Table):
    """``[me]``: who we are when we sign."""

    id: _ParticipantIdText
    """Our participant id, the Sender of everything we sign."""
    key: Text
    """Our unencrypted PEM private key file; must not be readable by group or others."""
    certificate: Text
    """The PEM certificate of that key."""
    issuer: Text | None = None
    """The PEM file of the CA certificate that issued ours."""


class RegistryFile(Table):
    """The whole ``partners.toml``."""

    me: MeTable | None = None
    """Our own signing identity, when this registry names one."""
    partner: NonEmpty[PartnerTable]
    """Every participant we accept messages from."""


# ------------------------------------------------------------------------------------------------ registration


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


def parse_registry(text: str, *, read: FileReader, source: str = "<registry>") -> TrustStore:
    """Validate a registry's text and build the trust store it describes (the format is in the module docstring).

    Args:
        text: the TOML text.
        read: returns the content of a file named in the registry (path as written there); the only way
            this function reaches a file.
        source: the registry's name for error messages (its path).

    Raises:
        ConfigurationError: with the file and the key path of the first problem found — not TOML, an
            unknown key, a missing or malformed value, an unreadable or weak certificate, a private key
            others can read or that does not match its certificate, a partner listed twice.

    """
    document = read_toml(text, RegistryFile, source=source, nouns=_NOUNS)
    registration = _Registration(source=source, read=read)
    me = registration.identity(document.me, "me") if document.me is not None else None
    partners = [registration.partner(table, f"partner[{index}]") for index, table in enumerate(document.partner, 1)]
    seen: dict[str, str] = {}
    for index, partner in enumerate(partners, start=1):
        if partner.id in seen:
            raise registration.fail(f"partner[{index}].id", f"{partner.id} is already listed at {seen[partner.id]}")
        seen[partner.id] = f"partner[{index}]"
    return TrustStore.of(partners, me=me, source=source)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Registration:
    # Turns validated tables into trust values, reading the files they name through `read`.
    source: str
    read: FileReader

    def fail(self, field: str, text: str) -> ConfigurationError:
        return ConfigurationError(text, source=self.source, field=field)

    def file(self, field: str, reference: str) -> FileContent:
        try:
            return self.read(reference)
        except OSError as exc:
            raise self.fail(field, f"cannot read {reference!r}: {exc.strerror or exc}") from exc

    def certificate(self, field: str, data: bytes, name: str) -> x509.Certificate:
        try:
            found = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise self.fail(field, f"{name} is not a PEM certificate ({exc})") from exc
        if len(found) != 1:
            raise self.fail(field, f"{name} holds {len(found)} certificates; give one per entry")
        return found[0]

    def issuer(self, field: str, reference: str | None) -> x509.Certificate | None:
        if reference is None:
            return None
        content = self.file(f"{field}.issuer", reference)
        return self.certificate(f"{field}.issuer", content.data, content.name)

    def partner(self, table: PartnerTable, field: str) -> Partner:
        certificates = tuple(
            self.registered(entry, f"{field}.certificate[{index}]", table.id)
            for index, entry in enumerate(table.certificate, start=1)
        )
        return Partner(
            id=table.id,
            name=table.name,
            country=table.country,
            role=table.role,
            utility_blocks=frozenset(table.utility_blocks),
            endpoint=table.endpoint,
            certificates=certificates,
        )

    def registered(self, table: CertificateTable, field: str, participant: str) -> RegisteredCertificate:
        if table.path is not None:
            key = f"{field}.path"
            content = self.file(key, table.path)
            name = content.name
            certificate = self.certificate(key, content.data, name)
        else:
            assert table.pem is not None  # CertificateTable holds exactly one of path and pem
            key, name = f"{field}.pem", "the inline pem"
            certificate = self.certificate(key, table.pem.encode("ascii", "replace"), name)
        issuer = self.issuer(field, table.issuer)
        problems = certificate_problems(certificate, issuer=issuer)
        if problems:
            raise self.fail(key, f"{name}: {describe_certificate(certificate)} may not sign: {'; '.join(problems)}")
        named = participant_of(certificate)
        if named is not None and named != participant:
            raise self.fail(key, f"{describe_certificate(certificate)} names participant {named}, not {participant}")
        entry = RegisteredCertificate.of(
            certificate, not_before=table.not_before, not_after=table.not_after, issuer=issuer
        )
        # Checked here, not in CertificateTable: either end may default to the certificate's own validity.
        if entry.not_before >= entry.not_after:
            raise self.fail(f"{field}.not_after", "must be later than not_before")
        if entry.start >= entry.end:
            raise self.fail(
                key,
                f"the registered period does not overlap the certificate's validity "
                f"({certificate.not_valid_before_utc.isoformat()} to {certificate.not_valid_after_utc.isoformat()})",
            )
        return entry

    def identity(self, table: MeTable, field: str) -> Identity:
        key_file = self.file(f"{field}.key", table.key)
        cert_file = self.file(f"{field}.certificate", table.certificate)
        issuer = self.issuer(field, table.issuer)
        certificate = self.certificate(f"{field}.certificate", cert_file.data, cert_file.name)
        problems = certificate_problems(certificate, issuer=issuer)
        if problems:
            described = f"{cert_file.name}: {describe_certificate(certificate)}"
            raise self.fail(f"{field}.certificate", f"{described} may not sign: {'; '.join(problems)}")
        try:
            return _identity(table.id, key_file, certificate, issuer)
        except ConfigurationError as exc:
            raise self.fail(f"{field}.key", exc.text) from exc


def _identity(
    participant: str, key_file: FileContent, certificate: x509.Certificate, issuer: x509.Certificate | None = None
) -> Identity:
    # A private key others can read is a leaked key: anyone on the machine could sign as us. POSIX only, Windows
    # has no mode bits.
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
# The only part of the registry that touches the file system; everything above takes what it reads.


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
        ConfigurationError: the file cannot be read, or any problem :func:`parse_registry` finds.

    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the partner registry: {exc}", source=str(path)) from exc
    base = path.parent
    return parse_registry(text, read=lambda name: read_file(base / name), source=str(path))


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
