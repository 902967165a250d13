"""Who is who: the partners we exchange with and our own signing identity, as pure values.

A :class:`TrustStore` lists the participants we exchange with — each a competent authority or a Customs
administration with the Utility Blocks it may send, its endpoint and the certificates its Single Window
signs with (several, for key rollover, each with the period we accept it) — plus, optionally, the
participants our Single Window hosts (:class:`Hosted`: the competent authority and Customs of one country),
each an :class:`Identity` (participant id, loaded private key, certificate). Certificates are *pinned*: a message
from ``MY:DOE`` is only ever checked against the certificates registered for ``MY:DOE``, never against a
public CA.

These are values built in code or by :mod:`picexchange.files.registry`, which reads ``partners.toml`` and
the key and certificate files it names; nothing here reads a file.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import get_args

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from picexchange.errors import ConfigurationError
from picexchange.models.base import Facets
from picexchange.models.common import ParticipantId
from picexchange.models.envelope import UtilityBlock
from picexchange.trust.policy import MIN_RSA_BITS, SigningKey, certificate_problems, describe_certificate

__all__ = [
    "Hosted",
    "Identity",
    "ParticipantRole",
    "Partner",
    "RegisteredCertificate",
    "TrustStore",
    "is_participant_id",
]

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

    Keys are loaded once (loading an RSA-2048 PEM costs about 50 ms). The key never appears in
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


@dataclass(frozen=True, slots=True)
class Hosted:
    """The participants a national Single Window hosts, each with its own signing identity.

    A Single Window acts for several participants of one country — its competent authority and its Customs
    (``AU:DCCEEW`` and ``AU:ABF``) — all sharing one store and one set of cases; each signs with its own key.
    A message to any of them is accepted, and each reply or outbound message is signed by the participant it
    is from. The order is the registry's: the first is the one that signs when no participant is addressed
    (an Error to a message whose Receiver is none of ours).

    Attributes:
        identities: the identities, in registry order (at least one, one per participant, one country).

    """

    identities: tuple[Identity, ...]

    def __post_init__(self) -> None:
        if not self.identities:
            raise ConfigurationError("a Single Window hosts at least one participant")
        seen: set[str] = set()
        country = self.identities[0].participant.partition(":")[0]
        for identity in self.identities:
            if identity.participant in seen:
                raise ConfigurationError(f"{identity.participant} is hosted twice")
            seen.add(identity.participant)
            if identity.participant.partition(":")[0] != country:
                raise ConfigurationError(
                    f"a Single Window hosts participants of one country: {identity.participant} is not of "
                    f"{country} like {self.identities[0].participant}"
                )

    @classmethod
    def of(cls, *identities: Identity | Hosted) -> Hosted:
        """Return the participants ``identities`` name (an identity or a Hosted each), in that order."""
        flat: list[Identity] = []
        for item in identities:
            flat.extend(item.identities if isinstance(item, Hosted) else (item,))
        return cls(tuple(flat))

    @property
    def participants(self) -> frozenset[str]:
        """Return the hosted participant ids."""
        return frozenset(identity.participant for identity in self.identities)

    @property
    def country(self) -> str:
        """Return the ISO 3166-1 alpha-2 country of every hosted participant."""
        return self.identities[0].participant.partition(":")[0]

    @property
    def first(self) -> Identity:
        """Return the first hosted identity (the registry's first ``[[me]]``)."""
        return self.identities[0]

    def identity(self, participant: str) -> Identity | None:
        """Return the identity of hosted ``participant``, or None when it is not hosted."""
        return next((item for item in self.identities if item.participant == participant), None)

    def __contains__(self, participant: object) -> bool:
        return any(item.participant == participant for item in self.identities)

    def __iter__(self) -> Iterator[Identity]:
        return iter(self.identities)

    def __len__(self) -> int:
        return len(self.identities)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustStore:
    """The partner registry: every participant we accept messages from, and optionally who we are.

    Attributes:
        partners: the partners by participant id (read-only).
        hosted: the participants our Single Window hosts with their signing identities, when the registry
            names them (``[[me]]``).
        source: where the registry came from, for messages.

    """

    partners: Mapping[str, Partner]
    hosted: Hosted | None = None
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
    def of(
        cls, partners: Iterable[Partner], *, me: Identity | Hosted | None = None, source: str | None = None
    ) -> TrustStore:
        """Build a store from partners (ids must be unique) and who we are: one identity or several hosted."""
        by_id: dict[str, Partner] = {}
        for partner in partners:
            if partner.id in by_id:
                raise ConfigurationError(f"partner {partner.id} is listed twice", source=source)
            by_id[partner.id] = partner
        return cls(partners=by_id, hosted=None if me is None else Hosted.of(me), source=source)

    @property
    def me(self) -> Identity | None:
        """Return the first hosted identity, or None when the registry names none (see :attr:`hosted`)."""
        return self.hosted.first if self.hosted is not None else None

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
