"""Read the partner registry (``partners.toml``) and the key and certificate files it names.

The registry is a TOML file::

    [[me]]                                # optional: the participants our Single Window hosts
    id = "AU:DCCEEW"                      # (one country; each one also a [[partner]] below)
    key = "AU_DCCEEW.key.pem"             # a path; must not be readable by group or others
    certificate = "AU_DCCEEW.cert.pem"    # registered for it in its [[partner.certificate]]
    issuer = "CA.cert.pem"                # optional, as for a partner's certificate

    [cases]                               # optional: the case policy; Basel's defaults shown
    max_consent_months = 12               # Art. 6(8); 1 to 12
    max_preconsented_consent_months = 12  # pre-consented recovery facilities (OECD: 36); 1 to 36
    expected_transit_days = 60            # shipment to expected arrival; 1 to 365
    receipt_days = 3                      # arrival to the facility's receipt; 1 to 30
    disposal_days = 365                   # receipt to the certificate of disposal, Art. 6(9); 1 to 365

    [[partner]]
    id = "MY:DOE"                         # CC:AUTHORITY
    name = "Department of Environment Malaysia"
    country = "MY"
    role = "competent-authority"          # or "customs"
    utility_blocks = ["pic", "export"]    # what it may send us
    endpoint = "https://sw.example.my/ub/v1/messages"   # optional (a partner may only pull)
    deemed_consent_days = 60              # optional: a transit State that waived written consent, Art. 6(4)

    [[partner.certificate]]
    path = "MY_DOE.cert.pem"              # or: pem = \"\"\"-----BEGIN CERTIFICATE----- ...\"\"\"
    not_before = 2026-01-01T00:00:00Z     # optional; the period we accept it, within its own validity
    not_after = 2027-01-01T00:00:00Z
    issuer = "CA.cert.pem"                # optional: the certificate of its issuing CA

Paths are relative to the TOML file. ``[[me]]`` lists the participants a national Single Window hosts (its
competent authority and its Customs, each signing with its own key); a single ``[me]`` table, the older
form, is one such participant. The file's shape is :class:`RegistryFile` (pydantic, every key declared;
:class:`SingleMeRegistryFile` for the older form); :func:`parse_partner_registry` validates it and then
reads the files it names only through the ``read`` function it is given, checks each certificate against
the policy of :mod:`picexchange.trust.policy` and builds the :class:`~picexchange.trust.TrustStore` and the
:class:`~picexchange.cases.CasePolicy`. :func:`load_registry`, :func:`load_trust`,
:func:`load_case_policy`, :func:`load_identity` and :func:`read_file` are the parts that touch the file
system.
"""

from __future__ import annotations

import enum
import os
import stat
import tomllib
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

from picexchange.cases import CasePolicy
from picexchange.codes import code_list
from picexchange.errors import ConfigurationError
from picexchange.files.document import Moment, NonEmpty, Table, Text, problem, read_toml
from picexchange.models.envelope import UtilityBlock
from picexchange.trust.policy import certificate_problems, describe_certificate, key_problem, participant_of
from picexchange.trust.registry import (
    Hosted,
    Identity,
    ParticipantRole,
    Partner,
    RegisteredCertificate,
    TrustStore,
    is_participant_id,
)

__all__ = [
    "CasePolicyTable",
    "CertificateTable",
    "FileContent",
    "FileReader",
    "MeTable",
    "PartnerRegistry",
    "PartnerTable",
    "RegistryFile",
    "SingleMeRegistryFile",
    "load_case_policy",
    "load_identity",
    "load_registry",
    "load_trust",
    "parse_partner_registry",
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
    deemed_consent_days: Annotated[int, Field(ge=1, le=60)] | None = None
    """A competent authority of transit that waived written consent (Art. 6(4)): the days after its complete
    acknowledgement without objection after which it is deemed to consent (Basel 60, OECD 30)."""

    @field_validator("deemed_consent_days")
    @classmethod
    def _waived_by_an_authority(cls, days: int | None, info: ValidationInfo) -> int | None:
        if days is not None and info.data.get("role") is ParticipantRole.CUSTOMS:
            raise problem("only a competent authority waives written consent; Customs never consents")
        return days

    @field_validator("country")
    @classmethod
    def _country_of_id(cls, country: str, info: ValidationInfo) -> str:
        participant = info.data.get("id")  # absent when the id itself was refused: that error is enough
        if participant is not None and not participant.startswith(country + ":"):
            raise problem(f"{country} is not the country of {participant}")
        return country


class MeTable(Table):
    """One ``[[me]]``: a participant our Single Window hosts, and the key it signs with."""

    id: _ParticipantIdText
    """Its participant id, the Sender of everything it signs; also listed as a ``[[partner]]``."""
    key: Text
    """Our unencrypted PEM private key file; must not be readable by group or others."""
    certificate: Text
    """The PEM certificate of that key; registered for it in its ``[[partner.certificate]]``."""
    issuer: Text | None = None
    """The PEM file of the CA certificate that issued it."""


class CasePolicyTable(Table):
    """``[cases]``: the deadlines and allowances our PIC cases are checked with (Basel's by default)."""

    max_consent_months: Annotated[int, Field(ge=1, le=12)] = 12
    """Longest validity of a consent, in months (Art. 6(8): 12 for a general notification)."""
    max_preconsented_consent_months: Annotated[int, Field(ge=1, le=36)] = 12
    """Longest validity of a consent for a pre-consented recovery facility (OECD: 36 months)."""
    expected_transit_days: Annotated[int, Field(ge=1, le=365)] = 60
    """Days from the shipment date to its expected arrival (the documents carry no arrival date)."""
    receipt_days: Annotated[int, Field(ge=1, le=30)] = 3
    """Days after arrival within which the facility confirms receipt (V-B 18: three working days)."""
    disposal_days: Annotated[int, Field(ge=1, le=365)] = 365
    """Days after receipt by which disposal or recovery is certified at the latest (Art. 6(9): one year)."""

    @field_validator("max_preconsented_consent_months")
    @classmethod
    def _preconsented_not_shorter(cls, months: int, info: ValidationInfo) -> int:
        general = info.data.get("max_consent_months")
        if general is not None and months < general:
            raise problem(f"must be at least max_consent_months ({general}): a pre-consented facility gets longer")
        return months


class RegistryFile(Table):
    """The whole ``partners.toml``."""

    me: NonEmpty[MeTable] | None = None
    """The participants our Single Window hosts, each with its signing identity, when this registry names them."""
    cases: CasePolicyTable = CasePolicyTable()
    """The case policy's deadlines and allowances."""
    partner: NonEmpty[PartnerTable]
    """Every participant we exchange messages with (the hosted ones too)."""


class SingleMeRegistryFile(Table):
    """The whole ``partners.toml`` in the older form: one ``[me]`` table, a Single Window hosting one participant."""

    me: MeTable
    """The one participant our gateway hosts."""
    cases: CasePolicyTable = CasePolicyTable()
    """The case policy's deadlines and allowances."""
    partner: NonEmpty[PartnerTable]
    """Every participant we exchange messages with."""


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


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerRegistry:
    """What a partner registry file says, as values.

    Attributes:
        trust: the partners and the hosted participants' identities.
        case_policy: the policy our PIC cases are checked with: ``[cases]`` and each partner's
            ``deemed_consent_days``.

    """

    trust: TrustStore
    case_policy: CasePolicy


def parse_registry(text: str, *, read: FileReader, source: str = "<registry>") -> TrustStore:
    """Validate a registry's text and build the trust store it describes (see :func:`parse_partner_registry`)."""
    return parse_partner_registry(text, read=read, source=source).trust


def parse_partner_registry(text: str, *, read: FileReader, source: str = "<registry>") -> PartnerRegistry:
    """Validate a registry's text and build the trust store and case policy it describes (format: module docstring).

    Args:
        text: the TOML text.
        read: returns the content of a file named in the registry (path as written there); the only way
            this function reaches a file.
        source: the registry's name for error messages (its path).

    Raises:
        ConfigurationError: with the file and the key path of the first problem found — not TOML, an
            unknown key, a missing, malformed or out-of-bounds value, an unreadable or weak certificate, a
            private key others can read or that does not match its certificate, a partner listed twice, a
            participant hosted twice, hosted participants of different countries, or a hosted participant
            that is not a ``[[partner]]`` with the certificate it signs with.

    """
    document = _document(text, source)
    registration = _Registration(source=source, read=read)
    if isinstance(document, SingleMeRegistryFile):
        hosted_tables = [("me", document.me)]
    else:
        hosted_tables = [(f"me[{index}]", table) for index, table in enumerate(document.me or (), start=1)]
    registration.one_country(hosted_tables)
    identities = [registration.identity(table, field) for field, table in hosted_tables]
    partners = [registration.partner(table, f"partner[{index}]") for index, table in enumerate(document.partner, 1)]
    seen: dict[str, str] = {}
    for index, partner in enumerate(partners, start=1):
        if partner.id in seen:
            raise registration.fail(f"partner[{index}].id", f"{partner.id} is already listed at {seen[partner.id]}")
        seen[partner.id] = f"partner[{index}]"
    by_id = {partner.id: partner for partner in partners}
    for (field, _), identity in zip(hosted_tables, identities, strict=True):
        registration.registered_as_partner(field, identity, by_id.get(identity.participant))
    trust = TrustStore.of(partners, me=Hosted(tuple(identities)) if identities else None, source=source)
    return PartnerRegistry(trust=trust, case_policy=_case_policy(document))


def _document(text: str, source: str) -> RegistryFile | SingleMeRegistryFile:
    # The older form has one [me] table; the current one an array of them ([[me]]). Which one is decided by
    # what TOML parsed, so that each form's errors name its own key paths (me.key, me[2].key); a value that is
    # neither reads "must be a table".
    try:
        me = tomllib.loads(text).get("me")
    except tomllib.TOMLDecodeError:
        me = None  # read_toml reports it, with its line
    single = me is not None and not isinstance(me, list)
    if single:
        return read_toml(text, SingleMeRegistryFile, source=source, nouns=_NOUNS)
    return read_toml(text, RegistryFile, source=source, nouns=_NOUNS)


def _case_policy(document: RegistryFile | SingleMeRegistryFile) -> CasePolicy:
    cases = document.cases
    return CasePolicy(
        waived_written_consent={
            table.id: table.deemed_consent_days for table in document.partner if table.deemed_consent_days is not None
        },
        max_consent_months=cases.max_consent_months,
        max_preconsented_consent_months=cases.max_preconsented_consent_months,
        expected_transit_days=cases.expected_transit_days,
        receipt_days=cases.receipt_days,
        disposal_days=cases.disposal_days,
    )


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

    def one_country(self, tables: list[tuple[str, MeTable]]) -> None:
        # Checked on the tables, before any key is read: a Single Window hosts each participant once, all of
        # one country.
        seen: dict[str, str] = {}
        for field, table in tables:
            if table.id in seen:
                raise self.fail(f"{field}.id", f"{table.id} is already hosted at {seen[table.id]}")
            first_field, first = tables[0]
            if table.id.partition(":")[0] != first.id.partition(":")[0]:
                raise self.fail(
                    f"{field}.id",
                    f"{table.id} is not of the country of {first.id} ({first_field}): a Single Window hosts the "
                    "participants of one country",
                )
            seen[table.id] = field

    def registered_as_partner(self, field: str, identity: Identity, partner: Partner | None) -> None:
        # A hosted participant is also a partner, registered with the certificate it signs with: that entry is
        # what a partner's copy of the registry verifies its messages with.
        if partner is None:
            raise self.fail(
                f"{field}.id",
                f"{identity.participant} is hosted but not listed as a [[partner]]; add it with the certificate "
                "it signs with",
            )
        if partner.registered(identity.certificate) is None:
            raise self.fail(
                f"{field}.certificate",
                f"{describe_certificate(identity.certificate)} is not a certificate registered for "
                f"{identity.participant} in its [[partner.certificate]]; partners could not verify what it signs",
            )

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


def load_registry(path: Path | str) -> PartnerRegistry:
    """Read and validate a partner registry file: partners, hosted participants and case policy.

    Files it names are relative to its folder.

    Raises:
        ConfigurationError: the file cannot be read, or any problem :func:`parse_partner_registry` finds.

    """
    path = Path(path)
    base = path.parent
    return parse_partner_registry(_registry_text(path), read=lambda name: read_file(base / name), source=str(path))


def load_trust(path: Path | str) -> TrustStore:
    """Read and validate a partner registry file; files it names are relative to its folder.

    Raises:
        ConfigurationError: the file cannot be read, or any problem :func:`parse_partner_registry` finds.

    """
    return load_registry(path).trust


def load_case_policy(path: Path | str) -> CasePolicy:
    """Read the case policy of a partner registry file (``[cases]``, each partner's ``deemed_consent_days``).

    Only the TOML file is read and validated, not the key and certificate files it names.

    Raises:
        ConfigurationError: the file cannot be read, is not a registry, or a value is out of bounds.

    """
    path = Path(path)
    return _case_policy(_document(_registry_text(path), str(path)))


def _registry_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the partner registry: {exc}", source=str(path)) from exc


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
