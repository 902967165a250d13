"""The I/O-free protocol engine: seal outbound messages, accept inbound ones, build and read the replies.

Nothing here touches a socket, a file or a clock: the gateway and the client do the I/O around it and pass
``now`` in. :func:`accept` runs the checks of docs/architecture.md ("The path of an inbound message") in
their order — size bound, safe parse, envelope schema, receiver is us, sender is a known partner allowed for
the Utility Block, signature with that partner's certificate, business-document schema, business rules —
and returns an :class:`Inbound` built only from what was signed, or raises the
:class:`~picexchange.errors.MessageError` whose signed ``Error`` reply :func:`error_for` builds. The shell
stores the message and answers :func:`receipt_for`.

The routing and trust decisions (receiver hosted, sender known and allowed, signer, clock skew) and the one
header reader are :mod:`picexchange.signing`'s (:func:`~picexchange.signing.admit`,
:func:`~picexchange.signing.read_header`): :func:`accept`, :func:`read_reply` and a bare
:func:`~picexchange.signing.verify` refuse alike, with the same :class:`~picexchange.signing.TrustReason`.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
import hashlib
import re
import typing
import uuid
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from lxml import etree

from picexchange import codec, schemas, signing
from picexchange.errors import Issue, MessageError, RemoteError, SchemaError, SignatureError, TrustError
from picexchange.models.base import Facets
from picexchange.models.common import Digest, NotificationNumber
from picexchange.models.envelope import (
    Document,
    Envelope,
    Error,
    ErrorCode,
    ErrorIssue,
    Header,
    Receipt,
    UtilityBlock,
    utility_block_of,
)
from picexchange.trust import (
    Hosted,
    Identity,
    ParticipantRole,
    Partner,
    RegisteredCertificate,
    TrustStore,
    is_participant_id,
)

__all__ = [
    "AcceptPolicy",
    "Inbound",
    "Receipted",
    "Sealed",
    "accept",
    "accept_for",
    "digest_of",
    "error_for",
    "read_reply",
    "receipt_for",
    "reopen",
    "seal",
]

#: Receiver of an Error whose rejected message named no readable Sender.
UNKNOWN_PARTICIPANT = "ZZ:UNKNOWN"


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptPolicy:
    """What :func:`accept` takes; secure defaults.

    Attributes:
        max_clock_skew: how far in the future a message's Created may lie (the sender's clock runs ahead).
        max_age: how old a message's Created may be; older ones are refused as stale (a replay of an old
            message to a fresh receiver). Longer than any retry horizon, since retries resend the original bytes.
        verify: accepted signature algorithms and key sizes.
        limits: the parsing bounds (size, depth, elements, attributes, namespace declarations) applied first.

    """

    max_clock_skew: dt.timedelta = signing.DEFAULT_FRESHNESS.max_clock_skew
    max_age: dt.timedelta = signing.DEFAULT_FRESHNESS.max_age
    verify: signing.VerifyPolicy = signing.DEFAULT_POLICY
    limits: codec.Limits = codec.DEFAULT_LIMITS

    @property
    def freshness(self) -> signing.Freshness:
        """Return the window Created must lie in, as the routing check takes it."""
        return signing.Freshness(max_clock_skew=self.max_clock_skew, max_age=self.max_age)


DEFAULT_ACCEPT_POLICY = AcceptPolicy()


def digest_of(raw: bytes) -> str:
    """Return the base64 SHA-256 of ``raw``: what a Receipt proves was received."""
    return base64.b64encode(hashlib.sha256(raw).digest()).decode("ascii")


@dataclass(frozen=True, slots=True, kw_only=True)
class Sealed:
    """A signed outbound envelope: send, store and resend exactly ``raw``, never a rebuilt copy.

    Attributes:
        envelope: the envelope as built.
        raw: the signed bytes.
        digest: base64 SHA-256 of ``raw``; the partner's Receipt must quote it.

    """

    envelope: Envelope
    raw: bytes = field(repr=False)
    digest: str

    @property
    def message_id(self) -> uuid.UUID:
        """Return the message id, the same on every retry."""
        return self.envelope.header.message_id

    @property
    def receiver(self) -> str:
        """Return the participant the message is for."""
        return self.envelope.header.receiver

    @property
    def sender(self) -> str:
        """Return the participant that signed the message (its header Sender)."""
        return self.envelope.header.sender


@dataclass(frozen=True, slots=True, kw_only=True)
class Inbound:
    """A message that passed every check, decoded from what was signed.

    Attributes:
        envelope: the envelope, decoded from the signed tree.
        raw: the exact bytes received (stored as they are).
        digest: base64 SHA-256 of ``raw``.
        signer: the partner whose certificate verified the signature.

    """

    envelope: Envelope
    raw: bytes = field(repr=False)
    digest: str
    signer: Partner

    @property
    def document(self) -> Document:
        """Return the business document."""
        return self.envelope.document


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipted:
    """A partner's verified receipt for a message we sent.

    Attributes:
        receipt: the Receipt document.
        envelope: its envelope.
        raw: the signed receipt bytes, kept as proof of receipt.

    """

    receipt: Receipt
    envelope: Envelope
    raw: bytes = field(repr=False)


def seal(
    document: Document,
    *,
    me: Identity,
    to: str,
    now: dt.datetime,
    message_id: uuid.UUID | None = None,
    conversation_id: str | None = None,
    ref_to: uuid.UUID | None = None,
    utility_block: UtilityBlock | None = None,
    test: bool = False,
) -> Sealed:
    """Wrap ``document`` in an envelope from us to ``to``, sign it, and return the bytes to send.

    Args:
        document: the business document (or a Receipt / Error).
        me: our identity (participant id, loaded key, certificate).
        to: the receiver's participant id.
        now: the Created timestamp (aware).
        message_id: a fixed id; a fresh UUID4 by default.
        conversation_id: the notification number; by default the document's own notification number.
        ref_to: the message this one answers.
        utility_block: needed only for Receipt and Error, which belong to the Utility Block they answer.
        test: mark the message as an integration test, never acted on.

    """
    number = conversation_id or getattr(document, "notification_number", None)
    if number is None:
        raise ValueError(f"a {type(document).__name__} needs an explicit conversation_id")
    header: dict[str, object] = {
        "message_id": message_id or uuid.uuid4(),
        "conversation_id": number,
        "ref_to_message_id": ref_to,
        "sender": me.participant,
        "receiver": to,
        "created": now,
        "test_indicator": True if test else None,
    }
    block = utility_block_of(type(document)) or utility_block
    if block is None:
        raise ValueError(f"a {type(document).__name__} needs the utility_block it answers")
    header["utility_block"] = block
    envelope = Envelope.wrap(document, **header)
    raw = signing.sign(envelope, me)
    return Sealed(envelope=envelope, raw=raw, digest=digest_of(raw))


def reopen(
    raw: bytes,
    *,
    me: Identity | Hosted,
    now: dt.datetime,
    policy: signing.VerifyPolicy = signing.DEFAULT_POLICY,
    limits: codec.Limits = codec.DEFAULT_LIMITS,
) -> Sealed:
    """Return the :class:`Sealed` of an envelope we signed before, to send it again byte for byte.

    A retry must send the same bytes: the partner answers the same message id with the same bytes with its
    original receipt, but with other bytes (a new signature, a new Created) as a conflict. So a message read
    back from a file or a database is checked, never re-signed: its Sender is one of ``me``, and its
    signature verifies, over the whole envelope, with that participant's certificate. Its Created is not
    checked here (an old message may be resent; the partner judges its age).

    Raises:
        TrustError: the Sender is not one of ours (reason ``unexpected-sender``), or our certificate does not
            verify the signature.
        SignatureError: not signed, or changed after signing.
        ParseError, MessageTooLarge, SchemaError, BusinessRuleError: not a valid envelope.

    """
    hosted = Hosted.of(me)
    root = codec.parse(raw, limits=limits)
    schemas.check_envelope(root)
    header = signing.read_header(root)  # unverified: only chooses the certificate to verify with
    if header.sender is None or header.sender not in hosted:
        raise TrustError(
            f"the envelope is from {header.sender}, not from {', '.join(sorted(hosted.participants))}: "
            "only a message we signed can be resent unchanged",
            reason=signing.TrustReason.UNEXPECTED_SENDER.value,
            message_id=header.message_id,
            path="/Envelope/Header/Sender",
        )
    # Ourselves as the only "partners": our own certificates are the ones a genuine copy verifies with.
    ourselves = TrustStore.of(
        Partner(
            id=identity.participant,
            name=identity.participant,
            country=identity.participant.partition(":")[0],
            role=ParticipantRole.COMPETENT_AUTHORITY,
            utility_blocks=frozenset(UtilityBlock),
            certificates=(RegisteredCertificate.of(identity.certificate),),
        )
        for identity in hosted
    )
    verified = signing.verify(root, trust=ourselves, now=now, policy=policy, limits=limits)
    return Sealed(envelope=verified.envelope, raw=bytes(raw), digest=digest_of(bytes(raw)))


def accept(
    raw: bytes, *, me: Identity, trust: TrustStore, now: dt.datetime, policy: AcceptPolicy = DEFAULT_ACCEPT_POLICY
) -> Inbound:
    """Run every check of an inbound message on ``raw`` in order; return the message or raise why it is refused.

    Args:
        raw: the bytes received.
        me: our identity; the header's Receiver must be us.
        trust: the partner registry.
        now: the time of receipt (aware).
        policy: bounds, clock skew and accepted algorithms.

    Raises:
        MessageTooLarge, ParseError, SchemaError, TrustError, SignatureError, BusinessRuleError: what is
        wrong, with the message id where it could be read (a TrustError with its
        :class:`~picexchange.signing.TrustReason`).

    """
    return accept_for(raw, hosted=frozenset({me.participant}), trust=trust, now=now, policy=policy)


def accept_for(
    raw: bytes,
    *,
    hosted: AbstractSet[str],
    trust: TrustStore,
    now: dt.datetime,
    policy: AcceptPolicy = DEFAULT_ACCEPT_POLICY,
) -> Inbound:
    """Run :func:`accept` for a gateway hosting several participants: the Receiver must be one of ``hosted``.

    Args:
        raw: the bytes received.
        hosted: the participant ids this gateway receives for.
        trust: the partner registry.
        now: the time of receipt (aware).
        policy: bounds, clock skew and accepted algorithms.

    """
    # Size bound and safe parse, then the routing part of the envelope against the envelope schema.
    root = codec.parse(raw, limits=policy.limits)
    # The schema check reads the tree and changes nothing in it: the header read here is the one it checks.
    header = signing.read_header(root)
    message_id = header.message_id
    try:
        schemas.check_envelope(root)
        if header.is_reply:
            raise SchemaError(
                [
                    Issue(
                        text=f"a {header.message_type} answers a message; it is not a message to deliver",
                        path="/Envelope/Header/MessageType",
                        rule_id="envelope",
                    )
                ]
            )
        # The cheap refusals (receiver, sender, Utility Block) before any signature work; verify decides them
        # again, with the same function, on what was signed.
        signing.admit(header, hosted=hosted, trust=trust)
        # The envelope schema was checked above, on this tree: the signature check does not repeat it.
        verified = signing._verify_tree(
            root,
            received=header,
            trust=trust,
            now=now,
            hosted=hosted,
            freshness=policy.freshness,
            policy=policy.verify,
        )
    except MessageError as exc:
        if exc.message_id is None:
            exc.message_id = message_id
        raise
    return Inbound(envelope=verified.envelope, raw=raw, digest=digest_of(raw), signer=verified.signer)


def receipt_for(inbound: Inbound, *, me: Identity, now: dt.datetime, message_id: uuid.UUID | None = None) -> Sealed:
    """Return our signed Receipt for ``inbound``: its id and the SHA-256 of the exact bytes we received.

    The envelope is validated as :func:`seal` validates it, but not encoded again: its unsigned tree is a copy
    of one the model path wrote once (:class:`_ReceiptTemplate`) with this receipt's values filled in, the
    same bytes :func:`seal` would sign for the same Receipt.
    """
    received = inbound.envelope.header
    receipt = Receipt(
        ref_to_message_id=received.message_id,
        received_digest=Digest(value=inbound.digest),
        received_at=now,
    )
    envelope = Envelope.wrap(
        receipt,
        message_id=message_id or uuid.uuid4(),
        conversation_id=received.conversation_id,
        ref_to_message_id=received.message_id,
        sender=me.participant,
        receiver=received.sender,
        utility_block=received.utility_block,
        created=now,
        test_indicator=True if received.test_indicator else None,
    )
    tree = _receipt_template(bool(envelope.header.test_indicator)).fill(envelope.header, receipt)
    # A new tree of our template, filled from the envelope validated above: signed without sign()'s checks of
    # a tree handed in from outside, which hold by construction (signing._sign_built).
    raw = signing._sign_built(tree, me, sender=envelope.header.sender)
    return Sealed(envelope=envelope, raw=raw, digest=digest_of(raw))


class _ReceiptTemplate:
    """The unsigned envelope of a Receipt as :func:`codec.encode` writes it, and the elements its values fill.

    Receipts differ only in these values, so the tree is encoded once, from models, and copied per receipt.
    Its unused namespace declarations are dropped once, here, as :func:`signing.sign` drops them from every
    tree it signs. tests/test_exchange.py checks that a filled copy and the model path (Receipt,
    Envelope.wrap, codec.encode, signing.sign) give the same bytes for the same values, so the two cannot
    drift apart.
    """

    _SLOTS = (
        "env:Header/env:MessageId",
        "env:Header/env:ConversationId",
        "env:Header/env:RefToMessageId",
        "env:Header/env:Sender",
        "env:Header/env:Receiver",
        "env:Header/env:UtilityBlock",
        "env:Header/env:Created",
        "env:Body/env:Receipt/env:RefToMessageId",
        "env:Body/env:Receipt/env:ReceivedDigest",
        "env:Body/env:Receipt/env:ReceivedAt",
    )

    def __init__(self, *, test: bool) -> None:
        placeholder = uuid.UUID(int=0)
        epoch = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        sample = Envelope.wrap(
            Receipt(ref_to_message_id=placeholder, received_digest=Digest(value="A" * 43 + "="), received_at=epoch),
            message_id=uuid.UUID(int=1),
            conversation_id="X",
            ref_to_message_id=placeholder,
            sender="ZZ:A",
            receiver="ZZ:B",
            utility_block=UtilityBlock.PIC,
            created=epoch,
            test_indicator=True if test else None,
        )
        self.root = codec.encode(sample)
        etree.cleanup_namespaces(self.root)
        nodes = list(self.root.iter())
        namespaces = {"env": codec.NSMAP["env"]}
        self.positions = tuple(nodes.index(self.root.find(path, namespaces)) for path in self._SLOTS)

    def fill(self, header: Header, receipt: Receipt) -> etree._Element:
        """Return a new tree of this template holding ``header`` and ``receipt``'s values."""
        values = (
            header.message_id,
            header.conversation_id,
            header.ref_to_message_id,
            header.sender,
            header.receiver,
            header.utility_block,
            header.created,
            receipt.ref_to_message_id,
            receipt.received_digest.value,
            receipt.received_at,
        )
        root = copy.deepcopy(self.root)
        nodes = list(root.iter())
        for position, value in zip(self.positions, values, strict=True):
            nodes[position].text = codec.lexical(value)
        return root


@functools.cache
def _receipt_template(test: bool) -> _ReceiptTemplate:
    return _ReceiptTemplate(test=test)


def _peek(raw: bytes | None, limits: codec.Limits) -> etree._Element | None:
    if raw is None:
        return None
    try:
        return codec.parse(raw, limits=limits)
    except MessageError:
        return None


def error_for(
    error: MessageError,
    *,
    raw: bytes | None,
    me: Identity | Hosted,
    now: dt.datetime,
    limits: codec.Limits = codec.DEFAULT_LIMITS,
    message_id: uuid.UUID | None = None,
) -> Sealed:
    """Return our signed Error reply for a message refused with ``error``.

    The reply goes to the header's Sender of the refused message when it can be read (unverified: it is only
    an address for the reply), else to ``ZZ:UNKNOWN``. With several hosted participants (``me`` a
    :class:`~picexchange.trust.Hosted`) it is signed by the one the header's Receiver names when that one is
    hosted, else by the first hosted participant.
    """
    root = _peek(raw, limits) if error.code not in ("too-large", "parse") else None
    # Unverified: only an address for the reply.
    header = signing.read_header(root) if root is not None else None
    sender = header.sender if header is not None else None
    ref = error.message_id or (header.message_id if header is not None else None)
    try:
        ref_id = uuid.UUID(ref) if ref else None
    except ValueError:
        ref_id = None
    block = (header.utility_block if header is not None else None) or UtilityBlock.PIC
    conversation = header.conversation_id if header is not None else None
    # A trust refusal names its rule (signing.TrustReason) as its issue's rule id, so the sender can tell
    # "unknown sender" from "certificate expired" without parsing the text.
    issues = error.issues
    document = Error(
        ref_to_message_id=ref_id,
        code=ErrorCode(error.code),
        text=_clip(error.text),
        issue=tuple(
            ErrorIssue(
                path=_clip(i.path) if i.path else None, line=i.line or None, text=_clip(i.text), rule_id=i.rule_id
            )
            for i in issues[:100]
        ),
    )
    hosted = me if isinstance(me, Hosted) else Hosted.of(me)
    signer = (hosted.identity(header.receiver) if header is not None and header.receiver else None) or hosted.first
    # Never an Error to ourselves (a refused message claiming to come from a hosted participant).
    to = sender if sender and sender not in hosted and is_participant_id(sender) else UNKNOWN_PARTICIPANT
    return seal(
        document,
        me=signer,
        to=to,
        now=now,
        message_id=message_id,
        conversation_id=conversation if conversation and _is_notification_number(conversation) else "unknown",
        ref_to=ref_id,
        utility_block=block,
    )


def _clip(text: str, limit: int = 512) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_notification_number(value: str) -> bool:
    facets = next(m for m in typing.get_args(NotificationNumber)[1:] if isinstance(m, Facets))
    return re.fullmatch(facets.pattern or "", value) is not None


def read_reply(raw: bytes, *, sent: Sealed, me: Identity, trust: TrustStore, now: dt.datetime) -> Receipted:
    """Verify the partner's reply to ``sent``: a Receipt for exactly those bytes, or a signed Error.

    Raises:
        RemoteError: the partner refused the message with a signed Error (code and issues attached).
        SignatureError, TrustError, ParseError, SchemaError: the reply is not a genuine reply of the
            partner ``sent`` went to.

    """
    # The same routing decision as for any message, and the reply must come from whom the message went to.
    verified = signing.verify(raw, trust=trust, now=now, hosted=frozenset({me.participant}), sender=sent.receiver)
    envelope = verified.envelope
    document = envelope.document
    if envelope.header.ref_to_message_id != sent.message_id:
        raise SchemaError(
            [
                Issue(
                    text=f"the reply refers to {envelope.header.ref_to_message_id}, not to {sent.message_id}",
                    path="/Envelope/Header/RefToMessageId",
                )
            ]
        )
    if isinstance(document, Error):
        raise RemoteError(
            f"{sent.receiver} refused message {sent.message_id}: {document.text}",
            code=document.code.value,
            issues=tuple(Issue(text=i.text, path=i.path, line=i.line, rule_id=i.rule_id) for i in document.issue),
        )
    if not isinstance(document, Receipt):
        raise SchemaError(
            [Issue(text=f"expected a Receipt or an Error, got {type(document).__name__}", path="/Envelope/Body")]
        )
    if document.received_digest.value != sent.digest:
        raise SignatureError(
            f"the receipt quotes digest {document.received_digest.value}, but we sent {sent.digest}",
            path="/Envelope/Body/Receipt/ReceivedDigest",
        )
    return Receipted(receipt=document, envelope=envelope, raw=raw)
