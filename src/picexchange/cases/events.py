"""The events a PIC case is folded from: one message's business document and the header facts the rules need."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from picexchange.models.envelope import Envelope, MessageType
from picexchange.models.export import ClearanceResult, DisposalCertificate, ExportData, ShipmentReceipt
from picexchange.models.pic import (
    Acknowledgement,
    ConsentDecision,
    ConsentWithdrawal,
    InformationRequest,
    InformationResponse,
    MovementAnnouncement,
    Notification,
    NotificationCancellation,
)

__all__ = ["Agency", "CaseDocument", "CaseEvent", "Direction", "country_of"]

CaseDocument = (
    Notification
    | Acknowledgement
    | InformationRequest
    | InformationResponse
    | ConsentDecision
    | ConsentWithdrawal
    | MovementAnnouncement
    | NotificationCancellation
    | ExportData
    | ShipmentReceipt
    | DisposalCertificate
    | ClearanceResult
)
"""The business documents a case is folded from (Receipt and Error are transport, not case, messages)."""


class Direction(enum.StrEnum):
    """Whether our gateway received the message or sent it."""

    INBOUND = "in"
    OUTBOUND = "out"


class Agency(enum.StrEnum):
    """What kind of body a participant is; the registry says it, the case derives the role from the route."""

    COMPETENT_AUTHORITY = "competent-authority"
    """A Basel competent authority (AU:DCCEEW, MY:DOE)."""
    CUSTOMS = "customs"
    """A Customs administration (AU:ABF, MY:RMCD)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseEvent:
    """One message of a case: its decoded business document and the header facts the rules need.

    The gateway builds it from an ``exchange.Inbound`` (direction in) or from an envelope it seals (out).
    """

    message_id: str
    """The header's MessageId."""
    conversation_id: str
    """The header's ConversationId: the notification number."""
    sender: str
    """The sending participant (CC:CODE)."""
    receiver: str
    """The receiving participant (CC:CODE)."""
    created: dt.datetime
    """The header's Created, with time zone."""
    direction: Direction
    """Received or sent by us."""
    sender_agency: Agency
    """Whether the sender is a competent authority or Customs (from the registry)."""
    document: CaseDocument
    """The business document."""
    test: bool = False
    """The header's TestIndicator: an integration test message. It is folded into the case's separate test case
    and never counts against the live case (its serials, quantities, decisions)."""

    @property
    def message_type(self) -> MessageType:
        """Return the document's message type."""
        return MessageType(type(self.document).__name__)

    @classmethod
    def from_envelope(cls, envelope: Envelope, *, direction: Direction, sender_agency: Agency) -> CaseEvent:
        """Return the event of a decoded envelope.

        Raises:
            TypeError: the envelope carries a Receipt or an Error, which belong to no case.

        """
        document = envelope.document
        if not isinstance(document, CaseDocument):
            raise TypeError(f"a {type(document).__name__} is a transport reply, not a message of a case")
        header = envelope.header
        return cls(
            message_id=str(header.message_id),
            conversation_id=header.conversation_id,
            sender=header.sender,
            receiver=header.receiver,
            created=header.created,
            direction=direction,
            sender_agency=sender_agency,
            document=document,
            test=bool(header.test_indicator),
        )


def country_of(participant: str) -> str:
    """Return the country of a participant id (``AU`` of ``AU:DCCEEW``)."""
    return participant.split(":", 1)[0]
