"""picexchange: Basel Convention PIC notifications, consents and Customs export data between Single Windows.

The public surface, for Single Window vendors::

    import picexchange as px

    report = px.validate(raw_bytes)          # every problem with line and path
    envelope = px.from_xml(raw_bytes)        # typed models (no schema check; validate() does both)
    raw = px.to_xml(px.Envelope.wrap(document, message_id=..., ...))

Everything listed in ``__all__`` is stable API; anything else is internal.
"""

from picexchange.codec import DEFAULT_LIMITS, Limits, from_json, from_xml, parse, to_json, to_xml
from picexchange.codes import Code, CodeList, code_list
from picexchange.errors import (
    BusinessRuleError,
    ConfigurationError,
    ConflictError,
    DeliveryError,
    Issue,
    MessageError,
    MessageTooLarge,
    ParseError,
    PicExchangeError,
    RemoteError,
    SchemaError,
    SignatureError,
    StoreError,
    TransportError,
    TrustError,
)
from picexchange.models.envelope import Body, Envelope, Error, Header, MessageType, Receipt, UtilityBlock
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
from picexchange.schemas import Report, validate

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_LIMITS",
    "Acknowledgement",
    "Body",
    "BusinessRuleError",
    "ClearanceResult",
    "Code",
    "CodeList",
    "ConfigurationError",
    "ConflictError",
    "ConsentDecision",
    "ConsentWithdrawal",
    "DeliveryError",
    "DisposalCertificate",
    "Envelope",
    "Error",
    "ExportData",
    "Header",
    "InformationRequest",
    "InformationResponse",
    "Issue",
    "Limits",
    "MessageError",
    "MessageTooLarge",
    "MessageType",
    "MovementAnnouncement",
    "Notification",
    "NotificationCancellation",
    "ParseError",
    "PicExchangeError",
    "Receipt",
    "RemoteError",
    "Report",
    "SchemaError",
    "ShipmentReceipt",
    "SignatureError",
    "StoreError",
    "TransportError",
    "TrustError",
    "UtilityBlock",
    "code_list",
    "from_json",
    "from_xml",
    "parse",
    "to_json",
    "to_xml",
    "validate",
]
