"""The envelope every message travels in, and the transport replies (``urn:picexchange:envelope:1``).

``Envelope`` = ``Header`` + ``Body`` (exactly one business document) + ``ds:Signature`` (added by
``picexchange.signing``; the models never carry it). ``Receipt`` and ``Error`` are the transport-level replies.
"""

from __future__ import annotations

import enum
from typing import Annotated, ClassVar, Union

from picexchange.models.base import NS_EXPORT, NS_PIC, Facets, Rule, XmlModel, binding, namespace_of
from picexchange.models.common import (
    Digest,
    NotificationNumber,
    ParticipantId,
    PositiveCount,
    TextLine,
    Timestamp,
    Uuid,
)
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

__all__ = [
    "Body",
    "Document",
    "Envelope",
    "Error",
    "ErrorCode",
    "ErrorIssue",
    "Header",
    "MessageType",
    "Receipt",
    "UtilityBlock",
    "utility_block_of",
]


class UtilityBlock(enum.StrEnum):
    """The GNC Utility Block a message belongs to (GCAP-6)."""

    PIC = "pic"
    EXPORT = "export"


class MessageType(enum.StrEnum):
    """The name of the document in the Body."""

    NOTIFICATION = "Notification"
    ACKNOWLEDGEMENT = "Acknowledgement"
    INFORMATION_REQUEST = "InformationRequest"
    INFORMATION_RESPONSE = "InformationResponse"
    CONSENT_DECISION = "ConsentDecision"
    CONSENT_WITHDRAWAL = "ConsentWithdrawal"
    MOVEMENT_ANNOUNCEMENT = "MovementAnnouncement"
    NOTIFICATION_CANCELLATION = "NotificationCancellation"
    EXPORT_DATA = "ExportData"
    SHIPMENT_RECEIPT = "ShipmentReceipt"
    DISPOSAL_CERTIFICATE = "DisposalCertificate"
    CLEARANCE_RESULT = "ClearanceResult"
    RECEIPT = "Receipt"
    ERROR = "Error"


class ErrorCode(enum.StrEnum):
    """Why a message was rejected; the ``code`` of :class:`picexchange.errors.MessageError`."""

    PARSE = "parse"
    TOO_LARGE = "too-large"
    SCHEMA = "schema"
    SIGNATURE = "signature"
    TRUST = "trust"
    SENDER_NOT_ALLOWED = "sender-not-allowed"
    CONFLICT = "conflict"
    BUSINESS_RULE = "business-rule"
    BODY_TIMEOUT = "body-timeout"
    UNSUPPORTED_MEDIA_TYPE = "unsupported-media-type"
    UNAVAILABLE = "unavailable"
    BUSY = "busy"
    INTERNAL = "internal"


_Version = Annotated[
    str,
    Facets(
        name="UtilityBlockVersionType",
        base="xs:string",
        pattern=r"1\.[0-9]{1,3}",
        title="Utility Block version (1.x)",
        doc="Version of the Utility Block, major.minor; this schema is major version 1.",
    ),
]


class Header(XmlModel):
    """Routing and identity of a message; signed with the rest of the envelope."""

    message_id: Uuid
    """Unique id of this message, kept across every retry."""
    conversation_id: NotificationNumber
    """The notification number the message belongs to."""
    ref_to_message_id: Uuid | None = None
    """The message this one answers."""
    sender: ParticipantId
    """The sending Single Window or authority; must be the signer."""
    receiver: ParticipantId
    """The receiving Single Window or authority."""
    utility_block: UtilityBlock
    """The Utility Block of the Body document (pic or export)."""
    utility_block_version: _Version
    """Version of the Utility Block (1.0)."""
    message_type: MessageType
    """Name of the Body document."""
    created: Timestamp
    """When the sender created the message, with time zone."""
    test_indicator: bool | None = None
    """True for an integration test message, never acted on as a real permit or consent."""


class Receipt(XmlModel):
    """Transport receipt: proof that the receiver accepted exactly these bytes (non-repudiation of receipt)."""

    xml_root: ClassVar[bool] = True

    ref_to_message_id: Uuid
    """The message received."""
    received_digest: Digest
    """SHA-256 of the exact bytes received, base64."""
    received_at: Timestamp
    """When the receiver stored the message."""


class ErrorIssue(XmlModel):
    """One problem found in a rejected message."""

    path: TextLine | None = None
    """Element path of the offending element, without prefixes."""
    line: PositiveCount | None = None
    """Line of the offending element in the bytes received."""
    text: TextLine
    """What is wrong."""
    rule_id: TextLine | None = None
    """The rule that failed (xsd, V-A 6, ...)."""


class Error(XmlModel):
    """Transport error: the receiver rejected the message and stored nothing of it."""

    xml_root: ClassVar[bool] = True

    ref_to_message_id: Uuid | None = None
    """The message rejected, when its id could be read."""
    code: ErrorCode
    """Why the message was refused, one code per reason (sender-not-allowed: its role in the case may not)."""
    text: TextLine
    """The reason in words."""
    issue: tuple[ErrorIssue, ...] = ()
    """Every problem found."""


Document = Union[  # noqa: UP007 - a runtime union of classes, used with isinstance
    Notification,
    Acknowledgement,
    InformationRequest,
    InformationResponse,
    ConsentDecision,
    ConsentWithdrawal,
    MovementAnnouncement,
    NotificationCancellation,
    ExportData,
    ShipmentReceipt,
    DisposalCertificate,
    ClearanceResult,
    Receipt,
    Error,
]

_UB_OF_NAMESPACE = {NS_PIC: UtilityBlock.PIC, NS_EXPORT: UtilityBlock.EXPORT}


def utility_block_of(document: type[XmlModel]) -> UtilityBlock | None:
    """Return the Utility Block of a business document class, None for Receipt and Error."""
    return _UB_OF_NAMESPACE.get(namespace_of(document))


class Body(XmlModel):
    """Exactly one business document or transport reply."""

    notification: Notification | None = None
    """A notification (UB pic)."""
    acknowledgement: Acknowledgement | None = None
    """An acknowledgement (UB pic)."""
    information_request: InformationRequest | None = None
    """A request for further information (UB pic)."""
    information_response: InformationResponse | None = None
    """An answer to a request for information (UB pic)."""
    consent_decision: ConsentDecision | None = None
    """A consent decision (UB pic)."""
    consent_withdrawal: ConsentWithdrawal | None = None
    """A withdrawal of consent (UB pic)."""
    movement_announcement: MovementAnnouncement | None = None
    """A movement announcement (UB pic)."""
    notification_cancellation: NotificationCancellation | None = None
    """A cancellation of a notification (UB pic)."""
    export_data: ExportData | None = None
    """Export data of one shipment (UB export)."""
    shipment_receipt: ShipmentReceipt | None = None
    """A shipment receipt (UB export)."""
    disposal_certificate: DisposalCertificate | None = None
    """A certificate of disposal or recovery (UB export)."""
    clearance_result: ClearanceResult | None = None
    """A Customs clearance result (UB export)."""
    receipt: Receipt | None = None
    """A transport receipt."""
    error: Error | None = None
    """A transport error."""

    @classmethod
    def of(cls, document: Document) -> Body:
        """Return a Body holding ``document``."""
        for item in binding(cls):
            if item.model is type(document):
                return cls.model_validate({item.field: document})
        raise TypeError(f"{type(document).__name__} is not a business document")

    @property
    def document(self) -> Document:
        """Return the one document in the Body."""
        for item in binding(type(self)):
            value = getattr(self, item.field)
            if value is not None:
                return value  # type: ignore[no-any-return]
        raise AssertionError("a validated Body always holds a document")  # pragma: no cover

    def rule_violations(self) -> list[Rule]:
        """Return a violation unless exactly one document is present."""
        present = [item.field for item in binding(type(self)) if getattr(self, item.field) is not None]
        if len(present) != 1:
            return [
                Rule(
                    field=tuple(present[1:2]),
                    rule_id="envelope",
                    text=f"the Body must hold exactly one document, not {len(present)}",
                )
            ]
        return []


class Envelope(XmlModel):
    """A message: header and body; on the wire signed as a whole (enveloped XMLDSig)."""

    xml_root: ClassVar[bool] = True

    header: Header
    """Routing and identity."""
    body: Body
    """The document."""

    @classmethod
    def wrap(cls, document: Document, **header: object) -> Envelope:
        """Return an envelope for ``document``; ``message_type`` and ``utility_block`` are filled in.

        Args:
            document: the business document or transport reply.
            **header: the other header fields (message_id, conversation_id, sender, receiver, created, ...).

        """
        fields: dict[str, object] = {"message_type": type(document).__name__, "utility_block_version": "1.0"}
        block = utility_block_of(type(document))
        if block is not None:
            fields["utility_block"] = block
        fields.update(header)
        # One validation of the whole envelope, so a bad header value is refused at /Envelope/Header/...
        return cls.model_validate({"header": fields, "body": Body.of(document)})

    @property
    def document(self) -> Document:
        """Return the Body's document."""
        return self.body.document

    def rule_violations(self) -> list[Rule]:
        """Return violations of the header's agreement with the Body (type, Utility Block, references)."""
        found: list[Rule] = []
        present = [getattr(self.body, item.field) for item in binding(Body)]
        documents = [doc for doc in present if doc is not None]
        if len(documents) != 1:
            return found  # reported by Body itself
        document = documents[0]
        name = type(document).__name__
        if self.header.message_type.value != name:
            found.append(
                Rule(
                    field=("header", "message_type"),
                    rule_id="envelope",
                    text=f"MessageType says {self.header.message_type.value} but the Body holds {name}",
                )
            )
        block = utility_block_of(type(document))
        if block is not None and self.header.utility_block is not block:
            found.append(
                Rule(
                    field=("header", "utility_block"),
                    rule_id="envelope",
                    text=f"{name} belongs to Utility Block {block.value}, not {self.header.utility_block.value}",
                )
            )
        if self.header.sender == self.header.receiver:
            found.append(
                Rule(field=("header", "receiver"), rule_id="envelope", text="sender and receiver are the same")
            )
        if self.header.ref_to_message_id == self.header.message_id:
            found.append(
                Rule(
                    field=("header", "ref_to_message_id"),
                    rule_id="envelope",
                    text="a message cannot refer to itself",
                )
            )
        if isinstance(document, Receipt | Error) and document.ref_to_message_id is not None:
            if self.header.ref_to_message_id != document.ref_to_message_id:
                found.append(
                    Rule(
                        field=("header", "ref_to_message_id"),
                        rule_id="envelope",
                        text=f"the header must refer to the message the {name} answers",
                    )
                )
        number = getattr(document, "notification_number", None)
        if number is not None and number != self.header.conversation_id:
            found.append(
                Rule(
                    field=("header", "conversation_id"),
                    rule_id="envelope",
                    text=f"ConversationId {self.header.conversation_id} is not the notification number {number}",
                )
            )
        return found
