"""picexchange: Basel Convention PIC notifications, consents and Customs export data between Single Windows.

The public surface, for Single Window vendors::

    import picexchange as px

    report = px.validate(raw_bytes)          # every problem with line and path
    envelope = px.from_xml(raw_bytes)        # typed models (no schema check; validate() does both)
    raw = px.to_xml(px.Envelope.wrap(document, message_id=..., ...))

Sending and receiving, with the I/O-free protocol engine (the client and the reference gateway use the same)::

    sealed = px.seal(document, me=identity, to=partner_id, now=now)     # px.Sealed: signed bytes to send
    inbound = px.accept(raw, me=identity, trust=trust, now=now)         # px.Inbound, or a MessageError
    header = px.read_header(root)                                       # px.RoutingHeader, before any check

Names that could be read two ways are exported under one meaning each: :class:`ErrorReply` is the signed
``Error`` document a receiver answers a refused message with (``picexchange.models.envelope.Error``; the XML
element stays ``Error``), while every ``*Error`` name is an exception; :class:`DigestMethod` is how a
signature hashes each reference, while the ``Digest`` element of a Receipt is
``picexchange.models.common.Digest``.

Everything listed in ``__all__`` is stable API; anything else is internal. ``pip install picexchange`` is
enough for all of it; the reference gateway (``picexchange.gateway``, ``picexchange.testing``) needs the
``[gateway]`` extra and the PostgreSQL store the ``[postgres]`` extra (:class:`MissingExtraError` says so).
"""

import importlib
from typing import TYPE_CHECKING

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
    MissingExtraError,
    ParseError,
    PicExchangeError,
    RemoteError,
    SchemaError,
    SignatureError,
    StoreError,
    TransportError,
    TrustError,
)
from picexchange.exchange import (
    AcceptPolicy,
    Inbound,
    Receipted,
    Sealed,
    accept,
    accept_for,
    error_for,
    read_reply,
    receipt_for,
    seal,
)
from picexchange.files.registry import load_identity, load_trust
from picexchange.models.envelope import Body, Envelope, Header, MessageType, Receipt, UtilityBlock
from picexchange.models.envelope import Error as ErrorReply
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
from picexchange.signing import (
    DigestMethod,
    Freshness,
    RoutingHeader,
    SignatureAlgorithm,
    TrustReason,
    Verified,
    VerifyPolicy,
    read_header,
    sign,
    verify,
)
from picexchange.trust import Identity, Partner, TrustStore

if TYPE_CHECKING:
    from picexchange.client import AsyncClient, Client, ClientConfig, RetryPolicy, TlsConfig

# The HTTP client is imported on first use: `import picexchange` stays light for code that only validates.
_LAZY = {name: "picexchange.client" for name in ("AsyncClient", "Client", "ClientConfig", "RetryPolicy", "TlsConfig")}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'picexchange' has no attribute {name!r}")

# The one place the version is written: pyproject.toml reads it from here ([tool.hatch.version]).
__version__ = "0.1.0"

__all__ = [
    "DEFAULT_LIMITS",
    "AcceptPolicy",
    "Acknowledgement",
    "AsyncClient",
    "Body",
    "BusinessRuleError",
    "ClearanceResult",
    "Client",
    "ClientConfig",
    "Code",
    "CodeList",
    "ConfigurationError",
    "ConflictError",
    "ConsentDecision",
    "ConsentWithdrawal",
    "DeliveryError",
    "DigestMethod",
    "DisposalCertificate",
    "Envelope",
    "ErrorReply",
    "ExportData",
    "Freshness",
    "Header",
    "Identity",
    "Inbound",
    "InformationRequest",
    "InformationResponse",
    "Issue",
    "Limits",
    "MessageError",
    "MessageTooLarge",
    "MessageType",
    "MissingExtraError",
    "MovementAnnouncement",
    "Notification",
    "NotificationCancellation",
    "ParseError",
    "Partner",
    "PicExchangeError",
    "Receipt",
    "Receipted",
    "RemoteError",
    "Report",
    "RetryPolicy",
    "RoutingHeader",
    "SchemaError",
    "Sealed",
    "ShipmentReceipt",
    "SignatureAlgorithm",
    "SignatureError",
    "StoreError",
    "TlsConfig",
    "TransportError",
    "TrustError",
    "TrustReason",
    "TrustStore",
    "UtilityBlock",
    "Verified",
    "VerifyPolicy",
    "accept",
    "accept_for",
    "code_list",
    "error_for",
    "from_json",
    "from_xml",
    "load_identity",
    "load_trust",
    "parse",
    "read_header",
    "read_reply",
    "receipt_for",
    "seal",
    "sign",
    "to_json",
    "to_xml",
    "validate",
    "verify",
]
